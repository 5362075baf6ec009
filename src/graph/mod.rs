//! Microsoft Graph: the client (tokens, retries, errors), paging, and OData filters.

pub mod client;
pub mod odata;
pub mod paging;
pub mod picking;
pub mod query;
pub mod scan;

use crate::http::HttpResponse;
use serde_json::{Map, Value};

pub use crate::error::GraphError;

impl GraphError {
    /// Reads Graph's error body; `None` when the body is something else.
    pub fn parse(action: &str, response: &HttpResponse) -> Option<GraphError> {
        let body: Map<String, Value> = serde_json::from_str(&response.body).ok()?;
        let error = body.get("error")?.as_object()?;
        let inner = error
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("innererror"))
            .and_then(|(_, v)| v.as_object());
        let inner_text = |key: &str| {
            inner
                .and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Some(GraphError {
            status: response.status,
            code: error
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            request_id: inner_text("request-id").or_else(|| response.header("request-id").map(str::to_string)),
            date: inner_text("date"),
            action: action.to_string(),
            area: Default::default(),
        })
    }
}

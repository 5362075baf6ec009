//! The error bodies Microsoft's two services answer with, in their own shapes: Graph's
//! `{"error": {"code", "message", "innerError"}}` and Entra's OAuth error with its AADSTS
//! code. Every part of the emulator that answers an error (the endpoints, injected faults and
//! scripted answers) builds it here, so none of them depends on another.

use serde_json::{Value, json};

use super::wire::{entra_timestamp, graph_date, guid, now};

/// A Graph error: the HTTP status, the `error.code` and the `error.message`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: u16, code: &'static str, message: &str) -> Self {
        GraphError {
            status,
            code,
            message: message.to_owned(),
        }
    }

    pub fn unauthenticated(message: &str) -> Self {
        GraphError::new(401, "InvalidAuthenticationToken", message)
    }

    pub fn invalid_request(message: &str) -> Self {
        GraphError::new(400, "invalidRequest", message)
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{date, request-id, client-request-id}}}`.
pub(crate) fn graph_error_body(code: &str, message: &str, request_id: &str, client_request_id: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": graph_date(now()),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    })
}

/// Entra's error body: `error`, `error_description` (with trace lines), `error_codes`,
/// `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
pub(crate) fn entra_error_body(error: &str, aadsts: u32, text: &str) -> Value {
    let (trace_id, correlation_id) = (guid(), guid());
    let timestamp = entra_timestamp(now());
    let description = format!(
        "AADSTS{aadsts}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    );
    json!({
        "error": error,
        "error_description": description,
        "error_codes": [aadsts],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
    })
}

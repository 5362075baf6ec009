//! Scripted answers: canned responses queued by a test, consulted before the emulated tenant.

use std::time::Duration;

use serde_json::json;

use super::errors::{entra_error_body, graph_error_body};
use super::wire::{Reply, guid};

/// A canned answer for requests whose path ends with `path_suffix` (and whose method matches,
/// if set). It answers `times` requests (default 1), then it is used up.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedAnswer {
    path_suffix: String,
    method: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    times: usize,
    delay: Option<Duration>,
}

impl ScriptedAnswer {
    /// An answer with this status and body; `Content-Type` defaults to JSON.
    pub fn new(path_suffix: &str, status: u16, body: &str) -> Self {
        ScriptedAnswer {
            path_suffix: path_suffix.to_owned(),
            method: None,
            status,
            headers: vec![("Content-Type".to_owned(), "application/json; charset=utf-8".to_owned())],
            body: body.to_owned(),
            times: 1,
            delay: None,
        }
    }

    /// Sets a response header, replacing one of the same name (case-insensitive).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers `n` matching requests before being used up.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// Sleeps this long before answering (to provoke client timeouts).
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }

    /// Only matches requests with this method (case-insensitive).
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_owned());
        self
    }

    /// HTTP 429, Entra-shaped for login paths and Graph-shaped otherwise, with an optional Retry-After.
    pub fn throttled(path_suffix: &str, retry_after: Option<&str>) -> Self {
        let body = if is_login_path(path_suffix) {
            entra_error_body(
                "temporarily_unavailable",
                90055,
                "TenantThrottlingError: There are too many incoming requests.",
            )
        } else {
            graph_error_body("TooManyRequests", "Too many requests.", &guid(), &guid())
        };
        let answer = ScriptedAnswer::new(path_suffix, 429, &body.to_string());
        match retry_after {
            Some(seconds) => answer.header("Retry-After", seconds),
            None => answer,
        }
    }

    /// An HTML error page, as proxies and gateways send.
    pub fn html_error(path_suffix: &str, status: u16) -> Self {
        let body = format!(
            "<!DOCTYPE html>\r\n<html><head><title>{status} Error</title></head>\
             <body><h1>{status} Error</h1><p>The service is unavailable.</p></body></html>"
        );
        ScriptedAnswer::new(path_suffix, status, &body).header("Content-Type", "text/html; charset=utf-8")
    }

    /// HTTP 200 with a JSON body cut in half.
    pub fn truncated_json(path_suffix: &str) -> Self {
        let body = json!({"value": [{"id": "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01", "riskLevel": "high"}]}).to_string();
        ScriptedAnswer::new(path_suffix, 200, &body[..body.len() / 2])
    }

    /// A full Entra token-endpoint error body (`error`, `error_description`, `error_codes`, ...).
    pub fn entra_error(path_suffix: &str, status: u16, error: &str, aadsts: u32, description: &str) -> Self {
        let body = entra_error_body(error, aadsts, description);
        ScriptedAnswer::new(path_suffix, status, &body.to_string())
    }

    /// A Graph error body (`{"error":{"code","message","innerError"}}`).
    pub fn graph_error(path_suffix: &str, status: u16, code: &str, message: &str) -> Self {
        let body = graph_error_body(code, message, &guid(), &guid());
        ScriptedAnswer::new(path_suffix, status, &body.to_string())
    }

    /// Whether this answer applies to a request with `method` and decoded `path`.
    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(method));
        method_ok && self.times > 0 && path.ends_with(&self.path_suffix)
    }

    /// Uses the answer once and returns the reply.
    pub(crate) fn take_reply(&mut self) -> Reply {
        self.times = self.times.saturating_sub(1);
        Reply {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.as_bytes().to_vec(),
            delay: self.delay,
        }
    }

    /// Whether the answer has answered all its requests.
    pub(crate) fn is_used_up(&self) -> bool {
        self.times == 0
    }
}

fn is_login_path(path: &str) -> bool {
    path.contains("/oauth2/") || path.ends_with("/token") || path.ends_with("/devicecode")
}

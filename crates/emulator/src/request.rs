//! The request log: every request the emulator received, kept in full.

use super::wire::{parse_pairs, percent_decode};

/// One request as the emulator received it. Headers and body are kept in full (secrets too),
/// so tests can check which host received what.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, percent-decoded.
    pub path: String,
    /// The raw query string (without `?`), empty if none.
    pub query: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
}

impl RecordedRequest {
    /// Builds a record from the raw request line parts.
    pub(crate) fn new(method: &str, url: &str, headers: Vec<(String, String)>, body: String) -> Self {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        RecordedRequest {
            method: method.to_owned(),
            path: percent_decode(path, false),
            query: query.to_owned(),
            headers,
            body,
        }
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_pairs(&self.body)
    }

    /// The first form value for `key`, decoded.
    pub fn form_value(&self, key: &str) -> Option<String> {
        first_value(self.form(), key)
    }

    /// The first query value for `key`, decoded.
    pub fn query_value(&self, key: &str) -> Option<String> {
        first_value(parse_pairs(&self.query), key)
    }
}

fn first_value(pairs: Vec<(String, String)>, key: &str) -> Option<String> {
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

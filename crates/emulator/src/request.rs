//! The request log: the requests the emulator received, newest last, each cut to bounds and all
//! within a count and a byte budget, so a long-running emulator's memory stays bounded.

use std::collections::VecDeque;

use super::wire::{parse_pairs, percent_decode};

/// Requests the log keeps at most (the oldest go first).
pub(crate) const LOG_KEPT: usize = 10_000;
/// Bytes the log keeps at most, counting each request's [`RecordedRequest::size`].
pub(crate) const LOG_BUDGET: usize = 32 * 1024 * 1024;
/// Bytes of the method, path and query kept of each request.
pub(crate) const LOGGED_URL: usize = 8 * 1024;
/// Bytes of header names and values kept of each request, in all.
pub(crate) const LOGGED_HEADERS: usize = 16 * 1024;
/// Bytes of body kept of each request.
pub(crate) const LOGGED_BODY: usize = 64 * 1024;

/// One request as the emulator received it. Headers and body are kept (secrets too), so tests
/// can check which host received what; in the log, each is cut to its bound (see [`LOG_KEPT`]).
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

    /// The bytes this request holds: method, path, query, header names and values, body.
    pub fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.method.len() + self.path.len() + self.query.len() + headers + self.body.len()
    }

    /// The request as the log keeps it: method, path and query within [`LOGGED_URL`] bytes,
    /// headers within [`LOGGED_HEADERS`] (the first ones, the last of them cut), body within
    /// [`LOGGED_BODY`].
    fn cut(mut self) -> Self {
        let mut url_left = LOGGED_URL;
        for part in [&mut self.method, &mut self.path, &mut self.query] {
            url_left -= cut_to(part, url_left);
        }
        let mut headers_left = LOGGED_HEADERS;
        self.headers.retain_mut(|(name, value)| {
            let kept = headers_left > 0 && name.len() < headers_left;
            if kept {
                headers_left -= name.len();
                headers_left -= cut_to(value, headers_left);
            }
            kept
        });
        cut_to(&mut self.body, LOGGED_BODY);
        self
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

/// Cuts `text` to at most `max` bytes on a character boundary; returns the length kept.
fn cut_to(text: &mut String, max: usize) -> usize {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.len()
}

/// The request log: requests (each [`cut`](RecordedRequest::cut)) with their status once
/// answered, at most [`LOG_KEPT`] of them and [`LOG_BUDGET`] bytes.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: VecDeque<(RecordedRequest, Option<u16>)>,
    bytes: usize,
}

impl RequestLog {
    /// Adds a request, cut to its bounds, and forgets the oldest ones past the count or budget.
    pub fn remember(&mut self, request: RecordedRequest) {
        let request = request.cut();
        self.bytes = self.bytes.saturating_add(request.size());
        self.entries.push_back((request, None));
        while self.entries.len() > LOG_KEPT || self.bytes > LOG_BUDGET {
            let Some((oldest, _)) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(oldest.size());
        }
    }

    /// Records the status of the newest request.
    pub fn answered(&mut self, status: u16) {
        if let Some((_, answer)) = self.entries.back_mut() {
            *answer = Some(status);
        }
    }

    /// Every request kept, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.entries.iter().map(|(request, _)| request.clone()).collect()
    }

    /// Each request kept with its status (`None` if it was not answered), oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (&RecordedRequest, Option<u16>)> {
        self.entries.iter().map(|(request, status)| (request, *status))
    }

    /// Forgets every request.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

fn first_value(pairs: Vec<(String, String)>, key: &str) -> Option<String> {
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

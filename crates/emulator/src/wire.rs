//! Shared wire helpers: percent-decoding, form parsing, replies, ids, clocks and JWT-shaped tokens.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use formats::time::{iso8601, iso8601_graph, parse_timestamp};
use serde_json::Value;

/// An HTTP answer, which the connection's thread writes (`connection.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// Response body bytes.
    pub body: Vec<u8>,
    /// Time to sleep before answering (scripted timeouts).
    pub delay: Option<Duration>,
}

impl Reply {
    /// A JSON answer with `Content-Type: application/json; charset=utf-8`.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::text(status, "application/json; charset=utf-8", &body.to_string())
    }

    /// An answer with the given content type and text body.
    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.as_bytes().to_vec(),
            delay: None,
        }
    }

    /// An empty answer: 204 No Content, no `Content-Type`.
    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Decodes `%XX` escapes; with `plus_as_space`, `+` becomes a space (form and query encoding).
pub(crate) fn percent_decode(text: &str, plus_as_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match hex_pair(bytes.get(i + 1..i + 3)) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let text = std::str::from_utf8(pair?).ok()?;
    u8::from_str_radix(text, 16).ok()
}

/// Splits `a=1&b=2` into decoded pairs (x-www-form-urlencoded and query strings).
pub(crate) fn parse_pairs(encoded: &str) -> Vec<(String, String)> {
    encoded
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

/// Seconds since the Unix epoch on the real clock.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Nanoseconds since the Unix epoch on the real clock: fine enough that a token issued just
/// after a revocation is told apart from one issued just before it.
pub(crate) fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// `YYYY-MM-DD HH:MM:SSZ`, the Entra error timestamp format.
pub(crate) fn entra_timestamp(epoch: u64) -> String {
    iso8601(epoch).replacen('T', " ", 1)
}

/// `YYYY-MM-DDTHH:MM:SS`, the Graph `innerError.date` format.
pub(crate) fn graph_date(epoch: u64) -> String {
    iso8601(epoch).trim_end_matches('Z').to_owned()
}

/// An ISO 8601 date or datetime (`2021-07-17`, `2021-07-17T14:09:54.1234567Z`, `…+02:00`) as
/// nanoseconds since the Unix epoch (negative before 1970); a datetime without a zone is UTC.
pub(crate) fn parse_instant(text: &str) -> Option<i128> {
    parse_timestamp(text).map(|at| at.as_nanosecond())
}

/// The current time as Graph writes it: `2024-05-20T08:10:27.5581222Z` (seven fractional digits).
pub(crate) fn graph_timestamp_now() -> String {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    iso8601_graph((elapsed.as_secs(), elapsed.subsec_nanos()))
}

/// 64 unpredictable bits from std only: a randomly keyed hasher over a counter and the clock.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A random version-4 GUID in lower-case hex.
pub(crate) fn guid() -> String {
    let high = random_u64();
    let low = random_u64();
    let time_hi = ((high & 0x0fff) | 0x4000) as u16;
    let clock = ((low >> 48) & 0x3fff | 0x8000) as u16;
    format!(
        "{:08x}-{:04x}-{time_hi:04x}-{clock:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        low & 0xffff_ffff_ffff
    )
}

/// A random string of `len` characters drawn from `alphabet`.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[(random_u64() % alphabet.len() as u64) as usize] as char)
        .collect()
}

/// base64url (no padding) of `bytes`.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url text; `None` if it is not valid.
pub(crate) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Decodes standard (padded) base64 text, as in HTTP Basic credentials; `None` if invalid.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_cases() {
        let cases = [
            ("a%20b", false, "a b"),
            ("a+b", true, "a b"),
            ("a+b", false, "a+b"),
            ("%2Fx%2f", false, "/x/"),
            ("bad%zz", false, "bad%zz"),
            ("end%4", false, "end%4"),
        ];
        for (input, plus, expected) in cases {
            assert_eq!(percent_decode(input, plus), expected, "{input}");
        }
    }

    #[test]
    fn form_pairs_are_decoded() {
        let pairs = parse_pairs("scope=a%2Fb+c&flag&x=");
        let expected = [("scope", "a/b c"), ("flag", ""), ("x", "")];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn timestamps_use_civil_dates() {
        let cases = [
            (0, "1970-01-01 00:00:00Z"),
            (951_782_400, "2000-02-29 00:00:00Z"),
            (1_661_420_047, "2022-08-25 09:34:07Z"),
        ];
        for (epoch, expected) in cases {
            assert_eq!(entra_timestamp(epoch), expected);
        }
        assert_eq!(graph_date(1_661_420_047), "2022-08-25T09:34:07");
    }

    #[test]
    fn instants_parse_iso_8601() {
        let second = 1_000_000_000_i128;
        let base = 1_626_530_994 * second;
        #[rustfmt::skip]
        let cases = [
            ("2021-07-17T14:09:54Z", Some(base)),
            ("2021-07-17T14:09:54.1234567Z", Some(base + 123_456_700)),
            ("2021-07-17T14:09:54.773602Z", Some(base + 773_602_000)),
            ("2021-07-17T14:09:54.1234567891Z", Some(base + 123_456_789)),
            ("2021-07-17T16:09:54+02:00", Some(base)),
            ("2021-07-17T12:09:54-02:00", Some(base)),
            ("2021-07-17T14:09:54", Some(base)),
            ("2021-07-17T14:09Z", Some(base - 54 * second)),
            ("2021-07-17", Some((base / (86_400 * second)) * 86_400 * second)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1969-12-31T23:59:59.5Z", Some(-second / 2)),
            ("2000-02-29T00:00:00Z", Some(951_782_400 * second)),
            ("2021-13-17T14:09:54Z", None),
            ("2021-07-17T25:09:54Z", None),
            ("2021-07-17T14:09:54.12a", None),
            ("2021-07-17X14:09:54Z", None),
            ("21-07-17", None),
            ("high", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_instant(text), expected, "{text}");
        }
        let now = graph_timestamp_now();
        assert_eq!((now.len(), parse_instant(&now).is_some()), (28, true), "{now}");
    }

    #[test]
    fn guids_are_version_4_and_distinct() {
        let (a, b) = (guid(), guid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}

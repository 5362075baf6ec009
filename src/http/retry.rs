//! When and how long to retry: the policies for Entra's token endpoint and for Graph, and the
//! server's `Retry-After`.

use super::wire::HttpResponse;

/// When and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Most time spent waiting between attempts, in seconds.
    pub max_wait_secs: u64,
    /// First backoff delay without Retry-After, in seconds; doubles each time.
    pub base_delay_secs: f64,
    /// Which statuses are worth retrying.
    pub retry_status: fn(u16) -> bool,
}

impl RetryPolicy {
    /// Entra's token endpoint: 429 and 5xx, never a 400-class OAuth error.
    pub const TOKEN: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        max_wait_secs: 30,
        base_delay_secs: 1.0,
        retry_status: |s| s == 429 || s >= 500,
    };

    /// Graph: 429, 503, 504 (Identity Protection's 429s may have no Retry-After).
    pub const GRAPH: RetryPolicy = RetryPolicy {
        max_attempts: 6,
        max_wait_secs: 60,
        base_delay_secs: 1.0,
        retry_status: |s| matches!(s, 429 | 503 | 504),
    };

    /// Exponential backoff with up to 25 % jitter: base, 2×base, 4×base, …
    pub(super) fn backoff(&self, attempt: u32, jitter: f64) -> f64 {
        self.base_delay_secs * f64::from(1u32 << attempt.saturating_sub(1).min(16)) * (1.0 + jitter / 4.0)
    }
}

/// Longest `Retry-After` believed; any wait beyond the retry budget ends the retries anyway.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date.
pub fn retry_after(response: &HttpResponse, now: u64) -> Option<f64> {
    let value = response.header("retry-after")?.trim();
    let secs = match value.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => parse_http_date(value)?.saturating_sub(now),
    };
    Some(secs.min(MAX_RETRY_AFTER_SECS) as f64)
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and asctime
/// forms) into epoch seconds.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> HttpResponse {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HttpResponse {
            status: 429,
            headers,
            body: String::new(),
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        let cases = [
            (vec![("Retry-After", "7")], Some(7.0)),
            (vec![("retry-after", " 0 ")], Some(0.0)),
            (vec![("Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT")], Some(10.0)),
            (vec![("Retry-After", "Sun, 06 Nov 1994 08:49:00 GMT")], Some(0.0)),
            (vec![("Retry-After", "soon")], None),
            (vec![("Retry-After", "18446744073709551615")], Some(86_400.0)),
            (vec![("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")], Some(86_400.0)),
            (vec![], None),
        ];
        for (headers, expected) in cases {
            assert_eq!(retry_after(&response(&headers), now), expected, "{headers:?}");
        }
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let p = RetryPolicy::GRAPH;
        assert_eq!(
            (p.backoff(1, 0.0), p.backoff(2, 0.0), p.backoff(3, 0.0)),
            (1.0, 2.0, 4.0)
        );
        assert!(p.backoff(3, 0.999) < 5.0);
    }
}

//! The fault plan: every Nth Graph or token request throttled (429) or failed (503), a fixed
//! latency, and a one-off `slow_down` for the next device-code poll. Set by CLI flags, by
//! `Emulator::set_faults` or by `POST /_emulator/faults`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::errors::{entra_error_body, graph_error_body};
use super::wire::{Reply, guid};

/// Faults the emulator injects into Graph and token-endpoint requests.
///
/// Requests are counted from the moment the plan is set; request number `k` is throttled when
/// `k` is a multiple of `throttle_every`, otherwise failed when it is a multiple of `fail_every`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Every Nth Graph or token request answers 429 (`None` or 0: never).
    pub throttle_every: Option<u32>,
    /// The `Retry-After` seconds on those 429s; `None` sends none, as Identity Protection does.
    pub throttle_retry_after: Option<u32>,
    /// Every Nth Graph or token request answers 503 (`None` or 0: never).
    pub fail_every: Option<u32>,
    /// Milliseconds to wait before answering every Graph or token request.
    pub latency_ms: u64,
    /// The next device-code poll answers `slow_down` (used once).
    pub slow_down: bool,
}

/// What the plan does to one counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttle,
    Fail,
}

impl FaultPlan {
    /// The fault for counted request number `k` (1-based), if any.
    pub(crate) fn fault_for(&self, k: u64) -> Option<Fault> {
        let hits = |every: Option<u32>| every.is_some_and(|n| n > 0 && k % u64::from(n) == 0);
        if hits(self.throttle_every) {
            Some(Fault::Throttle)
        } else if hits(self.fail_every) {
            Some(Fault::Fail)
        } else {
            None
        }
    }

    /// The latency to add, if any.
    pub(crate) fn delay(&self) -> Option<Duration> {
        (self.latency_ms > 0).then(|| Duration::from_millis(self.latency_ms))
    }

    /// The plan as the admin endpoint shows it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "throttle_every": self.throttle_every,
            "throttle_retry_after": self.throttle_retry_after,
            "fail_every": self.fail_every,
            "latency_ms": self.latency_ms,
            "slow_down": self.slow_down,
        })
    }

    /// This plan with the fields present in `body` changed (`null` clears); absent fields stay.
    pub(crate) fn merged(&self, body: &Value) -> Result<FaultPlan, String> {
        let fields = body.as_object().ok_or("the body must be a JSON object")?;
        check_known_fields(fields)?;
        let mut plan = self.clone();
        merge_count(fields, "throttle_every", &mut plan.throttle_every)?;
        merge_count(fields, "throttle_retry_after", &mut plan.throttle_retry_after)?;
        merge_count(fields, "fail_every", &mut plan.fail_every)?;
        if let Some(value) = fields.get("latency_ms") {
            plan.latency_ms = match value {
                Value::Null => 0,
                other => other
                    .as_u64()
                    .filter(|ms| *ms <= MAX_LATENCY_MS)
                    .ok_or("latency_ms must be a whole number of milliseconds from 0 to 60000")?,
            };
        }
        if let Some(value) = fields.get("slow_down") {
            plan.slow_down = value.as_bool().ok_or("slow_down must be true or false")?;
        }
        Ok(plan)
    }
}

/// The longest latency the admin endpoint sets: a minute, beyond any client's patience.
const MAX_LATENCY_MS: u64 = 60_000;
/// The largest count or Retry-After the admin endpoint sets.
const MAX_COUNT: u64 = 1_000_000;

const FIELDS: [&str; 5] = [
    "throttle_every",
    "throttle_retry_after",
    "fail_every",
    "latency_ms",
    "slow_down",
];

fn check_known_fields(fields: &Map<String, Value>) -> Result<(), String> {
    match fields.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        Some(key) => Err(format!("unknown field {key:?}; known fields: {}", FIELDS.join(", "))),
        None => Ok(()),
    }
}

/// Sets `slot` from `fields[name]`: a number sets it, `null` clears it, absent leaves it.
fn merge_count(fields: &Map<String, Value>, name: &str, slot: &mut Option<u32>) -> Result<(), String> {
    let Some(value) = fields.get(name) else {
        return Ok(());
    };
    *slot = match value {
        Value::Null => None,
        other => Some(
            other
                .as_u64()
                .filter(|n| *n <= MAX_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{name} must be a whole number from 0 to {MAX_COUNT}, or null"))?,
        ),
    };
    Ok(())
}

/// The injected answer: Entra-shaped on the token endpoint, Graph-shaped otherwise.
pub(crate) fn fault_reply(fault: Fault, plan: &FaultPlan, login: bool) -> Reply {
    let (status, body) = match (fault, login) {
        (Fault::Throttle, true) => (
            429,
            entra_error_body(
                "temporarily_unavailable",
                90055,
                "TenantThrottlingError: There are too many incoming requests.",
            ),
        ),
        (Fault::Throttle, false) => (
            429,
            graph_error_body("TooManyRequests", "Too many requests.", &guid(), &guid()),
        ),
        (Fault::Fail, true) => (
            503,
            entra_error_body(
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again.",
            ),
        ),
        (Fault::Fail, false) => (
            503,
            graph_error_body("serviceNotAvailable", "Service unavailable.", &guid(), &guid()),
        ),
    };
    let reply = Reply::json(status, &body);
    match (fault, plan.throttle_retry_after) {
        (Fault::Throttle, Some(seconds)) => reply.with_header("Retry-After", &seconds.to_string()),
        _ => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_requests_fault() {
        let plan = |t, f| FaultPlan {
            throttle_every: t,
            fail_every: f,
            ..FaultPlan::default()
        };
        let (th, fa) = (Some(Fault::Throttle), Some(Fault::Fail));
        #[rustfmt::skip]
        let cases = [
            (plan(None, None), [None, None, None, None, None, None]),
            (plan(Some(2), None), [None, th, None, th, None, th]),
            (plan(None, Some(3)), [None, None, fa, None, None, fa]),
            (plan(Some(2), Some(3)), [None, th, fa, th, None, th]),
            (plan(Some(0), Some(1)), [fa, fa, fa, fa, fa, fa]),
        ];
        for (plan, expected) in cases {
            let got: Vec<_> = (1..=6).map(|k| plan.fault_for(k)).collect();
            assert_eq!(got, expected, "{plan:?}");
        }
    }

    #[test]
    fn merging_admin_bodies() {
        let start = FaultPlan {
            throttle_every: Some(3),
            latency_ms: 5,
            ..FaultPlan::default()
        };
        #[rustfmt::skip]
        let cases = [
            (json!({}), Ok(start.clone())),
            (json!({"throttle_every": null}), Ok(FaultPlan { throttle_every: None, ..start.clone() })),
            (json!({"fail_every": 4, "throttle_retry_after": 2}), Ok(FaultPlan { fail_every: Some(4), throttle_retry_after: Some(2), ..start.clone() })),
            (json!({"latency_ms": null, "slow_down": true}), Ok(FaultPlan { latency_ms: 0, slow_down: true, ..start.clone() })),
            (json!({"throttle_every": -1}), Err("throttle_every must be")),
            (json!({"latency_ms": "5"}), Err("latency_ms must be")),
            (json!({"slow_down": 1}), Err("slow_down must be")),
            (json!({"throttle": 1}), Err("unknown field \"throttle\"")),
            (json!([1]), Err("JSON object")),
        ];
        for (body, expected) in cases {
            match (start.merged(&body), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
                (Err(got), Err(needle)) => assert!(got.contains(needle), "{body}: {got}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn fault_replies_are_shaped_per_service() {
        let plan = FaultPlan {
            throttle_retry_after: Some(7),
            ..FaultPlan::default()
        };
        #[rustfmt::skip]
        let cases = [
            (Fault::Throttle, true, 429, Some("7"), "\"error\":\"temporarily_unavailable\""),
            (Fault::Throttle, false, 429, Some("7"), "\"code\":\"TooManyRequests\""),
            (Fault::Fail, true, 503, None, "AADSTS90033"),
            (Fault::Fail, false, 503, None, "\"code\":\"serviceNotAvailable\""),
        ];
        for (fault, login, status, retry_after, needle) in cases {
            let reply = fault_reply(fault, &plan, login);
            let header = reply
                .headers
                .iter()
                .find(|(k, _)| k == "Retry-After")
                .map(|(_, v)| v.as_str());
            let body = String::from_utf8_lossy(&reply.body);
            assert_eq!((reply.status, header), (status, retry_after), "{fault:?} {login}");
            assert!(body.contains(needle), "{body}");
        }
    }
}

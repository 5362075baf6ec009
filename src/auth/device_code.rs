//! The device authorization grant (RFC 8628): ask for a code, then redeem it once the person
//! has signed in. State between the two commands lives in the context.

use super::{
    EntraError, Flow, MAX_DEVICE_CODE_LIFETIME_SECS, MAX_POLL_INTERVAL_SECS, Owner, TokenResponse, bounded_secs,
    delegated_scope, entra_failure, lenient_u64, token_request,
};
use crate::error::Error;
use crate::http::{HttpRequest, RetryPolicy};
use crate::secret::Secret;
use crate::session::Session;
use serde_json::{Map, Value};

/// Python-compatible key: the device code itself (a secret).
pub const DEVICE_CODE: &str = "device_code";
/// Epoch seconds when the code expires.
pub const EXPIRES_AT: &str = "device_code_expires_at";
/// Seconds to wait between polls (grows by 5 on `slow_down`).
pub const INTERVAL: &str = "device_code_interval";
/// Epoch seconds before which Entra ID must not be polled again.
pub const NEXT_POLL_AT: &str = "device_code_next_poll_at";
/// The code the person types.
pub const USER_CODE: &str = "user_code";
/// Where the person types it.
pub const VERIFICATION_URI: &str = "verification_uri";
/// What the device code was issued for.
pub const OWNER: &str = "device_code_owner";

const KEYS: [&str; 7] = [
    DEVICE_CODE,
    EXPIRES_AT,
    INTERVAL,
    NEXT_POLL_AT,
    USER_CODE,
    VERIFICATION_URI,
    OWNER,
];

/// RFC 8628's default interval, used when Entra omits it.
const DEFAULT_INTERVAL: u64 = 5;

/// The poll interval from Entra's answer or the context, within 1 s and [`MAX_POLL_INTERVAL_SECS`].
fn poll_interval(value: Option<&Value>) -> u64 {
    bounded_secs(value, 1, MAX_POLL_INTERVAL_SECS).unwrap_or(DEFAULT_INTERVAL)
}

/// A sign-in in progress, as the person needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub user_code: String,
    pub verification_uri: String,
    /// `None` for a code stored by the Python integration, which kept no expiry.
    pub expires_at: Option<u64>,
    pub interval: u64,
    /// Microsoft's own instructions (localised), when it sent them.
    pub message: Option<String>,
}

/// What one auth-complete achieved.
pub enum Poll {
    /// Signed in.
    Complete(TokenResponse),
    /// The person has not finished; poll again after `wait` seconds.
    Pending {
        pending: Pending,
        wait: u64,
        slowed_down: bool,
    },
    /// Polled too recently; no request was sent. Try again after `wait` seconds.
    TooEarly { pending: Pending, wait: u64 },
}

/// Asks Entra ID for a device code and stores it. Tokens already held stay until the new
/// sign-in completes.
pub fn start(session: &mut Session) -> Result<Pending, Error> {
    let form = vec![
        ("client_id".to_string(), session.config.app_id.clone()),
        (
            "scope".to_string(),
            delegated_scope(&session.config, super::tokens::Permissions::USERS),
        ),
    ];
    let request = HttpRequest::form(session.config.login_url("devicecode"), form).header("Accept", "application/json");
    let response = session.http.send(&request, RetryPolicy::TOKEN)?;
    if response.status != 200 {
        return Err(entra_failure(session, Flow::DeviceAuthorization, &response));
    }
    let answer: Map<String, Value> = serde_json::from_str(&response.body).unwrap_or_default();
    let now = session.now();
    let what = "a device-code answer without device_code, user_code or verification_uri";
    let grant = Grant::read(&answer, now)
        .ok_or_else(|| crate::http::unexpected_answer(&session.config.login, &response, what))?;
    grant.save(&mut session.context, &Owner::of(&session.config));
    Ok(grant.pending)
}

struct Grant {
    device_code: Secret,
    pending: Pending,
}

impl Grant {
    fn read(answer: &Map<String, Value>, now: u64) -> Option<Grant> {
        let text = |key: &str| {
            answer
                .get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let expires_in = bounded_secs(answer.get("expires_in"), 1, MAX_DEVICE_CODE_LIFETIME_SECS).unwrap_or(900);
        Some(Grant {
            device_code: Secret::new(text("device_code")?),
            pending: Pending {
                user_code: text("user_code")?,
                verification_uri: text("verification_uri").or_else(|| text("verification_url"))?,
                expires_at: Some(now.saturating_add(expires_in)),
                interval: poll_interval(answer.get("interval")),
                message: text("message"),
            },
        })
    }

    fn save(&self, context: &mut Map<String, Value>, owner: &Owner) {
        clear(context);
        context.insert(DEVICE_CODE.into(), Value::String(self.device_code.expose().to_string()));
        context.insert(USER_CODE.into(), Value::String(self.pending.user_code.clone()));
        context.insert(
            VERIFICATION_URI.into(),
            Value::String(self.pending.verification_uri.clone()),
        );
        context.insert(INTERVAL.into(), Value::from(self.pending.interval));
        if let Some(at) = self.pending.expires_at {
            context.insert(EXPIRES_AT.into(), Value::from(at));
        }
        context.insert(OWNER.into(), owner.to_value());
    }
}

/// Drops every device-code key (the code is single-use, or no longer valid).
pub fn clear(context: &mut Map<String, Value>) {
    for key in KEYS {
        context.remove(key);
    }
}

/// The stored device code, if any.
pub fn stored(context: &Map<String, Value>) -> Option<(Secret, Pending)> {
    let code = context
        .get(DEVICE_CODE)
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())?;
    let text = |key: &str| context.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let pending = Pending {
        user_code: text(USER_CODE),
        verification_uri: text(VERIFICATION_URI),
        expires_at: lenient_u64(context.get(EXPIRES_AT)),
        interval: poll_interval(context.get(INTERVAL)),
        message: None,
    };
    Some((Secret::new(code), pending))
}

/// Redeems the stored device code with one token request, unless the poll interval has not
/// passed yet (protecting the tenant from AADSTS50196 loop detection).
pub fn poll(session: &mut Session) -> Result<Poll, Error> {
    let Some((code, pending)) = stored(&session.context) else {
        return Err(Error::SignIn(
            "No sign-in is in progress. Run !azure-ad-auth-start first.".into(),
        ));
    };
    let now = session.now();
    check_usable(session, &pending, now)?;
    // A next poll further ahead than one interval is not credible: wait one interval at most.
    if let Some(wait) = lenient_u64(session.context.get(NEXT_POLL_AT))
        .filter(|at| *at > now)
        .map(|at| (at - now).min(pending.interval))
    {
        return Ok(Poll::TooEarly { pending, wait });
    }
    let form = vec![
        (
            "grant_type".into(),
            "urn:ietf:params:oauth:grant-type:device_code".into(),
        ),
        ("client_id".into(), session.config.app_id.clone()),
        ("device_code".into(), code.expose().to_string()),
    ];
    match token_request(session, Flow::DeviceCodeGrant, form) {
        Ok(tokens) => {
            clear(&mut session.context);
            Ok(Poll::Complete(tokens))
        }
        Err(Error::Entra(error)) => answer_pending(session, pending, *error, now),
        Err(other) => Err(other),
    }
}

fn check_usable(session: &mut Session, pending: &Pending, now: u64) -> Result<(), Error> {
    if !Owner::owns(&session.context, OWNER, &session.config) {
        clear(&mut session.context);
        return Err(Error::SignIn(
            "The pending sign-in was started with another app ID, tenant or cloud. Run !azure-ad-auth-start again."
                .into(),
        ));
    }
    if pending.expires_at.is_some_and(|at| at <= now) {
        clear(&mut session.context);
        return Err(Error::SignIn(format!(
            "The sign-in code {} expired before sign-in completed. Run !azure-ad-auth-start for a new code.",
            pending.user_code
        )));
    }
    Ok(())
}

fn answer_pending(session: &mut Session, mut pending: Pending, error: EntraError, now: u64) -> Result<Poll, Error> {
    let slowed_down = match error.error.as_str() {
        "authorization_pending" => false,
        "slow_down" => true,
        "authorization_declined" | "expired_token" | "code_expired" | "bad_verification_code" | "invalid_grant" => {
            clear(&mut session.context);
            return Err(Error::Entra(Box::new(error)));
        }
        _ => return Err(Error::Entra(Box::new(error))),
    };
    if slowed_down {
        pending.interval = pending.interval.saturating_add(5).min(MAX_POLL_INTERVAL_SECS);
        session.context.insert(INTERVAL.into(), Value::from(pending.interval));
    }
    session
        .context
        .insert(NEXT_POLL_AT.into(), Value::from(now.saturating_add(pending.interval)));
    Ok(Poll::Pending {
        wait: pending.interval,
        pending,
        slowed_down,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::testing::Fake;

    const PENDING: &str = r#"{"error":"authorization_pending","error_codes":[70016]}"#;
    const SLOW_DOWN: &str = r#"{"error":"slow_down"}"#;
    const CODE: &str = r#"{"device_code":"dc","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5}"#;

    fn session(fake: &Fake) -> Session<'_> {
        Session::new(Config::from_params(&Map::new()).unwrap(), Map::new(), fake)
    }

    fn waits(poll: Poll) -> (&'static str, u64) {
        match poll {
            Poll::Complete(_) => ("complete", 0),
            Poll::Pending {
                wait,
                slowed_down: false,
                ..
            } => ("pending", wait),
            Poll::Pending { wait, .. } => ("slow_down", wait),
            Poll::TooEarly { wait, .. } => ("too_early", wait),
        }
    }

    #[test]
    fn polling_keeps_to_the_interval_on_the_clock() {
        let fake = Fake::at(1_000);
        let mut session = session(&fake);
        fake.answer(200, CODE, &[]);
        assert_eq!(start(&mut session).unwrap().expires_at, Some(1_900));
        fake.answer(400, PENDING, &[]);
        assert_eq!(waits(poll(&mut session).unwrap()), ("pending", 5));
        fake.now.set(1_003);
        assert_eq!(waits(poll(&mut session).unwrap()), ("too_early", 2));
        assert_eq!(fake.requests(), 2, "too early: nothing sent");
        fake.now.set(1_005);
        fake.answer(400, SLOW_DOWN, &[]);
        assert_eq!(waits(poll(&mut session).unwrap()), ("slow_down", 10));
        fake.now.set(1_014);
        assert_eq!(waits(poll(&mut session).unwrap()), ("too_early", 1));
        fake.now.set(1_015);
        fake.answer(
            200,
            r#"{"access_token":"at","expires_in":3599,"refresh_token":"rt"}"#,
            &[],
        );
        assert_eq!(waits(poll(&mut session).unwrap()), ("complete", 0));
        assert_eq!(fake.form_value(3, "device_code").as_deref(), Some("dc"));
        assert!(stored(&session.context).is_none());
    }

    #[test]
    fn absurd_lifetimes_and_intervals_are_bounded_when_read() {
        let fake = Fake::at(1_000);
        let mut session = session(&fake);
        let absurd = r#"{"device_code":"dc","user_code":"U","verification_uri":"https://microsoft.com/devicelogin","expires_in":1e300,"interval":"1e300"}"#;
        fake.answer(200, absurd, &[]);
        let pending = start(&mut session).unwrap();
        assert_eq!((pending.expires_at, pending.interval), (Some(1_000 + 3_600), 300));
        fake.answer(400, SLOW_DOWN, &[]);
        assert_eq!(
            waits(poll(&mut session).unwrap()),
            ("slow_down", 300),
            "slow_down stays within the bound"
        );
        // A next-poll time far ahead in the context waits one interval, not forever.
        session.context.insert(NEXT_POLL_AT.into(), Value::from(u64::MAX));
        assert_eq!(waits(poll(&mut session).unwrap()), ("too_early", 300));
    }

    #[test]
    fn a_zero_interval_from_entra_still_waits_a_second() {
        let fake = Fake::at(1_000);
        let mut session = session(&fake);
        fake.answer(200, &CODE.replace(r#""interval":5"#, r#""interval":0"#), &[]);
        assert_eq!(start(&mut session).unwrap().interval, 1);
    }

    #[test]
    fn the_code_expires_on_the_clock() {
        let fake = Fake::at(1_000);
        let mut session = session(&fake);
        fake.answer(200, CODE, &[]);
        start(&mut session).unwrap();
        fake.now.set(1_900);
        assert!(matches!(poll(&mut session), Err(Error::SignIn(m)) if m.contains("expired")));
        assert_eq!((fake.requests(), session.context.is_empty()), (1, true));
    }
}

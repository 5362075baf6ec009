//! Sign-ins (Graph `auditLogs/signIns`): the sign-in behind a detection, a user's sign-ins around
//! it, and the analyst's verdict on sign-ins (confirm safe or compromised).
//!
//! A real-time sign-in detection's `requestId` is the id of its sign-in, so the detection leads
//! to the sign-in in one read; offline detections (leaked credentials, threat intelligence) have
//! none. Sign-in logs need `AuditLog.Read.All` and `Directory.Read.All` and an Entra ID P1
//! licence; confirming needs the Identity Protection write permission (see `error::Area`).

use super::listing::{self, ListKind};
use super::risky_users::{Action, Subject, act};
use super::{Arguments, CommandOutput};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::paging::Listing;
use crate::graph::query::Query;
use crate::markdown::quoted;
use crate::output::Entry;
use crate::session::Session;
use crate::time::{Instant, iso8601_graph, parse_iso8601, parse_since};
use serde_json::Value;
use serde_json::value::RawValue;

const PATH: &str = "auditLogs/signIns";
const DETECTIONS: &str = "identityProtection/riskDetections";
/// `window` when `around_detection_id` is given without one.
const DEFAULT_WINDOW: &str = "2 hours";
/// The widest `window`: sign-in logs are kept 30 days, so a wider one finds nothing more.
const MAX_WINDOW_SECS: u64 = 30 * 24 * 3_600;

fn kind(action: &str) -> ListKind<'_> {
    ListKind {
        row: Some(row),
        query: Query::at(PATH),
        context: "SignIn",
        title: "Sign-ins".into(),
        action,
    }
}

/// `azure-ad-identity-protection-sign-in-get`: one sign-in, by its id or by the detection whose
/// `requestId` it is.
pub fn get(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let id = match (args.text("id"), args.text("detection_id")) {
        (Some(_), Some(_)) => {
            return Err(Error::argument(
                "id",
                "and detection_id were both given; give one: the sign-in's id, or the detection whose sign-in to read.",
            ));
        }
        (Some(id), None) => id.to_string(),
        (None, Some(detection_id)) => {
            let detection = read_detection(session, detection_id)?;
            match text(&detection, "requestId") {
                Some(request_id) => request_id.to_string(),
                None => {
                    let timing = text(&detection, "detectionTimingType").unwrap_or("unknown");
                    return Ok(CommandOutput::entry(Entry::text(format!(
                        "Risk detection {} has no sign-in to show: it carries no requestId (its detection timing is {}; offline detections such as leaked credentials are not tied to one sign-in). List the user's sign-ins around it with !azure-ad-identity-protection-sign-ins-list around_detection_id={}.",
                        quoted(detection_id),
                        quoted(timing),
                        quoted(detection_id)
                    ))));
                }
            }
        }
        (None, None) => {
            return Err(Error::argument(
                "id",
                "is required, or detection_id: the sign-in's id (a detection's requestId), or the detection whose sign-in to read.",
            ));
        }
    };
    let url = Query::at(PATH).segment(&id).url(&session.config);
    let action = format!("Getting sign-in {}", quoted(&id));
    let sign_in = client::get_json(session, &url, &action)?;
    let listing = Listing {
        items: vec![sign_in],
        ..Listing::default()
    };
    Ok(CommandOutput::entry(listing::entry(&kind(&action), listing)))
}

/// `azure-ad-identity-protection-sign-ins-list`: filters combined with `and`, every literal
/// escaped, `createdDateTime` compared as an unquoted UTC timestamp.
pub fn list(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let now = session.now();
    // Every argument is read before the first request, so a bad one costs nothing.
    let mut since = time_arg(args, "start_time", now)?.map(|at| (at, 0));
    let mut until = time_arg(args, "end_time", now)?.map(|at| (at, 0));
    let window = match args.text("around_detection_id") {
        Some(_) => Some(window(args.text("window").unwrap_or(DEFAULT_WINDOW), now)?),
        None => None,
    };
    let mut user_id = args.text("user_id").map(str::to_string);
    if let (Some(detection_id), Some(window)) = (args.text("around_detection_id"), window) {
        let detection = read_detection(session, detection_id)?;
        let detected = text(&detection, "detectedDateTime")
            .and_then(parse_iso8601)
            .ok_or_else(|| {
                Error::argument(
                    "around_detection_id",
                    format!(
                        "names detection {}, which has no detectedDateTime to look around.",
                        quoted(detection_id)
                    ),
                )
            })?;
        // An offline detection is detected hours after the activity it is about: the window
        // also reaches back to that activity, so the sign-ins around it are listed too.
        let activity = text(&detection, "activityDateTime")
            .and_then(parse_iso8601)
            .filter(|at| *at < detected)
            .unwrap_or(detected);
        since = Some((activity.0.saturating_sub(window), activity.1));
        until = Some((detected.0.saturating_add(window), detected.1));
        if user_id.is_none() && args.text("user_principal_name").is_none() {
            user_id = text(&detection, "userId").map(str::to_string);
        }
    }
    let stamp = |at: Option<Instant>| at.map(iso8601_graph);
    let filter = Filter::new()
        .eq("userId", user_id.as_deref())
        .eq("userPrincipalName", args.text("user_principal_name"))
        .eq("ipAddress", args.text("ip_address"))
        .eq("correlationId", args.text("correlation_id"))
        .since("createdDateTime", stamp(since).as_deref())
        .until("createdDateTime", stamp(until).as_deref())
        .ne_when(args.flag("risky_only"), "riskLevelDuringSignIn", "none")
        .build();
    listing::run(session, args, &kind("Listing sign-ins"), filter)
}

/// `start_time` / `end_time`: an ISO time, or `2 hours`-style (that long ago), in epoch seconds.
fn time_arg(args: &Arguments, name: &str, now: u64) -> Result<Option<u64>, Error> {
    let Some(given) = args.text(name) else {
        return Ok(None);
    };
    parse_since(given, now).map(Some).ok_or_else(|| {
        Error::argument(
            name,
            "expected a time such as `2 hours`, `3 days` (that long ago) or an ISO time like 2024-05-01T10:00:00Z.",
        )
    })
}

/// `window`: a duration such as `2 hours` or `30 minutes`, at most 30 days.
fn window(given: &str, now: u64) -> Result<u64, Error> {
    let problem = || {
        Error::argument(
            "window",
            "expected a duration such as `2 hours`, `30 minutes` or `1 days`, at most 30 days.",
        )
    };
    // parse_since reads a duration as that long before now; an absolute time is no duration.
    if parse_iso8601(given).is_some() || given.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem());
    }
    let before = parse_since(given, now).ok_or_else(problem)?;
    let seconds = now.saturating_sub(before);
    match seconds {
        1..=MAX_WINDOW_SECS => Ok(seconds),
        _ => Err(problem()),
    }
}

/// One risk detection, as Graph has it now.
fn read_detection(session: &mut Session, id: &str) -> Result<Value, Error> {
    let url = Query::at(DETECTIONS).segment(id).url(&session.config);
    let action = format!("Getting risk detection {}", quoted(id));
    let raw = client::get_json(session, &url, &action)?;
    Ok(serde_json::from_str(raw.get()).unwrap_or(Value::Null))
}

fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A sign-in's table row: what an analyst reads first, with the nested members flattened (keys
/// in camelCase, which the table turns into its column names: `ipAddress` → IP Address). Only
/// the members shown are read, and only the four small nested objects are parsed: a sign-in is
/// about 2 KB, most of it lists (applied policies, authentication steps) the table leaves out.
fn row(sign_in: &str) -> String {
    const SHOWN: [&str; 14] = [
        "createdDateTime",
        "userPrincipalName",
        "appDisplayName",
        "ipAddress",
        "location",
        "deviceDetail",
        "clientAppUsed",
        "status",
        "mfaDetail",
        "conditionalAccessStatus",
        "riskLevelDuringSignIn",
        "riskState",
        "correlationId",
        "id",
    ];
    let [
        time,
        user,
        app,
        ip,
        location,
        device,
        client,
        status,
        mfa,
        access,
        risk,
        state,
        correlation,
        id,
    ] = crate::graph::picking::members(sign_in, &SHOWN);
    let object = |raw: Option<&RawValue>| -> Value {
        raw.and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or(Value::Null)
    };
    let (location, device, status, mfa) = (object(location), object(device), object(status), object(mfa));
    let at = |value: &Value, key: &str| -> String {
        match &value[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let joined = |parts: &[String]| {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let status = match at(&status, "errorCode").as_str() {
        "" => String::new(),
        "0" => "Success".to_string(),
        code => joined(&[code.to_string(), at(&status, "failureReason")]),
    };
    let columns = [
        ("time", plain(time)),
        ("user", plain(user)),
        ("app", plain(app)),
        ("ipAddress", plain(ip)),
        (
            "location",
            joined(&[
                at(&location, "city"),
                at(&location, "state"),
                at(&location, "countryOrRegion"),
            ]),
        ),
        (
            "device",
            joined(&[
                at(&device, "displayName"),
                at(&device, "operatingSystem"),
                at(&device, "browser"),
            ]),
        ),
        ("clientApp", plain(client)),
        ("status", status),
        ("mfa", joined(&[at(&mfa, "authMethod"), at(&mfa, "authDetail")])),
        ("conditionalAccess", plain(access)),
        ("riskDuringSignIn", plain(risk)),
        ("riskState", plain(state)),
        ("correlationId", plain(correlation)),
        ("id", plain(id)),
    ];
    let object: serde_json::Map<String, Value> = columns
        .into_iter()
        .map(|(name, cell)| (name.to_string(), Value::String(cell)))
        .collect();
    Value::Object(object).to_string()
}

/// A member as text: a string's value, anything else (a number, a boolean) as its JSON.
fn plain(raw: Option<&RawValue>) -> String {
    match raw.map(RawValue::get) {
        None | Some("null") => String::new(),
        Some(text) if text.starts_with('"') => serde_json::from_str(text).unwrap_or_default(),
        Some(text) => text.to_string(),
    }
}

/// The sign-ins an action acts on.
const SIGN_INS: Subject = Subject {
    collection: PATH,
    argument: "request_ids",
    body_key: "requestIds",
    one: "sign-in",
    many: "sign-ins",
};

const CONFIRM_SAFE: Action = Action {
    subject: SIGN_INS,
    path: "confirmSafe",
    doing: "Confirming sign-ins safe",
    done: "✅ Confirmed safe.",
};
const CONFIRM_COMPROMISED: Action = Action {
    subject: SIGN_INS,
    path: "confirmCompromised",
    doing: "Confirming sign-ins compromised",
    done: "✅ Confirmed compromised.",
};

/// `azure-ad-identity-protection-sign-in-confirm-safe`.
pub fn confirm_safe(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    act(session, args, CONFIRM_SAFE)
}

/// `azure-ad-identity-protection-sign-in-confirm-compromised`.
pub fn confirm_compromised(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    act(session, args, CONFIRM_COMPROMISED)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_717_236_000; // 2024-06-01T10:00:00Z

    #[test]
    fn windows_are_durations_within_30_days() {
        assert_eq!(window("2 hours", NOW).unwrap(), 7_200);
        assert_eq!(window("30 days", NOW).unwrap(), MAX_WINDOW_SECS);
        for bad in ["31 days", "2024-05-01", "1717236000", "soon", "0 hours"] {
            assert!(window(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sign_in_row_flattens_what_an_analyst_reads_first() {
        let sign_in = serde_json::json!({
            "id": "s1", "createdDateTime": "2024-06-01T09:00:00Z", "userPrincipalName": "ann@contoso.com",
            "appDisplayName": "Office 365", "ipAddress": "203.0.113.9",
            "location": {"city": "Lisbon", "state": null, "countryOrRegion": "PT"},
            "deviceDetail": {"displayName": "", "operatingSystem": "Windows 10", "browser": "Edge"},
            "status": {"errorCode": 50126, "failureReason": "Invalid username or password."},
            "mfaDetail": {"authMethod": "Text message", "authDetail": null},
            "conditionalAccessStatus": "notApplied", "riskLevelDuringSignIn": "high", "riskState": "atRisk",
        });
        let row: Value = serde_json::from_str(&row(&sign_in.to_string())).unwrap();
        assert_eq!(row["location"], "Lisbon, PT");
        assert_eq!(row["device"], "Windows 10, Edge");
        assert_eq!(row["status"], "50126, Invalid username or password.");
        assert_eq!(row["mfa"], "Text message");
        let ok = serde_json::json!({"status": {"errorCode": 0}});
        let row: Value = serde_json::from_str(&super::row(&ok.to_string())).unwrap();
        assert_eq!(row["status"], "Success");
    }
}

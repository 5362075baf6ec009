//! The default tenant's Identity Protection data: five risky users, their history and eight risk
//! detections, in Graph's shapes (riskyUser, riskyUserHistoryItem, riskDetection).

use serde_json::{Value, json};

use formats::time::{iso8601_graph, parse_iso8601};

/// The object id of the default signed-in analyst (`SignedInUser::default()`), who acted on some users.
const ANALYST: &str = "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4";

/// Five risky users covering the common levels, states and details.
pub(crate) fn risky_users() -> Vec<Value> {
    #[rustfmt::skip]
    let rows = [
        ("c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01", "Adele Vance", "adelev", "high", "atRisk", "none"),
        ("d4b2f103-2c3d-4e4f-9051-6b7c8d9e0f12", "Alex Wilber", "alexw", "medium", "atRisk", "none"),
        ("e5c30214-3d4e-4f50-a162-7c8d9e0f1a23", "Diego Siciliani", "diegos", "low", "confirmedCompromised", "adminConfirmedUserCompromised"),
        ("f6d41325-4e5f-4061-b273-8d9e0f1a2b34", "Grady Archie", "gradya", "none", "dismissed", "adminDismissedAllRiskForUser"),
        ("a7e52436-5f60-4172-8384-9e0f1a2b3c45", "Isaiah Langer", "isaiahl", "none", "remediated", "userPerformedSecuredPasswordReset"),
    ];
    rows.iter()
        .enumerate()
        .map(|(i, &(id, name, alias, level, state, detail))| {
            json!({
                "id": id,
                "isDeleted": false,
                "isProcessing": false,
                "riskLastUpdatedDateTime": format!("2024-05-{:02}T08:1{i}:27.5581222Z", 20 - i),
                "riskLevel": level,
                "riskState": state,
                "riskDetail": detail,
                "userDisplayName": name,
                "userPrincipalName": format!("{alias}@contoso.onmicrosoft.com"),
            })
        })
        .collect()
}

/// A riskyUserHistoryItem: the user's risk fields as they are now, plus `userId`, `initiatedBy`
/// (`None` for Identity Protection itself) and `activity {detail, riskEventTypes}`.
pub(crate) fn history_item(user: &Value, id: &str, initiated_by: Option<&str>, event_types: &[&str]) -> Value {
    let mut item = user.as_object().cloned().unwrap_or_default();
    let user_id = item.get("id").cloned().unwrap_or(Value::Null);
    let detail = item.get("riskDetail").cloned().unwrap_or(Value::Null);
    item.insert("id".into(), json!(id));
    item.insert("userId".into(), user_id);
    item.insert("initiatedBy".into(), json!(initiated_by));
    item.insert(
        "activity".into(),
        json!({"detail": detail, "riskEventTypes": event_types}),
    );
    Value::Object(item)
}

/// One step of a sample user's risk history.
struct Step {
    level: &'static str,
    state: &'static str,
    detail: &'static str,
    initiated_by: Option<&'static str>,
    event_types: &'static [&'static str],
}

/// The history of the default users: 2, 1, 2, 2 and 3 items; each user's last item is their
/// current state at their `riskLastUpdatedDateTime`, earlier items one day apart before it.
pub(crate) fn history(users: &[Value]) -> Vec<Value> {
    let steps = history_steps();
    users
        .iter()
        .zip(steps.iter())
        .enumerate()
        .flat_map(|(u, (user, steps))| user_history(u, user, steps))
        .collect()
}

fn user_history(u: usize, user: &Value, steps: &[Step]) -> Vec<Value> {
    let user_id = user["id"].as_str().unwrap_or_default();
    let updated = user["riskLastUpdatedDateTime"].as_str().unwrap_or_default();
    steps
        .iter()
        .enumerate()
        .map(|(n, step)| {
            let mut snapshot = user.as_object().cloned().unwrap_or_default();
            snapshot.insert("riskLevel".into(), json!(step.level));
            snapshot.insert("riskState".into(), json!(step.state));
            snapshot.insert("riskDetail".into(), json!(step.detail));
            let when = days_before(updated, steps.len() - 1 - n);
            snapshot.insert("riskLastUpdatedDateTime".into(), json!(when));
            let id = format!("4a115700-{u:04}-4{n:03}-8000-{}", user_id.get(24..).unwrap_or_default());
            history_item(&Value::Object(snapshot), &id, step.initiated_by, step.event_types)
        })
        .collect()
}

/// A Graph timestamp minus `days` whole days, in Graph's form.
fn days_before(timestamp: &str, days: usize) -> String {
    let back = u64::try_from(days).unwrap_or(u64::MAX).saturating_mul(86_400);
    parse_iso8601(timestamp).map_or_else(String::new, |(seconds, nanos)| {
        iso8601_graph((seconds.saturating_sub(back), nanos))
    })
}

#[rustfmt::skip]
fn history_steps() -> [Vec<Step>; 5] {
    let step = |level, state, detail, initiated_by, event_types| Step { level, state, detail, initiated_by, event_types };
    [
        vec![
            step("medium", "atRisk", "none", None, &["unfamiliarFeatures"]),
            step("high", "atRisk", "none", None, &["anonymizedIPAddress", "leakedCredentials"]),
        ],
        vec![step("medium", "atRisk", "none", None, &["unlikelyTravel", "maliciousIPAddress"])],
        vec![
            step("high", "atRisk", "none", None, &["passwordSpray"]),
            step("low", "confirmedCompromised", "adminConfirmedUserCompromised", Some(ANALYST), &[]),
        ],
        vec![
            step("low", "atRisk", "none", None, &["newCountry"]),
            step("none", "dismissed", "adminDismissedAllRiskForUser", Some(ANALYST), &[]),
        ],
        vec![
            step("medium", "atRisk", "none", None, &["suspiciousBrowser"]),
            step("high", "atRisk", "none", None, &["suspiciousBrowser", "anomalousToken"]),
            step("none", "remediated", "userPerformedSecuredPasswordReset", Some("a7e52436-5f60-4172-8384-9e0f1a2b3c45"), &[]),
        ],
    ]
}

/// A sign-in location (`None` coordinates become `geoCoordinates: null`).
struct Place {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    coordinates: Option<(f64, f64)>,
}

/// One sample detection row.
struct Row {
    id: &'static str,
    user: usize,
    event: &'static str,
    state: &'static str,
    level: &'static str,
    detail: &'static str,
    timing: &'static str,
    ip: Option<&'static str>,
    place: Option<Place>,
    activity: &'static str,
    detected: &'static str,
    updated: &'static str,
}

const SEATTLE: Place = Place {
    city: "Seattle",
    state: "Washington",
    country: "US",
    coordinates: Some((47.6062, -122.3321)),
};
const AMSTERDAM: Place = Place {
    city: "Amsterdam",
    state: "Noord-Holland",
    country: "NL",
    coordinates: Some((52.3676, 4.9041)),
};
const SAO_PAULO: Place = Place {
    city: "São Paulo",
    state: "Sao Paulo",
    country: "BR",
    coordinates: Some((-23.5505, -46.6333)),
};
const LAGOS: Place = Place {
    city: "Lagos",
    state: "Lagos",
    country: "NG",
    coordinates: None,
};
const DUBLIN: Place = Place {
    city: "Dublin",
    state: "Dublin",
    country: "IE",
    coordinates: Some((53.3498, -6.2603)),
};

/// Eight detections for the default users: varied types, states, timings, locations and
/// timestamp precisions; d02/d03 and d04/d05 share a `detectedDateTime`.
pub(crate) fn risk_detections() -> Vec<Value> {
    let users = risky_users();
    detection_rows()
        .into_iter()
        .map(|row| detection(&row, users.get(row.user).unwrap_or(&Value::Null)))
        .collect()
}

#[rustfmt::skip]
fn detection_rows() -> Vec<Row> {
    let row = |id, user, event, state, level, detail, timing, ip, place, activity, detected, updated| Row {
        id, user, event, state, level, detail, timing, ip, place, activity, detected, updated,
    };
    vec![
        row("0d5e7c1a-0001-4b2c-9d3e-4f5a6b7c8d01", 0, "unfamiliarFeatures", "atRisk", "high", "none", "realtime", Some("203.0.113.10"), Some(SEATTLE), "signin", "2024-05-18T09:15:02.1234567Z", "2024-05-18T09:16:40.0000000Z"),
        row("0d5e7c1a-0002-4b2c-9d3e-4f5a6b7c8d02", 0, "anonymizedIPAddress", "atRisk", "medium", "none", "realtime", Some("198.51.100.23"), Some(AMSTERDAM), "signin", "2024-05-19T11:02:45.5000000Z", "2024-05-19T11:02:45.5000000Z"),
        row("0d5e7c1a-0003-4b2c-9d3e-4f5a6b7c8d03", 0, "leakedCredentials", "atRisk", "high", "none", "offline", None, None, "user", "2024-05-19T11:02:45.5000000Z", "2024-05-19T12:00:00.0000000Z"),
        row("0d5e7c1a-0004-4b2c-9d3e-4f5a6b7c8d04", 1, "unlikelyTravel", "atRisk", "medium", "none", "offline", Some("2001:db8::17"), Some(SAO_PAULO), "signin", "2024-05-20T07:30:00.0000000Z", "2024-05-20T07:31:12.3400000Z"),
        row("0d5e7c1a-0005-4b2c-9d3e-4f5a6b7c8d05", 1, "maliciousIPAddress", "atRisk", "low", "none", "offline", Some("192.0.2.66"), Some(LAGOS), "signin", "2024-05-20T07:30:00.0000000Z", "2024-05-20T07:30:00.0000000Z"),
        row("0d5e7c1a-0006-4b2c-9d3e-4f5a6b7c8d06", 2, "passwordSpray", "confirmedCompromised", "high", "adminConfirmedUserCompromised", "offline", Some("203.0.113.77"), Some(DUBLIN), "signin", "2024-05-16T22:41:13.773602Z", "2024-05-18T08:12:27.5581222Z"),
        row("0d5e7c1a-0007-4b2c-9d3e-4f5a6b7c8d07", 3, "newCountry", "dismissed", "low", "adminDismissedAllRiskForUser", "nearRealtime", Some("198.51.100.200"), Some(AMSTERDAM), "signin", "2024-05-15T04:05:06Z", "2024-05-17T08:13:27.5581222Z"),
        row("0d5e7c1a-0008-4b2c-9d3e-4f5a6b7c8d08", 4, "suspiciousBrowser", "remediated", "medium", "userPerformedSecuredPasswordReset", "realtime", Some("203.0.113.10"), Some(SEATTLE), "signin", "2024-05-14T13:37:00.0100000Z", "2024-05-16T08:14:27.5581222Z"),
    ]
}

/// A riskDetection object for one row and its user.
fn detection(row: &Row, user: &Value) -> Value {
    let signin = row.activity == "signin";
    let suffix = row.id.get(24..).unwrap_or_default();
    let request_id = signin.then(|| format!("6a5874ca-abcd-4b1c-9d82-{suffix}"));
    let correlation_id = signin.then(|| format!("abcd74ca-9823-4b1c-9d82-{suffix}"));
    json!({
        "id": row.id,
        "requestId": request_id,
        "correlationId": correlation_id,
        "riskEventType": row.event,
        "riskState": row.state,
        "riskLevel": row.level,
        "riskDetail": row.detail,
        "source": if signin { "IdentityProtection" } else { "activeDirectory" },
        "detectionTimingType": row.timing,
        "activity": row.activity,
        "tokenIssuerType": "AzureAD",
        "ipAddress": row.ip,
        "location": row.place.as_ref().map_or(Value::Null, location),
        "activityDateTime": activity_time(row.detected),
        "detectedDateTime": row.detected,
        "lastUpdatedDateTime": row.updated,
        "userId": user["id"],
        "userDisplayName": user["userDisplayName"],
        "userPrincipalName": user["userPrincipalName"],
        "additionalInfo": additional_info(row),
    })
}

fn location(place: &Place) -> Value {
    let coordinates = place
        .coordinates
        .map_or(Value::Null, |(lat, lon)| json!({"latitude": lat, "longitude": lon}));
    json!({
        "city": place.city,
        "state": place.state,
        "countryOrRegion": place.country,
        "geoCoordinates": coordinates,
    })
}

/// The sign-in happened a little before the detection: the same minute, second zero.
fn activity_time(detected: &str) -> String {
    parse_iso8601(detected).map_or_else(String::new, |(seconds, _)| iso8601_graph((seconds - seconds % 60, 0)))
}

/// `additionalInfo` is a JSON-encoded string of `[{"Key":…,"Value":…}]`, as Graph sends it.
fn additional_info(row: &Row) -> String {
    let user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    let info = if row.activity == "signin" {
        json!([{"Key": "userAgent", "Value": user_agent}, {"Key": "riskReasons", "Value": [row.event]}])
    } else {
        json!([{"Key": "alertUrl", "Value": null}])
    };
    info.to_string()
}

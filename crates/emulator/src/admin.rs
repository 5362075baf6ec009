//! The loopback-only admin endpoint under `/_emulator/`: change faults and the tenant while
//! the emulator runs (add detections, remediate a user's risk as a password reset in Entra
//! would, add a named location's IP range as another admin would), settle device codes, read
//! the request log. Every answer is JSON; requests
//! from a peer that is not loopback, or whose Host is not a loopback name, get 403. Admin
//! requests are not recorded in the request log.

use serde_json::{Map, Value, json};

use super::actions;
use super::config::{FEDERATED_AUDIENCE, TEST_FEDERATED_ISSUER, TEST_FEDERATED_SUBJECT};
use super::device_login::{self, Settlement};
use super::generate::log_sign_in_of;
use super::named_locations::{self, PendingWrite};
use super::request::RecordedRequest;
use super::signing;
use super::state::State;
use super::wire::{Reply, graph_timestamp_now, guid, now};

/// The path prefix of every admin route.
pub(crate) const PREFIX: &str = "/_emulator";

/// Whether `path` belongs to the admin endpoint.
pub(crate) fn is_admin_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/_emulator/")
}

/// Answers one admin request; `loopback` says whether the peer address is a loopback address.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest, loopback: bool) -> Reply {
    if !loopback {
        return error(403, "the admin endpoint only answers loopback peers");
    }
    if !names_loopback(request, port_of(&state.base_url)) {
        return error(
            403,
            "the admin endpoint only answers requests for Host 127.0.0.1, localhost or [::1] with its port",
        );
    }
    if let Some(refusal) = cross_site(request) {
        return error(403, refusal);
    }
    let route = request.path.trim_start_matches(PREFIX).trim_matches('/');
    let outcome = match (request.method.to_ascii_uppercase().as_str(), route) {
        ("GET", "") => Ok(index()),
        ("GET", "faults") => Ok(state.fault_plan().to_json()),
        ("POST", "faults") => set_faults(state, &request.body),
        ("POST", "expire-tokens") => Ok(expire_tokens(state)),
        ("POST", "revoke-refresh-tokens") => Ok(revoke_refresh_tokens(state)),
        ("POST", "detections") => add_detections(state, &request.body),
        ("POST", "approve") => settle(state, &request.body, true),
        ("POST", "deny") => settle(state, &request.body, false),
        ("GET", "requests") => Ok(request_log(state)),
        ("GET", "tenant") => Ok(state.config.to_json()),
        ("POST", "federated-token") => federated_token(&request.body),
        ("POST", route) if remediation_target(route).is_some() => remediate(state, route),
        ("POST", route) if location_ranges_target(route).is_some() => add_location_range(state, route, &request.body),
        _ => Err((
            404,
            format!(
                "no admin route {} {}; GET {PREFIX} lists them",
                request.method, request.path
            ),
        )),
    };
    match outcome {
        Ok(body) => Reply::json(200, &body),
        Err((status, message)) => error(status, &message),
    }
}

/// Why a request may come from a web page rather than a person or a test: a browser's request
/// carries an `Origin`, and a cross-site POST without a CORS preflight can only be a "simple"
/// one (form or text/plain), never `application/json`.
fn cross_site(request: &RecordedRequest) -> Option<&'static str> {
    if request.header("Origin").is_some() {
        return Some("the admin endpoint refuses requests from web pages (an Origin header)");
    }
    let json = request
        .header("Content-Type")
        .is_some_and(|kind| kind.trim().to_ascii_lowercase().starts_with("application/json"));
    (request.method.eq_ignore_ascii_case("POST") && !json).then_some("admin POSTs need Content-Type: application/json")
}

/// Whether the request's Host is a loopback name, with this emulator's port if it has one. A
/// DNS-rebinding page reaches 127.0.0.1 under its own name, which its browser sends as Host, so
/// the name is what keeps it out. The port may be left out, as clients do for a scheme's default
/// (an emulator on port 80 or 443); when given, it must be this emulator's.
fn names_loopback(request: &RecordedRequest, port: Option<u16>) -> bool {
    let Some(authority) = request
        .header("Host")
        .and_then(|host| host.trim().parse::<http::uri::Authority>().ok())
    else {
        return false;
    };
    let name = authority.host();
    let loopback_name = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|loopback| loopback.eq_ignore_ascii_case(name));
    // Without user info, the authority is the name, then nothing or `:port`.
    let port_ok = match authority.as_str().strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|given| given.parse::<u16>().ok())
            .is_some_and(|given| Some(given) == port),
        None => false,
    };
    loopback_name && port_ok
}

/// The port of `http://127.0.0.1:PORT`.
fn port_of(base_url: &str) -> Option<u16> {
    base_url.rsplit_once(':').and_then(|(_, port)| port.parse().ok())
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({"error": message}))
}

type Outcome = Result<Value, (u16, String)>;

fn index() -> Value {
    json!({"routes": [
        "GET /_emulator/faults", "POST /_emulator/faults", "POST /_emulator/expire-tokens",
        "POST /_emulator/revoke-refresh-tokens", "POST /_emulator/detections", "POST /_emulator/approve",
        "POST /_emulator/deny", "GET /_emulator/requests", "GET /_emulator/tenant",
        "POST /_emulator/federated-token", "POST /_emulator/users/{id}/remediate",
        "POST /_emulator/named-locations/{id}/ranges",
    ]})
}

/// A JSON body, or 400 naming the problem.
fn parse_body(body: &str) -> Result<Value, (u16, String)> {
    serde_json::from_str(body).map_err(|e| (400, format!("the body is not valid JSON: {e}")))
}

fn set_faults(state: &mut State, body: &str) -> Outcome {
    let plan = state.fault_plan().merged(&parse_body(body)?).map_err(|e| (400, e))?;
    state.set_faults(plan);
    Ok(state.fault_plan().to_json())
}

/// Longest federated token the test issuer writes: a day (Kubernetes projects an hour by default).
const MAX_FEDERATED_LIFETIME_SECS: u64 = 86_400;

/// A token of the test federation issuer for a workload's token file: body `{"subject",
/// "audience", "lifetime_secs"}`, each optional (the default certificate app's federated
/// credential, one hour).
fn federated_token(body: &str) -> Outcome {
    let body = if body.trim().is_empty() {
        json!({})
    } else {
        parse_body(body)?
    };
    if !body.is_object() {
        return Err((400, "the body must be a JSON object (or empty)".to_owned()));
    }
    let text = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Ok(Some(s.clone())),
        Some(_) => Err((
            400,
            format!("\"{key}\" must be a non-empty string of at most 1024 bytes"),
        )),
    };
    let subject = text("subject")?.unwrap_or_else(|| TEST_FEDERATED_SUBJECT.to_owned());
    let audience = text("audience")?;
    let lifetime = match body.get("lifetime_secs") {
        None | Some(Value::Null) => 3_600,
        Some(value) => value
            .as_u64()
            .filter(|secs| (1..=MAX_FEDERATED_LIFETIME_SECS).contains(secs))
            .ok_or_else(|| {
                (
                    400,
                    format!("\"lifetime_secs\" must be a whole number from 1 to {MAX_FEDERATED_LIFETIME_SECS}"),
                )
            })?,
    };
    let issued = now();
    let claims = json!({
        "iss": TEST_FEDERATED_ISSUER,
        "sub": subject,
        "aud": [audience.as_deref().unwrap_or(FEDERATED_AUDIENCE)],
        "iat": issued,
        "nbf": issued,
        "exp": issued.saturating_add(lifetime),
        "jti": guid(),
    });
    Ok(json!({
        "token": signing::sign_as_test_issuer(&claims),
        "issuer": TEST_FEDERATED_ISSUER,
        "subject": subject,
        "expires_in": lifetime,
    }))
}

fn expire_tokens(state: &mut State) -> Value {
    state.access_tokens.values_mut().for_each(|at| at.revoked = true);
    json!({"expired_access_tokens": state.access_tokens.len()})
}

fn revoke_refresh_tokens(state: &mut State) -> Value {
    state.refresh_tokens.values_mut().for_each(|rt| rt.revoked = true);
    json!({"revoked_refresh_tokens": state.refresh_tokens.len()})
}

/// Appends one riskDetection, or each of `{"value": [...]}`; fills in missing ids and times. A
/// detection with a `servicePrincipalId` and no `userId` is a servicePrincipalRiskDetection; a
/// user's detection with a `requestId` adds its sign-in to the log.
fn add_detections(state: &mut State, body: &str) -> Outcome {
    let body = parse_body(body)?;
    let detections = match body.get("value") {
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err((400, "\"value\" must be an array of riskDetection objects".to_owned())),
        None => vec![body],
    };
    let mut ids = Vec::new();
    for (n, detection) in detections.into_iter().enumerate() {
        let Value::Object(fields) = detection else {
            return Err((400, format!("detection {n} is not a JSON object")));
        };
        let of_principal = fields.contains_key("servicePrincipalId") && !fields.contains_key("userId");
        let detection = completed(fields);
        ids.push(detection["id"].clone());
        match of_principal {
            true => state.config.service_principal_risk_detections.push(detection),
            false => {
                log_sign_in_of(&mut state.config.sign_ins, &detection);
                state.config.risk_detections.push(detection);
            }
        }
    }
    Ok(json!({"added": ids.len(), "ids": ids}))
}

/// The detection with `id` (a fresh GUID), `detectedDateTime` (now) and `lastUpdatedDateTime`
/// (its detection time) filled in when missing.
pub(crate) fn completed(mut fields: Map<String, Value>) -> Value {
    let missing = |fields: &Map<String, Value>, key: &str| fields.get(key).is_none_or(Value::is_null);
    if missing(&fields, "id") {
        fields.insert("id".into(), json!(guid()));
    }
    if missing(&fields, "detectedDateTime") {
        fields.insert("detectedDateTime".into(), json!(graph_timestamp_now()));
    }
    if missing(&fields, "lastUpdatedDateTime") {
        let detected = fields.get("detectedDateTime").cloned().unwrap_or(Value::Null);
        fields.insert("lastUpdatedDateTime".into(), detected);
    }
    Value::Object(fields)
}

/// The user id of a `users/{id}/remediate` route.
fn remediation_target(route: &str) -> Option<&str> {
    let id = route.strip_prefix("users/")?.strip_suffix("/remediate")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// A secure password reset in Entra: the user's risk and its open detections become
/// `remediated`, which the integration's mirroring must notice on its next poll.
fn remediate(state: &mut State, route: &str) -> Outcome {
    let id = remediation_target(route).unwrap_or_default();
    let closed = actions::remediate(state, id).ok_or_else(|| (404, format!("no risky user with id {id}")))?;
    let user = state
        .config
        .risky_users
        .iter()
        .find(|u| u["id"].as_str().is_some_and(|uid| uid.eq_ignore_ascii_case(id)));
    Ok(json!({"user": user, "remediated_detections": closed}))
}

/// The location id of a `named-locations/{id}/ranges` route.
fn location_ranges_target(route: &str) -> Option<&str> {
    let id = route.strip_prefix("named-locations/")?.strip_suffix("/ranges")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Another admin adds an IP range to a named location: `{"cidrAddress", "after_next_patch"}`.
/// At once by default; with `after_next_patch`, as a writer who read the location before the
/// next PATCH of it and wrote after it, so that PATCH's own changes to the ranges are lost.
fn add_location_range(state: &mut State, route: &str, body: &str) -> Outcome {
    let id = location_ranges_target(route).unwrap_or_default().to_owned();
    let body = parse_body(body)?;
    let cidr = body["cidrAddress"].as_str().ok_or((
        400,
        "the body must be {\"cidrAddress\": \"…\", \"after_next_patch\"?: bool}".to_owned(),
    ))?;
    let kind = if cidr.contains(':') {
        "#microsoft.graph.iPv6CidrRange"
    } else {
        "#microsoft.graph.iPv4CidrRange"
    };
    let range =
        named_locations::ip_range(&json!({"@odata.type": kind, "cidrAddress": cidr})).map_err(|e| (400, e.message))?;
    let later = body["after_next_patch"].as_bool().unwrap_or(false);
    let location = state
        .config
        .named_locations
        .iter_mut()
        .find(|l| l["id"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(&id)) && l["ipRanges"].is_array())
        .ok_or_else(|| (404, format!("no IP named location with id {id}")))?;
    if later {
        let write = PendingWrite {
            location_id: id,
            ranges: vec![range],
        };
        state.pending_location_writes.push(write);
        return Ok(json!({"pending": true}));
    }
    let mut ranges = location["ipRanges"].as_array().cloned().unwrap_or_default();
    named_locations::add_ranges(&mut ranges, &[range]);
    location["ipRanges"] = json!(ranges);
    location["modifiedDateTime"] = json!(graph_timestamp_now());
    Ok(json!({"pending": false, "location": location}))
}

fn settle(state: &mut State, body: &str, approve: bool) -> Outcome {
    let body = parse_body(body)?;
    let user_code = body
        .get("user_code")
        .and_then(Value::as_str)
        .ok_or((400, "the body must be {\"user_code\": \"...\"}".to_owned()))?;
    let settlement = device_login::settle(state, user_code, approve);
    let message = settlement.message(user_code, approve);
    match settlement {
        Settlement::Done => Ok(json!({"user_code": user_code, "approved": approve, "message": message})),
        Settlement::Unknown => Err((404, message)),
        Settlement::Expired | Settlement::AlreadySettled => Err((409, message)),
    }
}

/// `{"requests": [{"method", "path", "status"}]}`, without headers, queries or bodies.
fn request_log(state: &State) -> Value {
    let entries: Vec<Value> = state
        .log
        .entries()
        .map(|(request, status)| json!({"method": request.method, "path": request.path, "status": status}))
        .collect();
    json!({"requests": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        let cases = [
            ("/_emulator", true),
            ("/_emulator/faults", true),
            ("/_emulatorx", false),
            ("/v1.0/_emulator", false),
        ];
        for (path, expected) in cases {
            assert_eq!(is_admin_path(path), expected, "{path}");
        }
    }

    #[test]
    fn detections_are_completed() {
        let given = json!({"id": "x", "detectedDateTime": "2024-01-01T00:00:00Z"});
        let kept = completed(given.as_object().cloned().unwrap_or_default());
        assert_eq!(
            (kept["id"].as_str(), kept["lastUpdatedDateTime"].as_str()),
            (Some("x"), Some("2024-01-01T00:00:00Z"))
        );
        let filled = completed(json!({"id": null}).as_object().cloned().unwrap_or_default());
        assert_eq!(filled["id"].as_str().map(str::len), Some(36));
        assert_eq!(filled["detectedDateTime"].as_str().map(str::len), Some(28));
    }
}

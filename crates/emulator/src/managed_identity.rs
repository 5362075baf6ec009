//! The emulated engine host's managed-identity endpoints, each answering the host's identity
//! ([`MANAGED_IDENTITY_CLIENT_ID`]) with a Graph token, in its own wire format:
//! Azure IMDS (`GET /metadata/identity/oauth2/token`), the App Service / Functions endpoint
//! (`GET /msi/token`) and the Azure Arc agent (`GET /arc/metadata/identity/oauth2/token`, a Basic
//! challenge naming a key file first).

use std::io::Read as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::config::{ARC_TOKENS_FOLDER, MANAGED_IDENTITY_CLIENT_ID};
use super::login::{Grantee, issue_access_token};
use super::request::RecordedRequest;
use super::state::State;
use super::wire::{Reply, guid, now, random_string};

/// Why an endpoint issued no token: the status and IMDS's `error_description`.
type Refusal = (u16, &'static str);

/// IMDS's "no such identity" description; App Service words the same refusal differently.
const IDENTITY_NOT_FOUND: &str = "Identity not found";

/// Answers an IMDS token request the way IMDS does: strings for the numbers, plain errors.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest) -> Reply {
    let answer = metadata_header(request).and_then(|()| token(state, request));
    imds_reply(answer)
}

/// Answers the App Service endpoint (api-version 2019-08-01): the `X-IDENTITY-HEADER` secret
/// (any non-empty value: the emulator cannot know the engine's), `expires_on` only, and errors
/// as `{"statusCode", "message", "correlationId"}`.
pub(crate) fn app_service(state: &mut State, request: &RecordedRequest) -> Reply {
    let header = request.header("X-IDENTITY-HEADER").filter(|h| !h.is_empty());
    let answer = header
        .ok_or((401, "The X-IDENTITY-HEADER header is missing or invalid."))
        .and_then(|_| token(state, request));
    match answer {
        Ok(mut body) => {
            if let Some(fields) = body.as_object_mut() {
                fields.retain(|name, _| !matches!(name.as_str(), "expires_in" | "ext_expires_in" | "not_before"));
            }
            Reply::json(200, &body)
        }
        Err((status, message)) => {
            let message = match message {
                IDENTITY_NOT_FOUND => "Unable to load the proper Managed Identity.",
                other => other,
            };
            let body = json!({"statusCode": status, "message": message, "correlationId": guid()});
            Reply::json(status, &body)
        }
    }
}

/// Answers the Azure Arc agent (api-version 2020-06-01): without `Authorization`, a fresh key is
/// written to [`TenantConfig::arc_key_file`](super::TenantConfig::arc_key_file) and the answer is
/// 401 `WWW-Authenticate: Basic realm=<that file>`; with `Basic <the file's key>`, the token,
/// naming the identity it is for (`client_id`), as agents with user-assigned support do.
pub(crate) fn arc(state: &mut State, request: &RecordedRequest) -> Reply {
    if let Err(refusal) = metadata_header(request) {
        return imds_reply(Err(refusal));
    }
    let offered = request.header("Authorization").and_then(|a| a.strip_prefix("Basic "));
    match (offered, current_arc_key(state)) {
        (Some(offered), Some(key)) if offered == key => imds_reply(token(state, request)),
        _ => arc_challenge(state),
    }
}

/// A 401 whose challenge names the key file, with a new key in it when the emulator may write.
fn arc_challenge(state: &State) -> Reply {
    let path = match &state.config.arc_key_file {
        Some(path) => {
            let key = random_string(b"0123456789abcdef", 64);
            if std::fs::write(path, key).is_err() {
                return imds_reply(Err((500, "The emulated Arc agent could not write its key file.")));
            }
            path.clone()
        }
        None => PathBuf::from(ARC_TOKENS_FOLDER).join(format!("{}.key", guid())),
    };
    Reply::text(401, "text/plain; charset=utf-8", "")
        .with_header("WWW-Authenticate", &format!("Basic realm={}", path.display()))
}

/// The key the last challenge wrote, if the emulator writes one (read back from the file, so
/// no key is kept in memory; at most 4096 bytes, as clients read it).
fn current_arc_key(state: &State) -> Option<String> {
    let file = std::fs::File::open(state.config.arc_key_file.as_ref()?).ok()?;
    let mut key = String::new();
    file.take(4096).read_to_string(&mut key).ok()?;
    Some(key).filter(|k| !k.is_empty())
}

fn imds_reply(answer: Result<Value, Refusal>) -> Reply {
    match answer {
        Ok(body) => Reply::json(200, &body),
        Err((status, description)) => Reply::json(
            status,
            &json!({"error": "invalid_request", "error_description": description}),
        ),
    }
}

fn metadata_header(request: &RecordedRequest) -> Result<(), Refusal> {
    match request.header("Metadata") {
        Some("true") => Ok(()),
        _ => Err((400, "Required metadata header not specified")),
    }
}

/// The token of the host's identity, or why there is none: a GET with `resource`, for the
/// system-assigned identity or the one `client_id` names.
fn token(state: &mut State, request: &RecordedRequest) -> Result<Value, Refusal> {
    if request.method != "GET" {
        return Err((405, "The request method is not supported."));
    }
    let resource = request
        .query_value("resource")
        .filter(|r| !r.is_empty())
        .ok_or((400, "Required query variable 'resource' is missing"))?;
    let wanted = request.query_value("client_id");
    let app = state
        .config
        .app(MANAGED_IDENTITY_CLIENT_ID)
        .filter(|_| wanted.as_deref().is_none_or(|id| id == MANAGED_IDENTITY_CLIENT_ID))
        .cloned()
        .ok_or((400, IDENTITY_NOT_FOUND))?;
    let (access_token, expires_in) = issue_access_token(state, &app, Grantee::Application);
    let issued = now();
    Ok(json!({
        "access_token": access_token,
        "client_id": app.client_id,
        "expires_in": expires_in.to_string(),
        "expires_on": issued.saturating_add(expires_in).to_string(),
        "ext_expires_in": expires_in.to_string(),
        "not_before": issued.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantConfig;

    const QUERY: &str = "?api-version=2020-06-01&resource=https%3A%2F%2Fgraph.microsoft.com";

    fn get(path: &str, headers: &[(&str, &str)]) -> RecordedRequest {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RecordedRequest::new("GET", &format!("{path}{QUERY}"), headers, String::new())
    }

    fn body(reply: &Reply) -> Value {
        serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
    }

    fn realm(reply: &Reply) -> Option<String> {
        let (_, value) = reply.headers.iter().find(|(k, _)| k == "WWW-Authenticate")?;
        value.strip_prefix("Basic realm=").map(str::to_string)
    }

    #[test]
    fn the_arc_agent_challenges_then_accepts_only_the_key_it_wrote() {
        let dir = std::env::temp_dir().join(format!("emulator-arc-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agent.key");
        let config = TenantConfig {
            arc_key_file: Some(file.clone()),
            ..TenantConfig::default()
        };
        let mut state = State::new(config, "http://127.0.0.1:1".into());
        let path = "/arc/metadata/identity/oauth2/token";
        let challenge = arc(&mut state, &get(path, &[("Metadata", "true")]));
        assert_eq!(
            (challenge.status, realm(&challenge)),
            (401, Some(file.display().to_string()))
        );
        let wrong = arc(
            &mut state,
            &get(path, &[("Metadata", "true"), ("Authorization", "Basic nope")]),
        );
        assert_eq!((wrong.status, realm(&wrong)), (401, Some(file.display().to_string())));
        let key = std::fs::read_to_string(&file).unwrap();
        assert_eq!(key.len(), 64);
        let basic = format!("Basic {key}");
        let granted = arc(
            &mut state,
            &get(path, &[("Metadata", "true"), ("Authorization", &basic)]),
        );
        assert_eq!(
            (granted.status, body(&granted)["client_id"].as_str()),
            (200, Some(MANAGED_IDENTITY_CLIENT_ID))
        );
        let bare = arc(&mut state, &get(path, &[("Authorization", &basic)]));
        assert_eq!(
            body(&bare)["error_description"],
            "Required metadata header not specified"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_key_file_the_arc_agent_names_the_real_folder_and_writes_nothing() {
        let mut state = State::new(TenantConfig::default(), "http://127.0.0.1:1".into());
        let challenge = arc(
            &mut state,
            &get("/arc/metadata/identity/oauth2/token", &[("Metadata", "true")]),
        );
        let named = realm(&challenge).unwrap_or_default();
        assert!(
            named.starts_with("/var/opt/azcmagent/tokens/") && named.ends_with(".key"),
            "{named}"
        );
    }

    #[test]
    fn app_service_answers_in_its_own_shape() {
        let mut state = State::new(TenantConfig::default(), "http://127.0.0.1:1".into());
        let header = ("X-IDENTITY-HEADER", "h");
        let granted = app_service(&mut state, &get("/msi/token", &[header]));
        let fields = body(&granted);
        assert_eq!(granted.status, 200);
        assert!(
            fields["expires_on"].is_string() && fields.get("expires_in").is_none(),
            "{fields}"
        );
        let unknown = RecordedRequest::new(
            "GET",
            &format!("/msi/token{QUERY}&client_id=00000000-0000-0000-0000-000000000000"),
            vec![("X-IDENTITY-HEADER".into(), "h".into())],
            String::new(),
        );
        let refused = app_service(&mut state, &unknown);
        let fields = body(&refused);
        assert_eq!(refused.status, 400);
        assert_eq!(fields["statusCode"], 400);
        assert_eq!(fields["message"], "Unable to load the proper Managed Identity.");
        assert!(
            fields["correlationId"].as_str().is_some_and(|id| id.len() == 36),
            "{fields}"
        );
        assert_eq!(app_service(&mut state, &get("/msi/token", &[])).status, 401);
    }
}

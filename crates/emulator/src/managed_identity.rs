//! Azure IMDS's managed-identity token endpoint: `GET /metadata/identity/oauth2/token`, which
//! answers the emulated engine host's identity ([`MANAGED_IDENTITY_CLIENT_ID`]) with a Graph token.

use serde_json::{Value, json};

use super::config::MANAGED_IDENTITY_CLIENT_ID;
use super::login::{Grantee, issue_access_token};
use super::request::RecordedRequest;
use super::state::State;
use super::wire::{Reply, now};

/// Answers an IMDS token request the way IMDS does: strings for the numbers, plain errors.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest) -> Reply {
    match token(state, request) {
        Ok(body) => Reply::json(200, &body),
        Err((status, description)) => Reply::json(
            status,
            &json!({"error": "invalid_request", "error_description": description}),
        ),
    }
}

fn token(state: &mut State, request: &RecordedRequest) -> Result<Value, (u16, &'static str)> {
    if request.method != "GET" {
        return Err((405, "The request method is not supported."));
    }
    if request.header("Metadata") != Some("true") {
        return Err((400, "Required metadata header not specified"));
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
        .ok_or((400, "Identity not found"))?;
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

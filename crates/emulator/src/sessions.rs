//! `POST /users/{id | userPrincipalName}/revokeSignInSessions` (Microsoft Learn, "user:
//! revokeSignInSessions"): resets the user's `signInSessionsValidFromDateTime` to now, so every
//! refresh token issued to them before is refused (`invalid_grant`, AADSTS50173) while access
//! tokens already issued live until they expire. Graph answers 200 with `{"value": true}` (its
//! documented known issue: not the 204 the API was meant to give).

use serde_json::{Value, json};

use super::errors::GraphError;
use super::state::State;
use super::wire::now_nanos;

/// Revokes the sessions of the user named by object id or UPN; 404 for a user the tenant does
/// not hold (its risky users and the signed-in analyst).
pub(crate) fn revoke(state: &mut State, version: &str, user: &str) -> Result<Value, GraphError> {
    let object_id = object_id_of(state, user).ok_or_else(|| unknown_user(user))?;
    state
        .sessions_revoked_at
        .insert(object_id.to_ascii_lowercase(), now_nanos());
    Ok(json!({
        "@odata.context": format!("{}/{version}/$metadata#Edm.Boolean", state.base_url),
        "value": true,
    }))
}

/// The object id of the user whose id or UPN is `user` (both compare case-insensitively).
fn object_id_of(state: &State, user: &str) -> Option<String> {
    let analyst = &state.config.user;
    if [&analyst.object_id, &analyst.user_principal_name]
        .iter()
        .any(|known| known.eq_ignore_ascii_case(user))
    {
        return Some(analyst.object_id.clone());
    }
    let same = |value: &Value| value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(user));
    state
        .config
        .risky_users
        .iter()
        .find(|u| same(&u["id"]) || same(&u["userPrincipalName"]))
        .and_then(|u| u["id"].as_str().map(str::to_owned))
}

/// The directory's 404 for a user it does not hold.
fn unknown_user(user: &str) -> GraphError {
    let message =
        format!("Resource '{user}' does not exist or one of its queried reference-property objects are not present.");
    GraphError::new(404, "Request_ResourceNotFound", &message)
}

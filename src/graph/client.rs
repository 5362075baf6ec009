//! Authenticated Graph requests: the token lifecycle, one renewal on 401, retries with backoff,
//! and readable errors for anything that is not the expected JSON.

use super::GraphError;
use super::query::Query;
use crate::auth::tokens;
use crate::error::Error;
use crate::http::{Audience, HttpRequest, HttpResponse, RetryPolicy};
use crate::session::Session;
use serde_json::Value;
use serde_json::value::RawValue;

/// POSTs a JSON body to a Graph action; any status but 2xx is the error Graph gave.
pub fn post_json(session: &mut Session, query: &Query, body: &Value, action: &str) -> Result<(), Error> {
    let url = query.url(&session.config);
    let request = HttpRequest::json(&url, body.to_string());
    let response = send(session, request, action)?;
    match response.status {
        200..=299 => Ok(()),
        _ => Err(failure(session, action, &url, &response)),
    }
}

/// GETs a Graph URL whose answer is one JSON value, kept as text. `action` names the step in
/// error messages.
pub fn get_json(session: &mut Session, url: &str, action: &str) -> Result<Box<RawValue>, Error> {
    let response = get_ok(session, url, action)?;
    let value = serde_json::from_str::<&RawValue>(&response.body).map_err(|_| not_json(session, &response))?;
    Ok(value.to_owned())
}

/// GETs a Graph URL; any status but 200 is the error Graph gave.
pub fn get_ok(session: &mut Session, url: &str, action: &str) -> Result<HttpResponse, Error> {
    let response = send(session, HttpRequest::get(url), action)?;
    match response.status {
        200 => Ok(response),
        _ => Err(failure(session, action, url, &response)),
    }
}

/// The error for a 200 answer whose body is not complete JSON.
pub fn not_json(session: &Session, response: &HttpResponse) -> Error {
    crate::http::unexpected_answer(&session.config.graph, response, "a body that is not complete JSON")
}

/// Sends with a valid token; when Graph refuses the token (401), renews it and retries once.
/// A command renews at most once: a Graph that refuses every token would otherwise cost one
/// sign-in per page, so a later 401 is returned as it is (the error says the token is refused).
pub fn send(session: &mut Session, request: HttpRequest, action: &str) -> Result<HttpResponse, Error> {
    // Callers check user-given links first; this keeps a token from even being renewed for a
    // URL the HTTP client would refuse to send to.
    if !session.http.admits(Audience::Graph, &request.url) {
        let host = crate::http::origin(&request.url);
        return Err(Error::Internal(format!(
            "refused to send a token to {host}, which is not under the configured Graph root"
        )));
    }
    let needs = permissions_for(&request);
    let token = tokens::access_token(session, needs)?;
    let response = send_with(session, &request, token.expose())?;
    let refused = response.status == 401 && GraphError::parse(action, &response).is_some_and(|e| e.is_bad_token());
    if !refused || session.renewed_after_refusal {
        return Ok(response);
    }
    session.renewed_after_refusal = true;
    session.http.log("Graph refused the access token; renewing it once");
    let token = tokens::renew(session, needs)?;
    send_with(session, &request, token.expose())
}

/// The permissions a request needs beyond the users' ones (see [`tokens::Permissions`]).
fn permissions_for(request: &HttpRequest) -> tokens::Permissions {
    let path = path_of(&request.url);
    let under = |collection: &str| path.contains(collection);
    if under("/identityProtection/riskyServicePrincipals") {
        tokens::Permissions::WORKLOAD_IDENTITIES
    } else if under("/auditLogs/signIns/confirm") {
        // Confirming sign-ins takes IdentityRiskyUser.ReadWrite.All, one of the users' own.
        tokens::Permissions::USERS
    } else if under("/auditLogs/signIns") {
        tokens::Permissions::SIGN_INS
    } else if path.ends_with("/revokeSignInSessions") {
        tokens::Permissions::SESSIONS
    } else if under("/identity/conditionalAccess/") {
        tokens::Permissions::POLICIES
    } else {
        // Service-principal risk detections need IdentityRiskEvent.Read.All, as users' do.
        tokens::Permissions::USERS
    }
}

fn send_with(session: &Session, request: &HttpRequest, token: &str) -> Result<HttpResponse, Error> {
    // Newer enum values (adminConfirmedServicePrincipalCompromised, ...) arrive as themselves
    // rather than as unknownFutureValue; they are passed through as plain strings.
    let request = request
        .clone()
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json")
        .header("Prefer", "include-unknown-enum-members");
    session.http.send(&request, RetryPolicy::GRAPH)
}

/// A non-success answer to a request for `url` as an error: Graph's own error when it sent one.
pub fn failure(session: &Session, action: &str, url: &str, response: &HttpResponse) -> Error {
    match GraphError::parse(action, response) {
        Some(mut error) => {
            error.workload_identities = is_about_workload_identities(url);
            Error::Graph(Box::new(error))
        }
        None => crate::http::unexpected_answer(&session.config.graph, response, "a body that is not a Graph answer"),
    }
}

/// Whether `url` is under the workload-identity collections (risky service principals and their
/// detections), whose 403 calls for other permissions and another licence.
fn is_about_workload_identities(url: &str) -> bool {
    let path = path_of(url);
    [
        "/identityProtection/riskyServicePrincipals",
        "/identityProtection/servicePrincipalRiskDetections",
    ]
    .iter()
    .any(|collection| path.contains(collection))
}

/// `url` without its query and fragment.
fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_identity_paths() {
        let cases = [
            (
                "https://graph.microsoft.com/beta/identityProtection/riskyServicePrincipals?$top=5",
                true,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/riskyServicePrincipals/x/history",
                true,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/servicePrincipalRiskDetections/1",
                true,
            ),
            ("https://graph.microsoft.com/v1.0/identityProtection/riskyUsers", false),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/riskDetections?$filter=x%20eq%20'/identityProtection/riskyServicePrincipals'",
                false,
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(is_about_workload_identities(url), expected, "{url}");
        }
    }
}

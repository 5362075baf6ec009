//! Authenticated Graph requests: the token lifecycle, one renewal on 401, retries with backoff,
//! and readable errors for anything that is not the expected JSON.

use super::GraphError;
use super::query::Query;
use crate::auth::tokens;
use crate::error::Area;
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

/// Sends a Graph request that changes something (a POST without a body, a PATCH); any status
/// but 2xx is the error Graph gave.
pub fn change(session: &mut Session, request: HttpRequest, action: &str) -> Result<HttpResponse, Error> {
    let url = request.url.clone();
    let response = send(session, request, action)?;
    match response.status {
        200..=299 => Ok(response),
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
            error.area = area_of(url);
            Error::Graph(Box::new(error))
        }
        None => crate::http::unexpected_answer(&session.config.graph, response, "a body that is not a Graph answer"),
    }
}

/// The part of Graph `url` is in, whose 403 calls for its own permissions and licence.
fn area_of(url: &str) -> Area {
    let path = path_of(url);
    let under = |collection: &str| path.contains(collection);
    if under("/identityProtection/riskyServicePrincipals")
        || under("/identityProtection/servicePrincipalRiskDetections")
    {
        Area::WorkloadIdentities
    } else if under("/auditLogs/signIns/confirm") {
        Area::SignInVerdicts
    } else if under("/auditLogs/signIns") {
        Area::SignIns
    } else if path.ends_with("/revokeSignInSessions") {
        Area::Sessions
    } else if under("/identity/conditionalAccess/") {
        Area::Policies
    } else {
        Area::Users
    }
}

/// `url` without its query and fragment.
fn path_of(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_by_path() {
        let cases = [
            (
                "https://graph.microsoft.com/beta/identityProtection/riskyServicePrincipals?$top=5",
                Area::WorkloadIdentities,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/riskyServicePrincipals/x/history",
                Area::WorkloadIdentities,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/servicePrincipalRiskDetections/1",
                Area::WorkloadIdentities,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/riskyUsers",
                Area::Users,
            ),
            (
                "https://graph.microsoft.com/v1.0/identityProtection/riskDetections?$filter=x%20eq%20'/identityProtection/riskyServicePrincipals'",
                Area::Users,
            ),
            (
                "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=50",
                Area::SignIns,
            ),
            (
                "https://graph.microsoft.com/v1.0/auditLogs/signIns/confirmSafe",
                Area::SignInVerdicts,
            ),
            (
                "https://graph.microsoft.com/v1.0/users/a%40b/revokeSignInSessions",
                Area::Sessions,
            ),
            (
                "https://graph.microsoft.com/v1.0/identity/conditionalAccess/namedLocations",
                Area::Policies,
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(area_of(url), expected, "{url}");
        }
    }
}

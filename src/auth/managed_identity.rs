//! Managed identity: a Graph token from the engine's Azure host (IMDS on VMs and AKS, or the
//! App Service / Arc endpoint), with no secret configured anywhere.

use super::{MAX_TOKEN_LIFETIME_SECS, TokenResponse, bounded_secs};
use crate::error::Error;
use crate::http::{HttpResponse, RetryPolicy};
use crate::secret::Secret;
use crate::session::Session;
use serde_json::{Map, Value};

pub use crate::config::managed_identity::{
    ENDPOINT_VARIABLE, Endpoint, HEADER_VARIABLE, IMDS, IMDS_VARIABLE, ManagedIdentity,
};

/// Requests a Graph token from the managed-identity endpoint.
pub fn request_token(session: &Session) -> Result<TokenResponse, Error> {
    let config = &session.config;
    let identity = config
        .managed_identity
        .as_ref()
        .ok_or_else(|| Error::Internal("managed-identity sign-in without a managed identity".into()))?;
    let request = identity
        .endpoint
        .request(&config.resource, identity.client_id.as_deref());
    let response = match session.http.send(&request, RetryPolicy::TOKEN) {
        Ok(response) => response,
        Err(Error::Network { host, reason }) => return Err(unreachable(&host, &reason)),
        Err(Error::TimedOut { host, .. }) => return Err(unreachable(&host, "no answer")),
        Err(other) => return Err(other),
    };
    if response.status == 200 {
        return parse(&response.body, session.now()).ok_or_else(|| {
            crate::http::unexpected_answer(&request.url, &response, "a token answer without a usable access_token")
        });
    }
    Err(failure(&request.url, &response, identity.client_id.as_deref()))
}

fn unreachable(host: &str, reason: &str) -> Error {
    Error::SignIn(format!(
        "This engine has no managed identity endpoint (not an Azure VM/AKS/Arc?): {host} could not be reached ({reason}). Run the engine on an Azure host with a managed identity, or uncheck Use Azure Managed Identities and configure an app ID with a secret or certificate."
    ))
}

fn failure(url: &str, response: &HttpResponse, client_id: Option<&str>) -> Error {
    if response.status == 400 && response.body.to_ascii_lowercase().contains("identity not found") {
        let which = client_id.map_or("the system-assigned identity".to_string(), |id| {
            format!("client id {id}")
        });
        return Error::SignIn(format!(
            "No managed identity is assigned (or the client id is wrong): the managed identity endpoint found no identity for {which}. Assign a managed identity to the engine's VM, scale set or cluster, or correct Managed Identities Client ID."
        ));
    }
    crate::http::unexpected_answer(url, response, "an answer that is not a managed-identity token")
}

/// The IMDS shape: `access_token`, and `expires_in` or `expires_on` (strings), bounded.
fn parse(body: &str, now: u64) -> Option<TokenResponse> {
    let value: Map<String, Value> = serde_json::from_str(body).ok()?;
    let access_token = value.get("access_token")?.as_str().filter(|t| !t.is_empty())?;
    let expires_in = bounded_secs(value.get("expires_in"), 1, MAX_TOKEN_LIFETIME_SECS).or_else(|| {
        let on = super::lenient_u64(value.get("expires_on"))?;
        Some(on.saturating_sub(now).clamp(1, MAX_TOKEN_LIFETIME_SECS))
    });
    Some(TokenResponse {
        access_token: Secret::new(access_token),
        expires_in: expires_in.unwrap_or(600),
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imds_answers_are_bounded() {
        let cases = [
            (r#"{"access_token":"a","expires_in":"3599"}"#, Some(3_599)),
            (r#"{"access_token":"a","expires_on":"1000600"}"#, Some(600)),
            (r#"{"access_token":"a","expires_on":"5"}"#, Some(1)),
            (
                r#"{"access_token":"a","expires_in":"1e300"}"#,
                Some(MAX_TOKEN_LIFETIME_SECS),
            ),
            (r#"{"access_token":"a"}"#, Some(600)),
            (r#"{"access_token":""}"#, None),
            ("not json", None),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body, 1_000_000).map(|t| t.expires_in), expected, "{body}");
        }
    }

    #[test]
    fn requests_carry_the_header_of_their_endpoint() {
        let imds = Endpoint::Imds(IMDS.into()).request("https://graph.microsoft.com", Some("c1"));
        assert_eq!(
            imds.url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com&client_id=c1"
        );
        assert_eq!(imds.headers, vec![("Metadata".to_string(), "true".to_string())]);
        let app = Endpoint::AppService {
            url: "http://127.0.0.1:41/msi/token".into(),
            header: Secret::new("h"),
        }
        .request("https://graph.microsoft.com", None);
        assert!(
            app.url
                .starts_with("http://127.0.0.1:41/msi/token?api-version=2019-08-01&resource=")
        );
        assert_eq!(app.headers, vec![("X-IDENTITY-HEADER".to_string(), "h".to_string())]);
    }
}

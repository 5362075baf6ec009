//! Managed identity: a Graph token from the engine's Azure host (IMDS on VMs and AKS, or the
//! App Service / Arc endpoint), with no secret configured anywhere.

use super::{MAX_TOKEN_LIFETIME_SECS, TokenResponse, bounded_secs};
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, RetryPolicy};
use crate::secret::Secret;
use crate::session::Session;
use serde_json::{Map, Value};

/// Azure's Instance Metadata Service, the only plain-http host outside loopback ever contacted.
pub const IMDS: &str = "http://169.254.169.254";
/// Overrides the IMDS base, as Azure SDKs read it (AKS pod identity, tests, a local relay).
pub const IMDS_VARIABLE: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// App Service, Functions and Arc: the endpoint and the header secret they set.
pub const ENDPOINT_VARIABLE: &str = "IDENTITY_ENDPOINT";
/// The secret the App Service / Arc endpoint expects in `X-IDENTITY-HEADER`.
pub const HEADER_VARIABLE: &str = "IDENTITY_HEADER";

/// Which managed-identity endpoint this engine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// IMDS (or [`IMDS_VARIABLE`]'s base), header `Metadata: true`.
    Imds(String),
    /// `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService { url: String, header: Secret },
}

impl Endpoint {
    /// From the environment: the App Service / Arc variables when both are set, else IMDS.
    pub fn from_environment() -> Result<Endpoint, Error> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match (var(ENDPOINT_VARIABLE), var(HEADER_VARIABLE)) {
            (Some(url), Some(header)) => Ok(Endpoint::AppService {
                url: checked(ENDPOINT_VARIABLE, &url)?,
                header: Secret::new(&header),
            }),
            _ => match var(IMDS_VARIABLE) {
                Some(base) => Ok(Endpoint::Imds(checked(IMDS_VARIABLE, base.trim_end_matches('/'))?)),
                None => Ok(Endpoint::Imds(IMDS.to_string())),
            },
        }
    }

    /// The token URL without its query: the one base the managed-identity audience may reach.
    pub fn token_url(&self) -> String {
        match self {
            Endpoint::Imds(base) => format!("{base}/metadata/identity/oauth2/token"),
            Endpoint::AppService { url, .. } => url.clone(),
        }
    }

    fn request(&self, resource: &str, client_id: Option<&str>) -> HttpRequest {
        let version = match self {
            Endpoint::Imds(_) => "2018-02-01",
            Endpoint::AppService { .. } => "2019-08-01",
        };
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("api-version", version)
            .append_pair("resource", resource);
        if let Some(id) = client_id {
            query.append_pair("client_id", id);
        }
        let request = HttpRequest::managed_identity(format!("{}?{}", self.token_url(), query.finish()));
        match self {
            Endpoint::Imds(_) => request.header("Metadata", "true"),
            Endpoint::AppService { header, .. } => request.header("X-IDENTITY-HEADER", header.expose()),
        }
    }
}

/// An endpoint from the environment: `https://`, or `http://` to loopback or the IMDS address
/// only (plain http elsewhere would let anyone on the path read the token).
fn checked(variable: &str, value: &str) -> Result<String, Error> {
    let authority = url::Url::parse(value)
        .ok()
        .and_then(|u| Some((u.scheme().to_string(), u.host_str()?.to_string())));
    match authority {
        Some((scheme, _)) if scheme == "https" => Ok(value.to_string()),
        Some((scheme, host))
            if scheme == "http" && (crate::config::is_loopback(&host) || host == "169.254.169.254") =>
        {
            Ok(value.to_string())
        }
        _ => Err(Error::Environment {
            variable: variable.to_string(),
            reason: format!(
                "is {value}, which is no https:// URL nor an http:// URL of a loopback address or of IMDS (169.254.169.254)."
            ),
        }),
    }
}

/// The managed identity to sign in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    pub endpoint: Endpoint,
    /// `managed_identities_client_id`: a user-assigned identity; `None` for the system-assigned one.
    pub client_id: Option<String>,
}

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

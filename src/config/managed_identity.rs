//! Which managed identity to sign in as, and at which endpoint: read from the parameters and the
//! engine's environment with the rest of the configuration. The token request itself is in
//! `auth/managed_identity.rs`.

use crate::error::Error;
use crate::http::HttpRequest;
use crate::params::is_loopback;
use crate::secret::Secret;
use std::time::Duration;

/// Azure's Instance Metadata Service, the only plain-http host outside loopback ever contacted.
pub const IMDS: &str = "http://169.254.169.254";
/// Overrides the IMDS base, as Azure SDKs read it (AKS pod identity, tests, a local relay).
pub const IMDS_VARIABLE: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// App Service, Functions and Arc: the endpoint and the header secret they set.
pub const ENDPOINT_VARIABLE: &str = "IDENTITY_ENDPOINT";
/// The secret the App Service endpoint expects in `X-IDENTITY-HEADER` (Arc sets none).
pub const HEADER_VARIABLE: &str = "IDENTITY_HEADER";
/// Set by the Azure Arc agent next to `IDENTITY_ENDPOINT`: its presence (without
/// `IDENTITY_HEADER`) is what says the endpoint is Arc's, as MSAL and Azure SDKs read it.
pub const ARC_VARIABLE: &str = "IMDS_ENDPOINT";
/// How long a connection to IMDS may take to open. Off Azure, 169.254.169.254 drops packets,
/// so without this the error comes only after the whole request timeout. Azure SDKs probe IMDS
/// with 0.3–1 s and had false "unavailable" on busy hosts (azure-sdk-for-net #9550, #20609;
/// azure-sdk-for-python #31745); 3 s leaves a busy VM room and fails fast everywhere else.
pub const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Which managed-identity endpoint this engine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// IMDS (or [`IMDS_VARIABLE`]'s base), header `Metadata: true`.
    Imds(String),
    /// `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService { url: String, header: Secret },
    /// Azure Arc: `IDENTITY_ENDPOINT` with `IMDS_ENDPOINT`; the first answer is a Basic challenge
    /// naming a key file of the agent.
    Arc(String),
}

impl Endpoint {
    /// From the environment: App Service when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set,
    /// Arc when `IDENTITY_ENDPOINT` and `IMDS_ENDPOINT` are, else IMDS (MSAL's order).
    pub fn from_environment() -> Result<Endpoint, Error> {
        let var = |name| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match (var(ENDPOINT_VARIABLE), var(HEADER_VARIABLE), var(ARC_VARIABLE)) {
            (Some(url), Some(header), _) => Ok(Endpoint::AppService {
                url: checked(ENDPOINT_VARIABLE, &url)?,
                header: Secret::new(&header),
            }),
            (Some(url), None, Some(_)) => Ok(Endpoint::Arc(loopback_only(ENDPOINT_VARIABLE, &url)?)),
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
            Endpoint::AppService { url, .. } | Endpoint::Arc(url) => url.clone(),
        }
    }

    /// The endpoint's kind, in the words an error message uses.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Imds(_) => "IMDS",
            Endpoint::AppService { .. } => "the App Service identity endpoint",
            Endpoint::Arc(_) => "the Azure Arc agent",
        }
    }

    /// The token request: IMDS's with its short connect timeout, App Service's with its header
    /// secret, Arc's first (unauthenticated) request.
    pub fn request(&self, resource: &str, client_id: Option<&str>) -> HttpRequest {
        let version = match self {
            Endpoint::Imds(_) => "2018-02-01",
            Endpoint::AppService { .. } => "2019-08-01",
            Endpoint::Arc(_) => "2020-06-01",
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
            Endpoint::Imds(_) => request.header("Metadata", "true").connect_timeout(IMDS_CONNECT_TIMEOUT),
            Endpoint::AppService { header, .. } => request.header("X-IDENTITY-HEADER", header.expose()),
            Endpoint::Arc(_) => request.header("Metadata", "true"),
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
        Some((scheme, host)) if scheme == "http" && (is_loopback(&host) || host == "169.254.169.254") => {
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

/// The Arc agent's endpoint: it always listens on the machine itself (`http://localhost:40342`),
/// and the key file's content goes there, so no other host is accepted, https or not.
fn loopback_only(variable: &str, value: &str) -> Result<String, Error> {
    let host = url::Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().map(str::to_string));
    match host {
        Some(host) if is_loopback(&host) => Ok(value.to_string()),
        _ => Err(Error::Environment {
            variable: variable.to_string(),
            reason: format!(
                "is {value}, which is not the Azure Arc agent on this machine (http://localhost:40342): with IMDS_ENDPOINT set, only a loopback address is accepted, since the agent's key is sent there."
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

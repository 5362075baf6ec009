//! Which managed identity to sign in as, and at which endpoint: read from the parameters and the
//! engine's environment with the rest of the configuration. The token request itself is in
//! `auth/managed_identity.rs`.

use crate::error::Error;
use crate::http::HttpRequest;
use crate::params::is_loopback;
use crate::secret::Secret;

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

    pub fn request(&self, resource: &str, client_id: Option<&str>) -> HttpRequest {
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

/// The managed identity to sign in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    pub endpoint: Endpoint,
    /// `managed_identities_client_id`: a user-assigned identity; `None` for the system-assigned one.
    pub client_id: Option<String>,
}

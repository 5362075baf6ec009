//! Instance parameters (docs/protocol.md §4) turned into a checked configuration, before any request.

use crate::auth::assertion::CertificateCredential;
use crate::auth::federation::FederatedTokenFile;
pub mod managed_identity;

use crate::cloud::{self, Cloud};
use crate::error::Error;
use crate::http::ExtraRoots;
pub use crate::params::{is_loopback, text};
use crate::secret::Secret;
pub use managed_identity::{Endpoint, ManagedIdentity};
use serde_json::{Map, Value};

/// The Cortex XSOAR multi-tenant app, used when `app_id` is empty.
pub const DEFAULT_APP_ID: &str = "4ffef4a4-601f-4393-a789-432f3f3b8470";

/// Per-request timeout when `request_timeout` is not set, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// How this instance signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Delegated: a person signs in with a device code.
    DeviceCode,
    /// Application: a certificate or a client secret.
    ClientCredentials,
    /// Application: the engine's Azure managed identity (`use_managed_identities`).
    ManagedIdentity,
}

impl AuthMode {
    /// The name recorded in the context next to the tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::DeviceCode => "device_code",
            AuthMode::ClientCredentials => "client_credentials",
            AuthMode::ManagedIdentity => "managed_identity",
        }
    }
}

/// Everything the commands need from the instance parameters.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: AuthMode,
    pub app_id: String,
    /// `tenant_id`, if set.
    pub tenant_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// The app's certificate and key; when set it is used instead of the secret.
    pub certificate: Option<CertificateCredential>,
    /// Workload identity federation: the file holding another issuer's JWT, used (after a
    /// certificate) instead of the secret.
    pub federated_token: Option<FederatedTokenFile>,
    /// `use_managed_identities`: the endpoint and the optional user-assigned client id.
    pub managed_identity: Option<ManagedIdentity>,
    /// Login base URL, no trailing slash (`https://login.microsoftonline.com`).
    pub login: String,
    /// Graph base URL, no trailing slash and no version (`https://graph.microsoft.com`).
    pub graph: String,
    /// The Graph resource tokens are requested for: the cloud's Graph host, even when
    /// `graph_endpoint` points requests elsewhere; the custom Graph URL for a custom login host.
    pub resource: String,
    /// `beta` or `v1.0`.
    pub api_version: String,
    pub insecure: bool,
    /// CA certificates trusted besides the built-in roots: `ca_file`'s, then `SSL_CERT_FILE`'s.
    pub extra_roots: ExtraRoots,
    pub proxy: bool,
    pub timeout_secs: u64,
    /// The fetch parameters as received, read by [`Config::fetch_settings`] when a fetch runs
    /// (so that a bad one fails fetch, not every command). No secret is among them.
    fetch_params: Map<String, Value>,
}

/// The instance parameters fetch-incidents reads, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchSettings {
    /// `first_fetch`, as given (`3 days`, an ISO date...); read against the clock by fetch.
    pub first_fetch: String,
    /// `max_fetch`, 1 to [`MAX_MAX_FETCH`].
    pub max_fetch: usize,
    /// `fetch_filter_expression`.
    pub filter: Option<String>,
    /// `fetch_user_id` and `fetch_user_principal_name`, as (property, value) pairs.
    pub users: Vec<(&'static str, String)>,
    /// `fetch_service_principal_detections`: workload-identity detections become incidents too.
    pub service_principals: bool,
    /// `fetch_risky_users`: risky users at risk become incidents too, one per risk update.
    pub risky_users: bool,
    /// How fetched incidents mirror.
    pub mirror: MirrorSettings,
}

/// XSOAR's mirroring parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorSettings {
    /// `mirror_direction` as XSOAR's incident field spells it: `In`, `Out`, `Both`; `None` off.
    pub direction: Option<&'static str>,
    /// `close_incident`: close the XSOAR incident when Entra says the risk is over.
    pub close_incident: bool,
    /// `close_out`: act in Entra when the XSOAR incident is closed.
    pub close_out: bool,
}

/// `mirror_direction`'s options (the XSOAR convention, exactly) and the incident's value.
pub const MIRROR_DIRECTIONS: [(&str, Option<&str>); 4] = [
    ("None", None),
    ("Incoming", Some("In")),
    ("Outgoing", Some("Out")),
    ("Incoming And Outgoing", Some("Both")),
];

/// Parameters checked only by the commands that read them (fetch and mirroring), so that a bad
/// one fails those commands, not every command.
const FETCH_PARAMS: [&str; 10] = [
    "fetch_risky_users",
    "mirror_direction",
    "close_incident",
    "close_out",
    "first_fetch",
    "max_fetch",
    "fetch_filter_expression",
    "fetch_user_id",
    "fetch_user_principal_name",
    "fetch_service_principal_detections",
];
const DEFAULT_FIRST_FETCH: &str = "1 days";
const DEFAULT_MAX_FETCH: u64 = 50;
/// The largest `max_fetch`.
pub const MAX_MAX_FETCH: u64 = 1_000;

impl Config {
    /// Reads and checks the parameters. Errors name the parameter and say what to set.
    pub fn from_params(params: &Map<String, Value>) -> Result<Config, Error> {
        let certificate = CertificateCredential::from_params(params)?;
        let federated_parameter = text(params, "federated_token_file").map(|p| FederatedTokenFile::parameter(&p));
        // A certificate or a federated token only signs in an application: configuring one means
        // client credentials. The engine's variable alone does not change the mode.
        let managed_identity = match flag(params, "use_managed_identities")? {
            true => Some(ManagedIdentity {
                endpoint: Endpoint::from_environment()?,
                client_id: text(params, "managed_identities_client_id"),
            }),
            false => None,
        };
        let mode = if managed_identity.is_some() {
            AuthMode::ManagedIdentity
        } else if flag(params, "client_credentials")? || certificate.is_some() || federated_parameter.is_some() {
            AuthMode::ClientCredentials
        } else {
            AuthMode::DeviceCode
        };
        let Endpoints { login, graph, resource } = endpoints(params)?;
        let insecure = flag(params, "insecure")?;
        let config = Config {
            mode,
            app_id: text(params, "app_id").unwrap_or_else(|| DEFAULT_APP_ID.to_string()),
            tenant_id: text(params, "tenant_id"),
            client_secret: client_secret(params),
            federated_token: federated_parameter.or_else(|| {
                // AKS and similar set the variable for every process: used only when nothing
                // else is configured, so it never replaces a configured credential.
                (client_secret(params).is_none() && certificate.is_none())
                    .then(FederatedTokenFile::from_environment)
                    .flatten()
            }),
            certificate,
            managed_identity,
            login,
            graph,
            resource,
            api_version: api_version(params)?,
            insecure,
            extra_roots: extra_roots(params)?,
            proxy: proxy(params)?,
            timeout_secs: timeout(params)?,
            fetch_params: FETCH_PARAMS
                .iter()
                .filter_map(|name| Some((name.to_string(), params.get(*name)?.clone())))
                .collect(),
        };
        config.check_mode()?;
        config.check_engine_identity(params)?;
        Ok(config)
    }

    /// fetch-incidents' parameters, checked: `max_fetch` 1 to 1000 (default 50), `first_fetch`
    /// (default `1 days`), the filter, and the users from the two comma lists.
    pub fn fetch_settings(&self) -> Result<FetchSettings, Error> {
        let params = &self.fetch_params;
        let max_fetch = match text(params, "max_fetch") {
            None => DEFAULT_MAX_FETCH,
            Some(given) => given
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_MAX_FETCH).contains(n))
                .ok_or_else(|| {
                    Error::parameter(
                        "max_fetch",
                        format!("expected a whole number from 1 to {MAX_MAX_FETCH}."),
                    )
                })?,
        };
        let list = |name: &str| -> Vec<String> {
            let given = text(params, name).unwrap_or_default();
            given
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let ids = list("fetch_user_id").into_iter().map(|id| ("userId", id));
        let upns = list("fetch_user_principal_name")
            .into_iter()
            .map(|upn| ("userPrincipalName", upn));
        Ok(FetchSettings {
            first_fetch: text(params, "first_fetch").unwrap_or_else(|| DEFAULT_FIRST_FETCH.to_string()),
            max_fetch: usize::try_from(max_fetch).unwrap_or(1),
            filter: text(params, "fetch_filter_expression"),
            users: ids.chain(upns).collect(),
            service_principals: flag(params, "fetch_service_principal_detections")?,
            risky_users: flag(params, "fetch_risky_users")?,
            mirror: self.mirror_settings()?,
        })
    }

    /// The mirroring parameters: `mirror_direction` (default `None`), `close_incident`, `close_out`.
    pub fn mirror_settings(&self) -> Result<MirrorSettings, Error> {
        let params = &self.fetch_params;
        let direction = match text(params, "mirror_direction") {
            None => None,
            Some(given) => MIRROR_DIRECTIONS
                .iter()
                .find(|(option, _)| option.eq_ignore_ascii_case(given.trim()))
                .map(|(_, direction)| *direction)
                .ok_or_else(|| {
                    Error::parameter(
                        "mirror_direction",
                        "expected one of None, Incoming, Outgoing, Incoming And Outgoing.",
                    )
                })?,
        };
        Ok(MirrorSettings {
            direction,
            close_incident: flag(params, "close_incident")?,
            close_out: flag(params, "close_out")?,
        })
    }

    /// The tenant segment of login URLs: the tenant id, or `organizations` for multi-tenant
    /// device-code sign-in (as the Python integration did).
    pub fn tenant_segment(&self) -> &str {
        self.tenant_id.as_deref().unwrap_or("organizations")
    }

    /// `{login}/{tenant}/oauth2/v2.0/{endpoint}`.
    pub fn login_url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.login_endpoints())
    }

    /// `{login}/{tenant}/oauth2/v2.0`: the only place secrets, refresh tokens and device codes go.
    pub fn login_endpoints(&self) -> String {
        format!("{}/{}/oauth2/v2.0", self.login, self.tenant_segment())
    }

    /// `{graph}/{api_version}`.
    pub fn graph_root(&self) -> String {
        format!("{}/{}", self.graph, self.api_version)
    }

    /// The engine's own identity (its managed identity, or a federated token from a file on
    /// the engine) signs in every instance of that engine, so anyone who may edit one instance
    /// could point its endpoints at a host of theirs and collect it. It goes only to the login
    /// and Graph hosts of a national cloud, or to loopback (the emulator), unless the instance
    /// says otherwise with `engine_identity_to_custom_hosts`. A federated token file named by the
    /// parameter counts as the engine's too: the file is on the engine, whoever names it.
    fn check_engine_identity(&self, params: &Map<String, Value>) -> Result<(), Error> {
        let anywhere = flag(params, "engine_identity_to_custom_hosts")?;
        let (identity, login_too) = match self.mode {
            AuthMode::ManagedIdentity => ("the engine's managed identity token", false),
            AuthMode::ClientCredentials if self.certificate.is_none() && self.federated_token.is_some() => {
                ("the engine's federated token", true)
            }
            _ => return Ok(()),
        };
        if anywhere {
            return Ok(());
        }
        let allowed = |url: &str, is_cloud: fn(&str) -> bool| is_cloud(url) || is_loopback_url(url);
        let refused = |parameter: &str, url: &str, what: &str| {
            Error::parameter(
                parameter,
                format!(
                    "{identity} would go to {}, which is not a Microsoft {what} host of a national cloud or this machine, so nothing was sent. Clear it, so that Azure cloud (azure_cloud) picks the hosts, or, if you run that host and trust it with the engine's identity, check Send the engine's identity to custom endpoints (not secure) (engine_identity_to_custom_hosts).",
                    crate::http::origin(url),
                ),
            )
        };
        if login_too && !allowed(&self.login, cloud::is_cloud_login) {
            return Err(refused("azure_ad_endpoint", &self.login, "login"));
        }
        if !allowed(&self.graph, cloud::is_cloud_graph) {
            return Err(refused("graph_endpoint", &self.graph, "Graph"));
        }
        Ok(())
    }

    fn check_mode(&self) -> Result<(), Error> {
        if self.mode == AuthMode::ClientCredentials {
            if self.tenant_id.is_none() {
                return Err(Error::parameter(
                    "tenant_id",
                    "client-credentials mode needs the Directory (tenant) ID.",
                ));
            }
            if self.client_secret.is_none() && self.certificate.is_none() && self.federated_token.is_none() {
                return Err(Error::parameter(
                    "credentials",
                    "client-credentials mode needs the secret's value here, or a certificate (Certificate Thumbprint / Private Key, or Certificate and Private Key (PEM bundle)), or a Federated token file.",
                ));
            }
        }
        Ok(())
    }
}

/// A boolean parameter: `true`, `"true"`, `"True"`; absent or empty means false.
pub fn flag(params: &Map<String, Value>, name: &str) -> Result<bool, Error> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "no" | "0" => Ok(false),
            "true" | "yes" | "1" => Ok(true),
            _ => Err(Error::parameter(name, "expected true or false.")),
        },
        Some(_) => Err(Error::parameter(name, "expected true or false.")),
    }
}

/// `proxy`: with it checked, a proxy variable that is set must be usable, or nothing is sent (a
/// proxy that cannot be read must not turn into a direct connection).
fn proxy(params: &Map<String, Value>) -> Result<bool, Error> {
    let proxy = flag(params, "proxy")?;
    match crate::http::proxy_problem() {
        Some(problem) if proxy => Err(Error::parameter(
            "proxy",
            format!("{problem} Fix the variable, or uncheck Use system proxy settings."),
        )),
        _ => Ok(proxy),
    }
}

/// `ca_file` (PEM text or a PEM file's path), added to the built-in roots for the login and Graph
/// hosts; checked even with `insecure` (a set parameter must be usable). The engine's
/// `SSL_CERT_FILE` is added too, but only when a request is about to be sent
/// (`http::Client`): a command that sends nothing does not read the system's bundle.
fn extra_roots(params: &Map<String, Value>) -> Result<ExtraRoots, Error> {
    let mut roots = ExtraRoots::default();
    if let Some(value) = text(params, "ca_file") {
        roots.add_pem_or_file(&value).map_err(|why| {
            Error::parameter(
                "ca_file",
                format!("{why} Give the CA certificates in PEM form: the text itself (-----BEGIN CERTIFICATE----- ...) or the path of a PEM file on the engine; or clear the parameter."),
            )
        })?;
    }
    Ok(roots)
}

fn client_secret(params: &Map<String, Value>) -> Option<Secret> {
    let password = match params.get("credentials") {
        Some(Value::Object(c)) => c.get("password").and_then(Value::as_str),
        // Some hosts flatten the credentials parameter.
        _ => params.get("credentials.password").and_then(Value::as_str),
    }?;
    (!password.is_empty()).then(|| Secret::new(password))
}

fn api_version(params: &Map<String, Value>) -> Result<String, Error> {
    match text(params, "api_version").as_deref() {
        None | Some("beta") => Ok("beta".to_string()),
        Some("v1.0") => Ok("v1.0".to_string()),
        Some(_) => Err(Error::parameter("api_version", "expected beta or v1.0.")),
    }
}

fn timeout(params: &Map<String, Value>) -> Result<u64, Error> {
    let Some(raw) = text(params, "request_timeout") else {
        return Ok(DEFAULT_TIMEOUT_SECS);
    };
    match raw.parse::<u64>() {
        Ok(secs @ 1..=600) => Ok(secs),
        _ => Err(Error::parameter(
            "request_timeout",
            "expected whole seconds from 1 to 600.",
        )),
    }
}

/// Picks the login and Graph base URLs from `azure_cloud`, `azure_ad_endpoint` and `graph_endpoint`.
///
/// `azure_cloud` picks both hosts; without it the cloud is the one `azure_ad_endpoint` belongs to.
/// An `azure_ad_endpoint` that is no Microsoft login host (an emulator, a gateway) is used as is
/// and then needs `graph_endpoint` too, so a token is never sent to a host nobody configured.
fn endpoints(params: &Map<String, Value>) -> Result<Endpoints, Error> {
    let legacy = text(params, "azure_ad_endpoint")
        .map(|u| checked_url("azure_ad_endpoint", &u))
        .transpose()?;
    let chosen = text(params, "azure_cloud")
        .map(|name| cloud::by_name(&name).ok_or_else(|| Error::parameter("azure_cloud", unknown_cloud(&name, params))))
        .transpose()?;
    let graph = text(params, "graph_endpoint")
        .map(|u| checked_url("graph_endpoint", &u))
        .transpose()?;
    let login = match legacy {
        Some(url) if CLOSED.contains(&url.as_str()) => return Err(closed_cloud()),
        Some(url) if cloud::by_login(&url).is_none() => Custom(url),
        Some(url) => Known(cloud::by_login(&url).unwrap_or(cloud::WORLDWIDE)),
        None => Known(cloud::WORLDWIDE),
    };
    resolve(login, chosen, graph)
}

const CLOSED: &[&str] = cloud::CLOSED_LOGIN_HOSTS;

enum Login {
    Known(Cloud),
    Custom(String),
}
use Login::{Custom, Known};

struct Endpoints {
    login: String,
    graph: String,
    resource: String,
}

fn resolve(login: Login, chosen: Option<Cloud>, graph: Option<String>) -> Result<Endpoints, Error> {
    match (login, chosen) {
        (Custom(url), _) => match graph {
            Some(graph) => Ok(Endpoints {
                login: url,
                resource: graph.clone(),
                graph,
            }),
            None => Err(Error::parameter(
                "graph_endpoint",
                "azure_ad_endpoint is not a Microsoft login host, so graph_endpoint must say where Graph is.",
            )),
        },
        (Known(from_endpoint), Some(cloud)) if conflicts(from_endpoint, cloud) => Err(Error::parameter(
            "azure_cloud",
            format!(
                "azure_cloud is {} but azure_ad_endpoint is {}; clear one of them or make them agree.",
                cloud.name, from_endpoint.login
            ),
        )),
        (Known(from_endpoint), chosen) => {
            let cloud = chosen.unwrap_or(from_endpoint);
            Ok(Endpoints {
                login: cloud.login.to_string(),
                graph: graph.unwrap_or_else(|| cloud.graph.to_string()),
                resource: cloud.graph.to_string(),
            })
        }
    }
}

/// The worldwide login host is the yml default, so it never conflicts with an explicit cloud.
fn conflicts(from_endpoint: Cloud, chosen: Cloud) -> bool {
    from_endpoint.login != cloud::WORLDWIDE.login && from_endpoint.login != chosen.login
}

fn unknown_cloud(name: &str, params: &Map<String, Value>) -> String {
    let names: Vec<&str> = cloud::CLOUDS.iter().map(|c| c.name).collect();
    format!(
        "{} is not a cloud; expected one of {}.",
        crate::params::shown(name, params),
        names.join(", ")
    )
}

fn closed_cloud() -> Error {
    Error::parameter(
        "azure_ad_endpoint",
        "Microsoft Cloud Deutschland (login.microsoftonline.de) closed on 2021-10-29; choose another cloud.",
    )
}

/// True when `url`'s host is loopback (`localhost`, `127.x.x.x`, `[::1]`).
fn is_loopback_url(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .is_some_and(is_loopback)
}

/// Accepts `https://host[:port][/path]`, or `http://` to a loopback host only; trims a trailing `/`.
pub fn checked_url(name: &str, url: &str) -> Result<String, Error> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::parameter(name, "expected a URL such as https://host."))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#', ' ']) {
        return Err(Error::parameter(
            name,
            "expected a URL such as https://host, without credentials, query or fragment.",
        ));
    }
    // Host names are ASCII: url reads internationalised names only in their punycode form, as
    // Cargo.toml's idna_adapter pin explains, so anything else is refused here, not at send time.
    if !authority.is_ascii() || url::Url::parse(url).is_err() {
        return Err(Error::parameter(
            name,
            "expected a URL with an ASCII host name, such as https://host (an internationalised name in its punycode form, xn--...).",
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(authority) => Ok(url.to_string()),
        "http" => Err(Error::parameter(
            name,
            "must use https:// (http:// is allowed only to a loopback address).",
        )),
        _ => Err(Error::parameter(name, "must be an https:// URL.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_ascii_host_is_a_parameter_error_and_punycode_is_accepted() {
        assert!(matches!(
            checked_url("graph_endpoint", "https://grâph.example"),
            Err(Error::Parameter { .. })
        ));
        assert_eq!(
            checked_url("graph_endpoint", "https://xn--grph-0na.example/").unwrap(),
            "https://xn--grph-0na.example"
        );
    }

    #[test]
    fn a_managed_identity_needs_no_app_and_owns_its_tokens_by_client_id() {
        let params = |extra: Value| {
            let mut p = json!({"use_managed_identities": "true", "client_credentials": "true"});
            p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            Config::from_params(p.as_object().unwrap()).unwrap()
        };
        let system = params(json!({}));
        let user = params(json!({"managed_identities_client_id": "c1"}));
        assert_eq!(
            (system.mode, user.mode),
            (AuthMode::ManagedIdentity, AuthMode::ManagedIdentity)
        );
        let owner = |c: &Config| crate::auth::Owner::of(c);
        assert_eq!(owner(&user).app_id, "c1");
        assert_ne!(owner(&system), owner(&user));
    }
    #[test]
    fn fetch_settings_are_checked_when_fetch_reads_them() {
        let params = json!({"max_fetch": "20", "fetch_user_id": "a, b", "fetch_user_principal_name": "o'brien@x"})
            .as_object()
            .cloned()
            .unwrap();
        let settings = Config::from_params(&params).unwrap().fetch_settings().unwrap();
        assert_eq!((settings.max_fetch, settings.users.len()), (20, 3));
        for bad in [
            json!({"max_fetch": "0"}),
            json!({"max_fetch": "many"}),
            json!({"max_fetch": "5000"}),
        ] {
            let config = Config::from_params(bad.as_object().unwrap()).expect("other commands still run");
            assert!(config.fetch_settings().is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_client_secret() {
        let params =
            json!({"client_credentials": "true", "tenant_id": "t", "credentials": {"password": "the-secret-value"}});
        let config = Config::from_params(params.as_object().unwrap()).unwrap();
        let text = format!("{config:?}");
        assert!(
            !text.contains("the-secret-value") && text.contains("[redacted]"),
            "{text}"
        );
    }
    use serde_json::json;

    fn config(params: Value) -> Result<Config, Error> {
        Config::from_params(params.as_object().expect("object"))
    }

    fn hosts(params: Value) -> Result<(String, String), String> {
        config(params).map(|c| (c.login, c.graph)).map_err(|e| e.to_string())
    }

    #[test]
    fn clouds_pick_login_and_graph_together() {
        let cases = [
            (
                json!({}),
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
            ),
            (
                json!({"azure_cloud": "US GCC-High"}),
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
            ),
            (
                json!({"azure_cloud": "DoD"}),
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
            ),
            (
                json!({"azure_ad_endpoint": "https://login.microsoftonline.us"}),
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
            ),
            (
                json!({"azure_ad_endpoint": "https://login.chinacloudapi.cn/"}),
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
            (
                json!({"azure_ad_endpoint": "https://login.microsoftonline.com", "azure_cloud": "DoD"}),
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
            ),
            (
                json!({"azure_cloud": "US GCC", "graph_endpoint": "https://graph.example.test"}),
                "https://login.microsoftonline.com",
                "https://graph.example.test",
            ),
            (
                json!({"azure_ad_endpoint": "http://127.0.0.1:8765", "graph_endpoint": "http://localhost:8765/"}),
                "http://127.0.0.1:8765",
                "http://localhost:8765",
            ),
        ];
        for (params, login, graph) in cases {
            assert_eq!(
                hosts(params.clone()),
                Ok((login.to_string(), graph.to_string())),
                "{params}"
            );
        }
    }

    #[test]
    fn bad_endpoints_are_parameter_errors() {
        let cases = [
            (json!({"azure_ad_endpoint": "http://login.example.com"}), "https://"),
            (
                json!({"azure_ad_endpoint": "https://login.microsoftonline.de"}),
                "closed",
            ),
            (json!({"azure_ad_endpoint": "http://127.0.0.1:1"}), "graph_endpoint"),
            (json!({"azure_cloud": "Mars"}), "not a cloud"),
            (
                json!({"azure_cloud": "DoD", "azure_ad_endpoint": "https://login.chinacloudapi.cn"}),
                "agree",
            ),
            (
                json!({"graph_endpoint": "https://user:pw@graph.example"}),
                "credentials",
            ),
            (json!({"graph_endpoint": "ftp://graph.example"}), "https"),
            (json!({"api_version": "v2"}), "beta or v1.0"),
            (json!({"request_timeout": "0"}), "1 to 600"),
            (json!({"insecure": "maybe"}), "true or false"),
            (
                json!({"ca_file": "/nonexistent/ca.pem"}),
                "Trusted CA certificates (PEM) (ca_file): cannot read the file /nonexistent/ca.pem",
            ),
            (
                json!({"ca_file": "-----BEGIN CERTIFICATE-----\nAAAA\n"}),
                "Trusted CA certificates (PEM) (ca_file): the PEM text is not valid PEM",
            ),
        ];
        for (params, needle) in cases {
            let message = hosts(params.clone()).expect_err("must fail");
            assert!(message.contains(needle), "{params}: {message}");
        }
    }

    #[test]
    fn only_the_engines_identity_is_kept_to_cloud_and_loopback_hosts() {
        let custom = json!({"azure_cloud": "US GCC", "graph_endpoint": "https://graph.example.test"});
        let with = |extra: Value| {
            let mut params = custom.clone();
            params
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            config(params).map(|c| c.mode).map_err(|e| e.to_string())
        };
        // The instance's own secret may go where the instance says.
        let secret = json!({"client_credentials": "true", "tenant_id": "t", "credentials": {"password": "s"}});
        assert_eq!(with(secret), Ok(AuthMode::ClientCredentials));
        // The engine's identity may not, unless the parameter named for it says so.
        let identity = json!({"use_managed_identities": "true"});
        let refused = with(identity.clone()).unwrap_err();
        assert!(
            refused.contains("Microsoft Graph endpoint (graph_endpoint)")
                && refused.contains("engine_identity_to_custom_hosts"),
            "{refused}"
        );
        let mut allowed = identity.clone();
        allowed["engine_identity_to_custom_hosts"] = json!("true");
        assert_eq!(with(allowed), Ok(AuthMode::ManagedIdentity));
        let mut gcc_high = identity;
        gcc_high["graph_endpoint"] = json!("https://graph.microsoft.us");
        assert_eq!(
            with(gcc_high),
            Ok(AuthMode::ManagedIdentity),
            "another cloud's Graph host"
        );
    }

    #[test]
    fn client_credentials_needs_tenant_and_secret() {
        let missing_tenant = config(json!({"client_credentials": "true", "credentials": {"password": "s"}}));
        assert!(missing_tenant.unwrap_err().to_string().contains("tenant_id"));
        let missing_secret = config(json!({"client_credentials": true, "tenant_id": "t"}));
        assert!(missing_secret.unwrap_err().to_string().contains("credentials"));
        let ok =
            config(json!({"client_credentials": "true", "tenant_id": "t", "credentials": {"password": "s"}})).unwrap();
        assert_eq!(ok.mode, AuthMode::ClientCredentials);
        assert_eq!(
            ok.login_url("token"),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn defaults() {
        let c = config(json!({"app_id": "", "tenant_id": " "})).unwrap();
        assert_eq!(c.app_id, DEFAULT_APP_ID);
        assert_eq!(c.tenant_segment(), "organizations");
        assert_eq!(c.graph_root(), "https://graph.microsoft.com/beta");
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
    }

    #[test]
    fn loopback_hosts() {
        for (authority, expected) in [
            ("127.0.0.1:80", true),
            ("127.9.9.9", true),
            ("localhost", true),
            ("[::1]:9", true),
            ("10.0.0.1", false),
            ("example.com", false),
        ] {
            assert_eq!(is_loopback(authority), expected, "{authority}");
        }
    }
}

//! An offline Microsoft Entra ID + Microsoft Graph Identity Protection tenant.
//!
//! [`Emulator::start`] serves the login endpoints (device code, client credentials with a secret,
//! a certificate or a federated token, refresh; every token RS256-signed with the key its JWKS
//! publishes), the managed-identity endpoints (IMDS, App Service, the Arc agent's challenge) and
//! the Graph Identity Protection endpoints (riskyUsers with history and actions, riskDetections,
//! and for workload identities riskyServicePrincipals and servicePrincipalRiskDetections), the
//! investigate-and-respond endpoints (the sign-in log, users' revokeSignInSessions, Conditional
//! Access named locations and policies) on one loopback port, records every request, and lets a test script canned answers, drive the
//! signed-in user (approve, decline, revoke, expire) and change the tenant between fetches.
//!
//! [`Emulator::serve`] adds what a person or a script needs: a fixed port, HTTPS with an
//! embedded loopback CA ([`Emulator::ca_file`]), auto-approval, a [`FaultPlan`], a request log on
//! stderr, the device-login form at `/devicelogin`, OpenID and MSAL instance discovery, and the
//! loopback-only admin endpoint `/_emulator/` (faults, token expiry and revocation, new
//! detections, approve/deny, the request log, tokens of a test federation issuer). [`cli::main`] is the `emulator` command line;
//! [`TenantConfig::generated`] and [`TenantConfig::from_json`] make realistic tenants.
//!
//! ```
//! use entra_graph_emulator::{Emulator, ScriptedAnswer, TenantConfig};
//!
//! let emulator = Emulator::start(TenantConfig::default())?;
//! // The first riskyUsers call is throttled like Identity Protection: 429 without Retry-After.
//! emulator.script(ScriptedAnswer::throttled("/identityProtection/riskyUsers", None));
//! assert!(emulator.base_url().starts_with("http://127.0.0.1:"));
//! assert!(emulator.requests().is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

mod actions;
mod admin;
mod assertion;
pub mod cli;
mod conditional_access;
mod config;
mod connection;
mod device_login;
mod discovery;
mod errors;
mod faults;
mod filter;
mod generate;
mod graph;
mod listing;
mod login;
mod managed_identity;
mod named_locations;
mod pem;
mod permission_text;
mod request;
mod samples;
mod script;
mod server;
mod sessions;
mod signing;
mod signins;
mod state;
mod tenant_file;
mod tls;
mod wire;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use config::{
    AppRegistration, CERTIFICATE_APP_ID, FEDERATED_AUDIENCE, FederatedCredential, IDENTITY_PROTECTION_PERMISSIONS,
    MANAGED_IDENTITY_CLIENT_ID, RESPONSE_PERMISSIONS, SignedInUser, TEST_APP_CERTIFICATE, TEST_APP_KEY,
    TEST_FEDERATED_ISSUER, TEST_FEDERATED_SUBJECT, TenantConfig,
};
pub use faults::FaultPlan;
pub use request::RecordedRequest;
pub use script::ScriptedAnswer;
pub use signing::IssuerKey;

use serde_json::{Value, json};
use state::{DeviceCodeStatus, State};
use wire::Reply;

/// The public client app id the device-code parameters use when the tenant has no other.
const DEFAULT_PUBLIC_CLIENT: &str = "4ffef4a4-601f-4393-a789-432f3f3b8470";

/// How [`Emulator::serve`] starts a tenant.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The port on `127.0.0.1`; 0 picks a free one (the CLI's default is 8765).
    pub port: u16,
    /// Serve HTTPS with the embedded loopback certificate instead of plain HTTP.
    pub tls: bool,
    /// With `tls`: where to write the CA (kept); `None` writes it to a private temporary folder
    /// that is removed when the emulator stops.
    pub ca_out: Option<std::path::PathBuf>,
    /// The tenant to serve.
    pub tenant: TenantConfig,
    /// Approve every device code as soon as it is issued.
    pub auto_approve: bool,
    /// The initial fault plan.
    pub faults: FaultPlan,
    /// Log one line per request (method, path, status, latency) on stderr.
    pub log_requests: bool,
    /// Accept the placeholder device codes and tokens the envelopes in `fixtures/` carry
    /// (`emulator-device-code`, `emulator-device-code-polling`, `emulator-refresh-token`,
    /// `emulator-access-token`); redeeming one leaves it valid, so fixtures replay in any order.
    pub fixture_credentials: bool,
}

/// A running emulator. Dropping it stops the server: no new connection is accepted, open ones
/// are closed, and a CA file it wrote in a private folder is deleted.
pub struct Emulator {
    state: Arc<Mutex<State>>,
    base_url: String,
    /// Held for its `Drop`, which stops serving.
    _server: server::Server,
    ca_file: Option<tls::CaFile>,
}

impl Emulator {
    /// Starts a tenant on `127.0.0.1` with a free port, serving requests on background threads.
    pub fn start(config: TenantConfig) -> io::Result<Emulator> {
        Emulator::serve(ServeOptions {
            tenant: config,
            ..ServeOptions::default()
        })
    }

    /// Starts a tenant as `options` say, serving requests on background threads.
    pub fn serve(options: ServeOptions) -> io::Result<Emulator> {
        let tls = options.tls.then(tls::server_config).transpose()?;
        let listener = server::bind(options.port)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://127.0.0.1:{}", listener.local_addr()?.port());
        let ca_file = match options.tls {
            true => Some(tls::CaFile::write(options.ca_out.clone())?),
            false => None,
        };
        let mut state = State::new(options.tenant, base_url.clone());
        state.auto_approve = options.auto_approve;
        state.log_requests = options.log_requests;
        if options.fixture_credentials {
            state.seed_fixture_credentials();
        }
        state.set_faults(options.faults);
        let state = Arc::new(Mutex::new(state));
        let server = server::Server::start(listener, tls, state.clone())?;
        Ok(Emulator {
            state,
            base_url,
            _server: server,
            ca_file,
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS); the login endpoints and Graph are both served here.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The instance parameters of the integration for client credentials against this tenant:
    /// `azure_ad_endpoint`, `graph_endpoint`, `tenant_id`, `app_id` (the first app with a
    /// secret), `client_credentials: "true"` and `credentials {identifier, password}`; with TLS
    /// also `ca_file`, so the integration trusts the loopback CA with nothing else set.
    pub fn instance_params(&self) -> Value {
        let state = self.lock();
        let app = state.config.apps.iter().find(|app| app.client_secret.is_some());
        self.params_with(json!({
            "tenant_id": state.config.tenant_id,
            "app_id": app.map(|a| a.client_id.as_str()),
            "client_credentials": "true",
            "credentials": {"identifier": "", "password": app.and_then(|a| a.client_secret.as_deref())},
        }))
    }

    /// The instance parameters for a certificate sign-in: the same endpoints, tenant and
    /// `ca_file`, the first app with a certificate, and the test certificate and its key as one
    /// PEM bundle (the key is public: it signs in to this emulator only).
    pub fn certificate_params(&self) -> Value {
        let state = self.lock();
        let app = state.config.apps.iter().find(|a| !a.certificates.is_empty());
        self.params_with(json!({
            "tenant_id": state.config.tenant_id,
            "app_id": app.map(|a| a.client_id.as_str()),
            "client_credentials": "true",
            "certificate": format!("{TEST_APP_CERTIFICATE}{TEST_APP_KEY}"),
        }))
    }

    /// The instance parameters for a managed-identity sign-in: the same endpoints and
    /// `ca_file`, `use_managed_identities`; the integration then needs
    /// [`Emulator::managed_identity_environment`] to reach this IMDS instead of Azure's.
    pub fn managed_identity_params(&self) -> Value {
        self.params_with(json!({
            "use_managed_identities": "true",
        }))
    }

    /// The engine environment that points managed-identity sign-in at this emulator's IMDS:
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`, the IMDS override Azure SDKs read.
    pub fn managed_identity_environment(&self) -> Value {
        json!({"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.base_url})
    }

    /// The instance parameters for a device-code sign-in: the same endpoints, tenant and
    /// `ca_file`, the public client app, no credentials.
    pub fn device_code_params(&self) -> Value {
        let state = self.lock();
        let public = state
            .config
            .apps
            .iter()
            .find(|a| a.client_secret.is_none() && a.public_client_flows);
        self.params_with(json!({
            "tenant_id": state.config.tenant_id,
            "app_id": public.map_or(DEFAULT_PUBLIC_CLIENT, |a| a.client_id.as_str()),
        }))
    }

    /// Instance parameters pointing at this emulator: both endpoints, then `extra`, then
    /// `"ca_file": path` when serving TLS.
    fn params_with(&self, extra: Value) -> Value {
        let mut params = json!({"azure_ad_endpoint": self.base_url, "graph_endpoint": self.base_url});
        if let (Some(map), Value::Object(extra)) = (params.as_object_mut(), extra) {
            map.extend(extra);
            if let Some(path) = self.ca_file() {
                map.insert("ca_file".to_owned(), json!(path));
            }
        }
        params
    }

    /// The CA certificate (PEM) a client must trust when serving TLS; `None` for plain HTTP.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca_file.as_ref().map(|file| file.path().to_path_buf())
    }

    /// Accepts the placeholder credentials of the envelopes in `fixtures/` from now on.
    pub fn seed_fixture_credentials(&self) {
        self.lock().seed_fixture_credentials();
    }

    /// Approve every new device code as soon as it is issued (`true`), or wait for a person.
    pub fn set_auto_approve(&self, on: bool) {
        self.lock().auto_approve = on;
    }

    /// Replaces the fault plan; its request count starts again.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.lock().set_faults(plan);
    }

    /// The fault plan now (`slow_down` is true while the next poll is still armed).
    pub fn faults(&self) -> FaultPlan {
        self.lock().fault_plan()
    }

    /// The tenant as it is now, after actions and added detections.
    pub fn tenant(&self) -> TenantConfig {
        self.lock().config.clone()
    }

    /// Every request received so far, in order (scripted ones too).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().log.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// Queues a canned answer; answers for the same request are used first-in, first-out.
    pub fn script(&self, answer: ScriptedAnswer) {
        self.lock().scripts.push_back(answer);
    }

    /// The signed-in user approves this user code; false if it is unknown, expired or settled.
    pub fn approve(&self, user_code: &str) -> bool {
        self.lock().settle_device_code(user_code, DeviceCodeStatus::Approved)
    }

    /// The signed-in user declines this user code; false if it is unknown, expired or settled.
    pub fn decline(&self, user_code: &str) -> bool {
        self.lock().settle_device_code(user_code, DeviceCodeStatus::Declined)
    }

    /// Every outstanding device code becomes expired.
    pub fn expire_device_codes(&self) {
        self.lock().expire_device_codes();
    }

    /// The next device-code poll answers `slow_down`.
    pub fn slow_down_next_poll(&self) {
        self.lock().slow_down_next_poll = true;
    }

    /// Every refresh token issued so far is revoked (`invalid_grant`, AADSTS50173).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.values_mut().for_each(|rt| rt.revoked = true);
    }

    /// Every access token issued so far is expired (Graph 401 `InvalidAuthenticationToken`).
    pub fn expire_access_tokens(&self) {
        self.lock().access_tokens.values_mut().for_each(|at| at.revoked = true);
    }

    /// The user code of the newest device code, if any.
    pub fn last_user_code(&self) -> Option<String> {
        self.lock().device_codes.last().map(|grant| grant.user_code.clone())
    }

    /// The risky user with this id (case-insensitive) as the tenant holds it now, after any actions.
    pub fn risky_user(&self, id: &str) -> Option<Value> {
        graph::find(&self.lock().config.risky_users, "id", id).cloned()
    }

    /// The user's riskyUserHistoryItem objects, oldest first (actions append to it).
    pub fn history(&self, id: &str) -> Vec<Value> {
        graph::history_of(&self.lock(), id)
    }

    /// The tenant's riskDetection objects, in insertion order.
    pub fn risk_detections(&self) -> Vec<Value> {
        self.lock().config.risk_detections.clone()
    }

    /// Appends a riskDetection (and, when it names a `requestId` the log lacks, its sign-in); the
    /// next listing serves it (new detections may appear between fetches).
    pub fn add_detection(&self, detection: Value) {
        let mut state = self.lock();
        generate::log_sign_in_of(&mut state.config.sign_ins, &detection);
        state.config.risk_detections.push(detection);
    }

    /// The tenant's sign-in log (beta's shape), newest first.
    pub fn sign_ins(&self) -> Vec<Value> {
        self.lock().config.sign_ins.clone()
    }

    /// The named locations as the tenant holds them now.
    pub fn named_locations(&self) -> Vec<Value> {
        self.lock().config.named_locations.clone()
    }

    /// Appends a riskyUser (e.g. a user who became risky between fetches).
    pub fn add_risky_user(&self, user: Value) {
        self.lock().config.risky_users.push(user);
    }

    /// Sets the largest page any listing serves (`TenantConfig::page_cap`; 0 acts as 1).
    pub fn set_page_cap(&self, n: usize) {
        self.lock().config.page_cap = n;
    }

    /// Serves every list in insertion order (`None`) or in a seeded shuffled order (`TenantConfig::shuffle_seed`).
    pub fn set_shuffle(&self, seed: Option<u64>) {
        self.lock().config.shuffle_seed = seed;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Locks the state; a panic on another thread does not make the state unusable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The emulated tenant answers each complete request the server reads.
impl server::App for Mutex<State> {
    fn reply(&self, request: RecordedRequest, loopback: bool) -> Reply {
        handle(&mut lock(self), request, loopback)
    }

    fn served(&self, what: &str, status: u16, took: Duration) {
        if lock(self).log_requests {
            eprintln!("{what} {status} {}ms", took.as_millis());
        }
    }
}

/// Answers an admin request, or logs the request and answers it.
fn handle(state: &mut State, request: RecordedRequest, loopback: bool) -> Reply {
    if admin::is_admin_path(&request.path) {
        return admin::handle(state, &request, loopback);
    }
    state.log.remember(request.clone());
    let reply = answer_logged(state, &request);
    state.log.answered(reply.status);
    reply
}

/// The script first, then the fault plan, then the emulated tenant.
fn answer_logged(state: &mut State, request: &RecordedRequest) -> Reply {
    if let Some(reply) = state.scripted_reply(request) {
        return reply;
    }
    let counted = fault_target(&request.path);
    if let Some(login) = counted {
        if let Some(fault) = state.next_fault() {
            return with_latency(faults::fault_reply(fault, &state.faults, login), &state.faults);
        }
    }
    let reply = route(state, request);
    match counted {
        Some(_) => with_latency(reply, &state.faults),
        None => reply,
    }
}

/// `Some(true)` for the token endpoint, `Some(false)` for Graph, `None` for anything else.
fn fault_target(path: &str) -> Option<bool> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["beta" | "v1.0", ..] => Some(false),
        [_, "oauth2", "v2.0", "token"] => Some(true),
        _ => None,
    }
}

fn with_latency(mut reply: Reply, plan: &FaultPlan) -> Reply {
    reply.delay = reply.delay.or(plan.delay());
    reply
}

fn route(state: &mut State, request: &RecordedRequest) -> Reply {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["beta" | "v1.0", ..] => graph::handle(state, request, &segments),
        ["devicelogin"] => device_login::handle(state, request),
        [tenant, "oauth2", "v2.0", endpoint] => login::handle(state, request, tenant, endpoint),
        ["metadata", "identity", "oauth2", "token"] => managed_identity::handle(state, request),
        ["msi", "token"] => managed_identity::app_service(state, request),
        ["arc", "metadata", "identity", "oauth2", "token"] => managed_identity::arc(state, request),
        [tenant, "v2.0", ".well-known", "openid-configuration"] => discovery::openid_configuration(state, tenant),
        ["common", "discovery", "instance"] => discovery::instance_discovery(state, request),
        [_, "discovery", "v2.0", "keys"] => discovery::keys(),
        _ => graph::not_found(request),
    }
}

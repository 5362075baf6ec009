//! An offline Microsoft Entra ID + Microsoft Graph Identity Protection tenant.
//!
//! [`Emulator::start`] serves the login endpoints (device code, client credentials with a secret,
//! a certificate or a federated token, refresh; every token RS256-signed with the key its JWKS
//! publishes), the managed-identity endpoints (IMDS, App Service, the Arc agent's challenge) and
//! the Graph Identity Protection endpoints (riskyUsers with history and actions, riskDetections,
//! and for workload identities riskyServicePrincipals and servicePrincipalRiskDetections)
//! on one loopback port, records every request, and lets a test script canned answers, drive the
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
mod config;
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
mod pem;
mod request;
mod samples;
mod script;
mod signing;
mod state;
mod tenant_file;
mod tls;
mod wire;

#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

pub use config::{
    AppRegistration, CERTIFICATE_APP_ID, FEDERATED_AUDIENCE, FederatedCredential, IDENTITY_PROTECTION_PERMISSIONS,
    MANAGED_IDENTITY_CLIENT_ID, SignedInUser, TEST_APP_CERTIFICATE, TEST_APP_KEY, TEST_FEDERATED_ISSUER,
    TEST_FEDERATED_SUBJECT, TenantConfig,
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

/// A running emulator. Dropping it stops the server thread.
pub struct Emulator {
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    base_url: String,
    workers: Vec<JoinHandle<()>>,
    front: Option<tls::Front>,
}

impl Emulator {
    /// Starts a tenant on `127.0.0.1` with a free port, serving requests on a background thread.
    pub fn start(config: TenantConfig) -> io::Result<Emulator> {
        Emulator::serve(ServeOptions {
            tenant: config,
            ..ServeOptions::default()
        })
    }

    /// Starts a tenant as `options` say, serving requests on background threads.
    pub fn serve(options: ServeOptions) -> io::Result<Emulator> {
        // With TLS, tiny_http listens on a free loopback port behind the front.
        let server = bind(if options.tls { 0 } else { options.port })?;
        let front = match options.tls {
            true => Some(tls::Front::start(
                options.port,
                (std::net::Ipv4Addr::LOCALHOST, port_of(&server)?).into(),
                options.ca_out.clone(),
            )?),
            false => None,
        };
        let base_url = match &front {
            Some(front) => format!("https://127.0.0.1:{}", front.port()),
            None => format!("http://127.0.0.1:{}", port_of(&server)?),
        };
        let mut state = State::new(options.tenant, base_url.clone());
        state.auto_approve = options.auto_approve;
        state.log_requests = options.log_requests;
        if options.fixture_credentials {
            state.seed_fixture_credentials();
        }
        state.set_faults(options.faults);
        let state = Arc::new(Mutex::new(state));
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = spawn_workers(&server, &state, &stopping)?;
        Ok(Emulator {
            state,
            server,
            stopping,
            base_url,
            workers,
            front,
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
        self.front.as_ref().map(|front| front.ca_file().to_path_buf())
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
        self.lock().log.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().clear_log();
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

    /// Appends a riskDetection; the next listing serves it (new detections may appear between fetches).
    pub fn add_detection(&self, detection: Value) {
        self.lock().config.risk_detections.push(detection);
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

impl Drop for Emulator {
    fn drop(&mut self) {
        self.front.take();
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
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

/// A tiny_http server on `127.0.0.1:port` (0: a free port).
/// Listens on `127.0.0.1:port` with TCP_NODELAY, which accepted sockets inherit: tiny_http
/// writes a response in several segments, and with Nagle a request on a kept-alive connection
/// would wait ~40 ms for the client's delayed ACK.
fn bind(port: u16) -> io::Result<tiny_http::Server> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    socket.bind(&std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(128)?;
    tiny_http::Server::from_listener(std::net::TcpListener::from(socket), None).map_err(io::Error::other)
}

fn port_of(server: &tiny_http::Server) -> io::Result<u16> {
    server
        .server_addr()
        .to_ip()
        .map(|addr| addr.port())
        .ok_or_else(|| io::Error::other("the emulator is not listening on an IP address"))
}

/// Requests answered at once: one slow or idle client holds one worker, never the emulator.
const WORKERS: usize = 8;
/// A client that stops sending (an announced body that never comes, an idle kept-alive
/// connection) is dropped after this long; accepted sockets inherit it from the listener.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Largest request body read; the rest of a larger one is not read.
const MAX_REQUEST_BODY: u64 = 1024 * 1024;

fn spawn_workers(
    server: &Arc<tiny_http::Server>,
    state: &Arc<Mutex<State>>,
    stopping: &Arc<AtomicBool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    (0..WORKERS)
        .map(|n| {
            let (server, state, stopping) = (server.clone(), state.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(format!("entra-graph-emulator-{n}"))
                .spawn(move || serve(&server, &state, &stopping))
        })
        .collect()
}

/// Answers requests (each worker one at a time) until the handle is dropped.
fn serve(server: &tiny_http::Server, state: &Mutex<State>, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        if let Ok(request) = server.recv() {
            answer(request, state);
        }
    }
}

fn answer(mut request: tiny_http::Request, state: &Mutex<State>) {
    let started = Instant::now();
    let loopback = request.remote_addr().is_some_and(|peer| peer.ip().is_loopback());
    let recorded = record(&mut request);
    let (method, path) = (recorded.method.clone(), raw_path(request.url()).to_owned());
    let (reply, log) = {
        let mut state = lock(state);
        (handle(&mut state, recorded, loopback), state.log_requests)
    };
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    let status = reply.status;
    // The client may have gone away (e.g. after a timeout); nothing to do about it.
    let _ = request.respond(to_response(reply));
    if log {
        let (method, path) = (formats::printable(&method), formats::printable(&path));
        eprintln!("{method} {path} {status} {}ms", started.elapsed().as_millis());
    }
}

/// The path of a request target, without its query (which may carry codes or tokens).
fn raw_path(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

fn record(request: &mut tiny_http::Request) -> RecordedRequest {
    let mut body = Vec::new();
    // A broken body stays partial; it is recorded as received.
    let _ = Read::take(request.as_reader(), MAX_REQUEST_BODY).read_to_end(&mut body);
    let headers = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().as_str().to_owned(), h.value.as_str().to_owned()))
        .collect();
    let method = request.method().as_str().to_owned();
    RecordedRequest::new(
        &method,
        request.url(),
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Answers an admin request, or logs the request and answers it.
fn handle(state: &mut State, request: RecordedRequest, loopback: bool) -> Reply {
    if admin::is_admin_path(&request.path) {
        return admin::handle(state, &request, loopback);
    }
    state.remember(request.clone());
    let reply = answer_logged(state, &request);
    state.statuses.push(reply.status);
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

fn to_response(reply: Reply) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    for (name, value) in &reply.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}

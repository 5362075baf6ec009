//! An offline Microsoft Entra ID + Microsoft Graph Identity Protection tenant.
//!
//! [`Emulator::start`] serves the login endpoints (device code, client credentials, refresh) and
//! the Graph Identity Protection endpoints (riskyUsers with history and actions, riskDetections)
//! on one loopback port, records every request, and lets a test script canned answers, drive the
//! signed-in user (approve, decline, revoke, expire) and change the tenant between fetches.
//!
//! ```
//! use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer, TenantConfig};
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
mod config;
mod filter;
mod graph;
mod listing;
mod login;
mod request;
mod samples;
mod script;
mod state;
mod wire;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use config::{AppRegistration, IDENTITY_PROTECTION_PERMISSIONS, SignedInUser, TenantConfig};
pub use request::RecordedRequest;
pub use script::ScriptedAnswer;

use serde_json::Value;
use state::{DeviceCodeStatus, State};
use wire::Reply;

/// A running emulator. Dropping it stops the server thread.
pub struct Emulator {
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    base_url: String,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts a tenant on `127.0.0.1` with a free port, serving requests on a background thread.
    pub fn start(config: TenantConfig) -> io::Result<Emulator> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|addr| addr.port())
            .ok_or_else(|| io::Error::other("the emulator is not listening on an IP address"))?;
        let base_url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::new(config, base_url.clone())));
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = spawn_server(server.clone(), state.clone(), stopping.clone())?;
        Ok(Emulator {
            state,
            server,
            stopping,
            base_url,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`; the login endpoints and Graph are both served here.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, in order (scripted ones too).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().log.clone()
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
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
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

fn spawn_server(
    server: Arc<tiny_http::Server>,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("entra-graph-emulator".to_owned())
        .spawn(move || serve(&server, &state, &stopping))
}

/// Answers requests one at a time until the handle is dropped.
fn serve(server: &tiny_http::Server, state: &Mutex<State>, stopping: &AtomicBool) {
    while !stopping.load(Ordering::SeqCst) {
        if let Ok(request) = server.recv() {
            answer(request, state);
        }
    }
}

fn answer(mut request: tiny_http::Request, state: &Mutex<State>) {
    let recorded = record(&mut request);
    let reply = handle(&mut lock(state), recorded);
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    // The client may have gone away (e.g. after a timeout); nothing to do about it.
    let _ = request.respond(to_response(reply));
}

fn record(request: &mut tiny_http::Request) -> RecordedRequest {
    let mut body = Vec::new();
    // A broken body stays partial; it is recorded as received.
    let _ = request.as_reader().read_to_end(&mut body);
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

/// Logs the request, then answers it from the script or from the emulated tenant.
fn handle(state: &mut State, request: RecordedRequest) -> Reply {
    state.log.push(request.clone());
    if let Some(reply) = state.scripted_reply(&request) {
        return reply;
    }
    route(state, &request)
}

fn route(state: &mut State, request: &RecordedRequest) -> Reply {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["beta" | "v1.0", ..] => graph::handle(state, request, &segments),
        ["devicelogin"] => login::device_login_page(),
        [tenant, "oauth2", "v2.0", endpoint] => login::handle(state, request, tenant, endpoint),
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

//! The tenant's mutable state: request log, scripts, device codes and issued tokens.

use std::collections::{HashMap, VecDeque};

use super::config::TenantConfig;
use super::faults::{Fault, FaultPlan};
use super::request::RecordedRequest;
use super::script::ScriptedAnswer;
use super::wire::{Reply, now};

/// The device code the replayable envelopes in `fixtures/` carry: approved, redeemable once.
pub const FIXTURE_DEVICE_CODE: &str = "emulator-device-code";
/// The refresh token the fixtures carry: valid for the public client app.
pub const FIXTURE_REFRESH_TOKEN: &str = "emulator-refresh-token";
/// The access token the fixtures carry: valid for the public client app until revoked.
pub const FIXTURE_ACCESS_TOKEN: &str = "emulator-access-token";

/// Where a device code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceCodeStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved; the next poll redeems it.
    Approved,
    /// The user declined.
    Declined,
    /// Expired by `Emulator::expire_device_codes` (lifetime expiry is checked on the clock).
    Expired,
    /// Tokens were issued for it already.
    Redeemed,
}

/// One device authorization request.
#[derive(Debug, Clone)]
pub(crate) struct DeviceCodeGrant {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: u64,
    pub status: DeviceCodeStatus,
}

impl DeviceCodeGrant {
    /// The status, with lifetime expiry applied.
    pub fn effective_status(&self) -> DeviceCodeStatus {
        let open = matches!(self.status, DeviceCodeStatus::Pending | DeviceCodeStatus::Approved);
        if open && now() >= self.expires_at {
            DeviceCodeStatus::Expired
        } else {
            self.status
        }
    }
}

/// An issued access token, as Graph validates it.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub expires_at: u64,
    /// The signed-in user's object id, or the app's client id for app-only tokens.
    pub subject: String,
    pub permissions: Vec<String>,
    pub revoked: bool,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub used: bool,
}

/// All server state, behind one mutex shared by the handle and the server thread.
#[derive(Debug)]
pub(crate) struct State {
    pub config: TenantConfig,
    pub base_url: String,
    pub log: Vec<RecordedRequest>,
    pub scripts: VecDeque<ScriptedAnswer>,
    pub device_codes: Vec<DeviceCodeGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub slow_down_next_poll: bool,
    /// The HTTP status of each `log` entry, in the same order.
    pub statuses: Vec<u16>,
    /// Faults to inject (its `slow_down` lives in `slow_down_next_poll`).
    pub faults: FaultPlan,
    /// Graph and token requests counted since the fault plan was set.
    pub fault_counter: u64,
    /// Every device code is approved as soon as it is issued.
    pub auto_approve: bool,
    /// One line per request on stderr.
    pub log_requests: bool,
}

/// Requests the log keeps (the oldest go first), and the body text kept of each.
const LOG_KEPT: usize = 10_000;
const LOGGED_BODY_BYTES: usize = 64 * 1024;

impl State {
    /// Adds a request to the log, its body cut to [`LOGGED_BODY_BYTES`] and the log to
    /// [`LOG_KEPT`] requests, so a long-running emulator's memory stays bounded.
    pub fn remember(&mut self, mut request: RecordedRequest) {
        if request.body.len() > LOGGED_BODY_BYTES {
            let mut end = LOGGED_BODY_BYTES;
            while !request.body.is_char_boundary(end) {
                end -= 1;
            }
            request.body.truncate(end);
        }
        if self.log.len() >= LOG_KEPT {
            self.log.drain(..self.log.len() + 1 - LOG_KEPT);
        }
        self.log.push(request);
    }

    /// Fresh state for a tenant served at `base_url`.
    pub fn new(config: TenantConfig, base_url: String) -> Self {
        State {
            config,
            base_url,
            log: Vec::new(),
            scripts: VecDeque::new(),
            device_codes: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            slow_down_next_poll: false,
            statuses: Vec::new(),
            faults: FaultPlan::default(),
            fault_counter: 0,
            auto_approve: false,
            log_requests: false,
        }
    }

    /// Replaces the fault plan and restarts its request count; `slow_down` arms the next poll.
    pub fn set_faults(&mut self, plan: FaultPlan) {
        self.slow_down_next_poll |= plan.slow_down;
        self.faults = FaultPlan {
            slow_down: false,
            ..plan
        };
        self.fault_counter = 0;
    }

    /// The fault plan as set, with `slow_down` showing whether the next poll is still armed.
    pub fn fault_plan(&self) -> FaultPlan {
        FaultPlan {
            slow_down: self.slow_down_next_poll,
            ..self.faults.clone()
        }
    }

    /// Counts one Graph or token request and returns its fault, if the plan has one for it.
    pub fn next_fault(&mut self) -> Option<Fault> {
        self.fault_counter += 1;
        self.faults.fault_for(self.fault_counter)
    }

    /// Forgets the request log.
    pub fn clear_log(&mut self) {
        self.log.clear();
        self.statuses.clear();
    }

    /// The first scripted answer matching the request, used once; used-up answers are dropped.
    pub fn scripted_reply(&mut self, request: &RecordedRequest) -> Option<Reply> {
        let index = self
            .scripts
            .iter()
            .position(|s| s.matches(&request.method, &request.path))?;
        let answer = self.scripts.get_mut(index)?;
        let reply = answer.take_reply();
        if answer.is_used_up() {
            self.scripts.remove(index);
        }
        Some(reply)
    }

    /// The device code with this user code (case-insensitive), if any.
    pub fn device_code_by_user_code(&mut self, user_code: &str) -> Option<&mut DeviceCodeGrant> {
        self.device_codes
            .iter_mut()
            .find(|grant| grant.user_code.eq_ignore_ascii_case(user_code.trim()))
    }

    /// Moves a waiting device code to `status`; false if unknown, expired or already settled.
    pub fn settle_device_code(&mut self, user_code: &str, status: DeviceCodeStatus) -> bool {
        match self.device_code_by_user_code(user_code) {
            Some(grant) if grant.effective_status() == DeviceCodeStatus::Pending => {
                grant.status = status;
                true
            }
            _ => false,
        }
    }

    /// Registers the well-known fixture credentials for the tenant's first public client app, as
    /// if its user had signed in: an approved device code, a refresh token and an access token.
    pub fn seed_fixture_credentials(&mut self) {
        let Some(app) = self.config.apps.iter().find(|a| a.public_client_flows) else {
            return;
        };
        let client_id = app.client_id.clone();
        let permissions = app.permissions.clone();
        let scopes: Vec<String> = ["openid", "profile", "offline_access"]
            .iter()
            .map(|s| s.to_string())
            .chain(permissions.clone())
            .collect();
        let far = now() + 100 * 365 * 86_400;
        self.device_codes.push(DeviceCodeGrant {
            device_code: FIXTURE_DEVICE_CODE.into(),
            user_code: "EMULATOR".into(),
            client_id: client_id.clone(),
            scopes: scopes.clone(),
            expires_at: far,
            status: DeviceCodeStatus::Approved,
        });
        let refresh = RefreshGrant {
            client_id,
            scopes,
            revoked: false,
            used: false,
        };
        self.refresh_tokens.insert(FIXTURE_REFRESH_TOKEN.into(), refresh);
        let access = AccessGrant {
            expires_at: far,
            subject: self.config.user.object_id.clone(),
            permissions,
            revoked: false,
        };
        self.access_tokens.insert(FIXTURE_ACCESS_TOKEN.into(), access);
    }

    /// Expires every device code that is still waiting or approved but unredeemed.
    pub fn expire_device_codes(&mut self) {
        for grant in &mut self.device_codes {
            if matches!(grant.status, DeviceCodeStatus::Pending | DeviceCodeStatus::Approved) {
                grant.status = DeviceCodeStatus::Expired;
            }
        }
    }
}

//! The tenant's mutable state: request log, scripts, device codes and issued tokens.

use std::collections::{HashMap, HashSet, VecDeque};

use super::config::TenantConfig;
use super::faults::{Fault, FaultPlan};
use super::named_locations::PendingWrite;
use super::request::{RecordedRequest, RequestLog};
use super::script::ScriptedAnswer;
use super::wire::{Reply, now, now_nanos};

/// The device code `fixtures/azure-ad-auth-complete.json` carries: approved, redeemable again and again.
pub const FIXTURE_DEVICE_CODE: &str = "emulator-device-code";
/// The device code `fixtures/azure-ad-auth-complete-polling.json` carries: its own, so neither
/// fixture's replay depends on the other's.
pub const FIXTURE_DEVICE_CODE_POLLING: &str = "emulator-device-code-polling";
/// The refresh token the fixtures carry: valid for the public client app, and still valid after
/// it was used (even with strict rotation).
pub const FIXTURE_REFRESH_TOKEN: &str = "emulator-refresh-token";
/// The access token the fixtures carry: valid for the public client app until revoked.
pub const FIXTURE_ACCESS_TOKEN: &str = "emulator-access-token";

/// Each fixture device code and the user code its envelope carries.
const FIXTURE_DEVICE_CODES: [(&str, &str); 2] = [
    (FIXTURE_DEVICE_CODE, "EMULATOR"),
    (FIXTURE_DEVICE_CODE_POLLING, "EMULATOR-POLLING"),
];

/// Whether a device code or refresh token is a fixture placeholder, which redeeming leaves as it
/// was: replaying the fixtures in any order, any number of times, gives the same results.
pub(crate) fn is_placeholder(code_or_token: &str) -> bool {
    code_or_token == FIXTURE_REFRESH_TOKEN || FIXTURE_DEVICE_CODES.iter().any(|(code, _)| *code == code_or_token)
}

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
    /// An app-only token (client credentials, managed identity): Graph grants some actions to
    /// an application on another permission than to a signed-in user.
    pub app_only: bool,
    pub revoked: bool,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    /// The signed-in user's object id: revoking their sessions refuses the token.
    pub user_id: String,
    /// When it was issued ([`now_nanos`]), against the user's sessions' revocation.
    pub issued_at: u128,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub used: bool,
}

/// All server state, behind one mutex shared by the handle and the server thread.
#[derive(Debug)]
pub(crate) struct State {
    pub config: TenantConfig,
    pub base_url: String,
    /// Every request received but the admin ones, with its status once answered.
    pub log: RequestLog,
    pub scripts: VecDeque<ScriptedAnswer>,
    pub device_codes: Vec<DeviceCodeGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub slow_down_next_poll: bool,
    /// Faults to inject (its `slow_down` lives in `slow_down_next_poll`).
    pub faults: FaultPlan,
    /// Graph and token requests counted since the fault plan was set.
    pub fault_counter: u64,
    /// Every device code is approved as soon as it is issued.
    pub auto_approve: bool,
    /// One line per request on stderr.
    pub log_requests: bool,
    /// The `jti` of every client assertion accepted, so a replay is refused.
    pub assertion_ids: HashSet<String>,
    /// When each user's sign-in sessions were last revoked ([`now_nanos`]), by lower-case object
    /// id: Entra's `signInSessionsValidFromDateTime`. Refresh tokens issued before are refused.
    pub sessions_revoked_at: HashMap<String, u128>,
    /// Other admins' writes to named locations, each applied after the next PATCH of its location.
    pub pending_location_writes: Vec<PendingWrite>,
}

impl State {
    /// Fresh state for a tenant served at `base_url`.
    pub fn new(config: TenantConfig, base_url: String) -> Self {
        State {
            config,
            base_url,
            log: RequestLog::default(),
            scripts: VecDeque::new(),
            device_codes: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            slow_down_next_poll: false,
            faults: FaultPlan::default(),
            fault_counter: 0,
            auto_approve: false,
            log_requests: false,
            assertion_ids: HashSet::new(),
            sessions_revoked_at: HashMap::new(),
            pending_location_writes: Vec::new(),
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
    /// if its user had signed in: two approved device codes, a refresh token and an access token.
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
        for (device_code, user_code) in FIXTURE_DEVICE_CODES {
            self.device_codes.push(DeviceCodeGrant {
                device_code: device_code.into(),
                user_code: user_code.into(),
                client_id: client_id.clone(),
                scopes: scopes.clone(),
                expires_at: far,
                status: DeviceCodeStatus::Approved,
            });
        }
        let refresh = RefreshGrant {
            client_id,
            user_id: self.config.user.object_id.clone(),
            issued_at: now_nanos(),
            scopes,
            revoked: false,
            used: false,
        };
        self.refresh_tokens.insert(FIXTURE_REFRESH_TOKEN.into(), refresh);
        let access = AccessGrant {
            expires_at: far,
            subject: self.config.user.object_id.clone(),
            permissions,
            app_only: false,
            revoked: false,
        };
        self.access_tokens.insert(FIXTURE_ACCESS_TOKEN.into(), access);
    }

    /// Whether the user's sessions were revoked after `issued_at` (a refresh token's issue time).
    pub fn sessions_revoked_since(&self, user_id: &str, issued_at: u128) -> bool {
        self.sessions_revoked_at
            .get(&user_id.to_ascii_lowercase())
            .is_some_and(|revoked_at| *revoked_at >= issued_at)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login;

    const PUBLIC_APP: &str = "4ffef4a4-601f-4393-a789-432f3f3b8470";
    const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

    /// The status of a token request with this form body.
    fn token_status(state: &mut State, form: &str) -> u16 {
        let tenant = state.config.tenant_id.clone();
        let request = RecordedRequest::new("POST", "/t/oauth2/v2.0/token", Vec::new(), form.to_owned());
        login::handle(state, &request, &tenant, "token").status
    }

    fn seeded_strict_tenant() -> State {
        let config = TenantConfig {
            rotate_refresh_tokens_strictly: true,
            ..TenantConfig::default()
        };
        let mut state = State::new(config, "http://127.0.0.1:8765".to_owned());
        state.seed_fixture_credentials();
        state
    }

    #[test]
    fn placeholders_replay_in_any_order_any_number_of_times() {
        let mut state = seeded_strict_tenant();
        let redeem = |code: &str| format!("grant_type={DEVICE_GRANT}&client_id={PUBLIC_APP}&device_code={code}");
        let refresh = format!("grant_type=refresh_token&client_id={PUBLIC_APP}&refresh_token={FIXTURE_REFRESH_TOKEN}");
        for form in [
            redeem(FIXTURE_DEVICE_CODE_POLLING),
            redeem(FIXTURE_DEVICE_CODE),
            refresh.clone(),
            redeem(FIXTURE_DEVICE_CODE),
            redeem(FIXTURE_DEVICE_CODE_POLLING),
            refresh,
        ] {
            assert_eq!(token_status(&mut state, &form), 200, "{form}");
        }
    }

    #[test]
    fn each_placeholder_has_its_own_user_code_and_real_codes_still_redeem_once() {
        let mut state = seeded_strict_tenant();
        for user_code in ["EMULATOR", "emulator-polling"] {
            let grant = state.device_code_by_user_code(user_code).map(|g| g.device_code.clone());
            assert!(grant.as_deref().is_some_and(is_placeholder), "{user_code}");
        }
        let mut real = state.device_codes[0].clone();
        real.device_code = "DAQABIQEAAADreal".to_owned();
        state.device_codes.push(real);
        let form = format!("grant_type={DEVICE_GRANT}&client_id={PUBLIC_APP}&device_code=DAQABIQEAAADreal");
        assert_eq!(token_status(&mut state, &form), 200);
        assert_eq!(
            token_status(&mut state, &form),
            400,
            "a real device code is redeemed once"
        );
    }
}

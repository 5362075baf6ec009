//! The token keys of the context, their expiry, and the token lifecycle every Graph command uses:
//! cached → refreshed → new. The only module that reads or writes token keys.

use super::{
    Flow, Owner, TokenResponse, client_credentials, delegated_scope, lenient_u64, managed_identity, token_request,
};
use crate::config::AuthMode;
use crate::error::Error;
use crate::secret::Secret;
use crate::session::Session;
use serde_json::{Map, Value};

/// Python-compatible key: the cached access token.
pub const ACCESS_TOKEN: &str = "access_token";
/// Python-compatible key: epoch seconds until which the access token is used.
pub const VALID_UNTIL: &str = "valid_until";
/// Python-compatible key: the refresh token.
pub const REFRESH_TOKEN: &str = "current_refresh_token";
/// What the tokens were issued for (app id, tenant, cloud, auth mode).
pub const TOKEN_OWNER: &str = "token_owner";
/// Who signed in (from the ID token), for messages.
pub const SIGNED_IN_AS: &str = "signed_in_as";
/// `true` when the cached device-code access token was issued with the workload-identity
/// permission as well ([`Permissions::WORKLOAD_IDENTITIES`]); absent otherwise.
pub const WORKLOAD_SCOPES: &str = "token_has_workload_scopes";

/// What a Graph request needs its token to carry, as a set of permission groups. In
/// device-code mode the sign-in asks for the users' permissions only; each other group is asked
/// for (with the refresh token, no new sign-in) the first time a request needs it, so instances
/// that never use those commands never need those permissions consented. Application tokens
/// (secret, certificate, federation, managed identity) carry every granted permission
/// (`.default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

/// One group of delegated permissions asked for on first use: its bit, its name in the context
/// ([`PERMISSION_GROUPS`]), its permissions, and the commands that need it (for messages).
struct Group {
    bit: u8,
    name: &'static str,
    delegated: &'static [&'static str],
    needed_by: &'static str,
}

const GROUPS: [Group; 4] = [
    Group {
        bit: 1,
        name: "workload_identities",
        delegated: &[super::WORKLOAD_PERMISSION],
        needed_by: "The risky-service-principal commands",
    },
    Group {
        bit: 2,
        name: "sign_ins",
        delegated: &["AuditLog.Read.All", "Directory.Read.All"],
        needed_by: "The sign-in commands",
    },
    Group {
        bit: 4,
        name: "sessions",
        delegated: &["User.RevokeSessions.All"],
        needed_by: "Revoking sessions",
    },
    Group {
        bit: 8,
        name: "policies",
        delegated: &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"],
        needed_by: "The named-location commands",
    },
];

impl Permissions {
    /// Risky users and risk detections (and confirming sign-ins).
    pub const USERS: Permissions = Permissions(0);
    /// Risky service principals.
    pub const WORKLOAD_IDENTITIES: Permissions = Permissions(1);
    /// Reading sign-in logs.
    pub const SIGN_INS: Permissions = Permissions(2);
    /// Revoking a user's sessions.
    pub const SESSIONS: Permissions = Permissions(4);
    /// Named locations and Conditional Access policies.
    pub const POLICIES: Permissions = Permissions(8);

    /// Both sets together.
    pub fn with(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// Whether every group of `other` is in this set.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    fn groups(self) -> impl Iterator<Item = &'static Group> {
        GROUPS.iter().filter(move |g| self.0 & g.bit != 0)
    }

    /// The delegated permissions the set adds to the users' ones.
    pub fn delegated(self) -> impl Iterator<Item = &'static str> {
        self.groups().flat_map(|g| g.delegated.iter().copied())
    }

    /// "A and B", for messages.
    pub fn names(self) -> String {
        let names: Vec<&str> = self.delegated().collect();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
    }

    /// Which commands need the set, for messages.
    pub fn needed_by(self) -> &'static str {
        self.groups().next().map_or("These commands", |g| g.needed_by)
    }

    /// The set a context records for its cached token: [`PERMISSION_GROUPS`], and the earlier
    /// [`WORKLOAD_SCOPES`] flag.
    fn of_context(context: &Map<String, Value>) -> Permissions {
        let named = context.get(PERMISSION_GROUPS).and_then(Value::as_array);
        let mut set = Permissions::USERS;
        for group in &GROUPS {
            let listed = named.is_some_and(|names| names.iter().any(|n| n.as_str() == Some(group.name)));
            if listed {
                set = set.with(Permissions(group.bit));
            }
        }
        if context.get(WORKLOAD_SCOPES) == Some(&Value::Bool(true)) {
            set = set.with(Permissions::WORKLOAD_IDENTITIES);
        }
        set
    }

    /// Records the set in the context (nothing for the users' permissions alone).
    fn record(self, context: &mut Map<String, Value>) {
        if self.contains(Permissions::WORKLOAD_IDENTITIES) {
            context.insert(WORKLOAD_SCOPES.into(), Value::Bool(true));
        }
        let names: Vec<Value> = self.groups().map(|g| Value::String(g.name.into())).collect();
        if !names.is_empty() {
            context.insert(PERMISSION_GROUPS.into(), Value::Array(names));
        }
    }
}

/// The permission groups (beyond the users' permissions) the cached device-code access token
/// was issued with, e.g. `["sign_ins"]`; absent when none. `token_has_workload_scopes` is still
/// written too, for the binaries that know only that one.
pub const PERMISSION_GROUPS: &str = "token_permission_groups";

/// Safety margin before `expires_in`: 5 minutes as msal does, but at most a tenth of the
/// lifetime, so short-lived tokens are still reused. With `expires_in` of at least 1 (as
/// [`TokenResponse`] bounds it) the result is always after `now`.
pub fn valid_until(now: u64, expires_in: u64) -> u64 {
    now.saturating_add(expires_in)
        .saturating_sub((expires_in / 10).min(300))
}

/// `valid_until` as stored: a number, or a numeric string (as some hosts persist it).
pub fn stored_valid_until(context: &Map<String, Value>) -> Option<u64> {
    lenient_u64(context.get(VALID_UNTIL))
}

fn text(context: &Map<String, Value>, key: &str) -> Option<Secret> {
    context
        .get(key)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
}

/// True when the stored tokens may be used by this configuration (see [`Owner::owns`]).
fn tokens_belong(session: &Session) -> bool {
    Owner::owns(&session.context, TOKEN_OWNER, &session.config)
}

/// The cached access token, if it belongs to this configuration, is still valid and carries
/// `needs`.
pub fn cached(session: &Session, needs: Permissions) -> Option<Secret> {
    let until = stored_valid_until(&session.context)?;
    (tokens_belong(session) && session.now() < until && carries(session, needs))
        .then(|| text(&session.context, ACCESS_TOKEN))
        .flatten()
}

/// Whether the cached token was issued for `needs` (see [`Permissions`]).
fn carries(session: &Session, needs: Permissions) -> bool {
    session.config.mode != AuthMode::DeviceCode || Permissions::of_context(&session.context).contains(needs)
}

/// True when a refresh token for this configuration is stored.
pub fn has_refresh_token(session: &Session) -> bool {
    tokens_belong(session) && text(&session.context, REFRESH_TOKEN).is_some()
}

/// A valid access token carrying `needs`: the cached one (no request), a refreshed one, or a
/// new one.
pub fn access_token(session: &mut Session, needs: Permissions) -> Result<Secret, Error> {
    match cached(session, needs) {
        Some(token) => Ok(token),
        None => renew(session, needs),
    }
}

/// A new access token carrying `needs`, ignoring the cached one (after Graph rejected it).
pub fn renew(session: &mut Session, needs: Permissions) -> Result<Secret, Error> {
    // A refreshed token carries what it is asked for, so it is asked for what the cached one
    // carried as well: a sign-in command must not take the service principals' permission away.
    let asked = needs.with(Permissions::of_context(&session.context));
    let response = match session.config.mode {
        AuthMode::ClientCredentials => client_credentials::request_token(session)?,
        AuthMode::DeviceCode => refresh(session, asked, needs)?,
        AuthMode::ManagedIdentity => managed_identity::request_token(session)?,
    };
    store(session, &response);
    if session.config.mode == AuthMode::DeviceCode {
        asked.record(&mut session.context);
    }
    Ok(response.access_token)
}

/// Refreshes, asking for `asked`; `needs` is what the command needs (named when it fails).
fn refresh(session: &Session, asked: Permissions, needs: Permissions) -> Result<TokenResponse, Error> {
    if !tokens_belong(session) {
        return Err(Error::SignIn(
            "The stored sign-in was made for another app ID, tenant or cloud. Run !azure-ad-auth-start to sign in with the current settings.".into(),
        ));
    }
    let Some(refresh_token) = text(&session.context, REFRESH_TOKEN) else {
        return Err(Error::SignIn(
            "This instance is not signed in yet. Run !azure-ad-auth-start, sign in, then run !azure-ad-auth-complete."
                .into(),
        ));
    };
    // A public client: no secret is ever sent (AADSTS700025).
    let form = vec![
        ("grant_type".into(), "refresh_token".into()),
        ("client_id".into(), session.config.app_id.clone()),
        ("refresh_token".into(), refresh_token.expose().to_string()),
        ("scope".into(), delegated_scope(&session.config, asked)),
    ];
    let flow = match needs {
        Permissions::USERS => Flow::Refresh,
        needs => Flow::RefreshFor(needs),
    };
    token_request(session, flow, form)
}

/// Stores a token answer. A refresh answer without a refresh token keeps the old one; tokens
/// for a new owner replace everything the old owner had.
pub fn store(session: &mut Session, response: &TokenResponse) {
    let owner = Owner::of(&session.config);
    let same_owner = tokens_belong(session);
    let now = session.now();
    let context = &mut session.context;
    context.insert(
        ACCESS_TOKEN.into(),
        Value::String(response.access_token.expose().to_string()),
    );
    context.insert(VALID_UNTIL.into(), Value::from(valid_until(now, response.expires_in)));
    // Set again by `renew` when this token carries more than the users' permissions.
    context.remove(WORKLOAD_SCOPES);
    context.remove(PERMISSION_GROUPS);
    match &response.refresh_token {
        Some(token) => _ = context.insert(REFRESH_TOKEN.into(), Value::String(token.expose().to_string())),
        None if same_owner => {}
        None => _ = context.remove(REFRESH_TOKEN),
    }
    if !same_owner {
        context.remove(SIGNED_IN_AS);
    }
    if let Some(user) = response.signed_in().user {
        context.insert(SIGNED_IN_AS.into(), Value::String(user));
    }
    context.insert(TOKEN_OWNER.into(), owner.to_value());
}

/// Who signed in, if known.
pub fn signed_in_as(context: &Map<String, Value>) -> Option<&str> {
    context.get(SIGNED_IN_AS).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_margin() {
        let cases = [
            (3599, 1000 + 3299),
            (3600, 1000 + 3300),
            (600, 1000 + 540),
            (60, 1000 + 54),
            (0, 1000),
        ];
        for (expires_in, expected) in cases {
            assert_eq!(valid_until(1000, expires_in), expected, "{expires_in}");
        }
    }

    #[test]
    fn expiry_arithmetic_saturates_instead_of_overflowing() {
        assert_eq!(valid_until(1000, u64::MAX), u64::MAX - 300);
        assert_eq!(valid_until(u64::MAX - 10, 3600), u64::MAX - 300);
    }

    #[test]
    fn valid_until_as_python_stored_it() {
        let cases = [
            (serde_json::json!(1700000000), Some(1700000000)),
            (serde_json::json!("1700000000"), Some(1700000000)),
            (serde_json::json!(1700000000.7), Some(1700000000)),
            (serde_json::json!("soon"), None),
        ];
        for (value, expected) in cases {
            let mut context = Map::new();
            context.insert(VALID_UNTIL.into(), value.clone());
            assert_eq!(stored_valid_until(&context), expected, "{value}");
        }
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::testing::Fake;
    use serde_json::json;

    fn session<'a>(fake: &'a Fake, context: Value) -> Session<'a> {
        let context = context.as_object().cloned().unwrap_or_default();
        Session::new(Config::from_params(&Map::new()).unwrap(), context, fake)
    }

    #[test]
    fn cached_until_valid_until_then_refreshed() {
        let fake = Fake::at(5_000);
        let mut session = session(
            &fake,
            json!({"access_token": "old", "valid_until": 5_001, "current_refresh_token": "rt1"}),
        );
        assert_eq!(access_token(&mut session, Permissions::USERS).unwrap().expose(), "old");
        fake.now.set(5_001);
        fake.answer(
            200,
            r#"{"access_token":"new","expires_in":"3600","refresh_token":"rt2"}"#,
            &[],
        );
        assert_eq!(access_token(&mut session, Permissions::USERS).unwrap().expose(), "new");
        assert_eq!(fake.form_value(0, "refresh_token").as_deref(), Some("rt1"));
        assert_eq!(session.context["valid_until"], json!(5_001 + 3_300));
        assert_eq!(session.context["current_refresh_token"], "rt2");
    }

    #[test]
    fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
        let fake = Fake::at(5_000);
        let mut session = session(
            &fake,
            json!({"access_token": "old", "valid_until": 1, "current_refresh_token": "rt1"}),
        );
        fake.answer(200, r#"{"access_token":"new","expires_in":60}"#, &[]);
        access_token(&mut session, Permissions::USERS).unwrap();
        assert_eq!(session.context["current_refresh_token"], "rt1");
        assert_eq!(session.context["valid_until"], json!(5_054));
    }

    #[test]
    fn only_a_boolean_true_marks_a_token_as_carrying_the_workload_permission() {
        let context = |mark: Value| {
            json!({"access_token": "cached", "valid_until": 9_999, "current_refresh_token": "rt1",
                   "token_has_workload_scopes": mark})
        };
        for hostile in [json!("true"), json!(1), json!({}), Value::Null] {
            let fake = Fake::at(5_000);
            let session = session(&fake, context(hostile.clone()));
            assert!(cached(&session, Permissions::USERS).is_some(), "{hostile}");
            assert!(
                cached(&session, Permissions::WORKLOAD_IDENTITIES).is_none(),
                "{hostile}"
            );
        }
        let fake = Fake::at(5_000);
        let session = session(&fake, context(json!(true)));
        assert_eq!(
            cached(&session, Permissions::WORKLOAD_IDENTITIES).map(|t| t.expose().to_string()),
            Some("cached".into())
        );
    }

    #[test]
    fn no_refresh_token_means_sign_in_first() {
        let fake = Fake::at(5_000);
        let mut session = session(
            &fake,
            json!({"access_token": "old", "valid_until": 1, "current_refresh_token": ""}),
        );
        assert!(
            matches!(access_token(&mut session, Permissions::USERS), Err(Error::SignIn(m)) if m.contains("!azure-ad-auth-start"))
        );
        assert_eq!(fake.requests(), 0);
    }

    #[test]
    fn permission_groups_are_recorded_and_read_back_with_the_earlier_flag() {
        let both = Permissions::SIGN_INS.with(Permissions::WORKLOAD_IDENTITIES);
        let mut context = Map::new();
        both.record(&mut context);
        assert_eq!(context[WORKLOAD_SCOPES], Value::Bool(true));
        assert_eq!(
            context[PERMISSION_GROUPS],
            serde_json::json!(["workload_identities", "sign_ins"])
        );
        assert_eq!(Permissions::of_context(&context), both);
        // A context of the earlier format (the flag alone) carries the service principals' group.
        let earlier = serde_json::json!({WORKLOAD_SCOPES: true});
        assert_eq!(
            Permissions::of_context(earlier.as_object().unwrap()),
            Permissions::WORKLOAD_IDENTITIES
        );
        assert!(both.contains(Permissions::SIGN_INS) && !both.contains(Permissions::POLICIES));
        assert_eq!(
            Permissions::POLICIES.names(),
            "Policy.Read.All and Policy.ReadWrite.ConditionalAccess"
        );
        assert_eq!(Permissions::SESSIONS.names(), "User.RevokeSessions.All");
    }
}

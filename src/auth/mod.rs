//! Sign-in to Microsoft Entra ID: the token endpoint's requests, answers and errors.
//! One file per flow; `tokens.rs` owns the token keys of the context.

pub mod arc;
pub mod assertion;
pub mod client_credentials;
pub mod device_code;
mod entra_error;
pub mod federation;
pub mod managed_identity;
pub mod tokens;

pub use entra_error::{EntraError, Flow};

use crate::config::Config;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, RetryPolicy};
use crate::secret::Secret;
use crate::session::Session;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Delegated permissions requested at device-code sign-in. `openid profile` add an ID token so
/// the entry can say who signed in; `offline_access` adds the refresh token.
const DELEGATED_PERMISSIONS: [&str; 2] = ["IdentityRiskEvent.Read.All", "IdentityRiskyUser.ReadWrite.All"];
/// Added to them when a risky-service-principal request needs it (see [`tokens::Permissions`],
/// which adds the other groups the same way).
pub const WORKLOAD_PERMISSION: &str = "IdentityRiskyServicePrincipal.ReadWrite.All";

/// The worldwide Graph resource, where bare permission names resolve by default.
const WORLDWIDE_GRAPH: &str = "https://graph.microsoft.com";

/// What a set of tokens (or a pending device code) was issued for. Tokens are used only by the
/// configuration that matches (docs/protocol.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub auth_mode: String,
    pub app_id: String,
    pub tenant: String,
    pub login: String,
    pub resource: String,
}

impl Owner {
    /// The owner this configuration's tokens have.
    pub fn of(config: &Config) -> Owner {
        // A managed identity's token belongs to that identity and endpoint, not to an app id.
        let (app_id, login) = match &config.managed_identity {
            Some(identity) => (
                identity.client_id.clone().unwrap_or_else(|| "system-assigned".into()),
                identity.endpoint.token_url(),
            ),
            None => (config.app_id.clone(), config.login.clone()),
        };
        Owner {
            auth_mode: config.mode.as_str().to_string(),
            app_id,
            tenant: config.tenant_segment().to_string(),
            login,
            resource: config.resource.clone(),
        }
    }

    /// True when what the context holds next to the owner record `key` belongs to `config`.
    /// Only a context without the key at all was written by the Python integration and is taken
    /// as this configuration's; a record that is unreadable, incomplete or another
    /// configuration's is not, so its tokens are neither used nor sent anywhere.
    pub fn owns(context: &Map<String, Value>, key: &str, config: &Config) -> bool {
        match context.get(key) {
            None => true,
            Some(record) => Owner::deserialize(record).is_ok_and(|owner| owner == Owner::of(config)),
        }
    }

    /// As a context value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The device-code scope string for `needs`, qualified with the Graph resource outside the
/// worldwide cloud.
pub fn delegated_scope(config: &Config, needs: tokens::Permissions) -> String {
    let prefix = if config.resource == WORLDWIDE_GRAPH {
        String::new()
    } else {
        format!("{}/", config.resource)
    };
    let permissions = DELEGATED_PERMISSIONS
        .iter()
        .copied()
        .chain(needs.delegated())
        .map(|p| format!("{prefix}{p}"));
    ["openid", "profile", "offline_access"]
        .into_iter()
        .map(str::to_string)
        .chain(permissions)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A successful token answer.
#[derive(Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub expires_in: u64,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<String>,
}

/// Who signed in, from the ID token's claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedIn {
    pub user: Option<String>,
    pub name: Option<String>,
    pub tenant: Option<String>,
}

impl TokenResponse {
    fn parse(body: &str) -> Option<TokenResponse> {
        let value: Map<String, Value> = serde_json::from_str(body).ok()?;
        let access_token = value.get("access_token")?.as_str().filter(|t| !t.is_empty())?;
        Some(TokenResponse {
            access_token: Secret::new(access_token),
            // msal's default when Entra omits it; it can arrive as a string.
            expires_in: bounded_secs(value.get("expires_in"), 1, MAX_TOKEN_LIFETIME_SECS).unwrap_or(600),
            refresh_token: value
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            id_token: value.get("id_token").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// The ID token's claims, decoded without verification: they only label the entry.
    pub fn signed_in(&self) -> SignedIn {
        let claims = self.id_token.as_deref().and_then(jwt_claims).unwrap_or_default();
        let claim = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| claims.get(*n).and_then(Value::as_str))
                .map(str::to_string)
        };
        SignedIn {
            user: claim(&["preferred_username", "upn", "email"]),
            name: claim(&["name"]),
            tenant: claim(&["tid"]),
        }
    }
}

/// Longest access-token lifetime believed: Entra issues 60-90 minutes (about a day with CAE).
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 2 * 86_400;
/// Longest device-code lifetime believed: Entra's codes last 900 s.
pub const MAX_DEVICE_CODE_LIFETIME_SECS: u64 = 3_600;
/// Longest poll interval believed: Entra announces 5 s and `slow_down` adds 5 each time.
pub const MAX_POLL_INTERVAL_SECS: u64 = 300;

/// Seconds from the network or the context, clamped into `min..=max` when read, so that no
/// later arithmetic on them can overflow or produce an instant in the past.
pub fn bounded_secs(value: Option<&Value>, min: u64, max: u64) -> Option<u64> {
    lenient_u64(value).map(|secs| secs.clamp(min, max))
}

/// A number or a numeric string (Entra's v1-like endpoints send strings), as whole seconds.
pub fn lenient_u64(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64),
        _ => None,
    }
}

/// The claims of a JWT's payload segment (base64url, padding tolerated).
pub fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// POSTs a token-endpoint form and reads the answer: tokens, an OAuth error, or an explanation
/// of what else came back (never quoting a body that could hold a token).
pub fn token_request(session: &Session, flow: Flow, form: Vec<(String, String)>) -> Result<TokenResponse, Error> {
    let url = session.config.login_url("token");
    let response = session.http.send(
        &HttpRequest::form(url, form).header("Accept", "application/json"),
        RetryPolicy::TOKEN,
    )?;
    if response.status == 200 {
        return TokenResponse::parse(&response.body).ok_or_else(|| {
            crate::http::unexpected_answer(
                &session.config.login,
                &response,
                "a token answer without a usable access_token",
            )
        });
    }
    Err(entra_failure(session, flow, &response))
}

/// Turns a non-200 token or device-code answer into an error.
pub fn entra_failure(session: &Session, flow: Flow, response: &HttpResponse) -> Error {
    match EntraError::parse(flow, &session.config, response) {
        Some(error) => Error::Entra(Box::new(error)),
        None => crate::http::unexpected_answer(&session.config.login, response, "a body that is not an Entra ID error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_answers() {
        let ok = TokenResponse::parse(r#"{"access_token":"a","expires_in":"3599","refresh_token":"r"}"#).unwrap();
        assert_eq!(
            (ok.expires_in, ok.refresh_token.map(|r| r.expose().to_string())),
            (3599, Some("r".into()))
        );
        let no_expiry = TokenResponse::parse(r#"{"access_token":"a","refresh_token":""}"#).unwrap();
        assert_eq!((no_expiry.expires_in, no_expiry.refresh_token.is_none()), (600, true));
        for bad in ["", "{", r#"{"access_token":""}"#, r#"{"token_type":"Bearer"}"#, "[]"] {
            assert!(TokenResponse::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn id_token_claims_label_the_sign_in() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"preferred_username": "ana@contoso.com", "tid": "t1", "name": "Ana"}).to_string());
        let response = TokenResponse {
            access_token: Secret::new("a"),
            expires_in: 1,
            refresh_token: None,
            id_token: Some(format!("h.{payload}.s")),
        };
        let who = response.signed_in();
        assert_eq!(
            (who.user.as_deref(), who.tenant.as_deref(), who.name.as_deref()),
            (Some("ana@contoso.com"), Some("t1"), Some("Ana"))
        );
        assert_eq!(jwt_claims("not-a-jwt"), None);
        assert_eq!(jwt_claims("a.!!!.c"), None);
    }

    #[test]
    fn scopes_follow_the_cloud() {
        let worldwide = Config::from_params(json!({}).as_object().unwrap()).unwrap();
        use tokens::Permissions;
        assert_eq!(
            delegated_scope(&worldwide, Permissions::USERS),
            "openid profile offline_access IdentityRiskEvent.Read.All IdentityRiskyUser.ReadWrite.All"
        );
        assert_eq!(
            delegated_scope(&worldwide, Permissions::WORKLOAD_IDENTITIES),
            "openid profile offline_access IdentityRiskEvent.Read.All IdentityRiskyUser.ReadWrite.All IdentityRiskyServicePrincipal.ReadWrite.All"
        );
        let gcc_high = Config::from_params(json!({"azure_cloud": "US GCC-High"}).as_object().unwrap()).unwrap();
        assert!(delegated_scope(&gcc_high, Permissions::USERS).contains("offline_access https://graph.microsoft.us/IdentityRiskEvent.Read.All https://graph.microsoft.us/IdentityRiskyUser"));
        assert!(
            delegated_scope(&gcc_high, Permissions::WORKLOAD_IDENTITIES)
                .ends_with(" https://graph.microsoft.us/IdentityRiskyServicePrincipal.ReadWrite.All")
        );
    }

    #[test]
    fn only_a_missing_owner_record_means_a_python_era_context() {
        let config = Config::from_params(&Map::new()).unwrap();
        let mine = Owner::of(&config).to_value();
        let mut partial = mine.clone();
        partial.as_object_mut().unwrap().remove("login");
        let mut other_login = mine.clone();
        other_login["login"] = json!("https://login.microsoftonline.us");
        let cases = [
            (None, true),
            (Some(mine), true),
            (Some(json!({})), false),
            (Some(json!(null)), false),
            (Some(json!("owner")), false),
            (Some(partial), false),
            (Some(other_login), false),
        ];
        for (record, owned) in cases {
            let mut context = Map::new();
            if let Some(record) = record.clone() {
                context.insert("token_owner".into(), record);
            }
            assert_eq!(Owner::owns(&context, "token_owner", &config), owned, "{record:?}");
        }
    }

    #[test]
    fn token_lifetimes_are_bounded_when_parsed() {
        let cases = [
            (r#""expires_in":3599"#, 3_599),
            (r#""expires_in":"3600""#, 3_600),
            (r#""expires_in":1e300"#, MAX_TOKEN_LIFETIME_SECS),
            (r#""expires_in":"1e300""#, MAX_TOKEN_LIFETIME_SECS),
            (r#""expires_in":18446744073709551615"#, MAX_TOKEN_LIFETIME_SECS),
            (r#""expires_in":0"#, 1),
            (r#""expires_in":-5"#, 600),
            (r#""expires_in":"soon""#, 600),
            (r#""other":1"#, 600),
        ];
        for (field, expected) in cases {
            let body = format!(r#"{{"access_token":"a",{field}}}"#);
            let parsed = TokenResponse::parse(&body).expect("a token");
            assert_eq!(parsed.expires_in, expected, "{field}");
        }
    }

    #[test]
    fn lenient_numbers() {
        let cases = [
            (json!(5), Some(5)),
            (json!("900"), Some(900)),
            (json!(" 12.7 "), Some(12)),
            (json!(-1), None),
            (json!("x"), None),
            (json!(null), None),
        ];
        for (value, expected) in cases {
            assert_eq!(lenient_u64(Some(&value)), expected, "{value}");
        }
    }
}

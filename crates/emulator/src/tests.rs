//! End-to-end tests of the emulator over loopback HTTP, with ureq as the client.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::wire::base64url_decode;
use super::*;

const PUBLIC_APP: &str = "4ffef4a4-601f-4393-a789-432f3f3b8470";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const USER_SCOPE: &str = "https://graph.microsoft.com/IdentityRiskyUser.ReadWrite.All offline_access openid profile";

/// A started emulator plus a ureq agent that never treats a status as an error.
struct Harness {
    config: TenantConfig,
    emulator: Emulator,
    agent: ureq::Agent,
}

/// A response reduced to what the tests assert on.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Harness {
    fn new() -> Self {
        Harness::with(TenantConfig::default())
    }

    fn with(config: TenantConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let emulator = Emulator::start(config.clone()).expect("the emulator starts");
        Harness {
            config,
            emulator,
            agent,
        }
    }

    fn tenant(&self) -> String {
        self.config.tenant_id.clone()
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let url = format!("{}{path}", self.emulator.base_url());
        answer(self.agent.post(&url).send_form(form.iter().copied()))
    }

    fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post(&format!("/{}/oauth2/v2.0/token", self.tenant()), form)
    }

    fn get(&self, path_or_url: &str, token: Option<&str>) -> Answer {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.emulator.base_url())
        };
        let mut request = self.agent.get(&url);
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        answer(request.call())
    }

    /// Starts a device flow for the public app; returns the device code.
    fn device_code(&self, scope: &str) -> String {
        let body = self
            .post(
                "/organizations/oauth2/v2.0/devicecode",
                &[("client_id", PUBLIC_APP), ("scope", scope)],
            )
            .json();
        body["device_code"].as_str().expect("a device code").to_owned()
    }

    fn poll(&self, device_code: &str) -> Answer {
        self.token(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", PUBLIC_APP),
            ("device_code", device_code),
        ])
    }

    /// A full device-code sign-in; returns the token response.
    fn sign_in(&self, scope: &str) -> Value {
        let code = self.device_code(scope);
        let user_code = self.emulator.last_user_code().expect("a user code");
        assert!(self.emulator.approve(&user_code));
        let answer = self.poll(&code);
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    /// Client credentials with the default confidential app; returns the token response.
    fn client_credentials(&self) -> Value {
        let app = &self.config.apps[1];
        let secret = app.client_secret.as_deref().unwrap_or_default();
        let scope = "https://graph.microsoft.com/.default";
        self.client_credentials_at(&self.tenant(), &app.client_id, secret, scope)
            .json()
    }

    fn client_credentials_at(&self, tenant: &str, client_id: &str, secret: &str, scope: &str) -> Answer {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ];
        self.post(&format!("/{tenant}/oauth2/v2.0/token"), &form)
    }

    fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_APP),
            ("refresh_token", refresh_token),
        ])
    }
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.expect("the emulator answers");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer { status, headers, text }
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).and_then(base64url_decode).unwrap_or_default();
    serde_json::from_slice(&part).unwrap_or(Value::Null)
}

fn assert_entra_error(answer: &Answer, status: u16, error: &str, code: u64) {
    let body = answer.json();
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(body["error"], error, "{}", answer.text);
    assert_eq!(body["error_codes"], json!([code]), "{}", answer.text);
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with(&format!("AADSTS{code}: ")), "{description}");
    assert!(description.contains("\r\nTrace ID: ") && description.contains("\r\nCorrelation ID: "));
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert_eq!(body["timestamp"].as_str().map(str::len), Some(20));
}

fn assert_graph_error(answer: &Answer, status: u16, code: &str) {
    let body = answer.json();
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(body["error"]["code"], code, "{}", answer.text);
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert!(body["error"]["innerError"]["date"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Device code

#[test]
fn device_authorization_answers_microsofts_fields() {
    let h = Harness::new();
    let body = h
        .post(
            "/common/oauth2/v2.0/devicecode",
            &[("client_id", PUBLIC_APP), ("scope", USER_SCOPE)],
        )
        .json();
    let user_code = body["user_code"].as_str().unwrap_or_default();
    let uri = format!("{}/devicelogin", h.emulator.base_url());
    assert_eq!(user_code.len(), 8);
    assert!(user_code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(body["verification_uri"], uri.as_str());
    assert_eq!(
        (body["expires_in"].as_u64(), body["interval"].as_u64()),
        (Some(900), Some(5))
    );
    let message =
        format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate.");
    assert_eq!(body["message"], message.as_str());
    assert_eq!(h.emulator.last_user_code().as_deref(), Some(user_code));
    assert_eq!(h.get("/devicelogin", None).status, 200);
}

#[test]
fn device_code_happy_path_issues_tokens_once() {
    let h = Harness::new();
    let code = h.device_code(USER_SCOPE);
    assert_entra_error(&h.poll(&code), 400, "authorization_pending", 70016);
    assert!(h.emulator.approve(&h.emulator.last_user_code().unwrap_or_default()));
    let tokens = h.poll(&code).json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(
        tokens["scope"],
        "IdentityRiskyUser.ReadWrite.All offline_access openid profile"
    );
    assert!(tokens["refresh_token"].is_string() && tokens["ext_expires_in"].is_u64());
    let access = claims(tokens["access_token"].as_str().unwrap_or_default());
    assert_eq!(access["scp"], "IdentityRiskyUser.ReadWrite.All");
    assert_eq!(access["appid"], PUBLIC_APP);
    let id = claims(tokens["id_token"].as_str().unwrap_or_default());
    assert_eq!(id["aud"], PUBLIC_APP);
    assert_eq!(id["preferred_username"], h.config.user.user_principal_name.as_str());
    assert_entra_error(&h.poll(&code), 400, "invalid_grant", 54005);
}

#[test]
fn device_code_without_offline_access_or_openid_gets_only_an_access_token() {
    let h = Harness::new();
    let tokens = h.sign_in("IdentityRiskyUser.Read.All User.Read");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("id_token").is_none());
    // User.Read is not granted to the app, so it is left out.
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap_or_default())["scp"],
        "IdentityRiskyUser.Read.All"
    );
    assert_eq!(tokens["scope"], "IdentityRiskyUser.Read.All");
}

#[test]
fn device_code_poll_outcomes() {
    type Setup = fn(&Emulator, &str);
    #[rustfmt::skip]
    let cases: [(&str, Setup, &str, u64); 4] = [
        ("slow down", |e, _| e.slow_down_next_poll(), "slow_down", 70016),
        ("declined", |e, u| assert!(e.decline(u)), "authorization_declined", 70000),
        ("expired", |e, _| e.expire_device_codes(), "expired_token", 70020),
        ("approve after expiry", |e, u| { e.expire_device_codes(); assert!(!e.approve(u)) }, "expired_token", 70020),
    ];
    for (name, setup, error, code) in cases {
        let h = Harness::new();
        let device_code = h.device_code(USER_SCOPE);
        setup(&h.emulator, &h.emulator.last_user_code().unwrap_or_default());
        let answer = h.poll(&device_code);
        assert_eq!(answer.json()["error"], error, "{name}");
        assert_entra_error(&answer, 400, error, code);
    }
}

#[test]
fn slow_down_applies_to_one_poll_only() {
    let h = Harness::new();
    let code = h.device_code(USER_SCOPE);
    h.emulator.slow_down_next_poll();
    assert_eq!(h.poll(&code).json()["error"], "slow_down");
    assert_eq!(h.poll(&code).json()["error"], "authorization_pending");
}

#[test]
fn device_code_lifetime_expires_on_the_clock() {
    let h = Harness::with(TenantConfig {
        device_code_lifetime: 0,
        ..TenantConfig::default()
    });
    let code = h.device_code(USER_SCOPE);
    assert_entra_error(&h.poll(&code), 400, "expired_token", 70020);
    assert!(!h.emulator.approve(&h.emulator.last_user_code().unwrap_or_default()));
}

#[test]
fn device_code_client_errors() {
    let confidential = TenantConfig::default().apps[1].client_id.clone();
    let h = Harness::new();
    let code = h.device_code(USER_SCOPE);
    let devicecode = "/organizations/oauth2/v2.0/devicecode";
    let poll = |client: &str, code: &str, secret: &str| {
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("client_id", client),
            ("device_code", code),
            ("client_secret", secret),
        ];
        h.token(&form)
    };
    #[rustfmt::skip]
    let cases = [
        (h.post(devicecode, &[("client_id", "nobody"), ("scope", "openid")]), 400, "unauthorized_client", 700016),
        (h.post(devicecode, &[("client_id", PUBLIC_APP)]), 400, "invalid_request", 900144),
        (h.post("/fabrikam.com/oauth2/v2.0/devicecode", &[("client_id", PUBLIC_APP), ("scope", "openid")]), 400, "invalid_request", 90002),
        (h.get(devicecode, None), 400, "invalid_request", 900561),
        (poll(PUBLIC_APP, &code, "x"), 401, "invalid_client", 700025),
        (poll(&confidential, &code, ""), 401, "invalid_client", 7000218),
        (poll(PUBLIC_APP, "nope", ""), 400, "bad_verification_code", 70018),
        (poll(PUBLIC_APP, "", ""), 400, "invalid_request", 900144),
        (h.token(&[("grant_type", "password"), ("client_id", PUBLIC_APP)]), 400, "unsupported_grant_type", 70003),
        (h.token(&[("client_id", PUBLIC_APP)]), 400, "unsupported_grant_type", 900144),
    ];
    for (answer, status, error, code) in &cases {
        assert_entra_error(answer, *status, error, *code);
    }
}

#[test]
fn msal_style_code_parameter_is_accepted() {
    let h = Harness::new();
    let code = h.device_code(USER_SCOPE);
    assert!(h.emulator.approve(&h.emulator.last_user_code().unwrap_or_default()));
    let answer = h.token(&[("grant_type", DEVICE_GRANT), ("client_id", PUBLIC_APP), ("code", &code)]);
    assert_eq!(answer.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Client credentials

#[test]
fn client_credentials_issue_an_application_token() {
    let h = Harness::new();
    let tokens = h.client_credentials();
    assert!(tokens.get("refresh_token").is_none());
    assert_eq!(tokens["expires_in"], 3599);
    let access = claims(tokens["access_token"].as_str().unwrap_or_default());
    let roles: Vec<&str> = IDENTITY_PROTECTION_PERMISSIONS
        .iter()
        .chain(&RESPONSE_PERMISSIONS)
        .copied()
        .collect();
    assert_eq!(access["roles"], json!(roles));
    assert_eq!(access["tid"], h.config.tenant_id.as_str());
}

#[test]
fn client_credentials_errors() {
    let mut config = TenantConfig::default();
    let expired = AppRegistration::confidential("old-app", "old-secret");
    config.apps.push(AppRegistration {
        secret_expired: true,
        ..expired
    });
    let h = Harness::with(config);
    let id = h.config.apps[1].client_id.clone();
    let secret = h.config.apps[1].client_secret.clone().unwrap_or_default();
    let graph = "https://graph.microsoft.com/.default";
    #[rustfmt::skip]
    let cases = [
        (h.tenant(), id.as_str(), "wrong", graph, 401, "invalid_client", 7000215),
        (h.tenant(), "old-app", "old-secret", graph, 401, "invalid_client", 7000222),
        (h.tenant(), "unknown-app", "x", graph, 400, "unauthorized_client", 700016),
        (h.tenant(), &id, &secret, "IdentityRiskyUser.Read.All", 400, "invalid_scope", 70011),
        (h.tenant(), &id, "", graph, 401, "invalid_client", 7000218),
        ("common".to_owned(), &id, &secret, graph, 400, "invalid_request", 9001023),
        ("organizations".to_owned(), &id, &secret, graph, 400, "invalid_request", 9001023),
    ];
    for (tenant, client_id, client_secret, scope, status, error, code) in cases {
        let answer = h.client_credentials_at(&tenant, client_id, client_secret, scope);
        assert_entra_error(&answer, status, error, code);
    }
    let by_domain = h.client_credentials_at("contoso.onmicrosoft.com", &id, &secret, graph);
    assert_eq!(by_domain.status, 200, "{}", by_domain.text);
}

#[test]
fn client_credentials_accept_http_basic_authentication() {
    use base64::Engine as _;
    let h = Harness::new();
    let app = &h.config.apps[1];
    let pair = format!("{}:{}", app.client_id, app.client_secret.as_deref().unwrap_or_default());
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
    let url = format!("{}/{}/oauth2/v2.0/token", h.emulator.base_url(), h.tenant());
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let reply = answer(h.agent.post(&url).header("Authorization", &basic).send_form(form));
    assert_eq!(reply.status, 200, "{}", reply.text);
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

#[test]
fn refresh_rotates_and_old_tokens_stay_valid_like_entra() {
    let h = Harness::new();
    let first = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second = h.refresh(&first).json();
    let second_rt = second["refresh_token"].as_str().unwrap_or_default();
    assert!(!second_rt.is_empty() && second_rt != first);
    assert_eq!(
        claims(second["access_token"].as_str().unwrap_or_default())["scp"],
        "IdentityRiskyUser.ReadWrite.All"
    );
    assert_eq!(h.refresh(&first).status, 200);
    assert_entra_error(&h.refresh("not-a-token"), 400, "invalid_grant", 9002313);
}

#[test]
fn revoked_refresh_tokens_need_a_fresh_sign_in() {
    let h = Harness::new();
    let rt = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    h.emulator.revoke_refresh_tokens();
    assert_entra_error(&h.refresh(&rt), 400, "invalid_grant", 50173);
}

#[test]
fn strict_rotation_rejects_a_reused_refresh_token() {
    let h = Harness::with(TenantConfig {
        rotate_refresh_tokens_strictly: true,
        ..TenantConfig::default()
    });
    let rt = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(h.refresh(&rt).status, 200);
    assert_entra_error(&h.refresh(&rt), 400, "invalid_grant", 70000);
}

#[test]
fn refresh_with_a_narrower_scope() {
    let h = Harness::new();
    let rt = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", PUBLIC_APP),
        ("refresh_token", rt.as_str()),
        (
            "scope",
            "https://graph.microsoft.us/IdentityRiskEvent.Read.All offline_access",
        ),
    ];
    let tokens = h.token(&form).json();
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap_or_default())["scp"],
        "IdentityRiskEvent.Read.All"
    );
}

/// A permission the app was never granted: Entra's consent error, and the refresh token stays
/// usable (strict rotation on, so a spent one would be refused afterwards).
#[test]
fn refresh_for_a_permission_without_consent_is_refused_without_spending_the_token() {
    let mut config = TenantConfig {
        rotate_refresh_tokens_strictly: true,
        ..TenantConfig::default()
    };
    let public = config
        .apps
        .iter_mut()
        .find(|a| a.client_id == PUBLIC_APP)
        .expect("public app");
    public
        .permissions
        .retain(|p| !p.starts_with("IdentityRiskyServicePrincipal"));
    let h = Harness::with(config);
    let rt = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let wider = [
        ("grant_type", "refresh_token"),
        ("client_id", PUBLIC_APP),
        ("refresh_token", rt.as_str()),
        ("scope", "offline_access IdentityRiskyServicePrincipal.ReadWrite.All"),
    ];
    assert_entra_error(&h.token(&wider), 400, "invalid_grant", 65001);
    assert_eq!(
        h.refresh(&rt).status,
        200,
        "the refused request did not spend the refresh token"
    );
}

// ---------------------------------------------------------------------------------------------
// Graph

#[test]
fn graph_rejects_missing_unknown_and_expired_tokens() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = "/v1.0/identityProtection/riskyUsers";
    assert_eq!(h.get(path, Some(&token)).status, 200);
    let missing = h.get(path, None);
    assert_graph_error(&missing, 401, "InvalidAuthenticationToken");
    assert!(missing.header("WWW-Authenticate").is_some());
    assert_graph_error(
        &h.get(path, Some("eyJ.unknown.token")),
        401,
        "InvalidAuthenticationToken",
    );
    h.emulator.expire_access_tokens();
    assert_graph_error(&h.get(path, Some(&token)), 401, "InvalidAuthenticationToken");
}

#[test]
fn graph_forbids_without_permission_or_licence() {
    let mut config = TenantConfig {
        p2_licence: false,
        ..TenantConfig::default()
    };
    let h = Harness::with(config.clone());
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_graph_error(
        &h.get("/beta/identityProtection/riskyUsers", Some(&token)),
        403,
        "Forbidden",
    );
    config.p2_licence = true;
    config.apps[0].permissions = vec!["IdentityRiskEvent.Read.All".to_owned()];
    let h = Harness::with(config);
    let token = h.sign_in(USER_SCOPE)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_graph_error(
        &h.get("/v1.0/identityProtection/riskyUsers", Some(&token)),
        403,
        "Authorization_RequestDenied",
    );
}

#[test]
fn risky_user_by_id_and_unknown_paths() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = h.config.risky_users[2]["id"].as_str().unwrap_or_default().to_owned();
    let user = h.get(&format!("/v1.0/identityProtection/riskyUsers/{id}"), Some(&token));
    assert_eq!(user.json()["id"], id.as_str());
    let context = format!(
        "{}/v1.0/$metadata#identityProtection/riskyUsers/$entity",
        h.emulator.base_url()
    );
    assert_eq!(user.json()["@odata.context"], context.as_str());
    let missing = h.get("/v1.0/identityProtection/riskyUsers/0000", Some(&token));
    assert_graph_error(&missing, 404, "itemNotFound");
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("0000")
    );
    assert_graph_error(
        &h.get("/v1.0/identityProtection/nothingHere", Some(&token)),
        404,
        "ResourceNotFound",
    );
    assert_graph_error(&h.get("/nowhere", None), 404, "ResourceNotFound");
}

#[test]
fn risky_users_page_with_top_and_next_links() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut url = "/beta/identityProtection/riskyUsers?$top=2&$filter=riskState%20ne%20%27confirmedSafe%27".to_owned();
    let mut sizes = Vec::new();
    for _ in 0..5 {
        let page = h.get(&url, Some(&token)).json();
        sizes.push(page["value"].as_array().map_or(0, Vec::len));
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert!(url.contains("$top=2") && url.contains("$filter=") && url.contains("$skiptoken="));
}

#[test]
fn risky_users_filter() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = "/v1.0/identityProtection/riskyUsers?$filter=";
    let none = h
        .get(&format!("{path}riskLevel%20eq%20%27none%27"), Some(&token))
        .json();
    let names: Vec<&str> = none["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["userDisplayName"].as_str())
        .collect();
    assert_eq!(names, ["Grady Archie", "Isaiah Langer"]);
    assert_graph_error(
        &h.get(&format!("{path}riskLevel%20has%20%27x%27"), Some(&token)),
        400,
        "invalidRequest",
    );
}

#[test]
fn risky_users_default_page_is_twenty() {
    let users: Vec<Value> = (0..25).map(|i| json!({"id": format!("user-{i}")})).collect();
    let h = Harness::with(TenantConfig {
        risky_users: users,
        ..TenantConfig::default()
    });
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let page = h.get("/v1.0/identityProtection/riskyUsers", Some(&token)).json();
    assert_eq!(page["value"].as_array().map(Vec::len), Some(20));
    let context = format!("{}/v1.0/$metadata#identityProtection/riskyUsers", h.emulator.base_url());
    assert_eq!(page["@odata.context"], context.as_str());
    assert!(page["@odata.nextLink"].is_string());
}

#[test]
fn invalid_page_sizes_and_skiptokens_are_rejected() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for query in ["$top=0", "$top=501", "$top=ten", "$skiptoken=garbage"] {
        let answer = h.get(&format!("/v1.0/identityProtection/riskyUsers?{query}"), Some(&token));
        assert_graph_error(&answer, 400, "invalidRequest");
    }
    assert_eq!(
        h.get("/v1.0/identityProtection/riskyUsers?$top=500", Some(&token))
            .status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Scripted answers

#[test]
fn throttling_with_and_without_retry_after() {
    let h = Harness::new();
    let token = h.client_credentials()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    h.emulator.script(ScriptedAnswer::throttled("/riskyUsers", Some("7")));
    h.emulator.script(ScriptedAnswer::throttled("/riskyUsers", None));
    let path = "/v1.0/identityProtection/riskyUsers";
    let first = h.get(path, Some(&token));
    assert_graph_error(&first, 429, "TooManyRequests");
    assert_eq!(first.header("Retry-After"), Some("7"));
    let second = h.get(path, Some(&token));
    assert_eq!((second.status, second.header("Retry-After")), (429, None));
    assert_eq!(h.get(path, Some(&token)).status, 200);
}

#[test]
fn throttling_on_the_token_endpoint_is_entra_shaped() {
    let h = Harness::new();
    h.emulator
        .script(ScriptedAnswer::throttled("/oauth2/v2.0/token", Some("3")).times(2));
    for _ in 0..2 {
        let answer = h.token(&[("grant_type", "client_credentials")]);
        assert_entra_error(&answer, 429, "temporarily_unavailable", 90055);
    }
    assert_entra_error(&h.token(&[]), 400, "unsupported_grant_type", 900144);
}

#[test]
fn scripted_bodies_methods_and_delays() {
    let h = Harness::new();
    h.emulator.script(ScriptedAnswer::truncated_json("/riskyUsers"));
    h.emulator
        .script(ScriptedAnswer::html_error("/devicecode", 502).method("POST"));
    h.emulator.script(
        ScriptedAnswer::graph_error("/slow", 503, "serviceNotAvailable", "Busy").delay(Duration::from_millis(300)),
    );
    let truncated = h.get("/v1.0/identityProtection/riskyUsers", None);
    assert_eq!(truncated.status, 200);
    assert!(serde_json::from_str::<Value>(&truncated.text).is_err());
    assert_eq!(h.get("/organizations/oauth2/v2.0/devicecode", None).status, 400);
    let html = h.post("/organizations/oauth2/v2.0/devicecode", &[]);
    assert_eq!(html.status, 502);
    assert!(html.header("Content-Type").unwrap_or_default().starts_with("text/html"));
    let started = Instant::now();
    assert_graph_error(&h.get("/v1.0/slow", None), 503, "serviceNotAvailable");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn scripted_entra_error_and_custom_headers() {
    let h = Harness::new();
    let answer =
        ScriptedAnswer::entra_error("/token", 400, "invalid_grant", 50076, "MFA required.").header("x-ms-test", "1");
    h.emulator.script(answer);
    let reply = h.token(&[("grant_type", "refresh_token")]);
    assert_entra_error(&reply, 400, "invalid_grant", 50076);
    assert_eq!(reply.header("x-ms-test"), Some("1"));
    let plain = ScriptedAnswer::new("/v1.0/custom", 200, "{\"ok\":true}");
    h.emulator.script(plain);
    assert_eq!(h.get("/v1.0/custom", None).json(), json!({"ok": true}));
}

// ---------------------------------------------------------------------------------------------
// Request log and lifecycle

#[test]
fn request_log_keeps_everything_in_order() {
    let h = Harness::new();
    h.emulator.script(ScriptedAnswer::new("/scripted", 204, ""));
    h.client_credentials();
    h.get("/v1.0/scripted%20path/scripted?a=1&b=x%2By", Some("tok"));
    let log = h.emulator.requests();
    assert_eq!(log.len(), 2);
    let token_request = &log[0];
    assert_eq!(token_request.method, "POST");
    assert_eq!(token_request.path, format!("/{}/oauth2/v2.0/token", h.config.tenant_id));
    assert_eq!(
        token_request.form_value("client_secret"),
        h.config.apps[1].client_secret
    );
    assert_eq!(
        token_request.form_value("scope").as_deref(),
        Some("https://graph.microsoft.com/.default")
    );
    let graph_request = &log[1];
    assert_eq!(graph_request.path, "/v1.0/scripted path/scripted");
    assert_eq!(graph_request.query, "a=1&b=x%2By");
    assert_eq!(graph_request.query_value("b").as_deref(), Some("x+y"));
    assert_eq!(graph_request.header("authorization"), Some("Bearer tok"));
    h.emulator.clear_requests();
    assert!(h.emulator.requests().is_empty());
}

#[test]
fn dropping_the_emulator_stops_the_server() {
    let h = Harness::new();
    let url = h.emulator.base_url();
    let agent = h.agent.clone();
    drop(h.emulator);
    assert!(agent.get(&format!("{url}/v1.0/x")).call().is_err());
}

#[test]
fn a_client_that_never_sends_its_body_does_not_freeze_the_emulator() {
    use std::io::Write;
    let h = Harness::new();
    let address = h.emulator.base_url().trim_start_matches("http://").to_owned();
    let mut idle = std::net::TcpStream::connect(&address).expect("connects");
    let head = format!(
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: {address}\r\nContent-Length: 1000\r\n\r\n",
        h.tenant()
    );
    idle.write_all(head.as_bytes()).expect("sends the head");
    std::thread::sleep(Duration::from_millis(200));
    // The agent's 10 s timeout is the hang guard; how fast the answer comes is the bench's business.
    let answer = h.get(RISKY_USERS, None);
    assert_eq!(answer.status, 401, "another client is still answered");
    drop(idle);
}

#[test]
fn the_admin_endpoint_refuses_web_pages_and_absurd_numbers() {
    let h = Harness::new();
    let url = format!("{}/_emulator/faults", h.emulator.base_url());
    let post = |content_type: &str, origin: Option<&str>, body: &str| {
        let mut request = h.agent.post(&url).header("Content-Type", content_type);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        answer(request.send(body)).status
    };
    let slow = r#"{"latency_ms": 1000}"#;
    // A cross-site form or text/plain POST from a web page, and one with an Origin.
    assert_eq!(post("text/plain", None, slow), 403);
    assert_eq!(post("application/x-www-form-urlencoded", None, slow), 403);
    assert_eq!(post("application/json", Some("http://attacker.example"), slow), 403);
    assert_eq!(h.emulator.faults().latency_ms, 0, "nothing changed");
    for absurd in [
        r#"{"latency_ms": 18446744073709551615}"#,
        r#"{"latency_ms": 60001}"#,
        r#"{"throttle_every": 4294967295}"#,
    ] {
        assert_eq!(post("application/json", None, absurd), 400, "{absurd}");
    }
    assert_eq!(post("application/json; charset=utf-8", None, slow), 200);
    assert_eq!(h.emulator.faults().latency_ms, 1000);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let text = format!("{:?}", TenantConfig::default());
    assert!(text.contains("[redacted]") && !text.contains("emu8Q~"));
}

// ---------------------------------------------------------------------------------------------
// Risk detections, history and actions

const DETECTIONS: &str = "/v1.0/identityProtection/riskDetections";
const RISKY_USERS: &str = "/v1.0/identityProtection/riskyUsers";

impl Harness {
    /// An app-only token with every Identity Protection permission.
    fn app_token(&self) -> String {
        let tokens = self.client_credentials();
        tokens["access_token"].as_str().unwrap_or_default().to_owned()
    }

    fn post_json(&self, path: &str, token: &str, body: &str) -> Answer {
        let url = format!("{}{path}", self.emulator.base_url());
        let request = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json");
        answer(request.send(body))
    }

    /// Follows `@odata.nextLink` from `path`; returns every page.
    fn pages(&self, path: &str, token: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = path.to_owned();
        for _ in 0..100 {
            let page = self.get(&url, Some(token));
            assert_eq!(page.status, 200, "{url}: {}", page.text);
            let body = page.json();
            let next = body["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(body);
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        pages
    }
}

/// The `key` of every item of every page, in order.
fn field_of_all(pages: &[Value], key: &str) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .filter_map(|item| item[key].as_str().map(str::to_owned))
        .collect()
}

fn detection_ids(numbers: &[u8]) -> Vec<String> {
    numbers
        .iter()
        .map(|n| format!("0d5e7c1a-000{n}-4b2c-9d3e-4f5a6b7c8d0{n}"))
        .collect()
}

#[test]
fn risk_detections_list_in_graphs_shape() {
    let h = Harness::new();
    let page = h.get(DETECTIONS, Some(&h.app_token())).json();
    let context = format!(
        "{}/v1.0/$metadata#identityProtection/riskDetections",
        h.emulator.base_url()
    );
    assert_eq!(page["@odata.context"], context.as_str());
    assert!(page.get("@odata.nextLink").is_none());
    assert_eq!(
        field_of_all(std::slice::from_ref(&page), "id"),
        detection_ids(&[1, 2, 3, 4, 5, 6, 7, 8])
    );
    let first = &page["value"][0];
    let keys: Vec<&str> = first
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    #[rustfmt::skip]
    let expected = ["id", "requestId", "correlationId", "riskEventType", "riskState", "riskLevel", "riskDetail",
        "source", "detectionTimingType", "activity", "tokenIssuerType", "ipAddress", "location", "activityDateTime",
        "detectedDateTime", "lastUpdatedDateTime", "userId", "userDisplayName", "userPrincipalName", "additionalInfo"];
    assert_eq!(keys, expected);
    assert_eq!(first["location"]["geoCoordinates"]["latitude"], 47.6062);
    let info: Value = serde_json::from_str(first["additionalInfo"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(info[0]["Key"], "userAgent");
    assert_eq!(first["userId"], h.config.risky_users[0]["id"]);
}

#[test]
fn risk_detection_by_id() {
    let h = Harness::new();
    let token = h.app_token();
    let id = &detection_ids(&[6])[0];
    let detection = h.get(&format!("/beta/identityProtection/riskDetections/{id}"), Some(&token));
    assert_eq!(detection.json()["riskEventType"], "passwordSpray");
    let context = format!(
        "{}/beta/$metadata#identityProtection/riskDetections/$entity",
        h.emulator.base_url()
    );
    assert_eq!(detection.json()["@odata.context"], context.as_str());
    let missing = h.get(&format!("{DETECTIONS}/no-such-detection"), Some(&token));
    assert_graph_error(&missing, 404, "itemNotFound");
    assert!(missing.text.contains("no-such-detection"));
    assert_graph_error(
        &h.get(&format!("{DETECTIONS}/a/b"), Some(&token)),
        404,
        "ResourceNotFound",
    );
}

#[test]
fn permissions_per_endpoint() {
    let user_id = TenantConfig::default().risky_users[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let history = format!("{RISKY_USERS}/{user_id}/history");
    #[rustfmt::skip]
    let cases: [(&str, &str, u16); 6] = [
        ("IdentityRiskEvent.Read.All", DETECTIONS, 200),
        ("IdentityRiskEvent.Read.All", RISKY_USERS, 403),
        ("IdentityRiskyUser.Read.All", DETECTIONS, 403),
        ("IdentityRiskyUser.Read.All", &history, 200),
        ("IdentityRiskyUser.ReadWrite.All", &history, 200),
        ("IdentityRiskyUser.ReadWrite.All", DETECTIONS, 403),
    ];
    for (permission, path, status) in cases {
        let mut config = TenantConfig::default();
        config.apps[0].permissions = vec![permission.to_owned()];
        let h = Harness::with(config);
        let token = h.sign_in(permission)["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let answer = h.get(path, Some(&token));
        assert_eq!(answer.status, status, "{permission} {path}: {}", answer.text);
        if status == 403 {
            assert_graph_error(&answer, 403, "Authorization_RequestDenied");
        }
    }
}

#[test]
fn risk_detection_filters() {
    let h = Harness::new();
    let token = h.app_token();
    #[rustfmt::skip]
    let cases: [(&str, &[u8]); 7] = [
        ("detectedDateTime ge 2024-05-19T11:02:45.5Z", &[2, 3, 4, 5]),
        ("detectedDateTime gt 2024-05-19T11:02:45.5000000Z", &[4, 5]),
        ("detectedDateTime eq 2024-05-20T07:30:00Z", &[4, 5]),
        ("detectedDateTime lt 2024-05-16T22:41:13.7736021Z", &[6, 7, 8]),
        ("location/countryOrRegion eq 'NL'", &[2, 7]),
        ("riskEventType eq 'leakedCredentials' or riskLevel eq microsoft.graph.riskLevel'low' and riskState eq 'atRisk'", &[3, 5]),
        ("not (riskState eq 'atRisk') and (riskLevel eq 'high' or riskLevel eq 'low')", &[6, 7]),
    ];
    for (filter, expected) in cases {
        let encoded = filter.replace(' ', "%20").replace('\'', "%27");
        let pages = h.pages(&format!("{DETECTIONS}?$filter={encoded}"), &token);
        let mut ids = field_of_all(&pages, "id");
        ids.sort();
        assert_eq!(ids, detection_ids(expected), "{filter}");
    }
    let bad = h.get(
        &format!("{DETECTIONS}?$filter=contains(ipAddress,%27203%27)"),
        Some(&token),
    );
    assert_graph_error(&bad, 400, "invalidRequest");
    assert!(
        bad.text.contains("function 'contains' is not supported"),
        "{}",
        bad.text
    );
}

#[test]
fn every_list_pages_with_cap_and_shuffle() {
    let h = Harness::new();
    let token = h.app_token();
    let isaiah = h.config.risky_users[4]["id"].as_str().unwrap_or_default().to_owned();
    let lists = [
        (DETECTIONS.to_owned(), 8),
        (RISKY_USERS.to_owned(), 5),
        (format!("{RISKY_USERS}/{isaiah}/history"), 3),
    ];
    for (path, count) in lists {
        let in_order = field_of_all(&h.pages(&path, &token), "id");
        assert_eq!(in_order.len(), count, "{path}");
        h.emulator.set_page_cap(2);
        h.emulator.set_shuffle(Some(3));
        let url = format!("{path}?$top=500&$filter=id%20ne%20null");
        let pages = h.pages(&url, &token);
        let shuffled = field_of_all(&pages, "id");
        assert_eq!(pages.len(), count.div_ceil(2), "{path}");
        assert_ne!(shuffled, in_order, "{path}");
        assert_eq!(shuffled, field_of_all(&h.pages(&url, &token), "id"), "{path}");
        let mut sorted = shuffled.clone();
        sorted.sort();
        let mut expected = in_order.clone();
        expected.sort();
        assert_eq!(sorted, expected, "{path}");
        let next = pages[0]["@odata.nextLink"].as_str().unwrap_or_default();
        let prefix = format!(
            "{}{path}?$top=500&$filter=id%20ne%20null&$skiptoken=",
            h.emulator.base_url()
        );
        assert!(next.starts_with(&prefix), "{next}");
        h.emulator.set_page_cap(500);
        h.emulator.set_shuffle(None);
    }
}

#[test]
fn top_is_validated_on_every_list() {
    let h = Harness::new();
    let token = h.app_token();
    let user_id = h.config.risky_users[0]["id"].as_str().unwrap_or_default().to_owned();
    let history = format!("{RISKY_USERS}/{user_id}/history");
    for path in [DETECTIONS, RISKY_USERS, history.as_str()] {
        for top in ["0", "501"] {
            assert_graph_error(
                &h.get(&format!("{path}?$top={top}"), Some(&token)),
                400,
                "invalidRequest",
            );
        }
        assert_eq!(h.get(&format!("{path}?$top=1"), Some(&token)).status, 200);
    }
}

#[test]
fn detections_default_page_and_added_detections() {
    let h = Harness::new();
    let token = h.app_token();
    for n in 0..15 {
        h.emulator
            .add_detection(json!({"id": format!("extra-{n}"), "detectedDateTime": "2024-06-01T00:00:00Z"}));
    }
    let pages = h.pages(DETECTIONS, &token);
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["value"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [20, 3]);
    let first = h.get(&format!("{DETECTIONS}?$top=22"), Some(&token)).json();
    h.emulator
        .add_detection(json!({"id": "late", "detectedDateTime": "2024-06-02T00:00:00Z"}));
    let next = first["@odata.nextLink"].as_str().unwrap_or_default();
    assert_eq!(field_of_all(&h.pages(next, &token), "id"), ["extra-14", "late"]);
    assert_eq!(h.emulator.risk_detections().len(), 24);
}

#[test]
fn history_lists_and_items() {
    let h = Harness::new();
    let token = h.app_token();
    let counts: Vec<usize> = h
        .config
        .risky_users
        .iter()
        .map(|u| h.emulator.history(u["id"].as_str().unwrap_or_default()).len())
        .collect();
    assert_eq!(counts, [2, 1, 2, 2, 3]);
    let isaiah = h.config.risky_users[4]["id"].as_str().unwrap_or_default().to_owned();
    let page = h
        .get(
            &format!("/beta/identityProtection/riskyUsers/{isaiah}/history"),
            Some(&token),
        )
        .json();
    let context = format!(
        "{}/beta/$metadata#identityProtection/riskyUsers('{isaiah}')/history",
        h.emulator.base_url()
    );
    assert_eq!(page["@odata.context"], context.as_str());
    let items = page["value"].as_array().cloned().unwrap_or_default();
    assert!(
        items
            .iter()
            .all(|i| i["userId"] == isaiah.as_str() && i["activity"]["riskEventTypes"].is_array())
    );
    assert_eq!(items[2]["riskState"], "remediated");
    assert_eq!(items[2]["activity"]["detail"], "userPerformedSecuredPasswordReset");
    assert_eq!(
        items[2]["riskLastUpdatedDateTime"],
        h.config.risky_users[4]["riskLastUpdatedDateTime"]
    );
    let item_id = items[0]["id"].as_str().unwrap_or_default();
    let item = h
        .get(&format!("{RISKY_USERS}/{isaiah}/history/{item_id}"), Some(&token))
        .json();
    assert_eq!(item["id"], item_id);
    let mut all_ids = field_of_all(&[json!({"value": h.config.risky_user_history})], "id");
    let total = all_ids.len();
    all_ids.sort();
    all_ids.dedup();
    assert_eq!(all_ids.len(), total);
    assert_graph_error(
        &h.get(&format!("{RISKY_USERS}/nobody/history"), Some(&token)),
        404,
        "itemNotFound",
    );
}

#[test]
fn actions_change_risk_and_append_history() {
    #[rustfmt::skip]
    let cases = [
        ("dismiss", "dismissed", "none", "adminDismissedAllRiskForUser"),
        ("confirmCompromised", "confirmedCompromised", "high", "adminConfirmedUserCompromised"),
        ("confirmSafe", "confirmedSafe", "none", "adminConfirmedAccountSafe"),
    ];
    for (action, state, level, detail) in cases {
        let h = Harness::new();
        let token = h.app_token();
        let ids: Vec<String> = h.config.risky_users[..2]
            .iter()
            .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let body = json!({"userIds": [ids[0], "00000000-0000-0000-0000-000000000000", ids[1].to_uppercase()]});
        let reply = h.post_json(
            &format!("/beta/identityProtection/riskyUsers/{action}"),
            &token,
            &body.to_string(),
        );
        assert_eq!((reply.status, reply.text.as_str()), (204, ""), "{action}");
        for id in &ids {
            let user = h.emulator.risky_user(id).unwrap_or_default();
            assert_eq!(
                (user["riskState"].as_str(), user["riskLevel"].as_str()),
                (Some(state), Some(level)),
                "{action}"
            );
            assert_eq!(user["riskDetail"], detail);
            let updated = user["riskLastUpdatedDateTime"].as_str().unwrap_or_default();
            assert!(updated.starts_with("20") && updated.len() == 28, "{updated}");
            let last = h.emulator.history(id).last().cloned().unwrap_or_default();
            assert_eq!(last["initiatedBy"], h.config.apps[1].client_id.as_str());
            assert_eq!(
                (last["userId"].as_str(), last["activity"]["detail"].as_str()),
                (Some(id.as_str()), Some(detail))
            );
            assert_eq!(last["riskLastUpdatedDateTime"], updated);
        }
        let listed = h.get(&format!("{RISKY_USERS}/{}", ids[0]), Some(&token)).json();
        assert_eq!(listed["riskState"], state);
        assert_eq!(h.emulator.history(&ids[1]).len(), 2, "{action}");
    }
}

#[test]
fn delegated_actions_are_initiated_by_the_user() {
    let h = Harness::new();
    let token = h.sign_in(USER_SCOPE)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = h.config.risky_users[1]["id"].as_str().unwrap_or_default().to_owned();
    let body = json!({"userIds": [id]}).to_string();
    assert_eq!(
        h.post_json(&format!("{RISKY_USERS}/dismiss"), &token, &body).status,
        204
    );
    let last = h.emulator.history(&id).last().cloned().unwrap_or_default();
    assert_eq!(last["initiatedBy"], h.config.user.object_id.as_str());
    assert!(h.emulator.risky_user("unknown").is_none());
}

#[test]
fn action_errors() {
    let mut config = TenantConfig::default();
    config.apps[0].permissions = vec!["IdentityRiskyUser.Read.All".to_owned()];
    let h = Harness::with(config);
    let app = h.app_token();
    let reader = h.sign_in("IdentityRiskyUser.Read.All")["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let many: Vec<String> = (0..61).map(|i| format!("user-{i}")).collect();
    let dismiss = format!("{RISKY_USERS}/dismiss");
    #[rustfmt::skip]
    let cases = [
        (app.as_str(), json!({"userIds": many}).to_string(), 400, "invalidRequest"),
        (app.as_str(), "{\"userIds\": [".to_owned(), 400, "invalidRequest"),
        (app.as_str(), "{\"users\": []}".to_owned(), 400, "invalidRequest"),
        (app.as_str(), String::new(), 400, "invalidRequest"),
        (reader.as_str(), json!({"userIds": ["x"]}).to_string(), 403, "Authorization_RequestDenied"),
        ("not-a-token", json!({"userIds": ["x"]}).to_string(), 401, "InvalidAuthenticationToken"),
    ];
    for (token, body, status, code) in cases {
        assert_graph_error(&h.post_json(&dismiss, token, &body), status, code);
    }
    let before = h
        .emulator
        .history(h.config.risky_users[0]["id"].as_str().unwrap_or_default());
    assert_eq!(before.len(), 2);
    assert_graph_error(
        &h.post_json(&format!("{RISKY_USERS}/delete"), &app, "{}"),
        404,
        "ResourceNotFound",
    );
}

#[test]
fn scripted_faults_apply_to_the_new_paths() {
    let h = Harness::new();
    let token = h.app_token();
    h.emulator.script(ScriptedAnswer::throttled("/riskDetections", None));
    h.emulator
        .script(ScriptedAnswer::graph_error("/dismiss", 503, "serviceNotAvailable", "Busy").method("POST"));
    assert_graph_error(&h.get(DETECTIONS, Some(&token)), 429, "TooManyRequests");
    assert_eq!(h.get(DETECTIONS, Some(&token)).status, 200);
    let body = json!({"userIds": ["x"]}).to_string();
    assert_graph_error(
        &h.post_json(&format!("{RISKY_USERS}/dismiss"), &token, &body),
        503,
        "serviceNotAvailable",
    );
    assert_eq!(
        h.post_json(&format!("{RISKY_USERS}/dismiss"), &token, &body).status,
        204
    );
}

mod conditional_access;
mod device_login;
mod risk_state;
mod runtime;
mod serving;
mod sign_in_log;

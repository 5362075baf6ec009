//! The Entra ID v2 endpoints: device authorization, token (device code, refresh, client
//! credentials). The device-login page a person uses is in [`super::device_login`].

use serde_json::{Map, Value, json};

use super::assertion;
use super::config::{AppRegistration, TenantConfig};
use super::errors::entra_error_body;
use super::request::RecordedRequest;
use super::signing::TOKEN_SIGNER;
use super::state::{AccessGrant, DeviceCodeGrant, DeviceCodeStatus, RefreshGrant, State, is_placeholder};
use super::wire::{Reply, base64_decode, base64url, now, now_nanos, percent_decode, random_string};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// OpenID Connect scopes: requested alongside Graph permissions, never granted as permissions.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const OPAQUE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A token-endpoint error: the HTTP status and the parts of Entra's error body.
#[derive(Debug, Clone, PartialEq)]
struct EntraError {
    status: u16,
    error: &'static str,
    code: u32,
    text: String,
}

impl EntraError {
    /// An OAuth error answered with HTTP 400.
    fn bad_request(error: &'static str, code: u32, text: &str) -> Self {
        EntraError {
            status: 400,
            error,
            code,
            text: text.to_owned(),
        }
    }

    /// A client authentication error, answered with HTTP 401 `invalid_client`.
    fn invalid_client(code: u32, text: &str) -> Self {
        EntraError {
            status: 401,
            error: "invalid_client",
            code,
            text: text.to_owned(),
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    fn missing(name: &str) -> Self {
        let text = format!("The request body must contain the following parameter: '{name}'.");
        EntraError::bad_request("invalid_request", 900144, &text)
    }

    fn reply(&self) -> Reply {
        let body = entra_error_body(self.error, self.code, &self.text);
        no_store(Reply::json(self.status, &body))
    }
}

/// Answers `POST /{tenant}/oauth2/v2.0/{endpoint}`.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest, tenant: &str, endpoint: &str) -> Reply {
    let outcome = check_request(&state.config, request, tenant).and_then(|()| {
        let form = with_basic_credentials(request);
        match endpoint {
            "devicecode" => device_authorization(state, &form),
            "token" => token(state, &form, tenant),
            _ => Err(EntraError::bad_request(
                "invalid_request",
                900561,
                "The endpoint is not supported.",
            )),
        }
    });
    match outcome {
        Ok(body) => no_store(Reply::json(200, &body)),
        Err(error) => error.reply(),
    }
}

fn check_request(config: &TenantConfig, request: &RecordedRequest, tenant: &str) -> Result<(), EntraError> {
    if !request.method.eq_ignore_ascii_case("POST") {
        let text = format!(
            "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
            request.method
        );
        return Err(EntraError::bad_request("invalid_request", 900561, &text));
    }
    if is_alias(tenant) || config.is_own_tenant(tenant) {
        return Ok(());
    }
    let text = format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    );
    Err(EntraError::bad_request("invalid_request", 90002, &text))
}

/// The form, plus `client_id`/`client_secret` from an HTTP Basic header (RFC 6749 §2.3.1),
/// which Entra accepts as an alternative to the body.
fn with_basic_credentials(request: &RecordedRequest) -> Vec<(String, String)> {
    let mut form = request.form();
    let Some((id, secret)) = request.header("Authorization").and_then(basic_credentials) else {
        return form;
    };
    if param(&form, "client_id").is_none() {
        form.push(("client_id".to_owned(), id));
    }
    form.push(("client_secret".to_owned(), secret));
    form
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id, true), percent_decode(secret, true)))
}

fn is_alias(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations")
}

fn no_store(reply: Reply) -> Reply {
    reply
        .with_header("Cache-Control", "no-store, no-cache")
        .with_header("Pragma", "no-cache")
}

/// A non-empty form value.
fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn required<'a>(form: &'a [(String, String)], key: &str) -> Result<&'a str, EntraError> {
    param(form, key).ok_or_else(|| EntraError::missing(key))
}

fn find_app(config: &TenantConfig, form: &[(String, String)]) -> Result<AppRegistration, EntraError> {
    let client_id = required(form, "client_id")?;
    config.app(client_id).cloned().ok_or_else(|| {
        let text = format!(
            "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            config.tenant_domain
        );
        EntraError::bad_request("unauthorized_client", 700016, &text)
    })
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// Device authorization

fn device_authorization(state: &mut State, form: &[(String, String)]) -> Result<Value, EntraError> {
    let app = find_app(&state.config, form)?;
    let scopes = split_scopes(required(form, "scope")?);
    let grant = DeviceCodeGrant {
        device_code: format!("DAQABIQEAAAD{}", random_string(OPAQUE_ALPHABET, 120)),
        user_code: random_string(USER_CODE_ALPHABET, 8),
        client_id: app.client_id,
        scopes,
        expires_at: now() + state.config.device_code_lifetime,
        status: if state.auto_approve {
            DeviceCodeStatus::Approved
        } else {
            DeviceCodeStatus::Pending
        },
    };
    let body = device_authorization_body(state, &grant);
    state.device_codes.push(grant);
    Ok(body)
}

fn device_authorization_body(state: &State, grant: &DeviceCodeGrant) -> Value {
    let uri = format!("{}/devicelogin", state.base_url);
    let message = format!(
        "To sign in, use a web browser to open the page {uri} and enter the code {} to authenticate.",
        grant.user_code
    );
    json!({
        "user_code": grant.user_code,
        "device_code": grant.device_code,
        "verification_uri": uri,
        "expires_in": state.config.device_code_lifetime,
        "interval": state.config.device_code_interval,
        "message": message,
    })
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

fn token(state: &mut State, form: &[(String, String)], tenant: &str) -> Result<Value, EntraError> {
    match param(form, "grant_type") {
        Some(DEVICE_CODE_GRANT) => device_code_grant(state, form),
        Some("refresh_token") => refresh_token_grant(state, form),
        Some("client_credentials") => client_credentials_grant(state, form, tenant),
        Some(other) => {
            let text = format!(
                "The provided value for the input parameter 'grant_type' is not valid. The grant type '{other}' is not supported."
            );
            Err(EntraError::bad_request("unsupported_grant_type", 70003, &text))
        }
        None => {
            let text = "The request body must contain the following parameter: 'grant_type'.";
            Err(EntraError::bad_request("unsupported_grant_type", 900144, text))
        }
    }
}

/// Client authentication for flows a public client may use (device code, refresh).
fn authenticate_public_flow(app: &AppRegistration, form: &[(String, String)]) -> Result<(), EntraError> {
    let presented = param(form, "client_secret").is_some() || param(form, "client_assertion").is_some();
    match (presented, &app.client_secret) {
        (true, None) => Err(EntraError::invalid_client(
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (true, Some(_)) => verify_secret(app, form),
        (false, _) if !app.public_client_flows => Err(secret_required()),
        (false, _) => Ok(()),
    }
}

/// Client authentication for client credentials: a secret is always required.
fn authenticate_confidential(app: &AppRegistration, form: &[(String, String)]) -> Result<(), EntraError> {
    let presented = param(form, "client_secret").is_some();
    match (presented, &app.client_secret) {
        (false, _) => Err(secret_required()),
        (true, None) => authenticate_public_flow(app, form),
        (true, Some(_)) => verify_secret(app, form),
    }
}

/// Client authentication with a signed JWT (RFC 7523), checked against the app's certificates.
fn authenticate_with_assertion(
    state: &mut State,
    app: &AppRegistration,
    form: &[(String, String)],
    tenant: &str,
) -> Result<(), EntraError> {
    if param(form, "client_secret").is_some() {
        let text = "Invalid request. Request is malformed or invalid: both 'client_secret' and 'client_assertion' were presented.";
        return Err(EntraError::bad_request("invalid_request", 9002313, text));
    }
    if required(form, "client_assertion_type")? != CLIENT_ASSERTION_TYPE {
        let text = format!(
            "The provided value for the input parameter 'client_assertion_type' is not valid. Expected '{CLIENT_ASSERTION_TYPE}'."
        );
        return Err(EntraError::bad_request("invalid_request", 9002313, &text));
    }
    let assertion = required(form, "client_assertion")?;
    let audience = format!("{}/{tenant}/oauth2/v2.0/token", state.base_url);
    let expected = assertion::Expected {
        app,
        audience: &audience,
        now: now(),
    };
    assertion::verify(assertion, &expected, &mut state.assertion_ids).map_err(|r| match r.code {
        50027 => EntraError::bad_request("invalid_request", r.code, &r.text),
        code => EntraError::invalid_client(code, &r.text),
    })
}

fn secret_required() -> EntraError {
    EntraError::invalid_client(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

fn verify_secret(app: &AppRegistration, form: &[(String, String)]) -> Result<(), EntraError> {
    let id = &app.client_id;
    if param(form, "client_secret") != app.client_secret.as_deref() {
        let text = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{id}'."
        );
        return Err(EntraError::invalid_client(7000215, &text));
    }
    if app.secret_expired {
        let text = format!(
            "The provided client secret keys for app '{id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
        );
        return Err(EntraError::invalid_client(7000222, &text));
    }
    Ok(())
}

fn device_code_grant(state: &mut State, form: &[(String, String)]) -> Result<Value, EntraError> {
    let app = find_app(&state.config, form)?;
    authenticate_public_flow(&app, form)?;
    let code = param(form, "device_code")
        .or_else(|| param(form, "code"))
        .ok_or_else(|| EntraError::missing("device_code"))?;
    let slow_down = std::mem::take(&mut state.slow_down_next_poll);
    let grant = state
        .device_codes
        .iter_mut()
        .find(|grant| grant.device_code == code && grant.client_id == app.client_id)
        .ok_or_else(bad_verification_code)?;
    if slow_down {
        return Err(poll_error(
            "slow_down",
            70016,
            "OAuth 2.0 device flow error. The client is polling too frequently; slow down.",
        ));
    }
    poll_outcome(grant)?;
    if !is_placeholder(code) {
        grant.status = DeviceCodeStatus::Redeemed;
    }
    let scopes = grant.scopes.clone();
    Ok(user_tokens(state, &app, &scopes, None, wants_client_info(form)))
}

/// The answer to a poll of a device code that is not (yet) redeemable.
fn poll_outcome(grant: &DeviceCodeGrant) -> Result<(), EntraError> {
    match grant.effective_status() {
        DeviceCodeStatus::Approved => Ok(()),
        DeviceCodeStatus::Pending => Err(poll_error(
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )),
        DeviceCodeStatus::Declined => Err(poll_error(
            "authorization_declined",
            70000,
            "The user has declined to authorize the request.",
        )),
        DeviceCodeStatus::Expired => Err(poll_error(
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        )),
        DeviceCodeStatus::Redeemed => Err(EntraError::bad_request(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )),
    }
}

fn poll_error(error: &'static str, code: u32, text: &str) -> EntraError {
    EntraError::bad_request(error, code, text)
}

fn bad_verification_code() -> EntraError {
    poll_error(
        "bad_verification_code",
        70018,
        "The provided value for the input parameter 'device_code' is not valid.",
    )
}

fn refresh_token_grant(state: &mut State, form: &[(String, String)]) -> Result<Value, EntraError> {
    let app = find_app(&state.config, form)?;
    authenticate_public_flow(&app, form)?;
    let token = required(form, "refresh_token")?;
    let strict = state.config.rotate_refresh_tokens_strictly;
    let grant = state
        .refresh_tokens
        .get(token)
        .filter(|grant| grant.client_id == app.client_id)
        .ok_or_else(unknown_refresh_token)?;
    // revokeSignInSessions invalidates the user's refresh tokens issued before it, as Entra's
    // signInSessionsValidFromDateTime does; the refusal reads like an admin's revocation.
    if state.sessions_revoked_since(&grant.user_id, grant.issued_at) {
        return Err(revoked_grant());
    }
    let grant = state.refresh_tokens.get_mut(token).ok_or_else(unknown_refresh_token)?;
    check_refresh_grant(grant, strict)?;
    let original = grant.scopes.clone();
    let requested = param(form, "scope").map_or_else(|| original.clone(), split_scopes);
    // A refresh token reaches any permission consented for the app, and only those: the Identity
    // Protection permissions need admin consent, which no sign-in can give (AADSTS65001). The
    // refresh token is not spent on a refusal.
    check_consented(&app, &requested)?;
    if !is_placeholder(token) {
        grant.used = true;
    }
    Ok(user_tokens(
        state,
        &app,
        &requested,
        Some(&original),
        wants_client_info(form),
    ))
}

/// Every requested Graph permission is one the app holds (`.default` and OIDC scopes always are).
fn check_consented(app: &AppRegistration, requested: &[String]) -> Result<(), EntraError> {
    let missing = requested
        .iter()
        .map(|s| bare_scope(s))
        .filter(|s| *s != ".default" && !is_oidc(s))
        .find(|s| !app.permissions.iter().any(|p| p.eq_ignore_ascii_case(s)));
    match missing {
        None => Ok(()),
        Some(permission) => Err(EntraError::bad_request(
            "invalid_grant",
            65001,
            &format!(
                "The user or administrator has not consented to use the application with ID '{}' for the permission '{permission}'. Send an interactive authorization request for this user and resource.",
                app.client_id
            ),
        )),
    }
}

/// AADSTS9002313: no refresh token of this app has this value.
fn unknown_refresh_token() -> EntraError {
    EntraError::bad_request(
        "invalid_grant",
        9002313,
        "Invalid request. Request is malformed or invalid.",
    )
}

/// AADSTS50173: the grant was revoked (by an admin, a password change or revoked sessions).
fn revoked_grant() -> EntraError {
    let text = "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.";
    EntraError::bad_request("invalid_grant", 50173, text)
}

fn check_refresh_grant(grant: &RefreshGrant, strict: bool) -> Result<(), EntraError> {
    if grant.revoked {
        return Err(revoked_grant());
    }
    if strict && grant.used {
        let text = "Provided grant is invalid or malformed. The refresh token has already been used.";
        return Err(EntraError::bad_request("invalid_grant", 70000, text));
    }
    Ok(())
}

fn client_credentials_grant(state: &mut State, form: &[(String, String)], tenant: &str) -> Result<Value, EntraError> {
    if is_alias(tenant) {
        let text = "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.";
        return Err(EntraError::bad_request("invalid_request", 9001023, text));
    }
    let app = find_app(&state.config, form)?;
    if param(form, "client_assertion").is_some() {
        authenticate_with_assertion(state, &app, form, tenant)?;
    } else {
        authenticate_confidential(&app, form)?;
    }
    check_default_scope(required(form, "scope")?)?;
    let (access_token, expires_in) = issue_access_token(state, &app, Grantee::Application);
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }))
}

fn check_default_scope(scope: &str) -> Result<(), EntraError> {
    let scopes = split_scopes(scope);
    if scopes.len() == 1 && scopes[0].ends_with("/.default") {
        return Ok(());
    }
    let text =
        format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
    Err(EntraError::bad_request("invalid_scope", 70011, &text))
}

// ---------------------------------------------------------------------------------------------
// Token issuing

/// Who an access token is for.
pub(crate) enum Grantee {
    /// The signed-in user, with these delegated permissions (`scp`).
    User(Vec<String>),
    /// The app itself, with its application permissions (`roles`).
    Application,
}

/// MSAL sends `client_info=1` and builds its account from the answer's `client_info`.
fn wants_client_info(form: &[(String, String)]) -> bool {
    param(form, "client_info") == Some("1")
}

/// base64url of `{"uid": <user object id>, "utid": <tenant id>}`, as Entra sends it.
fn client_info(config: &TenantConfig) -> String {
    let info = json!({"uid": config.user.object_id, "utid": config.tenant_id});
    base64url(info.to_string().as_bytes())
}

/// The success body of a user (delegated) grant. `refresh_scopes` is `Some` on a refresh, where
/// a new refresh token is always issued and keeps the originally granted scopes.
fn user_tokens(
    state: &mut State,
    app: &AppRegistration,
    requested: &[String],
    refresh_scopes: Option<&[String]>,
    with_client_info: bool,
) -> Value {
    let permissions = delegated_permissions(app, requested);
    let mut granted = permissions.clone();
    granted.extend(requested.iter().filter(|s| is_oidc(s)).cloned());
    let (access_token, expires_in) = issue_access_token(state, app, Grantee::User(permissions));
    let mut body = Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("scope".into(), json!(granted.join(" ")));
    body.insert("expires_in".into(), json!(expires_in));
    body.insert("ext_expires_in".into(), json!(expires_in));
    body.insert("access_token".into(), json!(access_token));
    let wants_refresh = requested.iter().any(|s| s == "offline_access");
    if let Some(scopes) = refresh_scopes.or(wants_refresh.then_some(requested)) {
        body.insert("refresh_token".into(), json!(issue_refresh_token(state, app, scopes)));
    }
    if requested.iter().any(|s| s == "openid") {
        body.insert("id_token".into(), json!(id_token(state, app)));
    }
    if with_client_info {
        body.insert("client_info".into(), json!(client_info(&state.config)));
    }
    Value::Object(body)
}

fn is_oidc(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}

/// `https://graph.microsoft.us/IdentityRiskyUser.Read.All` -> `IdentityRiskyUser.Read.All`.
pub(crate) fn bare_scope(scope: &str) -> &str {
    scope.rsplit('/').next().unwrap_or(scope)
}

/// The requested permissions the app holds; `.default` asks for all of them.
fn delegated_permissions(app: &AppRegistration, requested: &[String]) -> Vec<String> {
    let bare: Vec<&str> = requested.iter().map(|s| bare_scope(s)).collect();
    if bare.contains(&".default") {
        return app.permissions.clone();
    }
    app.permissions
        .iter()
        .filter(|p| bare.iter().any(|b| b.eq_ignore_ascii_case(p)))
        .cloned()
        .collect()
}

pub(crate) fn issue_access_token(state: &mut State, app: &AppRegistration, grantee: Grantee) -> (String, u64) {
    let lifetime = state.config.access_token_lifetime;
    let issued = now();
    let mut claims = base_claims(&state.config, issued, issued + lifetime);
    claims.insert("aud".into(), json!(GRAPH_AUDIENCE));
    claims.insert("appid".into(), json!(app.client_id));
    claims.insert("uti".into(), json!(random_string(OPAQUE_ALPHABET, 22)));
    let (permissions, subject, app_only) = match grantee {
        Grantee::User(permissions) => {
            add_user_claims(&mut claims, &state.config, &permissions);
            (permissions, state.config.user.object_id.clone(), false)
        }
        Grantee::Application => {
            claims.insert("idtyp".into(), json!("app"));
            claims.insert("roles".into(), json!(app.permissions));
            (app.permissions.clone(), app.client_id.clone(), true)
        }
    };
    let token = TOKEN_SIGNER.sign(&Value::Object(claims));
    let grant = AccessGrant {
        expires_at: issued + lifetime,
        subject,
        permissions,
        app_only,
        revoked: false,
    };
    state.access_tokens.insert(token.clone(), grant);
    (token, lifetime)
}

fn base_claims(config: &TenantConfig, issued: u64, expires: u64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert(
        "iss".into(),
        json!(format!("https://sts.windows.net/{}/", config.tenant_id)),
    );
    claims.insert("iat".into(), json!(issued));
    claims.insert("nbf".into(), json!(issued));
    claims.insert("exp".into(), json!(expires));
    claims.insert("tid".into(), json!(config.tenant_id));
    claims
}

fn add_user_claims(claims: &mut Map<String, Value>, config: &TenantConfig, permissions: &[String]) {
    claims.insert("scp".into(), json!(permissions.join(" ")));
    claims.insert("oid".into(), json!(config.user.object_id));
    claims.insert("upn".into(), json!(config.user.user_principal_name));
    claims.insert("name".into(), json!(config.user.display_name));
}

fn issue_refresh_token(state: &mut State, app: &AppRegistration, scopes: &[String]) -> String {
    let token = format!("1.AQEA{}", random_string(OPAQUE_ALPHABET, 180));
    let grant = RefreshGrant {
        client_id: app.client_id.clone(),
        user_id: state.config.user.object_id.clone(),
        issued_at: now_nanos(),
        scopes: scopes.to_vec(),
        revoked: false,
        used: false,
    };
    state.refresh_tokens.insert(token.clone(), grant);
    token
}

/// A v2.0 id token whose `iss` is the issuer of this emulator's OpenID configuration.
fn id_token(state: &State, app: &AppRegistration) -> String {
    let config = &state.config;
    let issued = now();
    let mut claims = base_claims(config, issued, issued + config.access_token_lifetime);
    claims.insert(
        "iss".into(),
        json!(format!("{}/{}/v2.0", state.base_url, config.tenant_id)),
    );
    claims.insert("aud".into(), json!(app.client_id));
    claims.insert("ver".into(), json!("2.0"));
    // Entra's `sub` is pairwise: stable per user and app, different across apps.
    let pairwise = base64url(format!("{}:{}", config.user.object_id, app.client_id).as_bytes());
    claims.insert("sub".into(), json!(pairwise.get(..43).unwrap_or(&pairwise)));
    claims.insert("oid".into(), json!(config.user.object_id));
    claims.insert("preferred_username".into(), json!(config.user.user_principal_name));
    claims.insert("name".into(), json!(config.user.display_name));
    TOKEN_SIGNER.sign(&Value::Object(claims))
}

//! OpenID Connect discovery (`/{tenant}/v2.0/.well-known/openid-configuration`), MSAL instance
//! discovery (`/common/discovery/instance`) and the token-signing key set, in Microsoft's shapes with this
//! emulator's URLs, so MSAL-style clients find the device-code and token endpoints here.

use serde_json::{Value, json};

use super::errors::entra_error_body;
use super::request::RecordedRequest;
use super::state::State;
use super::wire::Reply;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) fn openid_configuration(state: &State, tenant: &str) -> Reply {
    match tenant_segment(state, tenant) {
        Some(segment) => Reply::json(200, &configuration(state, &segment)),
        None => unknown_tenant(tenant),
    }
}

/// The tenant as discovery URLs name it: the tenant id for the own tenant, aliases as given.
fn tenant_segment(state: &State, tenant: &str) -> Option<String> {
    if state.config.is_own_tenant(tenant) {
        return Some(state.config.tenant_id.clone());
    }
    let alias = ["common", "organizations", "consumers"]
        .into_iter()
        .find(|alias| alias.eq_ignore_ascii_case(tenant))?;
    Some(alias.to_owned())
}

fn configuration(state: &State, segment: &str) -> Value {
    let base = &state.base_url;
    let own = segment == state.config.tenant_id;
    // Microsoft's multi-tenant documents carry the `{tenantid}` placeholder in the issuer.
    let issuer_tenant = if own { segment } else { "{tenantid}" };
    let oauth = format!("{base}/{segment}/oauth2/v2.0");
    json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{segment}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{oauth}/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver", "name", "preferred_username"],
        "kerberos_endpoint": format!("{base}/{segment}/kerberos"),
        "tenant_region_scope": if own { json!("NA") } else { Value::Null },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": host(base),
        "rbac_url": "https://pas.windows.net",
    })
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`.
pub(crate) fn instance_discovery(state: &State, request: &RecordedRequest) -> Reply {
    let tenant = request
        .query_value("authorization_endpoint")
        .and_then(|url| tenant_of_authorization_endpoint(&url))
        .unwrap_or_else(|| "common".to_owned());
    let host = host(&state.base_url);
    Reply::json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", state.base_url),
            "api-version": request.query_value("api-version").unwrap_or_else(|| "1.1".to_owned()),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}

/// `https://host/{tenant}/oauth2/v2.0/authorize` -> `{tenant}`.
fn tenant_of_authorization_endpoint(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let tenant = after_scheme.split('/').nth(1)?;
    (!tenant.is_empty()).then(|| tenant.to_owned())
}

/// `GET /{tenant}/discovery/v2.0/keys`: the key every token the emulator issues is signed with.
pub(crate) fn keys() -> Reply {
    Reply::json(200, &super::signing::token_key_set())
}

/// `http://127.0.0.1:8765` -> `127.0.0.1:8765`.
fn host(base_url: &str) -> String {
    base_url.split_once("://").map_or(base_url, |(_, host)| host).to_owned()
}

fn unknown_tenant(tenant: &str) -> Reply {
    let text = format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
    );
    Reply::json(400, &entra_error_body("invalid_tenant", 90002, &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_of_authorization_endpoints() {
        #[rustfmt::skip]
        let cases = [
            ("https://127.0.0.1:8765/contoso.onmicrosoft.com/oauth2/v2.0/authorize", Some("contoso.onmicrosoft.com")),
            ("https://h/common/oauth2/authorize", Some("common")),
            ("https://h", None),
            ("https://h//x", None),
        ];
        for (url, expected) in cases {
            assert_eq!(tenant_of_authorization_endpoint(url).as_deref(), expected, "{url}");
        }
    }
}

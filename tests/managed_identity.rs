//! Managed-identity sign-in: a Graph token from IMDS (the emulator's, through the
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` override), and the rule that the IMDS host receives
//! nothing but token requests, and only in this mode.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, MANAGED_IDENTITY_CLIENT_ID};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

const LIST: &str = "azure-ad-identity-protection-risky-user-list";
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";

/// Runs `command` in managed-identity mode with IMDS at `imds`.
fn run_mi(command: &str, params: &Value, context: Value, imds: &str) -> Run {
    let env = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds)];
    run_env(&envelope(command, json!({"limit": "2"}), params, context), &env)
}

fn with_client_id(emu: &Emulator, client_id: &str) -> Value {
    let mut params = emu.managed_identity_params();
    params["managed_identities_client_id"] = json!(client_id);
    params
}

#[test]
fn the_system_assigned_identity_lists_risky_users() {
    let emu = tenant();
    let params = emu.managed_identity_params();
    let started = run_mi("azure-ad-auth-start", &params, json!({}), &emu.base_url());
    started.expect(0, 1).says(&["managed identity"]);
    let listed = run_mi(LIST, &params, started.context().clone(), &emu.base_url());
    listed.expect(0, 1);
    let users = listed.entry()["EntryContext"]
        .as_object()
        .and_then(|c| {
            c.iter()
                .find(|(k, _)| k.starts_with("AADIdentityProtection.RiskyUsers"))
        })
        .map(|(_, v)| v.clone());
    assert!(
        users.is_some_and(|u| !u.as_array().is_none_or(Vec::is_empty)),
        "{:#}",
        listed.result
    );
    let imds = requests_to(&emu, IMDS_PATH);
    assert_eq!(imds.len(), 1, "the second command reuses the cached token");
    assert_eq!(imds[0].header("Metadata"), Some("true"));
    assert_eq!(imds[0].query_value("api-version").as_deref(), Some("2018-02-01"));
    assert_eq!(imds[0].query_value("client_id"), None);
    assert!(
        requests_to(&emu, TOKEN).is_empty(),
        "no Entra token endpoint in this mode"
    );
    run_mi("azure-ad-auth-test", &params, json!({}), &emu.base_url()).expect(0, 1);
    run_mi("test-module", &params, json!({}), &emu.base_url()).expect(0, 1);
}

#[test]
fn a_user_assigned_identity_is_named_and_owns_its_token() {
    let emu = tenant();
    let params = with_client_id(&emu, MANAGED_IDENTITY_CLIENT_ID);
    let listed = run_mi(LIST, &params, json!({}), &emu.base_url());
    listed.expect(0, 1);
    let imds = requests_to(&emu, IMDS_PATH);
    assert_eq!(
        imds[0].query_value("client_id").as_deref(),
        Some(MANAGED_IDENTITY_CLIENT_ID)
    );
    // Another identity does not reuse that token: it asks IMDS again.
    run_mi(
        LIST,
        &emu.managed_identity_params(),
        listed.context().clone(),
        &emu.base_url(),
    )
    .expect(0, 1);
    assert_eq!(requests_to(&emu, IMDS_PATH).len(), 2);
}

#[test]
fn an_unknown_client_id_says_no_identity_is_assigned() {
    let emu = tenant();
    let params = with_client_id(&emu, "00000000-0000-0000-0000-00000000dead");
    run_mi("azure-ad-auth-test", &params, json!({}), &emu.base_url())
        .expect(1, 4)
        .says(&[
            "No managed identity is assigned",
            "00000000-0000-0000-0000-00000000dead",
        ]);
}

#[test]
fn the_emulator_rejects_a_request_without_the_metadata_header() {
    let emu = tenant();
    let address = emu.base_url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    let request = format!(
        "GET {IMDS_PATH}?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Required metadata header not specified"), "{answer}");
    assert!(!answer.contains("access_token"), "{answer}");
}

#[test]
fn an_unreachable_imds_says_this_is_no_azure_host() {
    let emu = tenant();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let imds = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    run_mi("azure-ad-auth-start", &emu.managed_identity_params(), json!({}), &imds)
        .expect(1, 4)
        .says(&["no managed identity endpoint (not an Azure VM/AKS/Arc?)"]);
}

#[test]
fn the_imds_host_gets_only_token_requests_and_only_in_this_mode() {
    let emu = tenant();
    let imds = tenant();
    // Other modes: IMDS configured in the environment, never contacted.
    run_mi(LIST, &app_params(&emu), json!({}), &imds.base_url()).expect(0, 1);
    assert!(imds.requests().is_empty(), "client credentials contacted IMDS");
    // This mode: IMDS receives token requests without any bearer token; Graph never gets the
    // IMDS header. (This IMDS's tokens belong to another tenant, so Graph refuses them.)
    run_mi(LIST, &emu.managed_identity_params(), json!({}), &imds.base_url());
    let received = imds.requests();
    assert!(!received.is_empty());
    for request in &received {
        assert_eq!(request.path, IMDS_PATH);
        assert_eq!(request.header("Authorization"), None, "a token went to IMDS");
    }
    for request in requests_to(&emu, RISKY_USERS) {
        assert_eq!(request.header("Metadata"), None);
    }
}

#[test]
fn an_imds_override_must_not_be_plain_http_elsewhere() {
    let emu = tenant();
    run_mi(
        LIST,
        &emu.managed_identity_params(),
        json!({}),
        "http://imds.example.com",
    )
    .expect(2, 4)
    .says(&["AZURE_POD_IDENTITY_AUTHORITY_HOST"]);
}

#[test]
fn app_service_and_arc_use_their_endpoint_and_header() {
    let emu = tenant();
    let endpoint = format!("{}{IMDS_PATH}", emu.base_url());
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "app-service-header-value"),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://imds.example.com"),
    ];
    let params = emu.managed_identity_params();
    // The emulator answers the IMDS shape only, so it refuses the request; what was sent counts.
    let run = run_env(&envelope("azure-ad-auth-start", json!({}), &params, json!({})), &env);
    run.expect(1, 4);
    assert!(!run.text().contains("app-service-header-value"));
    let sent = requests_to(&emu, IMDS_PATH);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("X-IDENTITY-HEADER"), Some("app-service-header-value"));
    assert_eq!(sent[0].header("Metadata"), None);
    assert_eq!(sent[0].query_value("api-version").as_deref(), Some("2019-08-01"));
}

#[test]
fn an_identity_without_graph_roles_gets_the_permission_advice() {
    let emu = tenant_with(|c| {
        c.apps
            .iter_mut()
            .filter(|a| a.client_id == MANAGED_IDENTITY_CLIENT_ID)
            .for_each(|a| a.permissions.clear())
    });
    run_mi(
        "azure-ad-auth-test",
        &emu.managed_identity_params(),
        json!({}),
        &emu.base_url(),
    )
    .expect(1, 4)
    .says(&["403", "IdentityRiskyUser.Read.All"]);
}

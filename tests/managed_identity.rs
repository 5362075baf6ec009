//! Managed-identity sign-in: a Graph token from IMDS (the emulator's, through the
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` override), App Service and Azure Arc (the emulator's
//! endpoints, through `IDENTITY_ENDPOINT`), what each endpoint's refusals say, and the rule that
//! the IMDS host receives nothing but token requests, and only in this mode.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, MANAGED_IDENTITY_CLIENT_ID, ScriptedAnswer};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

const LIST: &str = "azure-ad-identity-protection-risky-user-list";
const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
const APP_SERVICE_PATH: &str = "/msi/token";
const ARC_PATH: &str = "/arc/metadata/identity/oauth2/token";

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
fn app_service_signs_in_with_its_endpoint_and_header() {
    let emu = tenant();
    let endpoint = format!("{}{APP_SERVICE_PATH}", emu.base_url());
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "app-service-header-value"),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://imds.example.com"),
    ];
    let params = emu.managed_identity_params();
    let run = run_env(&envelope(LIST, json!({"limit": "2"}), &params, json!({})), &env);
    run.expect(0, 1);
    assert!(!run.stderr.contains("app-service-header-value"));
    let sent = requests_to(&emu, APP_SERVICE_PATH);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("X-IDENTITY-HEADER"), Some("app-service-header-value"));
    assert_eq!(sent[0].header("Metadata"), None);
    assert_eq!(sent[0].query_value("api-version").as_deref(), Some("2019-08-01"));
    assert!(
        requests_to(&emu, IMDS_PATH).is_empty(),
        "IMDS asked besides App Service"
    );
}

#[test]
fn app_service_without_the_identity_says_which_to_assign() {
    let emu = tenant();
    let endpoint = format!("{}{APP_SERVICE_PATH}", emu.base_url());
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "app-service-header-value"),
    ];
    let params = with_client_id(&emu, "00000000-0000-0000-0000-00000000dead");
    let run = run_env(&envelope("azure-ad-auth-test", json!({}), &params, json!({})), &env);
    run.expect(1, 4).says(&[
        "No managed identity is assigned",
        "App Service identity endpoint",
        "client id 00000000-0000-0000-0000-00000000dead",
        "Unable to load the proper Managed Identity.",
        "correlation id ",
    ]);
    assert!(!run.text().contains("app-service-header-value") && !run.stderr.contains("app-service-header-value"));
}

/// The environment of an Arc machine whose agent is the emulator's.
fn arc_env(emu: &Emulator, path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("IDENTITY_ENDPOINT", format!("{}{path}", emu.base_url())),
        ("IMDS_ENDPOINT", emu.base_url()),
    ]
}

fn run_arc(emu: &Emulator, path: &str, params: &Value) -> Run {
    let env = arc_env(emu, path);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_env(&envelope("azure-ad-auth-test", json!({}), params, json!({})), &env)
}

/// A fresh folder for one test's files, outside the Arc agent's token folder.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aadip-mi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

#[test]
fn an_arc_challenge_outside_the_agents_folder_is_refused_and_its_file_never_sent() {
    let dir = scratch("arc-outside");
    let key_file = dir.join("agent.key");
    let emu = tenant_with(|c| c.arc_key_file = Some(key_file.clone()));
    let run = run_arc(&emu, ARC_PATH, &emu.managed_identity_params());
    run.expect(1, 4).says(&[
        "Refused the Azure Arc challenge",
        &key_file.display().to_string(),
        "/var/opt/azcmagent/tokens",
    ]);
    let key = std::fs::read_to_string(&key_file).expect("the emulated agent wrote its key");
    assert!(!run.result.to_string().contains(&key) && !run.stderr.contains(&key));
    let sent = requests_to(&emu, ARC_PATH);
    assert_eq!(sent.len(), 1, "one challenge, no second request");
    assert_eq!(sent[0].header("Authorization"), None);
    assert_eq!(sent[0].header("Metadata"), Some("true"));
    assert_eq!(sent[0].query_value("api-version").as_deref(), Some("2020-06-01"));
    assert!(requests_to(&emu, RISKY_USERS).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn an_arc_challenge_for_a_missing_key_in_the_agents_folder_says_who_may_read_it() {
    // Without a key file of its own the emulated agent names one in the real folder, unwritten.
    let emu = tenant();
    run_arc(&emu, ARC_PATH, &emu.managed_identity_params())
        .expect(1, 4)
        .says(&[
            "Cannot read the Azure Arc key file /var/opt/azcmagent/tokens/",
            "himds group",
        ]);
    assert_eq!(requests_to(&emu, ARC_PATH).len(), 1);
}

#[test]
fn arc_answers_other_than_a_challenge_say_what_they_mean() {
    let emu = tenant();
    // Not the Arc agent: a 401 without a Basic realm challenge (the App Service endpoint).
    run_arc(&emu, APP_SERVICE_PATH, &emu.managed_identity_params())
        .expect(1, 4)
        .says(&["without the Azure Arc agent's `Basic realm=<key file>` challenge"]);
    // An agent without the identity asked for answers before any challenge.
    emu.script(ScriptedAnswer::new(
        ARC_PATH,
        400,
        r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
    ));
    run_arc(
        &emu,
        ARC_PATH,
        &with_client_id(&emu, "00000000-0000-0000-0000-00000000beef"),
    )
    .expect(1, 4)
    .says(&[
        "No managed identity is assigned",
        "Azure Arc agent",
        "00000000-0000-0000-0000-00000000beef",
    ]);
    assert!(
        requests_to(&emu, ARC_PATH)
            .iter()
            .all(|r| r.header("Authorization").is_none())
    );
}

#[test]
fn the_arc_endpoint_must_not_be_plain_http_elsewhere_and_needs_imds_endpoint() {
    let emu = tenant();
    let params = emu.managed_identity_params();
    let auth_test = envelope("azure-ad-auth-test", json!({}), &params, json!({}));
    let hostile = [
        (
            "IDENTITY_ENDPOINT",
            "http://arc.example.com/metadata/identity/oauth2/token",
        ),
        ("IMDS_ENDPOINT", "http://arc.example.com"),
    ];
    run_env(&auth_test, &hostile).expect(2, 4).says(&["IDENTITY_ENDPOINT"]);
    // https is no better: the agent's key would go to another machine.
    let elsewhere = [
        (
            "IDENTITY_ENDPOINT",
            "https://arc.example.com/metadata/identity/oauth2/token",
        ),
        ("IMDS_ENDPOINT", "http://localhost:40342"),
    ];
    run_env(&auth_test, &elsewhere)
        .expect(2, 4)
        .says(&["IDENTITY_ENDPOINT", "only a loopback address"]);
    // IDENTITY_ENDPOINT alone is neither App Service nor Arc: IMDS answers, as in MSAL.
    let base = emu.base_url();
    let alone = [
        (
            "IDENTITY_ENDPOINT",
            "http://arc.example.com/metadata/identity/oauth2/token",
        ),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str()),
    ];
    run_env(&auth_test, &alone).expect(0, 1);
    assert_eq!(requests_to(&emu, IMDS_PATH).len(), 1);
}

/// A loopback port whose accept queue is full, so a new connection never opens: what
/// 169.254.169.254 does off Azure (it drops the packets).
#[cfg(target_os = "linux")]
fn a_port_that_drops_connections() -> (std::net::TcpListener, Vec<std::net::TcpStream>, std::net::SocketAddr) {
    use std::os::fd::FromRawFd as _;
    // SAFETY: a fresh socket bound to 127.0.0.1:0 and listening with a backlog of 0, whose
    // descriptor the TcpListener then owns; every pointer is to a local of the right size.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const address).cast(), size), 0, "bind");
        assert_eq!(libc::listen(fd, 0), 0, "listen");
        std::net::TcpListener::from_raw_fd(fd)
    };
    let address = listener.local_addr().expect("address");
    let held: Vec<_> = (0..8)
        .map_while(|_| std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(300)).ok())
        .collect();
    (listener, held, address)
}

#[cfg(target_os = "linux")]
#[test]
fn an_imds_that_never_connects_fails_in_seconds_without_retrying() {
    let emu = tenant();
    let (_listener, _held, address) = a_port_that_drops_connections();
    let run = run_mi(
        "azure-ad-auth-test",
        &emu.managed_identity_params(),
        json!({}),
        &format!("http://{address}"),
    );
    run.expect(1, 4).says(&[
        "no managed identity endpoint (not an Azure VM/AKS/Arc?)",
        "no connection within 3 s",
    ]);
    // One attempt, ended by the 3-second connect timeout (how long it takes is the bench's
    // business, not a test's): no retry, and not the 10-second connect timeout of other hosts.
    assert_eq!(run.stderr.matches(IMDS_PATH).count(), 1, "one attempt: {}", run.stderr);
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

/// IMDS and the Arc agent answer only direct requests, and the App Service header or Arc key
/// must not cross a proxy: with the system proxy on, the managed-identity request still goes
/// straight to the endpoint, and the proxy sees nothing.
#[test]
fn the_managed_identity_endpoint_is_reached_without_the_proxy() {
    use std::io::Read as _;
    let emu = tenant();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("a proxy port");
    proxy.set_nonblocking(true).expect("nonblocking");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("address"));
    let mut params = emu.managed_identity_params();
    params["proxy"] = json!("true");
    let base = emu.base_url();
    let env = [
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.as_str()),
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let started = run_env(&envelope("azure-ad-auth-start", json!({}), &params, json!({})), &env);
    started.expect(0, 1).says(&["managed identity"]);
    assert_eq!(requests_to(&emu, IMDS_PATH).len(), 1, "straight to IMDS");
    let mut seen = String::new();
    if let Ok((mut connection, _)) = proxy.accept() {
        let _ = connection.set_nonblocking(false);
        let _ = connection.set_read_timeout(Some(std::time::Duration::from_millis(200)));
        let _ = connection.read_to_string(&mut seen);
        panic!("the proxy got a connection: {seen}");
    }
}

/// No test may send a packet off loopback: every run of the binary gets IMDS at a loopback port
/// that refuses (tests/util.rs `isolated()`), so the managed-identity fixture, run with nothing
/// of its own, asks 127.0.0.1 and fails at once instead of contacting 169.254.169.254.
#[test]
fn a_run_without_an_imds_of_its_own_asks_a_loopback_port_that_refuses() {
    let fixture = include_str!("../fixtures/azure-ad-auth-test-managed-identity.json");
    let emu = tenant();
    let envelope = aimed(&serde_json::from_str(fixture).expect("JSON"), &emu);
    let run = run(&envelope);
    run.expect(1, 4)
        .says(&["no managed identity endpoint (not an Azure VM/AKS/Arc?)"]);
    let asked = format!("GET {REFUSING_IMDS}{IMDS_PATH} -> connection refused");
    assert!(run.stderr.contains(&asked), "{asked:?} missing in:\n{}", run.stderr);
    assert!(emu.requests().is_empty(), "nothing reached the emulator");
}

/// The shared run check fails a run whose stderr shows a request off loopback.
#[test]
fn the_run_check_refuses_a_request_off_loopback() {
    let lines = [
        (
            "azure-ad-identity-protection: POST http://127.0.0.1:8765/t/oauth2/v2.0/token -> 200 (3 ms)",
            true,
        ),
        (
            "azure-ad-identity-protection: GET http://localhost:1/beta/x -> 200 (3 ms)",
            true,
        ),
        (
            "azure-ad-identity-protection: GET http://[::1]:1/beta/x -> 200 (3 ms)",
            true,
        ),
        (
            "azure-ad-identity-protection: GET http://169.254.169.254/metadata/identity/oauth2/token -> connection timed out (3000 ms)",
            false,
        ),
        (
            "azure-ad-identity-protection: POST https://login.microsoftonline.com/t/oauth2/v2.0/token -> 200 (9 ms)",
            false,
        ),
        (
            "azure-ad-identity-protection: GET http://127.0.0.1.example.com/x -> 200 (1 ms)",
            false,
        ),
    ];
    for (line, allowed) in lines {
        let checked = std::panic::catch_unwind(|| assert_loopback_only(line));
        assert_eq!(checked.is_ok(), allowed, "{line}");
    }
}

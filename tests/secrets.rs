//! Credentials through every fixture and every failure mode: none may appear in what the binary
//! shows (entries, incidents, last_run, stderr; run() checks the same for every test).
//!
//! Each fixture runs against an emulator that accepts what it carries: the confidential app's
//! secret is a canary the tenant knows, the device codes and tokens are the placeholders the
//! emulator seeds, the certificate is its test certificate, the federated token one of its test
//! issuer, the managed identity its IMDS or (with a canary header) its App Service endpoint. A
//! fault is scripted on the endpoint that fixture really calls, and the emulator's request log
//! proves each run reached it. Watched: every credential in the envelope and the engine's
//! environment, in the output context, and every one the emulator received (form fields and
//! headers), so nothing the binary sent is missed.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, RecordedRequest, ScriptedAnswer, TenantConfig};
use serde_json::{Value, json};

/// The confidential app's secret in these runs: the tenant accepts it, so runs get past sign-in.
const CANARY_SECRET: &str = "CANARY-client-secret-7Q~planted.0123456789";
/// The App Service identity header in the App Service variant of the managed-identity fixture.
const CANARY_IDENTITY_HEADER: &str = "CANARY-identity-header-0123456789";
/// Whatever carries this text is a planted credential.
const CANARY: &str = "CANARY";

const CONFIDENTIAL_APP: &str = "3c1b2a90-7d6e-4f5a-8b9c-0d1e2f3a4b5c";
const DEVICE_CODE: &str = "/oauth2/v2.0/devicecode";
const IMDS: &str = "/metadata/identity/oauth2/token";
const APP_SERVICE: &str = "/msi/token";

/// Which managed-identity endpoint the engine offers in a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Engine {
    /// IMDS (the emulator's, through `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
    Imds,
    /// App Service: `IDENTITY_ENDPOINT` with the canary `IDENTITY_HEADER`.
    AppService,
}

/// The endpoints one fixture calls: where it signs in and which Graph path it asks, by path
/// suffix. From what fixtures/README.md says each shows and Graph's documented paths.
struct Calls {
    login: Option<&'static str>,
    graph: Option<String>,
}

fn calls(file: &str, fixture: &Value, engine: Engine) -> Calls {
    let command = fixture["command"].as_str().unwrap_or_default();
    let arg = |name: &str| fixture["args"][name].as_str().unwrap_or_default().to_string();
    let login = match (file, command) {
        (_, "azure-ad-auth-reset" | "get-mapping-fields") => None,
        ("azure-ad-auth-start.json", _) => Some(DEVICE_CODE),
        ("azure-ad-auth-test-managed-identity.json", _) if engine == Engine::AppService => Some(APP_SERVICE),
        ("azure-ad-auth-test-managed-identity.json", _) => Some(IMDS),
        _ => Some(TOKEN),
    };
    let users = "/identityProtection/riskyUsers";
    let principals = "/identityProtection/riskyServicePrincipals";
    let graph = match command {
        "azure-ad-auth-start" | "azure-ad-auth-complete" | "azure-ad-auth-reset" | "get-mapping-fields" => None,
        "azure-ad-identity-protection-sign-in-get" => Some(format!("{DETECTIONS}/{}", arg("detection_id"))),
        "azure-ad-identity-protection-sign-ins-list" => Some(format!("{DETECTIONS}/{}", arg("around_detection_id"))),
        "azure-ad-identity-protection-sign-in-confirm-safe" => Some("/auditLogs/signIns/confirmSafe".into()),
        "azure-ad-identity-protection-sign-in-confirm-compromised" => {
            Some("/auditLogs/signIns/confirmCompromised".into())
        }
        "azure-ad-identity-protection-user-sessions-revoke" => Some(format!(
            "/users/{}/revokeSignInSessions",
            arg("user_id").split(',').next().unwrap_or_default()
        )),
        "azure-ad-identity-protection-ip-block"
        | "azure-ad-identity-protection-ip-unblock"
        | "azure-ad-identity-protection-named-locations-list" => {
            Some("/identity/conditionalAccess/namedLocations".into())
        }
        // Mirroring: the changed detections; a mirrored id (a GUID) is looked for among risky
        // users first (docs/protocol.md §3.5).
        "get-modified-remote-data" => Some(DETECTIONS.into()),
        "get-remote-data" => Some(format!("{users}/{}", arg("id"))),
        "update-remote-system" => Some(format!("{users}/{}", arg("remoteId"))),
        "test-module" | "azure-ad-auth-test" | "azure-ad-identity-protection-risky-user-list" => Some(users.into()),
        "azure-ad-identity-protection-risks-list" | "fetch-incidents" => Some(DETECTIONS.into()),
        "azure-ad-identity-protection-risky-user-history-list" => Some(format!("{users}/{}/history", arg("user_id"))),
        "azure-ad-identity-protection-risky-user-confirm-compromised" => Some(format!("{users}/confirmCompromised")),
        "azure-ad-identity-protection-risky-user-dismiss" => Some(format!("{users}/dismiss")),
        "azure-ad-identity-protection-risky-user-confirm-safe" => Some(format!("{users}/confirmSafe")),
        "azure-ad-identity-protection-risky-service-principal-list" => Some(principals.into()),
        "azure-ad-identity-protection-risky-service-principal-history-list" => {
            Some(format!("{principals}/{}/history", arg("service_principal_id")))
        }
        "azure-ad-identity-protection-risky-service-principal-confirm-compromised" => {
            Some(format!("{principals}/confirmCompromised"))
        }
        "azure-ad-identity-protection-risky-service-principal-dismiss" => Some(format!("{principals}/dismiss")),
        "azure-ad-identity-protection-service-principal-risks-list" => {
            Some("/identityProtection/servicePrincipalRiskDetections".into())
        }
        other => panic!("{file}: {other} is new here; say which endpoints it calls"),
    };
    Calls { login, graph }
}

/// Which endpoint a fault is scripted on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Login,
    Graph,
}

/// A failure mode: its name, its endpoint, and how the emulator is made to fail there.
struct Fault {
    name: &'static str,
    target: Target,
    /// Fails the endpoint at this path suffix; `None` for the 401 fault, which expires the
    /// tokens a first run obtained.
    script: Option<fn(&str) -> ScriptedAnswer>,
}

const LOGIN_FAULTS: [Fault; 4] = [
    Fault {
        name: "login 429 twice",
        target: Target::Login,
        script: Some(|path| ScriptedAnswer::throttled(path, Some("0")).times(2)),
    },
    Fault {
        name: "login html 400",
        target: Target::Login,
        script: Some(|path| ScriptedAnswer::html_error(path, 400)),
    },
    Fault {
        name: "login truncated",
        target: Target::Login,
        script: Some(ScriptedAnswer::truncated_json),
    },
    Fault {
        name: "login invalid_grant",
        target: Target::Login,
        script: Some(|path| {
            ScriptedAnswer::entra_error(
                path,
                400,
                "invalid_grant",
                50_173,
                "The provided grant has expired due to it being revoked.",
            )
        }),
    },
];

const GRAPH_FAULTS: [Fault; 4] = [
    Fault {
        name: "graph 401 on a cached token",
        target: Target::Graph,
        script: None,
    },
    Fault {
        name: "graph html 502",
        target: Target::Graph,
        script: Some(|path| ScriptedAnswer::html_error(path, 502)),
    },
    Fault {
        name: "graph 403",
        target: Target::Graph,
        script: Some(|path| ScriptedAnswer::graph_error(path, 403, "Forbidden", "Insufficient privileges.")),
    },
    Fault {
        name: "graph 429 twice",
        target: Target::Graph,
        script: Some(|path| ScriptedAnswer::throttled(path, Some("0")).times(2)),
    },
];

/// The fixtures' tenant, with the confidential app's secret replaced by the canary.
fn canary_tenant() -> TenantConfig {
    let mut config = FIXTURE_TENANT.clone();
    let app = config.apps.iter_mut().find(|a| a.client_id == CONFIDENTIAL_APP);
    app.expect("the fixtures' confidential app").client_secret = Some(CANARY_SECRET.into());
    config
}

/// The fixture aimed at `emu`, with the canary secret where it has a secret.
fn planted(fixture: &Value, emu: &Emulator) -> Value {
    let mut envelope = aimed(fixture, emu);
    if envelope["params"].get("credentials").is_some() {
        envelope["params"]["credentials"]["password"] = json!(CANARY_SECRET);
    }
    envelope
}

/// The engine's environment for a run against `emu`.
fn environment(emu: &Emulator, engine: Engine) -> Vec<(String, String)> {
    let mut environment = engine_environment(emu);
    if engine == Engine::AppService {
        environment.push(("IDENTITY_ENDPOINT".into(), format!("{}{APP_SERVICE}", emu.base_url())));
        environment.push(("IDENTITY_HEADER".into(), CANARY_IDENTITY_HEADER.into()));
    }
    environment
}

/// One fixture under one fault; returns a description of how the faulted endpoint was reached.
fn run_faulted(file: &str, fixture: &Value, engine: Engine, fault: Option<&Fault>) -> String {
    let calls = calls(file, fixture, engine);
    let emu = fixture_tenant_with(canary_tenant());
    let environment = environment(&emu, engine);
    let vars = as_vars(&environment);
    let mut envelope = planted(fixture, &emu);
    let target = fault.map(|f| match f.target {
        Target::Login => calls
            .login
            .expect("a login fault on a fixture that signs in")
            .to_string(),
        Target::Graph => calls
            .graph
            .clone()
            .expect("a Graph fault on a fixture that calls Graph"),
    });
    let mut cached_token = None;
    match (fault, &target) {
        (
            Some(Fault {
                script: Some(script), ..
            }),
            Some(path),
        ) => emu.script(script(path)),
        (Some(_), _) => {
            let first = run_env(&envelope, &vars);
            cached_token = first.context()["access_token"].as_str().map(str::to_string);
            assert!(
                cached_token.is_some(),
                "{file}: the first run stored no token: {:#}",
                first.result
            );
            envelope["context"] = first.context().clone();
            emu.expire_access_tokens();
        }
        (None, _) => {}
    }
    let before = emu.requests().len();
    let run = run_env(&envelope, &vars);
    let received: Vec<RecordedRequest> = emu.requests().into_iter().skip(before).collect();
    let reached = reached(&received, target.as_deref(), cached_token.as_deref(), &calls)
        .unwrap_or_else(|why| panic!("{file} ({engine:?}) with {:?}: {why}", fault.map(|f| f.name)));
    let mut watched = credentials_in(&envelope);
    watched.extend(credentials_in(run.context()));
    watched.extend(credentials_in_environment(&vars));
    watched.extend(credentials_sent(&emu));
    watched.push(CANARY.to_string());
    assert_credentials_absent(&run, &watched);
    reached
}

/// Proof from the emulator's log that the run reached the faulted endpoint (for the 401 fault:
/// with the token the first run cached); without a fault, every endpoint the fixture calls (and,
/// for one that calls none, that nothing was sent).
fn reached(
    received: &[RecordedRequest],
    target: Option<&str>,
    cached_token: Option<&str>,
    calls: &Calls,
) -> Result<String, String> {
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    let Some(target) = target else {
        let expected: Vec<&str> = calls.login.into_iter().chain(calls.graph.as_deref()).collect();
        return match expected.iter().all(|e| paths.iter().any(|p| p.ends_with(e))) {
            true if expected.is_empty() && !paths.is_empty() => Err(format!("it sent {paths:?}")),
            true => Ok(format!("{expected:?}")),
            false => Err(format!("it sent {paths:?}, not all of {expected:?}")),
        };
    };
    let first = received.iter().find(|r| r.path.ends_with(target));
    let first = first.ok_or_else(|| format!("{target} was never asked (it sent {paths:?})"))?;
    match cached_token {
        Some(token) if first.header("Authorization") != Some(&format!("Bearer {token}")) => {
            Err(format!("{target} was first asked without the expired token"))
        }
        _ => Ok(target.to_string()),
    }
}

#[test]
fn no_fixture_leaks_a_credential_in_any_failure_mode_at_the_endpoint_it_calls() {
    let mut runs = 0;
    for (file, fixture) in fixtures() {
        let engines: &[Engine] = match file.as_str() {
            "azure-ad-auth-test-managed-identity.json" => &[Engine::Imds, Engine::AppService],
            _ => &[Engine::Imds],
        };
        for &engine in engines {
            let calls = calls(&file, &fixture, engine);
            let faults = LOGIN_FAULTS
                .iter()
                .filter(|_| calls.login.is_some())
                .chain(GRAPH_FAULTS.iter().filter(|_| calls.graph.is_some()));
            run_faulted(&file, &fixture, engine, None);
            runs += 1;
            for fault in faults {
                run_faulted(&file, &fixture, engine, Some(fault));
                runs += 1;
            }
        }
    }
    // Counted by hand from fixtures/: 29 runs of a fixture that signs in and calls Graph (the
    // managed-identity one twice: IMDS and App Service) × (no fault + 4 login + 4 Graph faults),
    // 4 that only sign in (auth-start twice, auth-complete twice) × (1 + 4), auth-reset and
    // get-mapping-fields once each (neither signs in).
    assert_eq!(runs, 29 * 9 + 4 * 5 + 2, "runs reaching their faulted endpoint");
}

/// The shared check looks everywhere the binary writes but the context: an entry's text and its
/// keys, incidents, last_run, stderr, and the URL-encoded and JSON-escaped forms.
#[test]
fn the_credential_check_finds_a_credential_in_every_place_and_form() {
    let secret = "s3cr3t+/value\"q".to_string();
    let url_encoded = "s3cr3t%2B%2Fvalue%22q";
    let places = [
        (json!({"entries": [{"HumanReadable": format!("x {secret} y")}]}), ""),
        (json!({"entries": [{"EntryContext": {secret.clone(): 1}}]}), ""),
        (
            json!({"incidents": [{"rawJSON": format!("{{\"a\":{}}}", json!(secret))}]}),
            "",
        ),
        (json!({"last_run": {"emitted_detections": {url_encoded: "2024"}}}), ""),
        (
            json!({"entries": []}),
            "GET http://127.0.0.1:1/beta/s3cr3t+/value\"q -> 200",
        ),
    ];
    for (result, stderr) in places {
        let run = Run {
            exit: 0,
            result: result.clone(),
            stderr: stderr.to_string(),
        };
        let checked = std::panic::catch_unwind(|| assert_credentials_absent(&run, std::slice::from_ref(&secret)));
        assert!(checked.is_err(), "not found in {result} / {stderr:?}");
    }
    let in_context_only = Run {
        exit: 0,
        result: json!({"entries": [], "context": {"access_token": secret}}),
        stderr: String::new(),
    };
    assert_credentials_absent(&in_context_only, std::slice::from_ref(&secret));
}

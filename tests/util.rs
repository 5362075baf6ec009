//! Shared test support: run the compiled binary on an envelope and check the result.

use assert_cmd::Command;
use azure_ad_identity_protection::emulator::{Emulator, RecordedRequest, TenantConfig};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// Paths the tests count requests to.
pub const TOKEN: &str = "/oauth2/v2.0/token";
pub const RISKY_USERS: &str = "/identityProtection/riskyUsers";
pub const DETECTIONS: &str = "/identityProtection/riskDetections";

pub static RESULT_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(include_str!("../schema/result.schema.json")).expect("result schema is JSON");
    jsonschema::draft202012::new(&schema).expect("result schema compiles")
});

/// One finished invocation.
pub struct Run {
    pub exit: i32,
    pub result: Value,
    pub stderr: String,
}

impl Run {
    /// The first entry.
    pub fn entry(&self) -> &Value {
        &self.result["entries"][0]
    }

    /// The first entry's markdown.
    pub fn text(&self) -> &str {
        self.entry()["HumanReadable"].as_str().unwrap_or_default()
    }

    /// The result's context.
    pub fn context(&self) -> &Value {
        &self.result["context"]
    }

    /// Asserts the exit code and the first entry's type, showing the result on failure.
    pub fn expect(&self, exit: i32, entry_type: u64) -> &Self {
        assert_eq!(
            (self.exit, self.entry()["Type"].as_u64()),
            (exit, Some(entry_type)),
            "{:#}\n{}",
            self.result,
            self.stderr
        );
        self
    }

    /// Asserts that the first entry's markdown contains every needle.
    pub fn says(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            assert!(self.text().contains(needle), "missing {needle:?} in:\n{}", self.text());
        }
        self
    }
}

/// The binary with a clean environment: no proxy variables, no HOME surprises.
pub fn binary() -> Command {
    let mut command = Command::cargo_bin("azure-ad-identity-protection").expect("binary built");
    command.env_clear().env("RUST_BACKTRACE", "0");
    command
}

/// Runs the binary on raw stdin bytes and checks the invariants every result must hold.
pub fn run_raw(stdin: impl Into<Vec<u8>>) -> Run {
    run_raw_within(stdin, std::time::Duration::from_secs(120))
}

/// The same, failing if the binary does not finish within `limit`.
pub fn run_raw_within(stdin: impl Into<Vec<u8>>, limit: std::time::Duration) -> Run {
    run_in(binary(), stdin.into(), limit)
}

/// Runs an envelope with extra environment variables (proxy settings).
pub fn run_env(envelope: &Value, vars: &[(&str, &str)]) -> Run {
    let mut command = binary();
    command.envs(vars.iter().copied());
    let run = run_in(
        command,
        envelope.to_string().into_bytes(),
        std::time::Duration::from_secs(120),
    );
    check_context_rules(envelope, &run);
    run
}

fn run_in(mut command: Command, stdin: Vec<u8>, limit: std::time::Duration) -> Run {
    let output = command
        .write_stdin(stdin.clone())
        .timeout(limit)
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let result: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"));
    let errors: Vec<String> = RESULT_SCHEMA
        .iter_errors(&result)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "result breaks result.schema.json: {errors:?}\n{result:#}"
    );
    let run = Run {
        exit: output.status.code().unwrap_or(-1),
        result,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(matches!(run.exit, 0..=2), "exit code {}", run.exit);
    assert_no_secret_leaked(&stdin, &run);
    run
}

/// Runs an envelope.
pub fn run(envelope: &Value) -> Run {
    let run = run_raw(envelope.to_string());
    check_context_rules(envelope, &run);
    run
}

/// context_changed is true exactly when the context differs; the version is echoed.
fn check_context_rules(envelope: &Value, run: &Run) {
    let input = envelope.get("context").cloned().unwrap_or_else(|| json!({}));
    if let Some(context) = run.result.get("context") {
        assert_eq!(
            run.result["context_changed"],
            json!(*context != input),
            "context_changed is wrong"
        );
    }
    assert_eq!(
        run.result.get("context_version"),
        envelope.get("context_version"),
        "context_version not echoed"
    );
}

/// Every secret the invocation saw (client secret, tokens, device codes, in the input and the
/// output context) must be absent from the entries and from stderr.
fn assert_no_secret_leaked(stdin: &[u8], run: &Run) {
    let input: Value = serde_json::from_slice(stdin).unwrap_or(Value::Null);
    let mut secrets = Vec::new();
    collect_secrets(&input, &mut secrets);
    collect_secrets(&run.result["context"], &mut secrets);
    let entries = run.result["entries"].to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        assert!(
            !entries.contains(secret.as_str()),
            "a secret leaked into the entries: {entries}"
        );
        assert!(
            !run.stderr.contains(secret.as_str()),
            "a secret leaked into stderr: {}",
            run.stderr
        );
    }
}

const SECRET_KEYS: [&str; 5] = [
    "password",
    "access_token",
    "current_refresh_token",
    "device_code",
    "refresh_token",
];

fn collect_secrets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value.as_str() {
                    Some(text) if SECRET_KEYS.contains(&key.as_str()) => out.push(text.to_string()),
                    _ => collect_secrets(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, out)),
        _ => {}
    }
}

/// A default emulated tenant.
pub fn tenant() -> Emulator {
    Emulator::start(TenantConfig::default()).expect("emulator starts")
}

/// A tenant with a custom configuration.
pub fn tenant_with(change: impl FnOnce(&mut TenantConfig)) -> Emulator {
    let mut config = TenantConfig::default();
    change(&mut config);
    Emulator::start(config).expect("emulator starts")
}

/// Device-code params pointing at the emulator (with its tenant id).
pub fn device_params(emu: &Emulator) -> Value {
    json!({
        "app_id": "4ffef4a4-601f-4393-a789-432f3f3b8470",
        "tenant_id": TenantConfig::default().tenant_id,
        "azure_ad_endpoint": emu.base_url(),
        "graph_endpoint": emu.base_url(),
        "proxy": "false",
    })
}

/// Client-credentials params with the emulator's confidential app and its secret.
pub fn app_params(emu: &Emulator) -> Value {
    let config = TenantConfig::default();
    let app = config
        .apps
        .iter()
        .find(|a| a.client_secret.is_some())
        .expect("a confidential app");
    json!({
        "app_id": app.client_id,
        "tenant_id": config.tenant_id,
        "client_credentials": "true",
        "credentials": {"identifier": "", "password": app.client_secret},
        "azure_ad_endpoint": emu.base_url(),
        "graph_endpoint": emu.base_url(),
    })
}

/// An envelope.
pub fn envelope(command: &str, args: Value, params: &Value, context: Value) -> Value {
    json!({"command": command, "args": args, "params": params, "context": context})
}

/// Requests whose path ends with `suffix`.
pub fn requests_to(emu: &Emulator, suffix: &str) -> Vec<RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path.ends_with(suffix))
        .collect()
}

/// A context holding a fresh sign-in: auth-start, approve, auth-complete.
pub fn signed_in(emu: &Emulator, params: &Value) -> Map<String, Value> {
    let started = run(&envelope("azure-ad-auth-start", json!({}), params, json!({})));
    started.expect(0, 1);
    assert!(emu.approve(&emu.last_user_code().expect("a user code")));
    let completed = run(&envelope(
        "azure-ad-auth-complete",
        json!({}),
        params,
        started.context().clone(),
    ));
    completed.expect(0, 1);
    completed.context().as_object().cloned().expect("context")
}

/// Now, in epoch seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Runs a command with the client-credentials parameters and no context.
pub fn command(emu: &Emulator, name: &str, args: Value) -> Run {
    run(&envelope(name, args, &app_params(emu), json!({})))
}

/// The items a list command put under `AADIdentityProtection.<context>`.
pub fn items<'a>(run: &'a Run, context: &str) -> &'a Vec<Value> {
    run.entry()["EntryContext"][format!("AADIdentityProtection.{context}(val.id === obj.id)")]
        .as_array()
        .expect("context items")
}

/// The NextLink URL a list command wrote for `context`.
pub fn next_link(run: &Run, context: &str) -> String {
    let key = format!("AADIdentityProtection.NextLink(val.Description === \"{context}\")");
    run.entry()["EntryContext"][key]["URL"]
        .as_str()
        .expect("NextLink URL")
        .to_string()
}

/// The `$filter` of the last request whose path ends with `suffix`.
pub fn last_filter(emu: &Emulator, suffix: &str) -> Option<String> {
    requests_to(emu, suffix).last().and_then(|r| r.query_value("$filter"))
}

/// A federated token of the emulator's test issuer for `subject`, from its admin endpoint, as a
/// Kubernetes cluster would project it into a pod.
pub fn federated_token(emu: &Emulator, subject: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let url = format!("{}/_emulator/federated-token", emu.base_url());
    let mut response = agent
        .post(&url)
        .send_json(json!({"subject": subject}))
        .expect("the emulator writes a federated token");
    let body: Value = response.body_mut().read_json().expect("JSON");
    body["token"].as_str().expect("a token").to_string()
}

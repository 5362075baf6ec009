//! Shared test support: run the compiled binary on an envelope and check the result.

use assert_cmd::Command;
pub use azure_ad_identity_protection::auth::managed_identity::IMDS_VARIABLE;
use azure_ad_identity_protection::emulator::{Emulator, RecordedRequest, TenantConfig};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use std::time::Duration;

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

/// The compiled binary under test.
pub const PROGRAM: &str = env!("CARGO_BIN_EXE_azure-ad-identity-protection");

/// The IMDS address every run gets unless it names its own: a loopback port nothing listens on.
/// Without it a managed-identity run would send packets to the link-local 169.254.169.254.
pub const REFUSING_IMDS: &str = "http://127.0.0.1:9";

/// The one way tests start the binary (plugin, demo or emulator): a cleared environment (no proxy
/// variables, no HOME surprises, no identity of this machine) with IMDS on loopback.
pub fn isolated() -> std::process::Command {
    let mut command = std::process::Command::new(PROGRAM);
    command
        .env_clear()
        .env("RUST_BACKTRACE", "0")
        .env(IMDS_VARIABLE, REFUSING_IMDS);
    command
}

/// Whether the tests run in CI (`CI=true`, as .ci/run and CI services set it): there a missing
/// prerequisite is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// [`isolated`] as an assert_cmd command (stdin, timeout).
pub fn binary() -> Command {
    Command::from_std(isolated())
}

/// Runs the binary on raw stdin bytes and checks the invariants every result must hold.
pub fn run_raw(stdin: impl Into<Vec<u8>>) -> Run {
    run_raw_within(stdin, HANG_GUARD)
}

/// How long a run may take before it counts as hung: generous, never a speed requirement.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The same, failing if the binary does not finish within `limit`.
pub fn run_raw_within(stdin: impl Into<Vec<u8>>, limit: Duration) -> Run {
    run_in(binary(), stdin.into(), &[], limit)
}

/// Runs an envelope with extra environment variables (proxy settings, the engine's identity).
pub fn run_env(envelope: &Value, vars: &[(&str, &str)]) -> Run {
    let mut command = binary();
    command.envs(vars.iter().copied());
    let run = run_in(command, envelope.to_string().into_bytes(), vars, HANG_GUARD);
    check_context_rules(envelope, &run);
    run
}

fn run_in(mut command: Command, stdin: Vec<u8>, vars: &[(&str, &str)], limit: Duration) -> Run {
    let output = command
        .write_stdin(stdin.clone())
        .timeout(limit)
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let Some(exit) = output.status.code() else {
        panic!("the binary did not finish within {limit:?} and was killed (a hang?); stderr:\n{stderr}");
    };
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
    let run = Run { exit, result, stderr };
    assert!(matches!(run.exit, 0..=2), "exit code {}", run.exit);
    assert_loopback_only(&run.stderr);
    let input: Value = serde_json::from_slice(&stdin).unwrap_or(Value::Null);
    let mut carried = credentials_in(&input);
    carried.extend(credentials_in(&run.result["context"]));
    carried.extend(credentials_in_environment(vars));
    assert_credentials_absent(&run, &carried);
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

/// Every request the binary logged on stderr (`GET http://host:port/path -> ...`) went to a
/// loopback address: no test may send a packet off this machine.
pub fn assert_loopback_only(stderr: &str) {
    for line in stderr.lines() {
        let Some(url) = logged_url(line) else { continue };
        assert!(
            is_loopback_url(url),
            "a request left loopback: {line}\n(every test runs the binary through tests/util.rs `isolated()`, \
             which points IMDS at {REFUSING_IMDS}; a test that needs another host must use loopback)"
        );
    }
}

/// The URL of a request line the binary logs: `azure-ad-identity-protection: METHOD URL -> outcome`.
fn logged_url(line: &str) -> Option<&str> {
    let line = line.strip_prefix("azure-ad-identity-protection: ").unwrap_or(line);
    let rest = line.strip_prefix("GET ").or_else(|| line.strip_prefix("POST "))?;
    rest.split_whitespace().next()
}

/// Whether the origin of `url` (scheme, host, port; the path is not parsed) is a loopback address.
fn is_loopback_url(url: &str) -> bool {
    let origin_end = url.find("://").map_or(url.len(), |at| {
        url[at + 3..].find('/').map_or(url.len(), |end| at + 3 + end)
    });
    match url::Url::parse(&url[..origin_end])
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Keys whose string value is a credential, wherever they sit in an envelope, a context or a
/// parameter (`credentials.password`, `credentials_certificate.password`).
const CREDENTIAL_KEYS: [&str; 8] = [
    "password",
    "access_token",
    "current_refresh_token",
    "refresh_token",
    "device_code",
    "client_secret",
    "private_key",
    "certificate",
];

/// Every credential `value` holds under a [`CREDENTIAL_KEYS`] key; a PEM private key also as its
/// base64 body and each of its lines (a leak of one line is a leak).
pub fn credentials_in(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_credentials(value, &mut found);
    found
}

fn collect_credentials(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value.as_str() {
                    Some(text) if CREDENTIAL_KEYS.contains(&key.as_str()) => out.extend(credential_forms(text)),
                    _ => collect_credentials(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_credentials(v, out)),
        _ => {}
    }
}

/// A credential as it may be shown: itself; for PEM text, only a private key counts (a
/// certificate is public), as its block, its base64 body and every body line.
fn credential_forms(text: &str) -> Vec<String> {
    if !text.contains("-----BEGIN") {
        return vec![text.to_string()];
    }
    let Some(key_start) = private_key_start(text) else {
        return Vec::new();
    };
    let key = &text[key_start..];
    let body: Vec<&str> = key
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let mut forms = vec![key.trim().to_string(), body.concat()];
    forms.extend(body.iter().map(|line| line.to_string()));
    forms
}

/// Where the first private key block of PEM text begins (`-----BEGIN [RSA |EC ]PRIVATE KEY-----`).
fn private_key_start(text: &str) -> Option<usize> {
    text.match_indices("-----BEGIN ")
        .find(|(at, _)| {
            text[*at..]
                .lines()
                .next()
                .is_some_and(|l| l.contains("PRIVATE KEY-----"))
        })
        .map(|(at, _)| at)
}

/// Credentials the engine's environment gives a run: the federated token its token file holds
/// and the App Service identity header.
pub fn credentials_in_environment(vars: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in vars {
        match *name {
            // Only a regular file: the files tests point the variable at a FIFO, which would
            // block this process for ever.
            "AZURE_FEDERATED_TOKEN_FILE" if std::fs::metadata(value).is_ok_and(|m| m.is_file()) => {
                found.extend(std::fs::read_to_string(value).ok().map(|t| t.trim().to_string()))
            }
            "IDENTITY_HEADER" => found.push(value.to_string()),
            _ => {}
        }
    }
    found
}

/// Form fields that carry a credential in a request to the login host.
const CREDENTIAL_FIELDS: [&str; 6] = [
    "client_secret",
    "client_assertion",
    "refresh_token",
    "device_code",
    "code",
    "assertion",
];

/// Every credential the emulator received so far: the form fields above, and the values of the
/// `Authorization` (bearer token, Arc key) and `X-IDENTITY-HEADER` headers.
pub fn credentials_sent(emu: &Emulator) -> Vec<String> {
    let mut found = Vec::new();
    for request in emu.requests() {
        for (field, value) in request.form() {
            if CREDENTIAL_FIELDS.contains(&field.as_str()) {
                found.push(value);
            }
        }
        if let Some(authorization) = request.header("Authorization") {
            let credential = authorization.split_once(' ').map_or(authorization, |(_, c)| c);
            found.push(credential.trim().to_string());
        }
        found.extend(request.header("X-IDENTITY-HEADER").map(str::to_string));
    }
    found
}

/// None of `credentials` (at least 6 characters; also URL- and JSON-encoded) is in any key or
/// string of what the binary shows (the result but its `context`: entries, incidents, last_run,
/// the scheduled command) or on stderr.
pub fn assert_credentials_absent(run: &Run, credentials: &[String]) {
    let mut shown = Vec::new();
    if let Value::Object(result) = &run.result {
        for (key, value) in result.iter().filter(|(key, _)| key.as_str() != "context") {
            shown.push((key.clone(), key.as_str()));
            texts(value, key, &mut shown);
        }
    }
    shown.push(("stderr".to_string(), run.stderr.as_str()));
    for credential in credentials.iter().filter(|c| c.len() >= 6) {
        for form in encoded_forms(credential) {
            if let Some((place, text)) = shown.iter().find(|(_, text)| text.contains(form.as_str())) {
                let at = text.find(form.as_str()).unwrap_or_default();
                panic!(
                    "a credential leaked into {place} (as {form:?}): ...{}...",
                    excerpt(text, at, form.len())
                );
            }
        }
    }
}

/// The credential, and its URL-encoded and JSON-escaped forms where they differ.
fn encoded_forms(credential: &str) -> Vec<String> {
    let url_encoded: String = url::form_urlencoded::byte_serialize(credential.as_bytes()).collect();
    let json_escaped = serde_json::to_string(credential).unwrap_or_default();
    let json_escaped = json_escaped.trim_matches('"').to_string();
    let mut forms = vec![credential.to_string()];
    for form in [url_encoded, json_escaped] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// Every key and string of `value`, with where it sits (`entries/0/HumanReadable`).
fn texts<'a>(value: &'a Value, place: &str, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(text) => out.push((place.to_string(), text)),
        Value::Object(map) => {
            for (key, value) in map {
                let inner = format!("{place}/{key}");
                out.push((inner.clone(), key.as_str()));
                texts(value, &inner, out);
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                texts(item, &format!("{place}/{n}"), out);
            }
        }
        _ => {}
    }
}

/// Up to 60 characters either side of `at..at + len` (char boundaries kept), for a short message.
fn excerpt(text: &str, at: usize, len: usize) -> &str {
    let mut start = at.saturating_sub(60);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + 60).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

/// The engine environment that points a run at `emu` as fixtures/README.md's replay sets it:
/// IMDS is the emulator's (`AZURE_POD_IDENTITY_AUTHORITY_HOST`), which only managed-identity
/// runs contact (tests/managed_identity.rs shows the other modes never do); and
/// `AZURE_FEDERATED_TOKEN_FILE` names a file holding a fresh token of the emulator's test issuer,
/// which only a run without a secret or a certificate uses (tests/certificate.rs).
pub fn engine_environment(emu: &Emulator) -> Vec<(String, String)> {
    let environment = emu.managed_identity_environment();
    let variables = environment.as_object().expect("an object of variables");
    let mut variables: Vec<(String, String)> = variables
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().expect("a string").to_string()))
        .collect();
    let dir = std::env::temp_dir().join(format!("aadip-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!(
        "federated-token-{}",
        emu.base_url().rsplit(':').next().unwrap_or("0")
    ));
    let subject = azure_ad_identity_protection::emulator::TEST_FEDERATED_SUBJECT;
    std::fs::write(&file, federated_token(emu, subject)).expect("token file");
    variables.push(("AZURE_FEDERATED_TOKEN_FILE".into(), file.display().to_string()));
    variables
}

/// `(name, value)` pairs as [`run_env`] takes them.
pub fn as_vars(environment: &[(String, String)]) -> Vec<(&str, &str)> {
    environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The tenant the standalone `emulator` subcommand serves and the fixtures name (seed 1, 300
/// users, 3000 detections), generated once per test process.
pub static FIXTURE_TENANT: LazyLock<TenantConfig> = LazyLock::new(|| TenantConfig::generated(1, 300, 3000));

/// An emulator of `config` that accepts the fixtures' placeholder device codes and tokens.
pub fn fixture_tenant_with(config: TenantConfig) -> Emulator {
    let emu = Emulator::start(config).expect("emulator starts");
    emu.seed_fixture_credentials();
    emu
}

/// Every envelope in fixtures/, as (file name, envelope), in file-name order.
pub fn fixtures() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("fixture is JSON");
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        found.push((file.to_string(), fixture));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// A fixture pointed at `emu`: only the endpoints change.
pub fn aimed(fixture: &Value, emu: &Emulator) -> Value {
    let mut envelope = fixture.clone();
    envelope["params"]["azure_ad_endpoint"] = json!(emu.base_url());
    envelope["params"]["graph_endpoint"] = json!(emu.base_url());
    envelope
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

/// What `azure-ad-auth-test` answers when Graph (the emulator `emu`, default `beta`) accepted
/// the token of `credential` ("the certificate of app …").
pub fn auth_test_success(credential: &str, emu: &Emulator) -> String {
    format!(
        "✅ Success! Using {credential}, Microsoft Graph answered the risky users list at {}/beta.",
        emu.base_url()
    )
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

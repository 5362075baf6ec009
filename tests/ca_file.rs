//! Trusting a CA: the `ca_file` parameter (a PEM file's path or the PEM text) and the
//! `SSL_CERT_FILE` variable, both added to the built-in roots, against the emulator's TLS front.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ServeOptions};
use serde_json::{Value, json};
use std::io::BufRead;

const LIST: &str = "azure-ad-identity-protection-risky-user-list";

/// The emulator on HTTPS with its loopback CA (name-constrained to loopback names).
fn tls_tenant() -> Emulator {
    Emulator::serve(ServeOptions {
        tls: true,
        ..ServeOptions::default()
    })
    .expect("TLS emulator")
}

/// The emulator's client-credentials params without `ca_file`: what a host had before it existed.
fn params_without_ca(emu: &Emulator) -> Value {
    let mut params = emu.instance_params();
    let removed = params.as_object_mut().and_then(|p| p.remove("ca_file"));
    assert!(removed.is_some(), "the TLS emulator's params carry ca_file");
    params
}

fn ca_path(emu: &Emulator) -> String {
    emu.ca_file().expect("a CA file").display().to_string()
}

fn list(params: &Value) -> Value {
    envelope(LIST, json!({"limit": "2"}), params, json!({}))
}

/// `azure-ad-identity-protection emulator ...` as a child process, killed on drop.
struct EmulatorProcess(std::process::Child);

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the emulator command line and returns it with its first stdout line.
fn emulator_command(args: &[&str]) -> (EmulatorProcess, Value) {
    let program = assert_cmd::cargo::cargo_bin("azure-ad-identity-protection");
    let mut child = std::process::Command::new(program)
        .arg("emulator")
        .args(args)
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let process = EmulatorProcess(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a first line");
    (process, serde_json::from_str(&line).expect("the first line is JSON"))
}

#[test]
fn the_tls_emulators_printed_params_alone_sign_in_and_list_risky_users() {
    let (_emulator, line) = emulator_command(&["--tls", "--port", "0"]);
    let params = &line["params"];
    assert_eq!(params["ca_file"], line["ca_file"], "{line}");
    assert!(
        params["azure_ad_endpoint"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://")
    );
    let run = run(&list(params));
    run.expect(0, 1).says(&["Risky Users (2 results)"]);
    assert!(
        run.context()["access_token"].is_string(),
        "signed in with client credentials"
    );
    let device = &line["device_code_params"];
    run_raw(envelope("azure-ad-auth-start", json!({}), device, json!({})).to_string())
        .expect(0, 1)
        .says(&["devicelogin"]);
}

#[test]
fn tls_needs_a_trusted_certificate_unless_insecure() {
    let emu = tls_tenant();
    let mut params = params_without_ca(&emu);
    run(&list(&params))
        .expect(1, 4)
        .says(&["TLS failed", "UnknownIssuer", "ca_file"]);
    assert!(emu.requests().is_empty(), "no request got through the handshake");
    params["insecure"] = json!("true");
    run(&list(&params)).expect(0, 1);
}

#[test]
fn ssl_cert_file_alone_is_trusted() {
    let emu = tls_tenant();
    let params = params_without_ca(&emu);
    let ca = ca_path(&emu);
    run_env(&list(&params), &[("SSL_CERT_FILE", &ca)])
        .expect(0, 1)
        .says(&["Risky Users (2 results)"]);
    // Added to the built-in roots, not replacing them: ca_file and the variable together.
    let mut both = params.clone();
    both["ca_file"] = json!(ca);
    run_env(&list(&both), &[("SSL_CERT_FILE", &ca)]).expect(0, 1);
}

#[test]
fn ca_file_as_pem_text_is_trusted_and_never_echoed() {
    let emu = tls_tenant();
    let pem = std::fs::read_to_string(emu.ca_file().expect("a CA file")).expect("the CA reads");
    let mut params = params_without_ca(&emu);
    params["ca_file"] = json!(pem);
    let run = run(&list(&params));
    run.expect(0, 1);
    let body = pem.lines().nth(1).expect("a base64 line");
    let entries = run.result["entries"].to_string();
    assert!(
        !entries.contains(body) && !run.stderr.contains(body),
        "the PEM is never shown"
    );
}

#[test]
fn unusable_ca_files_are_parameter_errors_before_any_request() {
    let emu = tls_tenant();
    let dir = std::env::temp_dir().join(format!("aadip-ca-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("written");
        path.display().to_string()
    };
    let missing = dir.join("missing.pem").display().to_string();
    let garbage = write("garbage.pem", b"\x00\x01 not PEM at all \xff\n");
    let huge = write("huge.pem", &vec![b'A'; 1024 * 1024 + 1]);
    let cut = "-----BEGIN CERTIFICATE-----\nMIIC\n".to_string();
    let one_line = "-----BEGIN CERTIFICATE----- MIIC -----END CERTIFICATE-----";
    let cases: [(&str, &str, &[&str]); 6] = [
        ("nonexistent path", &missing, &["cannot read", "No such file", &missing]),
        ("garbage file", &garbage, &["holds no PEM certificate"]),
        ("huge file", &huge, &["larger than 1 MiB"]),
        ("cut-off PEM text", &cut, &["not valid PEM", "-----END"]),
        ("PEM text on one line", one_line, &["line breaks were lost"]),
        ("a directory", &dir.display().to_string(), &["cannot read"]),
    ];
    for (name, value, needles) in cases {
        let mut params = params_without_ca(&emu);
        params["ca_file"] = json!(value);
        let run = run(&list(&params));
        run.expect(2, 4)
            .says(&[
                "Invalid instance parameter Trusted CA certificates (PEM) (ca_file)",
                "PEM",
            ])
            .says(needles);
        assert!(emu.requests().is_empty(), "{name}: nothing was sent");
        // insecure does not excuse a ca_file that is set and unusable.
        params["insecure"] = json!(true);
        run_raw(list(&params).to_string()).expect(2, 4);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_ca_file_means_not_set() {
    let emu = tls_tenant();
    for empty in [json!(""), json!("  \n"), Value::Null] {
        let mut params = params_without_ca(&emu);
        params["ca_file"] = empty.clone();
        run(&list(&params)).expect(1, 4).says(&["TLS failed", "certificate"]);
        params["insecure"] = json!("true");
        run(&list(&params)).expect(0, 1);
    }
}

#[test]
fn an_unusable_ssl_cert_file_is_named_and_nothing_is_sent_unless_insecure() {
    let emu = tls_tenant();
    let mut params = params_without_ca(&emu);
    for value in ["/nonexistent/ca.pem", "/dev/null"] {
        run_env(&list(&params), &[("SSL_CERT_FILE", value)])
            .expect(2, 4)
            .says(&["SSL_CERT_FILE", value, "Fix or unset SSL_CERT_FILE"]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
    // Empty is unset; with insecure the variable is not read at all.
    run_env(&list(&params), &[("SSL_CERT_FILE", "")])
        .expect(1, 4)
        .says(&["certificate"]);
    params["insecure"] = json!("true");
    run_env(&list(&params), &[("SSL_CERT_FILE", "/nonexistent/ca.pem")]).expect(0, 1);
}

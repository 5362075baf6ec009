//! Files the integration is pointed at: `federated_token_file`, `AZURE_FEDERATED_TOKEN_FILE`,
//! `ca_file` as a path and `SSL_CERT_FILE`. A FIFO among them once hung the binary in `open()`
//! forever (issue 16); a FIFO, a device or a folder is now refused at once, naming the parameter
//! or variable, before anything is sent where that file was needed.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ServeOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The hang guard: far above any answer, so only a binary that waits forever fails it.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Paths that are no regular file: a FIFO nobody writes to, a device that never ends, a folder.
/// Each with the words its refusal must hold.
fn not_regular_files(name: &str) -> Vec<(PathBuf, &'static str)> {
    let dir = std::env::temp_dir().join(format!("aadip-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    vec![
        (fifo, "it is a FIFO, not a regular file"),
        (PathBuf::from("/dev/zero"), "it is a device, not a regular file"),
        (dir, "it is a folder, not a regular file"),
    ]
}

fn shown(path: &std::path::Path) -> String {
    path.to_str().expect("a UTF-8 path").to_string()
}

/// Client-credentials parameters that sign in with a federated token and nothing else.
fn federation_params(emu: &Emulator) -> Value {
    let mut params = emu.certificate_params();
    params.as_object_mut().expect("an object").remove("certificate");
    params
}

fn auth_test(params: &Value) -> Value {
    envelope("azure-ad-auth-test", json!({}), params, json!({}))
}

#[test]
fn a_federated_token_file_that_is_no_regular_file_is_refused_before_the_token_request() {
    let emu = tenant();
    for (path, why) in not_regular_files("parameter") {
        let mut params = federation_params(&emu);
        params["federated_token_file"] = json!(shown(&path));
        run_raw_within(auth_test(&params).to_string(), HANG_GUARD)
            .expect(2, 4)
            .says(&[
                "Invalid instance parameter Federated token file (workload identity federation) (federated_token_file)",
                why,
            ]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_azure_federated_token_file_that_is_no_regular_file_is_refused_before_the_token_request() {
    let emu = tenant();
    for (path, why) in not_regular_files("variable") {
        let vars = [("AZURE_FEDERATED_TOKEN_FILE", shown(&path))];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_env(&auth_test(&federation_params(&emu)), &vars)
            .expect(2, 4)
            .says(&["AZURE_FEDERATED_TOKEN_FILE", why]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_ca_file_path_that_is_no_regular_file_is_a_parameter_error_before_any_request() {
    let emu = tenant();
    for (path, why) in not_regular_files("ca-file") {
        let mut params = app_params(&emu);
        params["ca_file"] = json!(shown(&path));
        let list = envelope(
            "azure-ad-identity-protection-risky-user-list",
            json!({"limit": "2"}),
            &params,
            json!({}),
        );
        run_raw_within(list.to_string(), HANG_GUARD).expect(2, 4).says(&[
            "Invalid instance parameter Trusted CA certificates (PEM) (ca_file)",
            why,
        ]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_ssl_cert_file_that_is_no_regular_file_is_named_before_the_first_https_request() {
    let emu = Emulator::serve(ServeOptions {
        tls: true,
        ..ServeOptions::default()
    })
    .expect("TLS emulator");
    let mut params = emu.instance_params();
    params.as_object_mut().expect("an object").remove("ca_file");
    for (path, why) in not_regular_files("ssl-cert-file") {
        let vars = [("SSL_CERT_FILE", shown(&path))];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_env(&auth_test(&params), &vars)
            .expect(2, 4)
            .says(&["SSL_CERT_FILE", why, "Fix or unset SSL_CERT_FILE"]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

/// Plain http (the emulator, a loopback gateway) makes no TLS connection, so `SSL_CERT_FILE`,
/// which only adds trusted roots, is not even opened: a FIFO, a folder or a missing file there
/// changes nothing.
#[test]
fn plain_http_never_opens_ssl_cert_file() {
    let emu = tenant();
    let mut unusable = not_regular_files("plain-http");
    unusable.push((PathBuf::from("/nonexistent/ca.pem"), ""));
    for (path, _) in unusable {
        let vars = [("SSL_CERT_FILE", shown(&path))];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_env(&auth_test(&app_params(&emu)), &vars)
            .expect(0, 1)
            .says(&["Success"]);
    }
    assert_eq!(requests_to(&emu, TOKEN).len(), 4, "one sign-in per run");
}

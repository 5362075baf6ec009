//! The engine's own identity stays home (issue 16, defect 2): a managed-identity token and a
//! federated token from a file on the engine go only to a national cloud's login and Graph
//! hosts or to loopback, unless the instance says otherwise in a parameter named for it.
//! Anyone who may edit one instance must not be able to collect the identity of the engine.

use crate::util::*;
use azure_ad_identity_protection::error::parameter_label;
use serde_json::{Value, json};

/// Hosts of nobody's national cloud. Nothing is sent to them (the parameter check comes first),
/// so no packet leaves this machine.
const CUSTOM_LOGIN: &str = "https://login.example.test";
const CUSTOM_GRAPH: &str = "https://graph.example.test";

/// A risky-user list with `params`, the engine's environment `vars`.
fn list_with(params: &Value, vars: &[(&str, &str)]) -> Run {
    let list = envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({}),
        params,
        json!({}),
    );
    run_env(&list, vars)
}

fn assert_refused(run: &Run, parameter: &str) {
    run.expect(2, 4).says(&[
        &format!("Invalid instance parameter {}:", parameter_label(parameter)),
        "engine's",
        "nothing was sent",
        "engine_identity_to_custom_hosts",
    ]);
}

#[test]
fn a_managed_identity_token_is_never_sent_to_a_custom_graph_host() {
    let emu = tenant();
    let mut params = emu.managed_identity_params();
    params["graph_endpoint"] = json!(CUSTOM_GRAPH);
    let env = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url())];
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_refused(&list_with(&params, &vars), "graph_endpoint");
    assert!(
        emu.requests().is_empty(),
        "IMDS was asked for a token: {:?}",
        emu.requests()
    );
}

/// A federated token of the emulator's test issuer in a file, as a cluster projects it.
fn token_file(emu: &azure_ad_identity_protection::emulator::Emulator, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("engine-identity-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join("token");
    std::fs::write(&path, federated_token(emu, "system:serviceaccount:xsoar:engine")).expect("token file");
    path
}

fn federated_params(emu: &azure_ad_identity_protection::emulator::Emulator) -> Value {
    let mut params = emu.certificate_params();
    let map = params.as_object_mut().expect("params");
    map.remove("certificate");
    params
}

#[test]
fn the_engines_federated_token_is_never_sent_to_a_custom_login_or_graph_host() {
    let emu = tenant();
    let path = token_file(&emu, "env");
    emu.clear_requests();
    let cases = [
        (
            json!({"azure_ad_endpoint": CUSTOM_LOGIN, "graph_endpoint": CUSTOM_GRAPH}),
            "azure_ad_endpoint",
        ),
        (
            json!({"azure_ad_endpoint": emu.base_url(), "graph_endpoint": CUSTOM_GRAPH}),
            "graph_endpoint",
        ),
    ];
    for (endpoints, parameter) in cases {
        for from_parameter in [false, true] {
            let mut params = federated_params(&emu);
            params
                .as_object_mut()
                .unwrap()
                .extend(endpoints.as_object().unwrap().clone());
            let mut vars = vec![];
            let shown = path.display().to_string();
            match from_parameter {
                true => params["federated_token_file"] = json!(shown),
                false => vars.push(("AZURE_FEDERATED_TOKEN_FILE", shown.as_str())),
            }
            assert_refused(&list_with(&params, &vars), parameter);
        }
    }
    assert!(
        emu.requests().is_empty(),
        "a token request was sent: {:?}",
        emu.requests()
    );
    let _ = std::fs::remove_dir_all(path.parent().expect("folder"));
}

#[test]
fn the_engines_identity_may_go_to_loopback_the_emulator() {
    let emu = tenant();
    // The emulator is loopback: the engine's identity may go there.
    let path = token_file(&emu, "loopback");
    let mut params = federated_params(&emu);
    params["federated_token_file"] = json!(path.display().to_string());
    command_ok(&params, &[]);
    let env = [("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url())];
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    command_ok(&emu.managed_identity_params(), &vars);
    let _ = std::fs::remove_dir_all(path.parent().expect("folder"));
}

fn command_ok(params: &Value, vars: &[(&str, &str)]) {
    let list = envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": "1"}),
        params,
        json!({}),
    );
    run_env(&list, vars).expect(0, 1);
}

use crate::util::*;
use azure_ad_identity_protection::commands::{ArgKind, COMMANDS};
use azure_ad_identity_protection::emulator::TenantConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Commands and their arguments as integration.yml lists them (test-module is implicit).
fn yml_commands() -> BTreeMap<String, Vec<String>> {
    let yml = include_str!("../integration.yml");
    let mut commands: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in yml.lines() {
        if let Some(name) = line.strip_prefix("  - name: ") {
            current = Some(name.trim().to_string());
            commands.entry(name.trim().to_string()).or_default();
        } else if let (Some(arg), Some(command)) = (line.strip_prefix("    - name: "), &current) {
            commands
                .get_mut(command)
                .expect("command seen")
                .push(arg.trim().to_string());
        }
    }
    commands
}

#[test]
fn integration_yml_matches_the_command_table() {
    let table: BTreeMap<String, Vec<String>> = COMMANDS
        .iter()
        .filter(|c| c.name != "test-module")
        .map(|c| (c.name.to_string(), c.args.iter().map(|a| a.name.to_string()).collect()))
        .collect();
    assert_eq!(yml_commands(), table);
}

#[test]
fn integration_yml_lists_every_parameter_the_code_reads() {
    let yml = include_str!("../integration.yml");
    let names = [
        "app_id",
        "subscription_id",
        "azure_ad_endpoint",
        "azure_cloud",
        "graph_endpoint",
        "api_version",
        "client_credentials",
        "tenant_id",
        "credentials",
        "insecure",
        "proxy",
        "request_timeout",
        "first_fetch",
        "max_fetch",
        "fetch_filter_expression",
        "fetch_user_id",
        "fetch_user_principal_name",
    ];
    for name in names {
        assert!(
            yml.contains(&format!("- name: {name}\n")),
            "{name} missing from integration.yml"
        );
    }
    let flags = COMMANDS.iter().flat_map(|c| c.args).filter(|a| a.kind == ArgKind::Flag);
    for flag in flags {
        assert!(yml.contains(&format!("- name: {}\n", flag.name)));
    }
}

/// Points a fixture at the emulator (and its confidential app, for client credentials).
fn aimed(fixture: &Value, emu: &azure_ad_identity_protection::emulator::Emulator) -> Value {
    let mut envelope = fixture.clone();
    let client_credentials = envelope["params"]["client_credentials"] == json!("true");
    envelope["params"] = if client_credentials {
        app_params(emu)
    } else {
        device_params(emu)
    };
    envelope
}

#[test]
fn every_fixture_replays_against_the_emulator() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("fixture is JSON");
        let command = fixture["command"].as_str().expect("command").to_string();
        assert!(
            COMMANDS.iter().any(|c| c.name == command),
            "{path:?} names an unknown command"
        );
        let emu = tenant();
        let run = run(&aimed(&fixture, &emu));
        assert!(run.exit <= 1, "{path:?}: {:#}", run.result);
        seen.push(command);
    }
    for command in COMMANDS {
        assert!(
            seen.iter().any(|c| c == command.name),
            "no fixture for {}",
            command.name
        );
    }
    assert_eq!(TenantConfig::default().tenant_id.len(), 36);
}

use crate::util::*;
use azure_ad_identity_protection::commands::{ArgKind, COMMANDS};
use azure_ad_identity_protection::emulator::{Emulator, TenantConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An argument as integration.yml declares it.
#[derive(Debug, Default, PartialEq)]
struct YmlArg {
    name: String,
    required: bool,
    predefined: Vec<String>,
}

/// Commands and their arguments as integration.yml lists them (test-module and fetch-incidents
/// are implicit). A small line reader for the file's own regular layout.
fn yml_commands() -> BTreeMap<String, Vec<YmlArg>> {
    let yml = include_str!("../integration.yml");
    let mut commands: BTreeMap<String, Vec<YmlArg>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in yml.lines() {
        if let Some(name) = line.strip_prefix("  - name: ") {
            current = Some(name.trim().to_string());
            commands.entry(name.trim().to_string()).or_default();
            continue;
        }
        let Some(args) = current.as_ref().and_then(|c| commands.get_mut(c)) else {
            continue;
        };
        if let Some(arg) = line.strip_prefix("    - name: ") {
            args.push(YmlArg {
                name: arg.trim().to_string(),
                ..YmlArg::default()
            });
        } else if let (Some(last), true) = (args.last_mut(), line == "      required: true") {
            last.required = true;
        } else if let (Some(last), Some(value)) = (args.last_mut(), line.strip_prefix("      - ")) {
            last.predefined.push(value.trim().trim_matches('\'').to_string());
        } else if line.starts_with("    outputs:") || line.starts_with("  isfetch") {
            current = None;
        }
    }
    commands
}

fn table_commands() -> BTreeMap<String, Vec<YmlArg>> {
    let implicit = ["test-module", "fetch-incidents"];
    let arg = |a: &azure_ad_identity_protection::commands::ArgSpec| YmlArg {
        name: a.name.to_string(),
        required: a.required,
        predefined: match a.kind {
            ArgKind::Choice(options) => options.iter().map(|o| o.to_string()).collect(),
            ArgKind::Flag => vec!["true".into(), "false".into()],
            _ => Vec::new(),
        },
    };
    COMMANDS
        .iter()
        .filter(|c| !implicit.contains(&c.name))
        .map(|c| (c.name.to_string(), c.args.iter().map(arg).collect()))
        .collect()
}

#[test]
fn integration_yml_matches_the_command_table() {
    assert_eq!(yml_commands(), table_commands());
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
}

/// Points a fixture at the in-process emulator: only the endpoints change.
fn aimed(fixture: &Value, emu: &azure_ad_identity_protection::emulator::Emulator) -> Value {
    let mut envelope = fixture.clone();
    envelope["params"]["azure_ad_endpoint"] = json!(emu.base_url());
    envelope["params"]["graph_endpoint"] = json!(emu.base_url());
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
        let emu = Emulator::start(TenantConfig::generated(1, 300, 3000)).expect("emulator starts");
        emu.seed_fixture_credentials();
        let run = run(&aimed(&fixture, &emu));
        assert_eq!(run.exit, 0, "{path:?}: {:#}", run.result);
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

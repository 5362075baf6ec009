use crate::util::*;
use azure_ad_identity_protection::commands::{ArgKind, COMMANDS};
use azure_ad_identity_protection::emulator::{Emulator, TenantConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

/// An argument as integration.yml declares it.
#[derive(Debug, Default, PartialEq)]
struct YmlArg {
    name: String,
    required: bool,
    predefined: Vec<String>,
}

/// integration.yml, parsed as YAML.
fn integration_yml() -> Yaml {
    let text = include_str!("../integration.yml");
    let mut documents = YamlLoader::load_from_str(text).expect("integration.yml is YAML");
    documents.remove(0)
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Commands and their arguments as integration.yml declares them (test-module and
/// fetch-incidents are implicit in XSOAR).
fn yml_commands() -> BTreeMap<String, Vec<YmlArg>> {
    let yml = integration_yml();
    let commands = yml["script"]["commands"].as_vec().expect("script.commands");
    commands
        .iter()
        .map(|command| {
            let args = command["arguments"].as_vec().cloned().unwrap_or_default();
            let args = args
                .iter()
                .map(|arg| YmlArg {
                    name: arg["name"].as_str().unwrap_or_default().to_string(),
                    required: arg["required"].as_bool().unwrap_or(false),
                    predefined: strings(&arg["predefined"]),
                })
                .collect();
            (command["name"].as_str().unwrap_or_default().to_string(), args)
        })
        .collect()
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

/// The instance parameters src/config.rs (and the certificate parameters src/auth/assertion.rs)
/// reads, found in its source: the names passed to its readers (`text(params, ..)`,
/// `flag(params, ..)`, `params.get(..)`, the fetch lists' `list(..)`).
fn parameters_the_code_reads() -> std::collections::BTreeSet<String> {
    let sources = [
        include_str!("../src/config.rs"),
        include_str!("../src/auth/assertion.rs"),
    ];
    let source = sources.concat();
    let mut names = std::collections::BTreeSet::new();
    for reader in ["(params, \"", "params.get(\"", "list(\""] {
        for (at, _) in source.match_indices(reader) {
            let rest = &source[at + reader.len()..];
            let name = rest.split('"').next().unwrap_or_default();
            // `credentials.password` is the flattened form some hosts send for `credentials`.
            names.insert(name.split('.').next().unwrap_or_default().to_string());
        }
    }
    names
}

#[test]
fn integration_yml_lists_every_parameter_the_code_reads_and_no_other() {
    let yml = integration_yml();
    let declared: Vec<String> = yml["configuration"]
        .as_vec()
        .expect("configuration")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let read = parameters_the_code_reads();
    assert!(read.len() >= 15, "the source scan found too few: {read:?}");
    for name in &read {
        assert!(declared.contains(name), "{name} missing from integration.yml");
    }
    // Declared but not read by the binary: XSOAR's own fetch switches, and subscription_id,
    // accepted for compatibility and unused (README).
    let not_read = ["isFetch", "incidentType", "subscription_id"];
    for name in &declared {
        assert!(
            read.contains(name) || not_read.contains(&name.as_str()),
            "{name} is declared but never read"
        );
    }
}

/// The items of a list result.
fn items(run: &Run) -> Vec<Value> {
    run.entry()["Contents"]["value"].as_array().cloned().unwrap_or_default()
}

/// What fixtures/README.md says each fixture shows, checked on its result (after exit 0).
fn shows_what_the_readme_says(file: &str, fixture: &Value, run: &Run) {
    let context = run.context();
    let arg = |name: &str| fixture["args"][name].as_str().unwrap_or_default().to_string();
    let signed_in = |run: &Run| {
        let context = run.context();
        context["access_token"].is_string() && context["device_code"].is_null()
    };
    match file {
        // the Test button: a token and one Graph call, answers ok
        "test-module.json" => assert_eq!(run.entry()["Contents"], "ok"),
        // the link, the user code and the next command; the device code goes into context
        "azure-ad-auth-start.json" => {
            let text = run.text();
            assert!(
                text.contains("/devicelogin") && text.contains("!azure-ad-auth-complete"),
                "{text}"
            );
            assert!(context["device_code"].is_string() && context["user_code"].is_string());
        }
        // client credentials: a token request tests the connection
        "azure-ad-auth-start-client-credentials.json" => assert!(context["access_token"].is_string()),
        // redeems the device code left by auth-start; with polling the same (the placeholder
        // code is approved, so nothing is scheduled)
        "azure-ad-auth-complete.json" | "azure-ad-auth-complete-polling.json" => {
            assert!(signed_in(run), "{context:#}");
            assert!(run.result["scheduled_command"].is_null());
        }
        // a Python-era context accepted as is, refreshed, one Graph call
        "azure-ad-auth-test.json" => {
            assert_ne!(context["access_token"], fixture["context"]["access_token"], "refreshed");
            assert!(context["valid_until"].as_u64().is_some_and(|until| until > now()));
        }
        // managed identity: a token from the emulator's IMDS, no refresh token, one Graph call
        "azure-ad-auth-test-managed-identity.json" => {
            assert!(run.text().contains("managed identity"), "{}", run.text());
            assert!(context["access_token"].is_string() && context["current_refresh_token"].is_null());
            assert_eq!(context["token_owner"]["auth_mode"], "managed_identity", "{context:#}");
        }
        // certificate: the PEM bundle signs a PS256 client assertion, no secret; one Graph call
        "azure-ad-auth-test-certificate.json" => {
            assert!(fixture["params"].get("credentials").is_none());
            assert!(context["access_token"].is_string() && context["current_refresh_token"].is_null());
        }
        // federation: the token file AZURE_FEDERATED_TOKEN_FILE names is the client assertion
        "azure-ad-auth-test-federated.json" => {
            assert!(fixture["params"].get("certificate").is_none() && fixture["params"].get("credentials").is_none());
            assert!(context["access_token"].is_string() && context["current_refresh_token"].is_null());
        }
        // empties the context
        "azure-ad-auth-reset.json" => assert_eq!(context, &json!({})),
        // one user's risk detections, limit 10
        "azure-ad-identity-protection-risks-list.json" => {
            let upn = arg("user_principal_name");
            let found = items(run);
            assert!(!found.is_empty() && found.len() <= 10, "{} items", found.len());
            assert!(found.iter().all(|d| d["userPrincipalName"] == upn.as_str()));
        }
        // high-risk users updated in the last 3650 days
        "azure-ad-identity-protection-risky-user-list.json" => {
            let found = items(run);
            assert!(!found.is_empty() && found.iter().all(|u| u["riskLevel"] == "high"));
        }
        // one user's risk history
        "azure-ad-identity-protection-risky-user-history-list.json" => {
            let user = arg("user_id");
            let found = items(run);
            assert!(
                !found.is_empty()
                    && found
                        .iter()
                        .all(|h| h["userId"] == user.as_str() || h["id"] == user.as_str())
            );
        }
        // one id as a plain string; two ids as a comma string; one id as a JSON-array string
        "azure-ad-identity-protection-risky-user-confirm-compromised.json" => {
            assert_eq!(run.entry()["Contents"]["userIds"], json!([arg("user_ids")]));
        }
        "azure-ad-identity-protection-risky-user-dismiss.json" => {
            let ids: Vec<String> = arg("user_ids").split(',').map(str::to_string).collect();
            assert_eq!(run.entry()["Contents"]["userIds"], json!(ids));
        }
        "azure-ad-identity-protection-risky-user-confirm-safe.json" => {
            let ids: Value = serde_json::from_str(&arg("user_ids")).expect("a JSON array string");
            assert_eq!(run.entry()["Contents"]["userIds"], ids);
        }
        // risky service principals at risk, limit 5
        "azure-ad-identity-protection-risky-service-principal-list.json" => {
            let found = items(run);
            assert!(!found.is_empty() && found.len() <= 5, "{} items", found.len());
            assert!(found.iter().all(|p| p["riskState"] == "atRisk"));
        }
        // one service principal's risk history
        "azure-ad-identity-protection-risky-service-principal-history-list.json" => {
            let id = arg("service_principal_id");
            let found = items(run);
            assert!(found.len() >= 2 && found.iter().all(|h| h["servicePrincipalId"] == id.as_str()));
        }
        // two ids as a comma string; one id as a JSON-array string
        "azure-ad-identity-protection-risky-service-principal-confirm-compromised.json" => {
            let ids: Vec<String> = arg("service_principal_ids").split(',').map(str::to_string).collect();
            assert_eq!(run.entry()["Contents"]["servicePrincipalIds"], json!(ids));
        }
        "azure-ad-identity-protection-risky-service-principal-dismiss.json" => {
            let ids: Value = serde_json::from_str(&arg("service_principal_ids")).expect("a JSON array string");
            assert_eq!(run.entry()["Contents"]["servicePrincipalIds"], ids);
        }
        // one service principal's risk detections, limit 10
        "azure-ad-identity-protection-service-principal-risks-list.json" => {
            let id = arg("service_principal_id");
            let found = items(run);
            assert!(!found.is_empty() && found.len() <= 10, "{} items", found.len());
            assert!(found.iter().all(|d| d["servicePrincipalId"] == id.as_str()));
        }
        // a first fetch from 2020-01-01, at most 5 incidents
        "fetch-incidents.json" => {
            assert_eq!(run.result["incidents"].as_array().map(Vec::len), Some(5));
            assert!(run.result["last_run"]["latest_detection_found"].is_string());
        }
        other => panic!("{other}: add what fixtures/README.md says it shows"),
    }
}

/// The emulator the standalone `emulator` subcommand serves: seed 1, 300 users, 3000
/// detections, the fixtures' placeholder credentials.
fn fixture_tenant() -> Emulator {
    fixture_tenant_with(FIXTURE_TENANT.clone())
}

/// Replays one fixture, in `emu`'s [`engine_environment`], and checks its result as
/// fixtures/README.md describes it.
fn replay(file: &str, fixture: &Value, emu: &Emulator, environment: &[(String, String)]) {
    let run = run_env(&aimed(fixture, emu), &as_vars(environment));
    assert_eq!(run.exit, 0, "{file}: {:#}", run.result);
    shows_what_the_readme_says(file, fixture, &run);
}

#[test]
fn every_fixture_replays_against_the_emulator_and_shows_what_its_readme_says() {
    let mut seen = Vec::new();
    for (file, fixture) in fixtures() {
        let command = fixture["command"].as_str().expect("command").to_string();
        assert!(
            COMMANDS.iter().any(|c| c.name == command),
            "{file} names an unknown command"
        );
        let emu = fixture_tenant();
        replay(&file, &fixture, &emu, &engine_environment(&emu));
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

/// Issue 10: auth-complete-polling.json redeemed the one placeholder device code, so a loop over
/// all fixtures failed auth-complete.json with AADSTS54005. Each fixture now carries its own
/// state, and placeholders survive redemption: any order, any number of times, one emulator.
#[test]
fn fixtures_replay_in_a_loop_in_both_orders_against_one_emulator() {
    let emu = fixture_tenant();
    let environment = engine_environment(&emu);
    let forward = fixtures();
    let backward: Vec<_> = forward.iter().rev().cloned().collect();
    for order in [&forward, &backward] {
        for _ in 0..2 {
            for (file, fixture) in order {
                replay(file, fixture, &emu, &environment);
            }
        }
    }
}

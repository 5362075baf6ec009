use crate::util::*;
use azure_ad_identity_protection::commands::{ArgKind, COMMANDS};
use azure_ad_identity_protection::emulator::{
    CERTIFICATE_APP_ID, Emulator, RecordedRequest, TEST_APP_CERTIFICATE, TEST_APP_KEY, TenantConfig,
};
use azure_ad_identity_protection::error::{DISPLAY_NAMES, parameter_label};
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

/// Each parameter's name in the instance settings, as integration.yml declares it: `display`;
/// for a credentials field (type 9), `displaypassword` when the user name is hidden, else both.
fn yml_display_names() -> Vec<(String, String)> {
    let yml = integration_yml();
    let params = yml["configuration"].as_vec().expect("configuration");
    let text = |p: &Yaml, key: &str| p[key].as_str().unwrap_or_default().to_string();
    params
        .iter()
        .map(|p| {
            let shown = match (p["type"].as_i64(), p["hiddenusername"].as_bool()) {
                (Some(9), Some(true)) => text(p, "displaypassword"),
                (Some(9), _) => format!("{} / {}", text(p, "display"), text(p, "displaypassword")),
                _ => text(p, "display"),
            };
            (text(p, "name"), shown)
        })
        .collect()
}

/// Parameter errors name the field as the instance settings show it: the table in
/// src/error/parameters.rs must follow integration.yml.
#[test]
fn parameter_display_names_match_integration_yml() {
    let table: Vec<(String, String)> = DISPLAY_NAMES
        .iter()
        .map(|(name, display)| (name.to_string(), display.to_string()))
        .collect();
    assert_eq!(table, yml_display_names());
}

/// How a test sees that the binary reads an instance parameter, through a real run against the
/// emulator (docs/protocol.md §4: an invalid parameter is exit 2 naming it, before any request).
enum Probe {
    /// This value is refused with exit 2 naming the parameter, and nothing is sent.
    Refused(Value),
    /// With this value the emulator receives what the function finds in its request log.
    Sent(Value, fn(&[RecordedRequest]) -> bool),
    /// Declared for XSOAR's own use or kept for compatibility: any value changes nothing.
    Unused,
}

fn form_has(requests: &[RecordedRequest], field: &str, value: &str) -> bool {
    requests.iter().any(|r| r.form_value(field).as_deref() == Some(value))
}

fn filter_has(requests: &[RecordedRequest], needle: &str) -> bool {
    requests
        .iter()
        .any(|r| r.query_value("$filter").is_some_and(|f| f.contains(needle)))
}

fn asked(requests: &[RecordedRequest], suffix: &str) -> bool {
    requests.iter().any(|r| r.path.ends_with(suffix))
}

/// Every instance parameter, written out from README.md (*Instance parameters*, *Install in
/// Cortex XSOAR*) and docs/protocol.md §4, with the command that reads it and how a run shows
/// that it does.
fn documented_parameters() -> Vec<(&'static str, &'static str, Probe)> {
    use Probe::*;
    let bundle = json!(format!("{TEST_APP_CERTIFICATE}{TEST_APP_KEY}"));
    let (auth, fetch) = ("azure-ad-auth-test", "fetch-incidents");
    let probe_app = "11111111-1111-4111-8111-111111111111";
    vec![
        (
            "app_id",
            auth,
            Sent(json!(probe_app), |r| {
                form_has(r, "client_id", "11111111-1111-4111-8111-111111111111")
            }),
        ),
        ("subscription_id", auth, Unused),
        ("azure_ad_endpoint", auth, Refused(json!("ftp://login.example"))),
        ("azure_cloud", auth, Refused(json!("Mars"))),
        ("graph_endpoint", auth, Refused(json!("ftp://graph.example"))),
        ("api_version", auth, Refused(json!("v9"))),
        ("client_credentials", auth, Refused(json!("perhaps"))),
        (
            "tenant_id",
            auth,
            Sent(json!("contoso.onmicrosoft.com"), |r| {
                asked(r, "/contoso.onmicrosoft.com/oauth2/v2.0/token")
            }),
        ),
        (
            "credentials",
            auth,
            Sent(json!({"identifier": "", "password": "a-probe-secret"}), |r| {
                form_has(r, "client_secret", "a-probe-secret")
            }),
        ),
        (
            "credentials_certificate",
            auth,
            Refused(json!({"identifier": "12AB", "password": TEST_APP_KEY})),
        ),
        ("certificate_thumbprint", auth, Refused(json!("12AB"))),
        (
            "private_key",
            auth,
            Sent(bundle.clone(), |r| {
                r.iter().any(|r| r.form_value("client_assertion").is_some())
            }),
        ),
        (
            "certificate",
            auth,
            Sent(bundle, |r| r.iter().any(|r| r.form_value("client_assertion").is_some())),
        ),
        (
            "federated_token_file",
            auth,
            Refused(json!("/nonexistent/federated-token")),
        ),
        (
            "use_managed_identities",
            auth,
            Sent(json!("true"), |r| asked(r, "/metadata/identity/oauth2/token")),
        ),
        (
            "managed_identities_client_id",
            auth,
            Sent(json!("probe-identity"), |r| {
                r.iter()
                    .any(|r| r.query_value("client_id").as_deref() == Some("probe-identity"))
            }),
        ),
        ("engine_identity_to_custom_hosts", auth, Refused(json!("perhaps"))),
        ("insecure", auth, Refused(json!("perhaps"))),
        ("ca_file", auth, Refused(json!("not a certificate"))),
        ("proxy", auth, Refused(json!("perhaps"))),
        ("request_timeout", auth, Refused(json!("0"))),
        ("isFetch", fetch, Unused),
        ("incidentType", fetch, Unused),
        ("first_fetch", fetch, Refused(json!("someday"))),
        ("max_fetch", fetch, Refused(json!("0"))),
        (
            "fetch_filter_expression",
            fetch,
            Sent(json!("riskLevel eq 'high'"), |r| filter_has(r, "riskLevel eq 'high'")),
        ),
        (
            "fetch_user_id",
            fetch,
            Sent(json!("probe-user-id"), |r| filter_has(r, "userId eq 'probe-user-id'")),
        ),
        (
            "fetch_user_principal_name",
            fetch,
            Sent(json!("probe@contoso.com"), |r| {
                filter_has(r, "userPrincipalName eq 'probe@contoso.com'")
            }),
        ),
        (
            "fetch_service_principal_detections",
            fetch,
            Sent(json!("true"), |r| asked(r, "/servicePrincipalRiskDetections")),
        ),
        (
            "fetch_risky_users",
            fetch,
            Sent(json!("true"), |r| asked(r, "/identityProtection/riskyUsers")),
        ),
        ("mirror_direction", fetch, Refused(json!("Sideways"))),
        ("close_incident", fetch, Refused(json!("perhaps"))),
        ("close_out", fetch, Refused(json!("perhaps"))),
    ]
}

#[test]
fn integration_yml_declares_exactly_the_documented_parameters() {
    let yml = integration_yml();
    let declared: std::collections::BTreeSet<String> = yml["configuration"]
        .as_vec()
        .expect("configuration")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let documented: std::collections::BTreeSet<String> = documented_parameters()
        .iter()
        .map(|(name, ..)| name.to_string())
        .collect();
    assert_eq!(declared, documented);
    // docs/protocol.md §4 names every parameter the binary reads (XSOAR's own isFetch and
    // incidentType are not the binary's).
    let protocol = include_str!("../docs/protocol.md");
    let section = protocol
        .split("\n## 4.")
        .nth(1)
        .and_then(|s| s.split("\n## 5.").next())
        .expect("§4");
    for (name, ..) in documented_parameters()
        .iter()
        .filter(|(name, ..)| !["isFetch", "incidentType"].contains(name))
    {
        assert!(
            section.contains(&format!("`{name}")),
            "docs/protocol.md §4 does not name {name}"
        );
    }
}

/// Client credentials against `emu` (from 2020 for a fetch), with `name` set to `value`; a
/// certificate replaces the secret and names the certificate app; managed identity needs the switch.
fn probe_params(emu: &Emulator, command: &str, name: &str, value: Value) -> Value {
    let mut params = app_params(emu);
    if command == "fetch-incidents" {
        params["first_fetch"] = json!("2020-01-01");
    }
    match name {
        "private_key" | "certificate" => {
            params["app_id"] = json!(CERTIFICATE_APP_ID);
            params.as_object_mut().map(|p| p.remove("credentials"));
        }
        "certificate_thumbprint" => params["private_key"] = json!(TEST_APP_KEY),
        "managed_identities_client_id" => params["use_managed_identities"] = json!("true"),
        _ => {}
    }
    params[name] = value;
    params
}

/// Each documented parameter is read by the binary: a run against the emulator shows it.
#[test]
fn the_binary_reads_every_documented_parameter() {
    for (name, command, probe) in documented_parameters() {
        let emu = tenant();
        let environment = engine_environment(&emu);
        let run_with = |value: Value| {
            let params = probe_params(&emu, command, name, value);
            run_env(
                &envelope(command, json!({}), &params, json!({})),
                &as_vars(&environment),
            )
        };
        match probe {
            Probe::Refused(value) => {
                run_with(value)
                    .expect(2, 4)
                    .says(&[&format!("Invalid instance parameter {}:", parameter_label(name))]);
                assert!(emu.requests().is_empty(), "{name}: sent before the parameter check");
            }
            Probe::Sent(value, shows) => {
                run_with(value);
                let paths: Vec<String> = emu.requests().into_iter().map(|r| r.path).collect();
                assert!(
                    shows(&emu.requests()),
                    "{name}: the emulator saw no sign of it in {paths:?}"
                );
            }
            Probe::Unused => {
                let plain = run_with(Value::Null);
                let with = run_with(json!("anything at all"));
                assert_eq!((plain.exit, with.exit), (0, 0), "{name}: {:#}", with.result);
            }
        }
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
        // the sign-in behind the detection: its requestId
        "azure-ad-identity-protection-sign-in-get.json" => {
            let found = items(run);
            assert_eq!(found.len(), 1);
            assert_eq!(
                found[0]["id"], "477a8aaf-62ed-4f30-b042-febed120906e",
                "the detection's requestId"
            );
        }
        // the detection's user (77d02b75-...), within 2 hours of its detectedDateTime
        // (2024-04-01T02:30:45Z): between 00:30:45 and 04:30:45
        "azure-ad-identity-protection-sign-ins-list.json" => {
            let found = items(run);
            assert!(!found.is_empty() && found.len() <= 20, "{} items", found.len());
            for sign_in in &found {
                assert_eq!(sign_in["userId"], "77d02b75-42c3-45d6-a55a-70457e863281");
                let at = sign_in["createdDateTime"].as_str().unwrap_or_default();
                assert!(("2024-04-01T00:30:45".."2024-04-01T04:30:46").contains(&at), "{at}");
            }
        }
        "azure-ad-identity-protection-sign-in-confirm-safe.json" => {
            assert_eq!(run.entry()["Contents"]["requestIds"], json!([arg("request_ids")]));
        }
        "azure-ad-identity-protection-sign-in-confirm-compromised.json" => {
            let ids: Value = serde_json::from_str(&arg("request_ids")).expect("a JSON array string");
            assert_eq!(run.entry()["Contents"]["requestIds"], ids);
        }
        // one result per user, each revoked
        "azure-ad-identity-protection-user-sessions-revoke.json" => {
            let users: Vec<String> = arg("user_id").split(',').map(str::to_string).collect();
            let results = run.entry()["Contents"].as_array().cloned().unwrap_or_default();
            let revoked: Vec<&str> = results
                .iter()
                .filter(|r| r["revoked"] == true)
                .filter_map(|r| r["user"].as_str())
                .collect();
            assert_eq!(revoked, users);
        }
        // both ranges, normalised, are in the named location
        "azure-ad-identity-protection-ip-block.json" => {
            let location = &run.entry()["Contents"];
            assert_eq!(location["displayName"], "SOAR blocked IP addresses");
            let ranges: Vec<&str> = location["ipRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["cidrAddress"].as_str())
                .collect();
            assert!(
                ranges.contains(&"198.51.100.57/32") && ranges.contains(&"2001:db8::/48"),
                "{ranges:?}"
            );
        }
        "azure-ad-identity-protection-ip-unblock.json" => {
            assert!(run.text().contains("nothing was changed"), "{}", run.text());
        }
        "azure-ad-identity-protection-named-locations-list.json" => {
            let found = items(run);
            assert!(!found.is_empty() && found.len() <= 10, "{} items", found.len());
        }
        // the ids of the detections changed since 2024-06-29
        "get-modified-remote-data.json" => {
            let ids = run.result["mirror"]["modified_ids"].as_array().expect("modified_ids");
            assert!(!ids.is_empty() && ids.iter().all(Value::is_string), "{ids:?}");
        }
        // one detection as it is now, with the members the pack's mapper reads
        "get-remote-data.json" => {
            let object = &run.result["mirror"]["object"];
            assert_eq!(object["id"], fixture["args"]["id"]);
            assert_eq!(
                (&object["entra_object_type"], &object["mirror_direction"]),
                (&json!("riskDetection"), &json!("In"))
            );
        }
        // closed as Resolved with close_out: the detection's user's risk is dismissed
        "update-remote-system.json" => {
            assert_eq!(run.result["mirror"]["remote_id"], fixture["args"]["remoteId"]);
            assert!(run.text().contains("dismissed the risk of user"), "{}", run.text());
        }
        // the three incident types, each with closeReason and closeNotes
        "get-mapping-fields.json" => {
            let schemes = run.result["mirror"]["schemes"].as_array().expect("schemes");
            assert_eq!(schemes.len(), 3);
            assert!(schemes.iter().all(|s| s["fields"]["closeReason"].is_string()));
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

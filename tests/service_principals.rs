//! Workload identities (issue 11 §1): risky service principals and their risk detections, every
//! command through the binary against the emulator.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer};
use serde_json::{Value, json};

const PRINCIPALS: &str = "/identityProtection/riskyServicePrincipals";
const SP_DETECTIONS: &str = "/identityProtection/servicePrincipalRiskDetections";
const LIST: &str = "azure-ad-identity-protection-risky-service-principal-list";
const HISTORY: &str = "azure-ad-identity-protection-risky-service-principal-history-list";
const CONFIRM: &str = "azure-ad-identity-protection-risky-service-principal-confirm-compromised";
const DISMISS: &str = "azure-ad-identity-protection-risky-service-principal-dismiss";
const RISKS: &str = "azure-ad-identity-protection-service-principal-risks-list";

fn principals(emu: &Emulator) -> Vec<Value> {
    emu.tenant().risky_service_principals
}

fn principal(emu: &Emulator, id: &str) -> Value {
    principals(emu)
        .into_iter()
        .find(|p| p["id"] == id)
        .expect("a principal")
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn list_filters_quote_a_display_name_with_an_apostrophe() {
    let emu = tenant();
    let run = command(&emu, LIST, json!({"display_name": "O'Neil Reporting Connector"}));
    run.expect(0, 1).says(&["Risky Service Principals (1 result)"]);
    assert_eq!(
        last_filter(&emu, PRINCIPALS).as_deref(),
        Some("displayName eq 'O''Neil Reporting Connector'")
    );
    assert_eq!(
        items(&run, "RiskyServicePrincipals")[0]["displayName"],
        "O'Neil Reporting Connector"
    );

    let app_id = principals(&emu)[3]["appId"].as_str().unwrap().to_string();
    let run = command(&emu, LIST, json!({"app_id": app_id}));
    run.expect(0, 1);
    assert_eq!(items(&run, "RiskyServicePrincipals")[0]["appId"], app_id.as_str());
    assert_eq!(last_filter(&emu, PRINCIPALS), Some(format!("appId eq '{app_id}'")));

    let run = command(
        &emu,
        LIST,
        json!({"risk_level": "HIGH", "risk_state": "atRisk", "risk_detail": "none"}),
    );
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, PRINCIPALS).as_deref(),
        Some("riskLevel eq 'high' and riskState eq 'atRisk' and riskDetail eq 'none'")
    );
    let found = items(&run, "RiskyServicePrincipals");
    assert!(
        !found.is_empty()
            && found
                .iter()
                .all(|p| p["riskLevel"] == "high" && p["riskState"] == "atRisk")
    );

    command(&emu, LIST, json!({"updated_time": "2 weeks"})).expect(0, 1);
    let filter = last_filter(&emu, PRINCIPALS).unwrap_or_default();
    assert!(filter.starts_with("riskLastUpdatedDateTime ge 20"), "{filter}");
    command(&emu, LIST, json!({"risk_detail": "adminDismissedAllRiskForUser"}))
        .expect(2, 4)
        .says(&["`risk_detail`"]);
}

#[test]
fn list_pages_with_next_link_and_names_its_listing() {
    let emu = tenant();
    let first = command(&emu, LIST, json!({"limit": "5"}));
    first.expect(0, 1).says(&["More results are available"]);
    let link = next_link(&first, "RiskyServicePrincipals");
    assert!(
        link.starts_with(&format!("{}/beta{PRINCIPALS}?", emu.base_url())),
        "{link}"
    );
    let second = command(&emu, LIST, json!({"limit": "50", "next_link": link}));
    second.expect(0, 1);
    let (a, b) = (
        ids_of(items(&first, "RiskyServicePrincipals")),
        ids_of(items(&second, "RiskyServicePrincipals")),
    );
    assert_eq!((a.len(), a.len() + b.len()), (5, principals(&emu).len()));
    assert!(a.iter().all(|id| !b.contains(id)), "no item twice");
    assert_eq!(next_link(&second, "RiskyServicePrincipals"), "", "nothing remains");
    let foreign = command(&emu, LIST, json!({"next_link": "https://graph.example/beta/x"}));
    foreign.expect(2, 4).says(&["`next_link`"]);
}

#[test]
fn history_lists_the_changes_and_encodes_the_id_as_one_segment() {
    let emu = tenant();
    let resolved = principals(&emu)
        .into_iter()
        .find(|p| p["riskState"] != "atRisk")
        .expect("a resolved principal");
    let id = resolved["id"].as_str().unwrap();
    let run = command(&emu, HISTORY, json!({"service_principal_id": id}));
    run.expect(0, 1)
        .says(&[&format!("Risky service principal history for {id}")]);
    let history = items(&run, "RiskyServicePrincipalHistory");
    assert!(history.len() >= 2 && history.iter().all(|h| h["servicePrincipalId"] == id));
    assert_eq!(history.last().map(|h| &h["riskState"]), Some(&resolved["riskState"]));

    for (args, path) in [
        (
            json!({"service_principal_id": ".."}),
            "/beta/identityProtection/riskyServicePrincipals/%2E%2E/history",
        ),
        (
            json!({"service_principal_id": "a/b?c#d"}),
            "/beta/identityProtection/riskyServicePrincipals/a%2Fb%3Fc%23d/history",
        ),
    ] {
        let run = command(&emu, HISTORY, args);
        run.expect(1, 4).says(&["404"]);
        assert!(run.stderr.contains(&format!("{path} -> 404")), "{}", run.stderr);
    }
    command(&emu, HISTORY, json!({}))
        .expect(2, 4)
        .says(&["`service_principal_id`"]);
}

#[test]
fn actions_dedupe_batch_by_sixty_and_change_the_state() {
    let emu = tenant();
    let all = ids_of(&principals(&emu));
    let target = all[0].clone();
    // 12 real ids, 55 unknown ones, and the target again in capitals: 67 distinct ids.
    let mut ids = all.clone();
    ids.extend((0..55).map(|i| format!("00000000-0000-4000-8000-{i:012}")));
    ids.push(target.to_uppercase());
    let run = command(&emu, DISMISS, json!({"service_principal_ids": ids}));
    run.expect(0, 1)
        .says(&["Dismissed successfully", "Updated 67 service principals"]);
    let posts = requests_to(&emu, &format!("{PRINCIPALS}/dismiss"));
    let sizes: Vec<usize> = posts
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).expect("JSON body");
            body["servicePrincipalIds"].as_array().map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(sizes, [60, 7]);
    let dismissed = principal(&emu, &target);
    assert_eq!(
        (
            &dismissed["riskState"],
            &dismissed["riskLevel"],
            &dismissed["riskDetail"]
        ),
        (
            &json!("dismissed"),
            &json!("none"),
            &json!("adminDismissedAllRiskForServicePrincipal")
        )
    );

    let run = command(
        &emu,
        CONFIRM,
        json!({"service_principal_ids": format!("{target},{target}")}),
    );
    run.expect(0, 1)
        .says(&["Confirmed successfully", "Updated 1 service principal."]);
    assert_eq!(run.entry()["Contents"]["servicePrincipalIds"], json!([target]));
    let listed = command(
        &emu,
        LIST,
        json!({"risk_state": "confirmedCompromised", "limit": "100"}),
    );
    let found = items(&listed, "RiskyServicePrincipals");
    let mine = found
        .iter()
        .find(|p| p["id"] == target.as_str())
        .expect("listed as compromised");
    assert_eq!(
        (&mine["riskLevel"], &mine["riskDetail"]),
        (&json!("high"), &json!("adminConfirmedServicePrincipalCompromised"))
    );
    let history = command(&emu, HISTORY, json!({"service_principal_id": target}));
    let last = items(&history, "RiskyServicePrincipalHistory")
        .last()
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["riskState"], "confirmedCompromised");
    assert_eq!(last["initiatedBy"], emu.tenant().apps[1].client_id.as_str());
}

#[test]
fn a_failed_batch_says_what_was_applied_with_the_workload_advice() {
    let emu = tenant();
    let ids: Vec<String> = (0..130).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    let path = format!("{PRINCIPALS}/confirmCompromised");
    emu.script(ScriptedAnswer::new(&path, 204, ""));
    emu.script(ScriptedAnswer::graph_error(
        &path,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ));
    let run = command(&emu, CONFIRM, json!({"service_principal_ids": ids}));
    run.expect(1, 4).says(&[
        "batch 2 of 3",
        "60 service principals in earlier batches were already updated",
        "10 service principals after it were not attempted",
        "IdentityRiskyServicePrincipal.ReadWrite.All",
        "Workload ID Premium",
    ]);
}

#[test]
fn risks_list_by_id_and_by_filter() {
    let emu = tenant();
    let detections = emu.tenant().service_principal_risk_detections;
    let one = &detections[7];
    let id = one["id"].as_str().unwrap();
    let run = command(&emu, RISKS, json!({"id": id}));
    run.expect(0, 1).says(&["Service Principal Risks (1 result)"]);
    assert_eq!(items(&run, "ServicePrincipalRisks")[0]["id"], id);

    let owner = one["servicePrincipalId"].as_str().unwrap();
    let run = command(&emu, RISKS, json!({"service_principal_id": owner}));
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, SP_DETECTIONS),
        Some(format!("servicePrincipalId eq '{owner}'"))
    );
    let expected = detections.iter().filter(|d| d["servicePrincipalId"] == owner).count();
    assert_eq!(items(&run, "ServicePrincipalRisks").len(), expected);

    let app_id = one["appId"].as_str().unwrap();
    let run = command(&emu, RISKS, json!({"app_id": app_id, "limit": "2"}));
    run.expect(0, 1);
    assert!(
        items(&run, "ServicePrincipalRisks")
            .iter()
            .all(|d| d["appId"] == app_id)
    );
    let run = command(
        &emu,
        RISKS,
        json!({"filter_expression": "riskLevel eq 'high'", "limit": "100"}),
    );
    run.expect(0, 1);
    assert!(
        items(&run, "ServicePrincipalRisks")
            .iter()
            .all(|d| d["riskLevel"] == "high")
    );

    let odd = command(&emu, RISKS, json!({"id": "."}));
    odd.expect(1, 4);
    assert!(
        odd.stderr
            .contains("/beta/identityProtection/servicePrincipalRiskDetections/%2E -> 404"),
        "{}",
        odd.stderr
    );
}

#[test]
fn forbidden_names_the_permission_and_the_licence() {
    let emu = tenant_with(|c| {
        c.apps[1].permissions = vec![
            "IdentityRiskyUser.ReadWrite.All".into(),
            "IdentityRiskyServicePrincipal.Read.All".into(),
        ]
    });
    command(&emu, RISKS, json!({})).expect(1, 4).says(&[
        "403",
        "IdentityRiskEvent.Read.All",
        "Microsoft Entra Workload ID Premium",
    ]);
    command(&emu, DISMISS, json!({"service_principal_ids": "x"}))
        .expect(1, 4)
        .says(&[
            "403",
            "IdentityRiskyServicePrincipal.ReadWrite.All",
            "Workload ID Premium",
        ]);
    command(&emu, LIST, json!({})).expect(0, 1);

    let users_only = tenant_with(|c| c.apps[1].permissions = vec!["IdentityRiskyUser.Read.All".into()]);
    command(&users_only, LIST, json!({})).expect(1, 4).says(&[
        "403",
        "IdentityRiskyServicePrincipal.Read.All",
        "Workload ID Premium",
    ]);
    // The users' advice stays the users' advice.
    let run = command(&users_only, "azure-ad-identity-protection-risks-list", json!({}));
    run.expect(1, 4).says(&["P2"]);
    assert!(!run.text().contains("Workload"), "{}", run.text());
}

#[test]
fn a_tenant_without_the_licence_is_told_so_and_throttling_is_retried() {
    let emu = tenant_with(|c| c.workload_id_premium = false);
    command(&emu, LIST, json!({}))
        .expect(1, 4)
        .says(&["403", "Workload ID Premium", "not licensed"]);
    command(&emu, RISKS, json!({}))
        .expect(1, 4)
        .says(&["403", "Workload ID Premium"]);
    command(&emu, "azure-ad-identity-protection-risky-user-list", json!({})).expect(0, 1);

    let emu = tenant();
    emu.script(ScriptedAnswer::throttled(PRINCIPALS, Some("0")).times(2));
    command(&emu, LIST, json!({})).expect(0, 1);
    assert_eq!(requests_to(&emu, PRINCIPALS).len(), 3);
}

#[test]
fn v1_0_paths() {
    let emu = tenant();
    let mut params = app_params(&emu);
    params["api_version"] = json!("v1.0");
    run(&envelope(RISKS, json!({"limit": "1"}), &params, json!({}))).expect(0, 1);
    run(&envelope(LIST, json!({"limit": "1"}), &params, json!({}))).expect(0, 1);
    assert_eq!(requests_to(&emu, PRINCIPALS)[0].path, format!("/v1.0{PRINCIPALS}"));
    assert_eq!(
        requests_to(&emu, SP_DETECTIONS)[0].path,
        format!("/v1.0{SP_DETECTIONS}")
    );
}

#[test]
fn the_admin_endpoint_tells_a_service_principal_detection_by_its_fields() {
    let emu = tenant();
    let before = emu.tenant();
    let url = format!("{}/_emulator/detections", emu.base_url());
    let posted = json!({"value": [
        {"id": "sp-det", "servicePrincipalId": "sp-1", "riskLevel": "high"},
        {"id": "user-det", "userId": "u-1", "riskLevel": "low"},
    ]});
    let answer = ureq::Agent::new_with_defaults()
        .post(&url)
        .send_json(&posted)
        .expect("answers");
    assert_eq!(answer.status(), 200);
    let after = emu.tenant();
    assert_eq!(
        after.service_principal_risk_detections.len(),
        before.service_principal_risk_detections.len() + 1
    );
    assert_eq!(after.risk_detections.len(), before.risk_detections.len() + 1);
    let run = command(&emu, RISKS, json!({"id": "sp-det"}));
    run.expect(0, 1);
}

fn fetch(emu: &Emulator, extra: Value, last_run: Option<Value>) -> Run {
    let mut params = app_params(emu);
    params["first_fetch"] = json!("2024-01-01");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        params[key] = value;
    }
    let mut envelope = envelope("fetch-incidents", json!({}), &params, json!({}));
    if let Some(last_run) = last_run {
        envelope["last_run"] = last_run;
    }
    run(&envelope)
}

fn incidents(run: &Run) -> Vec<Value> {
    run.result["incidents"].as_array().cloned().expect("incidents")
}

/// A detection of `kind` ("user" or "sp") at 2024-06-01T10:00:<second>Z.
fn timed(kind: &str, n: usize, second: usize) -> Value {
    let level = ["low", "medium", "high"][n % 3];
    let mut detection = json!({
        "id": format!("{kind}-{n}"),
        "riskEventType": if kind == "sp" { "leakedCredentials" } else { "unfamiliarFeatures" },
        "riskLevel": level,
        "riskState": "atRisk",
        "riskDetail": "none",
        "detectedDateTime": format!("2024-06-01T10:00:{second:02}.1234567Z"),
    });
    match kind {
        "sp" => {
            detection["servicePrincipalId"] = json!("sp-object-1");
            detection["servicePrincipalDisplayName"] = json!("O'Neil Reporting Connector");
            detection["appId"] = json!("app-1");
        }
        _ => detection["userPrincipalName"] = json!("adelev@contoso.onmicrosoft.com"),
    }
    detection
}

#[test]
fn fetch_without_the_parameter_never_asks_for_service_principal_detections() {
    let emu = tenant();
    for extra in [json!({}), json!({"fetch_service_principal_detections": "false"})] {
        let run = fetch(&emu, extra, None);
        run.expect(0, 1);
        assert!(run.result["last_run"].get("service_principals").is_none());
    }
    assert!(requests_to(&emu, SP_DETECTIONS).is_empty());
    fetch(&emu, json!({"fetch_service_principal_detections": "maybe"}), None)
        .expect(2, 4)
        .says(&["fetch_service_principal_detections"]);
}

#[test]
fn fetch_emits_both_kinds_in_time_order_bounded_by_max_fetch_each_once() {
    let emu = tenant_with(|c| {
        c.risk_detections = (0..4).map(|n| timed("user", n, 2 * n)).collect();
        c.service_principal_risk_detections = (0..5).map(|n| timed("sp", n, 2 * n + 1)).collect();
    });
    let extra = json!({"fetch_service_principal_detections": "true", "max_fetch": "4"});
    let mut last_run = None;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let run = fetch(&emu, extra.clone(), last_run.take());
        run.expect(0, 1);
        let batch = incidents(&run);
        assert!(batch.len() <= 4);
        seen.extend(batch);
        last_run = Some(run.result["last_run"].clone());
    }
    let ids: Vec<&str> = seen.iter().filter_map(|i| i["dbotMirrorId"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "user-0", "sp-0", "user-1", "sp-1", "user-2", "sp-2", "user-3", "sp-3", "sp-4"
        ],
        "time order across both kinds, each once"
    );
    let workload = seen.iter().find(|i| i["dbotMirrorId"] == "sp-2").expect("sp-2");
    assert_eq!(
        workload["name"],
        "Azure AD workload identity: sp-2 leakedCredentials none"
    );
    assert_eq!(workload["severity"], 3);
    assert!(
        workload["details"]
            .as_str()
            .unwrap_or_default()
            .contains("O'Neil Reporting Connector")
    );
    let user = seen.iter().find(|i| i["dbotMirrorId"] == "user-1").expect("user-1");
    assert_eq!(user["name"], "Azure AD: user-1 unfamiliarFeatures none");
    let cursor = last_run.unwrap_or_default();
    assert_eq!(cursor["latest_detection_found"], "2024-06-01T10:00:06.1234567Z");
    assert_eq!(
        cursor["service_principals"]["latest_detection_found"],
        "2024-06-01T10:00:09.1234567Z"
    );

    // Switched off, the service principals' cursor is kept for when it is switched on again.
    let off = fetch(&emu, json!({}), Some(cursor.clone()));
    assert!(incidents(&off).is_empty());
    assert_eq!(
        off.result["last_run"]["service_principals"],
        cursor["service_principals"]
    );
}

// Device-code sign-in: the workload-identity permission is asked for only when needed.

const TOKEN: &str = "/oauth2/v2.0/token";
const WORKLOAD_PERMISSION: &str = "IdentityRiskyServicePrincipal.ReadWrite.All";

/// The `scp` claim of the bearer token a recorded Graph request carried.
fn delegated_permissions_sent(request: &azure_ad_identity_protection::emulator::RecordedRequest) -> String {
    use base64::Engine as _;
    let bearer = request.header("Authorization").expect("a bearer token");
    let payload = bearer.trim_start_matches("Bearer ").split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["scp"].as_str().unwrap_or_default().to_string()
}

#[test]
fn device_code_asks_for_the_workload_permission_once_with_the_refresh_token() {
    let emu = tenant();
    let params = device_params(&emu);
    let context = signed_in(&emu, &params);
    let asked_at_sign_in = requests_to(&emu, "/oauth2/v2.0/devicecode")[0]
        .form_value("scope")
        .expect("a scope");
    assert!(!asked_at_sign_in.contains(WORKLOAD_PERMISSION), "{asked_at_sign_in}");
    emu.clear_requests();

    // Service-principal detections need only IdentityRiskEvent.Read.All: the sign-in's token.
    let detections = run(&envelope(RISKS, json!({"limit": 2}), &params, json!(context)));
    detections.expect(0, 1);
    assert!(requests_to(&emu, TOKEN).is_empty());

    let listed = run(&envelope(LIST, json!({"limit": 3}), &params, json!(context)));
    listed.expect(0, 1);
    let token_requests = requests_to(&emu, TOKEN);
    assert_eq!(token_requests.len(), 1, "one refresh, no new sign-in");
    assert_eq!(
        token_requests[0].form_value("grant_type").as_deref(),
        Some("refresh_token")
    );
    assert!(
        token_requests[0]
            .form_value("scope")
            .expect("scope")
            .contains(WORKLOAD_PERMISSION)
    );
    let graph = requests_to(&emu, PRINCIPALS);
    assert!(delegated_permissions_sent(&graph[0]).contains(WORKLOAD_PERMISSION));
    assert_eq!(listed.context()["token_has_workload_scopes"], true);

    // The wider token serves both kinds of command until it expires: no token request at all.
    emu.clear_requests();
    let users = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": 1}),
        &params,
        listed.context().clone(),
    ));
    users.expect(0, 1);
    let again = run(&envelope(LIST, json!({"limit": 1}), &params, users.context().clone()));
    again.expect(0, 1);
    assert!(requests_to(&emu, TOKEN).is_empty());
}

#[test]
fn device_code_without_consent_for_the_workload_permission_says_so_and_loses_nothing() {
    let emu = tenant_with(|config| {
        config.rotate_refresh_tokens_strictly = true;
        let public = config
            .apps
            .iter_mut()
            .find(|a| a.public_client_flows)
            .expect("a public app");
        public
            .permissions
            .retain(|p| !p.starts_with("IdentityRiskyServicePrincipal"));
    });
    let params = device_params(&emu);
    let context = signed_in(&emu, &params);

    // The emulator's public app has the Cortex XSOAR application's id, the default.
    let refused = run(&envelope(LIST, json!({}), &params, json!(context)));
    refused.expect(1, 4).says(&[
        "AADSTS65001",
        WORKLOAD_PERMISSION,
        "Cortex XSOAR application",
        "your own app registration",
    ]);
    assert_eq!(
        refused.context()["current_refresh_token"],
        context["current_refresh_token"],
        "the refresh token the host holds stays"
    );
    assert!(
        requests_to(&emu, PRINCIPALS).is_empty(),
        "no Graph request without the permission"
    );

    // The users' commands keep working with what the host still holds (strict rotation: the
    // refresh token was not spent by the refusal).
    emu.expire_access_tokens();
    let users = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": 1}),
        &params,
        json!({"current_refresh_token": context["current_refresh_token"], "token_owner": context["token_owner"]}),
    ));
    users.expect(0, 1);
}

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer, TenantConfig};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn risks(emu: &Emulator, args: Value) -> Run {
    command(emu, "azure-ad-identity-protection-risks-list", args)
}

fn users(emu: &Emulator, args: Value) -> Run {
    command(emu, "azure-ad-identity-protection-risky-user-list", args)
}

/// `count` detections for one user, `per_instant` sharing each detectedDateTime.
pub fn detections(count: usize, per_instant: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let second = i / per_instant.max(1);
            let level = ["low", "medium", "high"][i % 3];
            json!({
                "id": format!("det-{i:04}"),
                "riskEventType": "unfamiliarFeatures",
                "riskState": "atRisk",
                "riskLevel": level,
                "riskDetail": "none",
                "ipAddress": "203.0.113.7",
                "location": {"city": "Oslo", "countryOrRegion": "NO"},
                "detectedDateTime": format!("2024-06-01T10:{:02}:{:02}.{}Z", second / 60, second % 60, "1234567"),
                "userId": "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01",
                "userPrincipalName": "adelev@contoso.onmicrosoft.com",
            })
        })
        .collect()
}

#[test]
fn risks_list_defaults_table_and_context() {
    let emu = tenant();
    let run = risks(&emu, json!({}));
    run.expect(0, 1);
    let request = &requests_to(&emu, DETECTIONS)[0];
    assert_eq!(
        (request.path.as_str(), request.query_value("$top").as_deref()),
        ("/beta/identityProtection/riskDetections", Some("50"))
    );
    assert_eq!(request.query_value("$filter"), None);
    let found = items(&run, "Risks");
    assert_eq!(found.len(), TenantConfig::default().risk_detections.len());
    run.says(&[&format!(
        "### Risks ({} results)\n|User ID|User Principal Name|",
        found.len()
    )]);
    assert_eq!(
        next_link(&run, "Risks"),
        "",
        "a stale link from an earlier run is replaced"
    );
    assert_eq!(run.entry()["Contents"]["value"], Value::Array(found.clone()));
}

#[test]
fn risks_list_filters_are_typed_and_escaped() {
    let emu = tenant();
    risks(
        &emu,
        json!({"user_id": "u1", "user_principal_name": "o'brien@contoso.com", "country": "US"}),
    )
    .expect(0, 1);
    assert_eq!(
        last_filter(&emu, DETECTIONS).as_deref(),
        Some("userId eq 'u1' and userPrincipalName eq 'o''brien@contoso.com' and location/countryOrRegion eq 'US'")
    );
    risks(
        &emu,
        json!({"user_id": "u1", "filter_expression": "riskLevel eq 'high'"}),
    )
    .expect(0, 1);
    assert_eq!(
        last_filter(&emu, DETECTIONS).as_deref(),
        Some("riskLevel eq 'high'"),
        "filter_expression overrides"
    );
}

#[test]
fn risks_list_gets_one_by_id() {
    let emu = tenant();
    let id = TenantConfig::default().risk_detections[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = risks(&emu, json!({"id": id}));
    run.expect(0, 1).says(&["Risks (1 result)"]);
    assert_eq!(items(&run, "Risks")[0]["id"], json!(id));
    assert_eq!(requests_to(&emu, &format!("{DETECTIONS}/{id}")).len(), 1);
    risks(&emu, json!({"id": "no-such-detection"}))
        .expect(1, 4)
        .says(&["no-such-detection", "404"]);
}

#[test]
fn limit_pages_and_next_link_continue_exactly() {
    let emu = tenant_with(|c| {
        c.risk_detections = detections(23, 3);
        c.page_cap = 4;
        c.shuffle_seed = Some(7);
    });
    let mut seen = Vec::new();
    let mut run = risks(&emu, json!({"limit": "10"}));
    for _ in 0..20 {
        run.expect(0, 1);
        seen.extend(
            items(&run, "Risks")
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string()),
        );
        let link = next_link(&run, "Risks");
        if link.is_empty() {
            break;
        }
        assert!(items(&run, "Risks").len() <= 10);
        run = risks(&emu, json!({"limit": "10", "next_link": link, "user_id": "ignored"}));
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (23, 23),
        "every detection exactly once: {seen:?}"
    );
    assert_eq!(
        requests_to(&emu, DETECTIONS)[0].query_value("$top").as_deref(),
        Some("10")
    );
}

#[test]
fn a_next_link_whose_spaces_were_decoded_still_continues() {
    // A playbook or a person pasting the link may turn %20 back into spaces.
    let emu = tenant_with(|c| c.risk_detections = detections(9, 1));
    let args = json!({"limit": "1", "filter_expression": "riskLevel eq 'high'"});
    let link = next_link(&risks(&emu, args), "Risks");
    assert!(link.contains("%20"), "the filter's spaces are encoded: {link}");
    let decoded = link.replace("%20", " ");
    let encoded = risks(&emu, json!({"limit": "3", "next_link": link}));
    let pasted = risks(&emu, json!({"limit": "3", "next_link": decoded}));
    let ids = |run: &Run| -> Vec<String> {
        let items = items(run, "Risks").iter();
        items.map(|d| d["id"].as_str().unwrap().to_string()).collect()
    };
    pasted.expect(0, 1);
    assert_eq!(ids(&pasted), ids(&encoded));
    assert_eq!(
        ids(&pasted),
        ["det-0005", "det-0008"],
        "the high ones after the first page"
    );
    let sent = requests_to(&emu, DETECTIONS).last().unwrap().query_value("$filter");
    assert_eq!(sent.as_deref(), Some("riskLevel eq 'high'"));
}

#[test]
fn large_limits_use_pages_that_land_on_the_limit() {
    let emu = tenant_with(|c| c.risk_detections = detections(1_300, 10));
    let run = risks(&emu, json!({"limit": "700"}));
    run.expect(0, 1).says(&["Risks (700 results)"]);
    let pages = requests_to(&emu, DETECTIONS);
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].query_value("$top").as_deref(), Some("350"));
    assert!(next_link(&run, "Risks").contains("skiptoken"));
}

#[test]
fn bad_limits_and_foreign_next_links_are_refused_unsent() {
    let emu = tenant();
    for limit in [json!("0"), json!("ten"), json!("10001"), json!(-5), json!("2.5")] {
        risks(&emu, json!({"limit": limit})).expect(2, 4).says(&["`limit`"]);
    }
    let foreign = [
        "https://evil.example/beta/identityProtection/riskDetections?$skiptoken=x",
        "http://169.254.169.254/latest",
        &format!("{}/v1.0/identityProtection/riskDetections", emu.base_url()),
        // Dot-segments and look-alike prefixes that pass a string prefix check.
        &format!("{}/beta/../v1.0/identityProtection/riskDetections", emu.base_url()),
        &format!("{}/beta/%2e%2e/_emulator/tenant", emu.base_url()),
        &format!("{}/beta/%2E%2E/%2E%2E/other", emu.base_url()),
        &format!("{}/beta\\..\\other", emu.base_url()),
        &format!("{}/betaX/identityProtection/riskDetections", emu.base_url()),
    ];
    for link in foreign {
        risks(&emu, json!({"next_link": link}))
            .expect(2, 4)
            .says(&["`next_link`", "not followed"]);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_argument_quoted_in_a_title_adds_no_block_link_or_image() {
    let emu = tenant();
    let user_id = "x\n![t](http://t.example/p.png)\n# Owned";
    let run = command(
        &emu,
        "azure-ad-identity-protection-risky-user-history-list",
        json!({"user_id": user_id}),
    );
    run.expect(1, 4);
    let text = run.entry()["HumanReadable"].as_str().unwrap_or_default();
    assert!(text.contains("\\!\\[t\\]"), "{text}");
    assert!(
        !text.contains("\n#") && !text.contains(" ![t]") && !text.contains("\n!["),
        "{text}"
    );
}

#[test]
fn an_id_of_dots_stays_one_encoded_path_segment() {
    let emu = tenant();
    for (name, args, path) in [
        (
            "azure-ad-identity-protection-risky-user-history-list",
            json!({"user_id": ".."}),
            "/beta/identityProtection/riskyUsers/%2E%2E/history",
        ),
        (
            "azure-ad-identity-protection-risks-list",
            json!({"id": "."}),
            "/beta/identityProtection/riskDetections/%2E",
        ),
    ] {
        let run = command(&emu, name, args);
        run.expect(1, 4);
        // stderr's line per exchange shows the path as sent.
        assert!(run.stderr.contains(&format!("{path} -> 404")), "{name}: {}", run.stderr);
    }
}

#[test]
fn risky_user_list_filters_fix_the_original_bugs() {
    let emu = tenant();
    users(
        &emu,
        json!({"risk_level": "HIGH", "risk_state": "atRisk", "risk_detail": "none"}),
    )
    .expect(0, 1);
    assert_eq!(
        last_filter(&emu, RISKY_USERS).as_deref(),
        Some("riskLevel eq 'high' and riskState eq 'atRisk' and riskDetail eq 'none'"),
        "risk_detail filters on its own value"
    );
    let run = users(&emu, json!({"user_name": "adelev@contoso.onmicrosoft.com"}));
    run.expect(0, 1).says(&["Risky Users (1 result)"]);
    assert_eq!(
        last_filter(&emu, RISKY_USERS).as_deref(),
        Some("userPrincipalName eq 'adelev@contoso.onmicrosoft.com'"),
        "user_name is accepted"
    );
    users(&emu, json!({"updated_time": "2 weeks"})).expect(0, 1);
    let filter = last_filter(&emu, RISKY_USERS).unwrap();
    assert!(
        filter.starts_with("riskLastUpdatedDateTime ge 20") && filter.ends_with('Z'),
        "{filter}"
    );
    users(&emu, json!({"risk_level": "severe"}))
        .expect(2, 4)
        .says(&["`risk_level`", "low, medium, high"]);
    users(&emu, json!({"updated_time": "a while"}))
        .expect(2, 4)
        .says(&["`updated_time`"]);
}

#[test]
fn history_encodes_the_user_id_and_names_unknown_users() {
    let emu = tenant();
    let id = "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01";
    let run = command(
        &emu,
        "azure-ad-identity-protection-risky-user-history-list",
        json!({"user_id": id}),
    );
    run.expect(0, 1).says(&[&format!("### Risky user history for {id} (")]);
    assert!(!items(&run, "RiskyUserHistory").is_empty());
    let odd = command(
        &emu,
        "azure-ad-identity-protection-risky-user-history-list",
        json!({"user_id": "x/../y z"}),
    );
    odd.expect(1, 4).says(&["x/../y z", "404"]);
    let request = requests_to(&emu, "/history").pop().unwrap();
    assert_eq!(request.path, "/beta/identityProtection/riskyUsers/x/../y z/history");
    assert!(request.header("authorization").is_some());
    command(&emu, "azure-ad-identity-protection-risky-user-history-list", json!({}))
        .expect(2, 4)
        .says(&["`user_id`"]);
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect()
}

#[test]
fn actions_batch_by_60_and_dedupe() {
    let emu = tenant();
    let mut many = ids(130);
    many.extend(ids(5));
    let run = command(
        &emu,
        "azure-ad-identity-protection-risky-user-dismiss",
        json!({"user_ids": many.join(",")}),
    );
    run.expect(0, 1).says(&["Dismissed successfully", "Updated 130 users"]);
    let sent: Vec<usize> = requests_to(&emu, "/riskyUsers/dismiss")
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["userIds"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sent, [60, 60, 10]);
}

#[test]
fn actions_change_the_tenant() {
    let emu = tenant();
    let (a, b, c) = (
        "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01",
        "d4b2f103-2c3d-4e4f-9051-6b7c8d9e0f12",
        "f6d41325-4e5f-4061-b273-8d9e0f1a2b34",
    );
    let cases = [
        (
            "azure-ad-identity-protection-risky-user-confirm-compromised",
            json!([a]),
            a,
            "confirmedCompromised",
            "Confirmed successfully",
        ),
        (
            "azure-ad-identity-protection-risky-user-dismiss",
            json!(format!("[\"{b}\"]")),
            b,
            "dismissed",
            "Dismissed successfully",
        ),
        (
            "azure-ad-identity-protection-risky-user-confirm-safe",
            json!(format!(" {c} ")),
            c,
            "confirmedSafe",
            "Confirmed safe",
        ),
    ];
    for (name, user_ids, id, state, says) in cases {
        let before = emu.history(id).len();
        command(&emu, name, json!({"user_ids": user_ids}))
            .expect(0, 1)
            .says(&[says, "Updated 1 user."]);
        assert_eq!(emu.risky_user(id).unwrap()["riskState"], state);
        assert_eq!(emu.history(id).len(), before + 1);
        let body: Value = serde_json::from_str(&emu.requests().last().unwrap().body).unwrap();
        assert_eq!(body, json!({"userIds": [id]}));
    }
    command(
        &emu,
        "azure-ad-identity-protection-risky-user-dismiss",
        json!({"user_ids": " , "}),
    )
    .expect(2, 4)
    .says(&["`user_ids`"]);
}

#[test]
fn a_failed_batch_says_what_was_applied() {
    let emu = tenant();
    emu.script(ScriptedAnswer::new("/riskyUsers/confirmCompromised", 204, ""));
    emu.script(ScriptedAnswer::graph_error(
        "/riskyUsers/confirmCompromised",
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ));
    let run = command(
        &emu,
        "azure-ad-identity-protection-risky-user-confirm-compromised",
        json!({"user_ids": ids(150)}),
    );
    run.expect(1, 4).says(&[
        "batch 2 of 3",
        "60 users in earlier batches were already updated",
        "30 users after it were not attempted",
        "IdentityRiskyUser",
    ]);
    let contents = &run.entry()["Contents"];
    assert!(contents["applied"].is_array(), "{contents}");
    assert_eq!(
        (
            contents["applied"].as_array().unwrap().len(),
            contents["failed"].as_array().unwrap().len(),
            contents["not_attempted"].as_array().unwrap().len()
        ),
        (60, 60, 30)
    );
    assert_eq!(requests_to(&emu, "/riskyUsers/confirmCompromised").len(), 2);
}

#[test]
fn actions_need_the_write_permission() {
    let emu = tenant_with(|c| {
        c.apps[1].permissions = vec!["IdentityRiskyUser.Read.All".into(), "IdentityRiskEvent.Read.All".into()]
    });
    command(
        &emu,
        "azure-ad-identity-protection-risky-user-dismiss",
        json!({"user_ids": "x"}),
    )
    .expect(1, 4)
    .says(&["403", "IdentityRiskyUser.ReadWrite.All"]);
}

#[test]
fn graph_faults_are_retried_or_explained() {
    let emu = tenant();
    emu.script(ScriptedAnswer::throttled(DETECTIONS, Some("0")));
    emu.script(ScriptedAnswer::new(DETECTIONS, 504, "").header("Retry-After", "0"));
    risks(&emu, json!({})).expect(0, 1);
    assert_eq!(requests_to(&emu, DETECTIONS).len(), 3);
    emu.script(ScriptedAnswer::throttled(DETECTIONS, Some("0")).times(6));
    risks(&emu, json!({})).expect(1, 4).says(&["throttling", "6 attempts"]);
    emu.script(ScriptedAnswer::new(DETECTIONS, 200, "{\"value\": 5}"));
    risks(&emu, json!({})).expect(1, 4).says(&["not a collection"]);
}

#[test]
fn v1_0_paths() {
    let emu = tenant();
    let mut params = app_params(&emu);
    params["api_version"] = json!("v1.0");
    run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({}),
        &params,
        json!({}),
    ))
    .expect(0, 1);
    assert_eq!(
        requests_to(&emu, RISKY_USERS)[0].path,
        "/v1.0/identityProtection/riskyUsers"
    );
}

#[test]
fn graph_requests_ask_for_unknown_enum_members_and_pass_them_through() {
    let emu = tenant_with(|c| {
        c.risk_detections = detections(1, 1);
        c.risk_detections[0]["riskDetail"] = json!("m365DAdminDismissedDetection");
    });
    let run = risks(&emu, json!({}));
    run.expect(0, 1);
    let request = requests_to(&emu, "riskDetections").pop().expect("a Graph request");
    assert_eq!(request.header("Prefer"), Some("include-unknown-enum-members"));
    assert_eq!(items(&run, "Risks")[0]["riskDetail"], "m365DAdminDismissedDetection");
}

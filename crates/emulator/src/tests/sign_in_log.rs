//! The sign-in log and sessions, as Microsoft Learn documents them ("List signIns", "Get
//! signIn", "user: revokeSignInSessions"): the log agrees with the detections, lists newest
//! first with Graph's filters and paging, needs AuditLog.Read.All and Directory.Read.All and Entra
//! ID P1; revoking a user's sessions refuses their earlier refresh tokens (AADSTS50173) while
//! access tokens already issued keep working.

use std::collections::HashSet;

use super::*;

const SIGN_INS: &str = "/beta/auditLogs/signIns";
const ANALYST_UPN: &str = "sam.analyst@contoso.onmicrosoft.com";

/// `path?$filter=<filter>` with spaces, quotes and `+` percent-encoded.
fn filtered(path: &str, filter: &str) -> String {
    let encoded = filter.replace(' ', "%20").replace('\'', "%27").replace('+', "%2B");
    format!("{path}?$filter={encoded}")
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

fn items(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A tenant whose confidential app holds only `permissions`, and that app's token.
fn app_with(permissions: &[&str], p1_licence: bool) -> (Harness, String) {
    let mut config = TenantConfig {
        p1_licence,
        ..TenantConfig::default()
    };
    config.apps[1].permissions = permissions.iter().map(|p| p.to_string()).collect();
    let h = Harness::with(config);
    let token = h.app_token();
    (h, token)
}

#[test]
fn every_sign_in_detection_names_a_sign_in_of_the_same_user_place_and_time() {
    let h = Harness::new();
    let log = items(&h.pages(SIGN_INS, &h.app_token()));
    let with_request: Vec<Value> = h
        .config
        .risk_detections
        .iter()
        .filter(|d| d["requestId"].is_string())
        .cloned()
        .collect();
    assert_eq!(with_request.len(), 7);
    for detection in with_request {
        let sign_in = log.iter().find(|s| s["id"] == detection["requestId"]);
        let sign_in = sign_in.unwrap_or_else(|| panic!("no sign-in for {}", detection["id"]));
        for (key, detection_key) in [
            ("userId", "userId"),
            ("userPrincipalName", "userPrincipalName"),
            ("userDisplayName", "userDisplayName"),
            ("ipAddress", "ipAddress"),
            ("location", "location"),
            ("correlationId", "correlationId"),
            ("createdDateTime", "activityDateTime"),
            ("riskState", "riskState"),
        ] {
            assert_eq!(sign_in[key], detection[detection_key], "{key} of {}", detection["id"]);
        }
        assert!(
            sign_in["riskEventTypes_v2"]
                .as_array()
                .is_some_and(|types| types.contains(&detection["riskEventType"]))
        );
    }
}

#[test]
fn a_generated_tenant_agrees_with_its_detections_too() {
    let config = TenantConfig::generated(5, 30, 200);
    let log: HashSet<&str> = config.sign_ins.iter().filter_map(|s| s["id"].as_str()).collect();
    let requests: Vec<&Value> = config
        .risk_detections
        .iter()
        .filter(|d| d["requestId"].is_string())
        .collect();
    assert!(requests.len() > 100);
    for detection in requests {
        assert!(log.contains(detection["requestId"].as_str().unwrap_or_default()));
    }
    assert_eq!(config.sign_ins.len(), log.len(), "sign-in ids are unique");
    assert!(
        config.sign_ins.len() < 30 * 5 + 200,
        "a handful of ordinary sign-ins per user"
    );
}

#[test]
fn the_log_is_newest_first_with_a_handful_of_ordinary_sign_ins_per_user() {
    let h = Harness::new();
    let log = items(&h.pages(SIGN_INS, &h.app_token()));
    let times: Vec<i128> = log
        .iter()
        .filter_map(|s| s["createdDateTime"].as_str().and_then(wire::parse_instant))
        .collect();
    assert_eq!(times.len(), log.len());
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first");
    for user in &h.config.risky_users {
        let ordinary = log
            .iter()
            .filter(|s| s["userId"] == user["id"] && s["riskState"] == "none")
            .count();
        assert!((3..=5).contains(&ordinary), "{}: {ordinary}", user["id"]);
    }
}

#[test]
fn one_sign_in_by_id_and_unknown_ids() {
    let h = Harness::new();
    let token = h.app_token();
    let id = "6a5874ca-abcd-4b1c-9d82-4f5a6b7c8d01";
    let answer = h.get(&format!("{SIGN_INS}/{}", id.to_uppercase()), Some(&token));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["id"], id);
    let context = format!("{}/beta/$metadata#auditLogs/signIns/$entity", h.emulator.base_url());
    assert_eq!(body["@odata.context"], context.as_str());
    let unknown = h.get(
        &format!("{SIGN_INS}/00000000-0000-4000-8000-000000000000"),
        Some(&token),
    );
    assert_graph_error(&unknown, 404, "itemNotFound");
}

#[test]
fn v1_leaves_out_what_only_beta_has() {
    let h = Harness::new();
    let token = h.app_token();
    let id = "6a5874ca-abcd-4b1c-9d82-4f5a6b7c8d02";
    let beta = h.get(&format!("{SIGN_INS}/{id}"), Some(&token)).json();
    let v1 = h.get(&format!("/v1.0/auditLogs/signIns/{id}"), Some(&token)).json();
    assert!(beta["mfaDetail"].is_object() && v1.get("mfaDetail").is_none());
    for key in [
        "status",
        "deviceDetail",
        "location",
        "appliedConditionalAccessPolicies",
        "authenticationDetails",
    ] {
        assert_eq!(beta[key], v1[key], "{key}");
    }
    let page = h.get("/v1.0/auditLogs/signIns?$top=3", Some(&token)).json();
    let items = page["value"].as_array().cloned().unwrap_or_default();
    assert!(items.len() == 3 && items.iter().all(|s| s.get("mfaDetail").is_none()));
}

#[test]
fn filters_the_integration_sends_and_their_combinations() {
    let h = Harness::new();
    let token = h.app_token();
    let log = h.emulator.sign_ins();
    let adele = "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01";
    let risky = log
        .iter()
        .find(|s| s["riskLevelDuringSignIn"] != "none")
        .cloned()
        .unwrap_or_default();
    let ip = risky["ipAddress"].as_str().unwrap_or_default().to_owned();
    let correlation = risky["correlationId"].as_str().unwrap_or_default().to_owned();
    let (from, to) = ("2024-05-17T00:00:00Z", "2024-05-19T23:59:59Z");
    let at = |s: &Value| {
        s["createdDateTime"]
            .as_str()
            .and_then(wire::parse_instant)
            .unwrap_or_default()
    };
    let instant = |t: &str| wire::parse_instant(t).unwrap_or_default();
    type Expect<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    #[rustfmt::skip]
    let cases: Vec<(String, Expect)> = vec![
        (format!("userId eq '{adele}'"), Box::new(|s| s["userId"] == adele)),
        ("userPrincipalName eq 'ADELEV@contoso.onmicrosoft.com'".to_owned(), Box::new(|s| s["userId"] == adele)),
        (format!("ipAddress eq '{ip}'"), Box::new(|s| s["ipAddress"] == ip.as_str())),
        (format!("correlationId eq '{correlation}'"), Box::new(|s| s["correlationId"] == correlation.as_str())),
        (format!("createdDateTime ge {from}"), Box::new(|s| at(s) >= instant(from))),
        (format!("createdDateTime le {to}"), Box::new(|s| at(s) <= instant(to))),
        ("riskLevelDuringSignIn ne 'none'".to_owned(), Box::new(|s| s["riskLevelDuringSignIn"] != "none")),
        (format!("userId eq '{adele}' and createdDateTime ge {from} and createdDateTime le {to}"),
            Box::new(|s| s["userId"] == adele && at(s) >= instant(from) && at(s) <= instant(to))),
        (format!("userId eq '{adele}' and riskLevelDuringSignIn ne 'none'"),
            Box::new(|s| s["userId"] == adele && s["riskLevelDuringSignIn"] != "none")),
        (format!("ipAddress eq '{ip}' and riskLevelDuringSignIn ne 'none' and createdDateTime ge {from}"),
            Box::new(|s| s["ipAddress"] == ip.as_str() && s["riskLevelDuringSignIn"] != "none" && at(s) >= instant(from))),
    ];
    for (filter, expected) in &cases {
        let want: Vec<Value> = log.iter().filter(|s| expected(s)).cloned().collect();
        assert!(!want.is_empty() && want.len() < log.len(), "{filter} selects a part");
        let got = items(&h.pages(&filtered(SIGN_INS, filter), &token));
        assert_eq!(ids(&got), ids(&want), "{filter}");
    }
}

#[test]
fn pages_follow_top_and_next_links_up_to_a_thousand() {
    let h = Harness::new();
    let token = h.app_token();
    let all = h.emulator.sign_ins();
    let pages = h.pages(&format!("{SIGN_INS}?$top=4"), &token);
    assert_eq!(pages.len(), all.len().div_ceil(4));
    assert!(
        pages
            .iter()
            .all(|p| p["value"].as_array().is_some_and(|v| v.len() <= 4))
    );
    assert_eq!(ids(&items(&pages)), ids(&all));
    let one_page = h.pages(SIGN_INS, &token);
    assert_eq!(one_page.len(), 1, "the default page is 1,000");
    assert_eq!(h.get(&format!("{SIGN_INS}?$top=1000"), Some(&token)).status, 200);
    assert_graph_error(
        &h.get(&format!("{SIGN_INS}?$top=1001"), Some(&token)),
        400,
        "invalidRequest",
    );
}

#[test]
fn reading_the_log_needs_both_permissions_and_p1() {
    #[rustfmt::skip]
    let cases = [
        (vec!["AuditLog.Read.All"], true, 403, "Authorization_RequestDenied"),
        (vec!["Directory.Read.All"], true, 403, "Authorization_RequestDenied"),
        (vec!["AuditLog.Read.All", "Directory.Read.All"], false, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
        (vec!["AuditLog.Read.All", "Directory.Read.All"], true, 200, ""),
    ];
    for (permissions, p1, status, code) in cases {
        let (h, token) = app_with(&permissions, p1);
        for path in [
            SIGN_INS.to_owned(),
            format!("{SIGN_INS}/6a5874ca-abcd-4b1c-9d82-4f5a6b7c8d01"),
        ] {
            let answer = h.get(&path, Some(&token));
            match status {
                200 => assert_eq!(answer.status, 200, "{permissions:?}: {}", answer.text),
                _ => assert_graph_error(&answer, status, code),
            }
        }
    }
}

#[test]
fn sign_in_verdicts_change_the_sign_ins_risk() {
    let h = Harness::new();
    let token = h.app_token();
    let id = |n: u8| format!("6a5874ca-abcd-4b1c-9d82-4f5a6b7c8d0{n}");
    let before = h.get(&format!("{SIGN_INS}/{}", id(1)), Some(&token)).json();
    for (action, n, state, detail, aggregated) in [
        (
            "confirmCompromised",
            1,
            "confirmedCompromised",
            "adminConfirmedSigninCompromised",
            "high",
        ),
        ("confirmSafe", 2, "confirmedSafe", "adminConfirmedSigninSafe", "none"),
    ] {
        let body = json!({"requestIds": [id(n)]}).to_string();
        let answer = h.post_json(&format!("/v1.0/auditLogs/signIns/{action}"), &token, &body);
        assert_eq!(answer.status, 204, "{}", answer.text);
        let sign_in = h.get(&format!("{SIGN_INS}/{}", id(n)), Some(&token)).json();
        assert_eq!(
            (
                &sign_in["riskState"],
                &sign_in["riskDetail"],
                &sign_in["riskLevelAggregated"]
            ),
            (&json!(state), &json!(detail), &json!(aggregated)),
            "{action}"
        );
    }
    let after = h.get(&format!("{SIGN_INS}/{}", id(1)), Some(&token)).json();
    assert_eq!(
        after["riskLevelDuringSignIn"], before["riskLevelDuringSignIn"],
        "history stays"
    );
}

#[test]
fn a_detection_added_while_serving_brings_its_sign_in() {
    let h = Harness::new();
    let token = h.app_token();
    let detection = json!({"id": "added-1", "requestId": "5e1f0000-0000-4000-8000-00000000abcd",
        "correlationId": "5e1f0000-0000-4000-8000-00000000beef", "riskEventType": "anonymizedIPAddress",
        "riskLevel": "high", "riskState": "atRisk", "riskDetail": "none", "detectionTimingType": "realtime",
        "ipAddress": "198.51.100.99", "location": null, "activityDateTime": "2024-06-29T12:00:00Z",
        "userId": "c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01", "userPrincipalName": "adelev@contoso.onmicrosoft.com",
        "userDisplayName": "Adele Vance"});
    h.emulator.add_detection(detection);
    let sign_in = h
        .get(
            &format!("{SIGN_INS}/5e1f0000-0000-4000-8000-00000000abcd"),
            Some(&token),
        )
        .json();
    assert_eq!(
        (
            &sign_in["ipAddress"],
            &sign_in["riskLevelDuringSignIn"],
            &sign_in["createdDateTime"]
        ),
        (&json!("198.51.100.99"), &json!("high"), &json!("2024-06-29T12:00:00Z"))
    );
    let newest = h.get(&format!("{SIGN_INS}?$top=1"), Some(&token)).json();
    assert_eq!(newest["value"][0]["id"], sign_in["id"], "still newest first");
}

// ---------------------------------------------------------------------------------------------
// Sessions

impl Harness {
    fn revoke(&self, user: &str, token: &str) -> Answer {
        self.post_json(&format!("/v1.0/users/{user}/revokeSignInSessions"), token, "")
    }
}

#[test]
fn revoking_sessions_refuses_earlier_refresh_tokens_but_not_access_tokens() {
    let h = Harness::new();
    let tokens = h.sign_in(USER_SCOPE);
    let refresh_token = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    let answer = h.revoke(ANALYST_UPN, &h.app_token());
    assert_eq!(answer.status, 200, "{}", answer.text);
    let context = format!("{}/v1.0/$metadata#Edm.Boolean", h.emulator.base_url());
    assert_eq!(answer.json(), json!({"@odata.context": context, "value": true}));
    assert_entra_error(&h.refresh(&refresh_token), 400, "invalid_grant", 50173);
    assert_eq!(
        h.get(RISKY_USERS, Some(&access_token)).status,
        200,
        "access tokens live on"
    );
    let fresh = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(h.refresh(&fresh).status, 200, "a sign-in after the revocation works");
}

#[test]
fn revoking_someone_else_leaves_the_analyst_signed_in() {
    let h = Harness::new();
    let refresh_token = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let app = h.app_token();
    assert_eq!(h.revoke("c3a1e0f2-1b2c-4d3e-8f40-5a6b7c8d9e01", &app).status, 200);
    assert_eq!(h.revoke("ALEXW@contoso.onmicrosoft.com", &app).status, 200);
    assert_eq!(h.refresh(&refresh_token).status, 200);
}

#[test]
fn revoking_an_unknown_user_or_without_permission() {
    let h = Harness::new();
    let unknown = h.revoke("nobody@contoso.onmicrosoft.com", &h.app_token());
    assert_graph_error(&unknown, 404, "Request_ResourceNotFound");
    let (h, token) = app_with(&["User.ReadWrite.All", "Directory.ReadWrite.All"], true);
    assert_graph_error(&h.revoke(ANALYST_UPN, &token), 403, "Authorization_RequestDenied");
}

#[test]
fn a_refresh_asks_for_the_sign_in_log_permissions_on_first_use() {
    let h = Harness::new();
    let refresh_token = h.sign_in(USER_SCOPE)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let narrow_tokens = h.refresh(&refresh_token).json();
    let narrow = h.get(SIGN_INS, narrow_tokens["access_token"].as_str());
    assert_graph_error(&narrow, 403, "Authorization_RequestDenied");
    let scope =
        "https://graph.microsoft.com/AuditLog.Read.All https://graph.microsoft.com/Directory.Read.All offline_access";
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", PUBLIC_APP),
        ("refresh_token", refresh_token.as_str()),
        ("scope", scope),
    ];
    let wider = h.token(&form).json();
    let token = wider["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims(token)["scp"], "AuditLog.Read.All Directory.Read.All");
    assert_eq!(h.get(SIGN_INS, Some(token)).status, 200);
}

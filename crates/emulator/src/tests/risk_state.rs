//! Risk state kept in step as Entra keeps it: a verdict on a user, a service principal or a
//! sign-in reaches the detections that still hold risk, and the `lastUpdatedDateTime ge` /
//! `riskLastUpdatedDateTime ge` queries a mirroring client polls see every change. Expected
//! values come from Microsoft Learn ("Provide risk feedback in Microsoft Entra ID Protection",
//! the riskDetail and riskState enums, the riskyUser and signIn actions).

use std::time::{SystemTime, UNIX_EPOCH};

use formats::time::iso8601_graph;

use super::*;

const PRINCIPAL_DETECTIONS: &str = "/v1.0/identityProtection/servicePrincipalRiskDetections";
const PRINCIPALS: &str = "/v1.0/identityProtection/riskyServicePrincipals";

/// Now as Graph writes it, taken by the client before it acts: anything Graph changes
/// afterwards is `ge` this.
fn client_now() -> String {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    iso8601_graph((elapsed.as_secs(), elapsed.subsec_nanos()))
}

/// `path?$filter=<filter>` with the filter's spaces and quotes percent-encoded.
fn filtered(path: &str, filter: &str) -> String {
    let encoded = filter.replace(' ', "%20").replace('\'', "%27");
    format!("{path}?$filter={encoded}")
}

/// Every item of every page, in order.
fn items_of(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The sorted `key` of each item.
fn sorted(items: &[Value], key: &str) -> Vec<String> {
    let mut values: Vec<String> = items
        .iter()
        .filter_map(|item| item[key].as_str().map(str::to_owned))
        .collect();
    values.sort();
    values
}

impl Harness {
    /// The default tenant's user `n` (0 Adele atRisk, 1 Alex atRisk, 2 Diego confirmedCompromised,
    /// 3 Grady dismissed, 4 Isaiah remediated).
    fn user_id(&self, n: usize) -> String {
        self.config.risky_users[n]["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Detections changed at or after `since`, through Graph.
    fn detections_since(&self, since: &str, token: &str) -> Vec<Value> {
        let url = filtered(DETECTIONS, &format!("lastUpdatedDateTime ge {since}"));
        items_of(&self.pages(&url, token))
    }

    /// One detection through Graph.
    fn detection(&self, id: &str, token: &str) -> Value {
        self.get(&format!("{DETECTIONS}/{id}"), Some(token)).json()
    }
}

/// Each item's `(riskState, riskDetail)`.
fn verdicts(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|d| {
            let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
            (text("riskState"), text("riskDetail"))
        })
        .collect()
}

fn all(state: &str, detail: &str, n: usize) -> Vec<(String, String)> {
    vec![(state.to_owned(), detail.to_owned()); n]
}

#[test]
fn dismissing_a_user_closes_every_open_risk_of_their_detections() {
    let h = Harness::new();
    let token = h.app_token();
    let (adele, diego, grady) = (h.user_id(0), h.user_id(2), h.user_id(3));
    let before = client_now();
    let body = json!({"userIds": [adele, diego, grady]}).to_string();
    assert_eq!(
        h.post_json(&format!("{RISKY_USERS}/dismiss"), &token, &body).status,
        204
    );

    // Adele's three at-risk detections and Diego's confirmed-compromised one: "closes all
    // risk on the user and past sign-ins". Grady's detection was dismissed already.
    let changed = h.detections_since(&before, &token);
    assert_eq!(sorted(&changed, "id"), detection_ids(&[1, 2, 3, 6]));
    assert_eq!(verdicts(&changed), all("dismissed", "adminDismissedAllRiskForUser", 4));
    for detection in &changed {
        let updated = detection["lastUpdatedDateTime"].as_str().unwrap_or_default();
        assert!(updated >= before.as_str() && updated.len() == 28, "{updated}");
    }
    let untouched = h.detection(&detection_ids(&[7])[0], &token);
    assert_eq!(untouched["lastUpdatedDateTime"], "2024-05-17T08:13:27.5581222Z");
    let alex = h.detection(&detection_ids(&[4])[0], &token);
    assert_eq!(alex["riskState"], "atRisk", "another user's detection keeps its risk");
    let users = h.pages(
        &filtered(RISKY_USERS, &format!("riskLastUpdatedDateTime ge {before}")),
        &token,
    );
    assert_eq!(sorted(&items_of(&users), "id"), {
        let mut ids = vec![adele, diego, grady];
        ids.sort();
        ids
    });
}

#[test]
fn confirming_a_user_compromised_confirms_their_detections_at_risk() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let body = json!({"userIds": [h.user_id(1), h.user_id(3)]}).to_string();
    let path = format!("{RISKY_USERS}/confirmCompromised");
    assert_eq!(h.post_json(&path, &token, &body).status, 204);
    let changed = h.detections_since(&before, &token);
    let alex: Vec<Value> = changed
        .iter()
        .filter(|d| d["userId"] == h.user_id(1).as_str())
        .cloned()
        .collect();
    assert_eq!(sorted(&alex, "id"), detection_ids(&[4, 5]));
    assert_eq!(
        verdicts(&alex),
        all("confirmedCompromised", "adminConfirmedUserCompromised", 2)
    );
    let grady = h.detection(&detection_ids(&[7])[0], &token);
    assert_eq!(
        (grady["riskState"].as_str(), grady["riskDetail"].as_str()),
        (Some("dismissed"), Some("adminDismissedAllRiskForUser")),
        "a dismissed detection holds no risk to confirm"
    );
}

#[test]
fn confirming_a_user_safe_marks_their_open_detections_safe() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let body = json!({"userIds": [h.user_id(0)]}).to_string();
    let path = "/beta/identityProtection/riskyUsers/confirmSafe";
    assert_eq!(h.post_json(path, &token, &body).status, 204);
    let changed = h.detections_since(&before, &token);
    assert_eq!(sorted(&changed, "id"), detection_ids(&[1, 2, 3]));
    // adminConfirmedAccountSafe applies to riskyUser and signIn only; riskDetection's own
    // "admin confirmed safe" detail is adminConfirmedSigninSafe.
    assert_eq!(verdicts(&changed), all("confirmedSafe", "adminConfirmedSigninSafe", 3));
    let user = h.get(&format!("{RISKY_USERS}/{}", h.user_id(0)), Some(&token)).json();
    assert_eq!(user["riskDetail"], "adminConfirmedAccountSafe");
}

/// The first service principal with a detection at risk, and the ids of its detections at risk.
fn principal_at_risk(h: &Harness, token: &str) -> (String, Vec<String>) {
    let open = items_of(&h.pages(&filtered(PRINCIPAL_DETECTIONS, "riskState eq 'atRisk'"), token));
    let principal = open[0]["servicePrincipalId"].as_str().unwrap_or_default().to_owned();
    let own: Vec<Value> = open
        .into_iter()
        .filter(|d| d["servicePrincipalId"] == principal.as_str())
        .collect();
    (principal, sorted(&own, "id"))
}

#[test]
fn principal_actions_reach_the_principals_detections() {
    #[rustfmt::skip]
    let cases = [
        ("dismiss", "dismissed", "adminDismissedAllRiskForServicePrincipal"),
        ("confirmCompromised", "confirmedCompromised", "adminConfirmedServicePrincipalCompromised"),
    ];
    for (action, state, detail) in cases {
        let h = Harness::new();
        let token = h.app_token();
        let (principal, open) = principal_at_risk(&h, &token);
        let before = client_now();
        let body = json!({"servicePrincipalIds": [principal]}).to_string();
        assert_eq!(
            h.post_json(&format!("{PRINCIPALS}/{action}"), &token, &body).status,
            204
        );
        let since = format!("lastUpdatedDateTime ge {before}");
        let changed = items_of(&h.pages(&filtered(PRINCIPAL_DETECTIONS, &since), &token));
        assert_eq!(sorted(&changed, "id"), open, "{action}");
        assert_eq!(verdicts(&changed), all(state, detail, open.len()), "{action}");
        let since = format!("riskLastUpdatedDateTime ge {before}");
        let principals = items_of(&h.pages(&filtered(PRINCIPALS, &since), &token));
        assert_eq!(sorted(&principals, "id"), [principal], "{action}");
    }
}

const CONFIRM_SAFE: &str = "/v1.0/auditLogs/signIns/confirmSafe";
const CONFIRM_COMPROMISED: &str = "/beta/auditLogs/signIns/confirmCompromised";

/// The `requestId` of each numbered sample detection (a sign-in's).
fn request_ids(numbers: &[u8]) -> Vec<String> {
    numbers
        .iter()
        .map(|n| format!("6a5874ca-abcd-4b1c-9d82-4f5a6b7c8d0{n}"))
        .collect()
}

#[test]
fn confirming_sign_ins_safe_marks_their_detections_and_clears_the_user() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let mut ids = request_ids(&[4, 5]);
    ids.push("00000000-0000-0000-0000-000000000000".to_owned());
    let answer = h.post_json(CONFIRM_SAFE, &token, &json!({"requestIds": ids}).to_string());
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    let changed = h.detections_since(&before, &token);
    assert_eq!(sorted(&changed, "id"), detection_ids(&[4, 5]));
    assert_eq!(verdicts(&changed), all("confirmedSafe", "adminConfirmedSigninSafe", 2));
    // Alex had no other risky sign-in: with its effect reversed, nothing keeps him at risk.
    let alex = h.get(&format!("{RISKY_USERS}/{}", h.user_id(1)), Some(&token)).json();
    assert_eq!(
        (
            alex["riskState"].as_str(),
            alex["riskLevel"].as_str(),
            alex["riskDetail"].as_str()
        ),
        (Some("confirmedSafe"), Some("none"), Some("adminConfirmedSigninSafe"))
    );
    assert!(alex["riskLastUpdatedDateTime"].as_str() >= Some(before.as_str()));
    let last = h.emulator.history(&h.user_id(1)).last().cloned().unwrap_or_default();
    assert_eq!(last["activity"]["detail"], "adminConfirmedSigninSafe");
}

#[test]
fn a_user_with_other_risky_sign_ins_stays_at_risk() {
    let h = Harness::new();
    let token = h.app_token();
    let body = json!({"requestIds": request_ids(&[1])}).to_string();
    assert_eq!(h.post_json(CONFIRM_SAFE, &token, &body).status, 204);
    assert_eq!(
        h.detection(&detection_ids(&[1])[0], &token)["riskState"],
        "confirmedSafe"
    );
    let adele = h.get(&format!("{RISKY_USERS}/{}", h.user_id(0)), Some(&token)).json();
    // d02 (medium) and d03 (leaked credentials, high) are still at risk.
    assert_eq!(
        (adele["riskState"].as_str(), adele["riskLevel"].as_str()),
        (Some("atRisk"), Some("high"))
    );
}

#[test]
fn confirming_a_sign_in_compromised_raises_it_and_its_user_to_high() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let body = json!({"requestIds": request_ids(&[2])}).to_string();
    assert_eq!(h.post_json(CONFIRM_COMPROMISED, &token, &body).status, 204);
    let changed = h.detections_since(&before, &token);
    assert_eq!(sorted(&changed, "id"), detection_ids(&[2]));
    assert_eq!(
        verdicts(&changed),
        all("confirmedCompromised", "adminConfirmedSigninCompromised", 1)
    );
    assert_eq!(changed[0]["riskLevel"], "high", "was medium");
    let adele = h.get(&format!("{RISKY_USERS}/{}", h.user_id(0)), Some(&token)).json();
    assert_eq!(
        (
            adele["riskState"].as_str(),
            adele["riskLevel"].as_str(),
            adele["riskDetail"].as_str()
        ),
        (
            Some("confirmedCompromised"),
            Some("high"),
            Some("adminConfirmedSigninCompromised")
        )
    );
}

#[test]
fn unknown_request_ids_change_nothing() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let body = json!({"requestIds": ["no-such-sign-in", request_ids(&[9])[0]]}).to_string();
    assert_eq!(h.post_json(CONFIRM_SAFE, &token, &body).status, 204);
    assert_eq!(h.detections_since(&before, &token), Vec::<Value>::new());
    let users = h.pages(
        &filtered(RISKY_USERS, &format!("riskLastUpdatedDateTime ge {before}")),
        &token,
    );
    assert_eq!(items_of(&users), Vec::<Value>::new());
}

#[test]
fn sign_in_verdict_bodies_are_validated() {
    let h = Harness::new();
    let token = h.app_token();
    let many: Vec<String> = (0..61).map(|i| format!("request-{i}")).collect();
    let sixty: Vec<String> = (0..60).map(|i| format!("request-{i}")).collect();
    #[rustfmt::skip]
    let cases = [
        (json!({"requestIds": many}).to_string(), 400),
        (json!({"requestIds": "6a5874ca"}).to_string(), 400),
        (json!({"requestIds": [1]}).to_string(), 400),
        (json!({"requestIds": []}).to_string(), 400),
        (json!({"userIds": ["x"]}).to_string(), 400),
        ("{\"requestIds\": [".to_owned(), 400),
        (json!({"requestIds": sixty}).to_string(), 204),
    ];
    for path in [CONFIRM_SAFE, CONFIRM_COMPROMISED] {
        for (body, status) in &cases {
            let answer = h.post_json(path, &token, body);
            match status {
                204 => assert_eq!(answer.status, 204, "{path} {body}: {}", answer.text),
                _ => assert_graph_error(&answer, *status, "invalidRequest"),
            }
        }
    }
}

#[test]
fn sign_in_verdicts_need_the_documented_permission() {
    // Application: IdentityRiskEvent.ReadWrite.All; delegated: IdentityRiskyUser.ReadWrite.All.
    let body = json!({"requestIds": request_ids(&[1])}).to_string();
    #[rustfmt::skip]
    let cases: [(&str, bool, u16); 4] = [
        ("IdentityRiskEvent.ReadWrite.All", true, 204),
        ("IdentityRiskyUser.ReadWrite.All", true, 403),
        ("IdentityRiskyUser.ReadWrite.All", false, 204),
        ("IdentityRiskEvent.ReadWrite.All", false, 403),
    ];
    for (permission, app_only, status) in cases {
        let mut config = TenantConfig::default();
        config.apps[0].permissions = vec![permission.to_owned()];
        config.apps[1].permissions = vec![permission.to_owned()];
        let h = Harness::with(config);
        let token = match app_only {
            true => h.app_token(),
            false => h.sign_in(permission)["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let answer = h.post_json(CONFIRM_SAFE, &token, &body);
        match status {
            204 => assert_eq!(answer.status, 204, "{permission} {app_only}: {}", answer.text),
            _ => assert_graph_error(&answer, 403, "Authorization_RequestDenied"),
        }
    }
}

impl Harness {
    fn remediate(&self, user_id: &str) -> Answer {
        let url = format!("{}/_emulator/users/{user_id}/remediate", self.emulator.base_url());
        let request = self.agent.post(&url).header("Content-Type", "application/json");
        answer(request.send(""))
    }
}

#[test]
fn a_remediation_in_entra_remediates_the_user_and_their_open_detections() {
    let h = Harness::new();
    let token = h.app_token();
    let (adele, diego) = (h.user_id(0), h.user_id(2));
    let before = client_now();
    for user in [&adele, &diego] {
        let answer = h.remediate(user);
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["user"]["riskState"], "remediated");
    }
    let changed = h.detections_since(&before, &token);
    assert_eq!(sorted(&changed, "id"), detection_ids(&[1, 2, 3, 6]));
    assert_eq!(
        verdicts(&changed),
        all("remediated", "userPerformedSecuredPasswordReset", 4)
    );
    let since = filtered(RISKY_USERS, &format!("riskLastUpdatedDateTime ge {before}"));
    let users = items_of(&h.pages(&since, &token));
    assert_eq!(users.len(), 2);
    for user in &users {
        let fields = ["riskState", "riskLevel", "riskDetail"].map(|k| user[k].as_str().unwrap_or_default());
        assert_eq!(fields, ["remediated", "none", "userPerformedSecuredPasswordReset"]);
        let id = user["id"].as_str().unwrap_or_default();
        let last = h.emulator.history(id).last().cloned().unwrap_or_default();
        assert_eq!(
            (last["riskState"].as_str(), last["activity"]["detail"].as_str()),
            (Some("remediated"), Some("userPerformedSecuredPasswordReset"))
        );
        assert_eq!(last["riskLastUpdatedDateTime"], user["riskLastUpdatedDateTime"]);
    }
    let isaiah = h.detection(&detection_ids(&[8])[0], &token);
    assert_eq!(isaiah["lastUpdatedDateTime"], "2024-05-16T08:14:27.5581222Z");
}

#[test]
fn remediating_an_unknown_user_is_a_json_404_and_the_route_is_listed() {
    let h = Harness::new();
    let unknown = h.remediate("00000000-0000-0000-0000-000000000000");
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("00000000-")),
        "{}",
        unknown.text
    );
    let url = format!("{}/_emulator", h.emulator.base_url());
    let index = answer(h.agent.get(&url).call()).json();
    let routes = index["routes"].as_array().cloned().unwrap_or_default();
    assert!(
        routes.contains(&json!("POST /_emulator/users/{id}/remediate")),
        "{index}"
    );
    let nowhere = format!("{}/_emulator/users/x/y/remediate", h.emulator.base_url());
    let refused = answer(
        h.agent
            .post(&nowhere)
            .header("Content-Type", "application/json")
            .send(""),
    );
    assert_eq!(refused.status, 404);
    assert!(refused.text.contains("GET /_emulator lists them"), "{}", refused.text);
}

#[test]
fn changed_since_combines_with_and_or_and_pages() {
    let h = Harness::new();
    let token = h.app_token();
    let before = client_now();
    let body = json!({"userIds": [h.user_id(0)]}).to_string();
    assert_eq!(
        h.post_json(&format!("{RISKY_USERS}/dismiss"), &token, &body).status,
        204
    );
    let since = format!("lastUpdatedDateTime ge {before}");
    #[rustfmt::skip]
    let cases: [(String, &[u8]); 4] = [
        (format!("{since} and riskState eq 'dismissed'"), &[1, 2, 3]),
        (format!("{since} and riskState eq 'atRisk'"), &[]),
        (format!("{since} or riskState eq 'remediated'"), &[1, 2, 3, 8]),
        (format!("({since}) and (riskState eq 'dismissed' or riskState eq 'confirmedSafe') and riskLevel eq 'high'"), &[1, 3]),
    ];
    for (filter, expected) in cases {
        let items = items_of(&h.pages(&filtered(DETECTIONS, &filter), &token));
        assert_eq!(sorted(&items, "id"), detection_ids(expected), "{filter}");
    }
    let paged = h.pages(&format!("{}&$top=1", filtered(DETECTIONS, &since)), &token);
    assert_eq!(paged.len(), 3, "one detection a page");
    assert_eq!(sorted(&items_of(&paged), "id"), detection_ids(&[1, 2, 3]));

    let user_since = format!("riskLastUpdatedDateTime ge {before}");
    let adele_or_isaiah = {
        let mut ids = vec![h.user_id(0), h.user_id(4)];
        ids.sort();
        ids
    };
    let either = filtered(RISKY_USERS, &format!("{user_since} or riskState eq 'remediated'"));
    let pages = h.pages(&format!("{either}&$top=1"), &token);
    assert_eq!((pages.len(), sorted(&items_of(&pages), "id")), (2, adele_or_isaiah));
    let both = filtered(RISKY_USERS, &format!("{user_since} and riskState eq 'dismissed'"));
    assert_eq!(sorted(&items_of(&h.pages(&both, &token)), "id"), [h.user_id(0)]);
}

#[test]
fn principal_changes_since_combine_with_or_and_page() {
    let h = Harness::new();
    let token = h.app_token();
    let (principal, open) = principal_at_risk(&h, &token);
    let dismissed_before = items_of(&h.pages(&filtered(PRINCIPAL_DETECTIONS, "riskState eq 'dismissed'"), &token));
    let before = client_now();
    let body = json!({"servicePrincipalIds": [principal]}).to_string();
    assert_eq!(h.post_json(&format!("{PRINCIPALS}/dismiss"), &token, &body).status, 204);
    let filter = format!("lastUpdatedDateTime ge {before} or riskState eq 'dismissed'");
    let pages = h.pages(&format!("{}&$top=2", filtered(PRINCIPAL_DETECTIONS, &filter)), &token);
    let mut expected: Vec<String> = open.clone();
    expected.extend(sorted(&dismissed_before, "id"));
    expected.sort();
    assert_eq!(sorted(&items_of(&pages), "id"), expected);
    assert_eq!(pages.len(), expected.len().div_ceil(2));
    let filter = format!("riskLastUpdatedDateTime ge {before} and riskState eq 'dismissed'");
    let principals = items_of(&h.pages(&format!("{}&$top=1", filtered(PRINCIPALS, &filter)), &token));
    assert_eq!(sorted(&principals, "id"), [principal]);
}

#[test]
fn one_service_principal_detection_by_id() {
    let h = Harness::new();
    let token = h.app_token();
    let (_, open) = principal_at_risk(&h, &token);
    let one = h.get(
        &format!("/beta/identityProtection/servicePrincipalRiskDetections/{}", open[0]),
        Some(&token),
    );
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json()["id"], open[0].as_str());
    let context = format!(
        "{}/beta/$metadata#identityProtection/servicePrincipalRiskDetections/$entity",
        h.emulator.base_url()
    );
    assert_eq!(one.json()["@odata.context"], context.as_str());
    let missing = h.get(&format!("{PRINCIPAL_DETECTIONS}/no-such-detection"), Some(&token));
    assert_graph_error(&missing, 404, "itemNotFound");
}

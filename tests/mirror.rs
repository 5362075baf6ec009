//! Issue 17, the binary's side: risky users as incidents, the mirror marks every incident
//! carries, and XSOAR's four mirroring commands, each against an emulated tenant built here so
//! that every expected id, state and time is read off the tenant below, not off the binary.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, FaultPlan, ScriptedAnswer, TenantConfig};
use serde_json::{Map, Value, json};

const SP_DETECTIONS: &str = "/identityProtection/servicePrincipalRiskDetections";
const USER_DISMISS: &str = "/identityProtection/riskyUsers/dismiss";
const PRINCIPAL_DISMISS: &str = "/identityProtection/riskyServicePrincipals/dismiss";
const SIGNIN_CONFIRM_SAFE: &str = "/auditLogs/signIns/confirmSafe";

/// The instance name the bridge passes as `instance_name` (XSOAR's `demisto.integrationInstance()`).
const INSTANCE: &str = "Entra ID (prod)";

// The tenant: six risky users, one in each state Graph has, and their detections.
const ANN: &str = "a1000000-0000-4000-8000-000000000001"; // atRisk, high
const BOB: &str = "a1000000-0000-4000-8000-000000000002"; // atRisk, medium
const CAT: &str = "a1000000-0000-4000-8000-000000000003"; // dismissed
const DAN: &str = "a1000000-0000-4000-8000-000000000004"; // confirmedCompromised, high
const EVE: &str = "a1000000-0000-4000-8000-000000000005"; // remediated
const FAY: &str = "a1000000-0000-4000-8000-000000000006"; // confirmedSafe
const PRINCIPAL: &str = "b2000000-0000-4000-8000-000000000001";

/// A Graph riskyUser.
fn risky_user(id: &str, alias: &str, level: &str, state: &str, detail: &str, updated: &str) -> Value {
    json!({
        "id": id,
        "isDeleted": false,
        "isProcessing": false,
        "riskLastUpdatedDateTime": updated,
        "riskLevel": level,
        "riskState": state,
        "riskDetail": detail,
        "userDisplayName": alias,
        "userPrincipalName": format!("{alias}@contoso.com"),
    })
}

/// A Graph riskDetection of `user`; a sign-in detection has a `requestId`, an offline one none.
fn detection(id: &str, user: &str, state: &str, detected: &str, request: Option<&str>) -> Value {
    json!({
        "id": id,
        "requestId": request,
        "riskEventType": if request.is_some() { "unfamiliarFeatures" } else { "leakedCredentials" },
        "riskState": state,
        "riskLevel": "medium",
        "riskDetail": match state {
            "dismissed" => "adminDismissedAllRiskForUser",
            "confirmedCompromised" => "adminConfirmedUserCompromised",
            _ => "none",
        },
        "detectionTimingType": if request.is_some() { "realtime" } else { "offline" },
        "activity": if request.is_some() { "signin" } else { "user" },
        "detectedDateTime": detected,
        "lastUpdatedDateTime": detected,
        "userId": user,
        "userPrincipalName": "someone@contoso.com",
    })
}

/// A Graph servicePrincipalRiskDetection of [`PRINCIPAL`].
fn principal_detection(id: &str, detected: &str) -> Value {
    json!({
        "id": id,
        "riskEventType": "leakedCredentials",
        "riskState": "atRisk",
        "riskLevel": "high",
        "riskDetail": "none",
        "detectedDateTime": detected,
        "lastUpdatedDateTime": detected,
        "servicePrincipalId": PRINCIPAL,
        "servicePrincipalDisplayName": "Payroll Connector",
        "appId": "c3000000-0000-4000-8000-000000000001",
    })
}

fn principal() -> Value {
    json!({
        "id": PRINCIPAL, "appId": "c3000000-0000-4000-8000-000000000001", "displayName": "Payroll Connector",
        "servicePrincipalType": "Application", "isEnabled": true, "isProcessing": false,
        "riskLastUpdatedDateTime": "2024-06-01T10:00:04Z", "riskLevel": "high", "riskState": "atRisk", "riskDetail": "none",
    })
}

/// The tenant of these tests. Ann has a sign-in detection, an offline one (no `requestId`) and an
/// old dismissed one; Bob one sign-in detection; Cat and Dan one each in their user's state.
fn tenant_config() -> TenantConfig {
    #[rustfmt::skip]
    let users = vec![
        risky_user(ANN, "ann", "high", "atRisk", "none", "2024-06-01T10:00:05.1234567Z"),
        risky_user(BOB, "bob", "medium", "atRisk", "none", "2024-06-01T10:00:07.5Z"),
        risky_user(CAT, "cat", "none", "dismissed", "adminDismissedAllRiskForUser", "2024-06-01T10:00:06Z"),
        risky_user(DAN, "dan", "high", "confirmedCompromised", "adminConfirmedUserCompromised", "2024-06-01T10:00:09Z"),
        risky_user(EVE, "eve", "none", "remediated", "userPerformedSecuredPasswordReset", "2024-06-01T10:00:08Z"),
        risky_user(FAY, "fay", "none", "confirmedSafe", "adminConfirmedAccountSafe", "2024-06-01T10:00:10Z"),
    ];
    #[rustfmt::skip]
    let detections = vec![
        detection("ann-signin", ANN, "atRisk", "2024-06-01T10:00:01Z", Some("req-ann-signin")),
        detection("ann-offline", ANN, "atRisk", "2024-06-01T10:00:03Z", None),
        detection("ann-old", ANN, "dismissed", "2024-05-01T10:00:00Z", Some("req-ann-old")),
        detection("bob-signin", BOB, "atRisk", "2024-06-01T10:00:06Z", Some("req-bob-signin")),
        detection("cat-signin", CAT, "dismissed", "2024-05-02T10:00:00Z", Some("req-cat-signin")),
        detection("dan-signin", DAN, "confirmedCompromised", "2024-05-03T10:00:00Z", Some("req-dan-signin")),
    ];
    TenantConfig {
        risky_users: users,
        risky_user_history: Vec::new(),
        risk_detections: detections,
        risky_service_principals: vec![principal()],
        risky_service_principal_history: Vec::new(),
        service_principal_risk_detections: vec![principal_detection("sp-det-1", "2024-06-01T10:00:04Z")],
        ..TenantConfig::default()
    }
}

fn mirror_tenant() -> Emulator {
    Emulator::start(tenant_config()).expect("emulator starts")
}

/// Client-credentials parameters with `extra` instance parameters on top.
fn params_with(emu: &Emulator, extra: Value) -> Value {
    let mut params = app_params(emu);
    params["first_fetch"] = json!("2024-01-01");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        params[key] = value;
    }
    params
}

/// Runs `command` as XSOAR's mirroring does: on the instance named [`INSTANCE`].
fn on_instance(command: &str, args: Value, params: &Value, context: Value) -> Run {
    let mut envelope = envelope(command, args, params, context);
    envelope["instance_name"] = json!(INSTANCE);
    run(&envelope)
}

fn mirror(emu: &Emulator, command: &str, args: Value, extra: Value) -> Run {
    on_instance(command, args, &params_with(emu, extra), json!({}))
}

fn fetch(emu: &Emulator, extra: Value, last_run: Option<Value>) -> Run {
    let mut envelope = envelope("fetch-incidents", json!({}), &params_with(emu, extra), json!({}));
    envelope["instance_name"] = json!(INSTANCE);
    if let Some(last_run) = last_run {
        envelope["last_run"] = last_run;
    }
    run(&envelope)
}

fn incidents(run: &Run) -> Vec<Value> {
    run.result["incidents"].as_array().cloned().expect("incidents")
}

fn raw_json(incident: &Value) -> Value {
    serde_json::from_str(incident["rawJSON"].as_str().expect("rawJSON is a string")).expect("rawJSON is JSON")
}

/// The incidents of one kind (`entra_object_type`).
fn of_kind(run: &Run, kind: &str) -> Vec<Value> {
    incidents(run)
        .into_iter()
        .filter(|i| raw_json(i)["entra_object_type"] == kind)
        .collect()
}

fn mirror_ids(incidents: &[Value]) -> Vec<String> {
    incidents
        .iter()
        .map(|i| i["dbotMirrorId"].as_str().expect("dbotMirrorId").to_string())
        .collect()
}

/// `object` without the members named.
fn without(object: &Value, members: &[&str]) -> Value {
    let mut object = object.as_object().cloned().expect("an object");
    for member in members {
        object.remove(*member);
    }
    Value::Object(object)
}

/// The members fetch and get-remote-data add to Graph's object (docs/protocol.md §3.3).
const ADDED: [&str; 3] = ["entra_object_type", "mirror_direction", "mirror_instance"];

/// A Graph object as the tenant holds it now.
fn user_detection_now(emu: &Emulator, id: &str) -> Value {
    emu.risk_detections()
        .into_iter()
        .find(|d| d["id"] == id)
        .expect("a detection")
}

fn principal_detection_now(emu: &Emulator, id: &str) -> Value {
    emu.tenant()
        .service_principal_risk_detections
        .into_iter()
        .find(|d| d["id"] == id)
        .expect("a service-principal detection")
}

/// A bearer token of the emulator's confidential app, as the binary stored it.
fn access_token(emu: &Emulator) -> String {
    let run = command(emu, "azure-ad-identity-protection-risky-user-list", json!({"limit": 1}));
    run.expect(0, 1);
    run.context()["access_token"].as_str().expect("a token").to_string()
}

/// An admin's POST to Graph itself (not through the binary), e.g. a sign-in confirmed in the portal.
fn graph_post(emu: &Emulator, token: &str, path: &str, body: Value) {
    let url = format!("{}/beta/{path}", emu.base_url());
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let answer = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(&body)
        .expect("Graph answers");
    assert_eq!(answer.status(), 204, "{path}");
}

/// A secure password reset in Entra, through the emulator's admin endpoint.
fn remediate(emu: &Emulator, user: &str) {
    let url = format!("{}/_emulator/users/{user}/remediate", emu.base_url());
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let answer = agent
        .post(&url)
        .send_json(json!({}))
        .expect("the admin endpoint answers");
    assert_eq!(answer.status(), 200);
}

/// `epoch` as ISO 8601 seconds (UTC), from GNU date: an independent calendar.
fn utc_second(epoch: u64) -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_string()
}

/// The POSTs the emulator received, as (path, body).
fn posts(emu: &Emulator) -> Vec<(String, Value)> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && !r.path.ends_with(TOKEN))
        .map(|r| {
            let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            (r.path.trim_start_matches("/beta").to_string(), body)
        })
        .collect()
}

/// The `$filter`s of the listings (not single objects) of `collection`, in order.
fn listing_filters(emu: &Emulator, collection: &str) -> Vec<Option<String>> {
    emu.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(collection))
        .map(|r| r.query_value("$filter"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// fetch-incidents: risky users as incidents
// ---------------------------------------------------------------------------------------------

#[test]
fn fetch_without_fetch_risky_users_never_asks_for_risky_users_and_keeps_their_cursor() {
    let emu = mirror_tenant();
    let stored = json!({
        "latest_detection_found": "2024-06-01T10:00:00.0000000Z",
        "ids_at_latest_detection": [],
        "risky_users": {"latest_detection_found": "2024-05-30T00:00:00.0000000Z", "ids_at_latest_detection": ["x@2024-05-30T00:00:00.0000000Z"]},
    });
    for extra in [json!({}), json!({"fetch_risky_users": "false"})] {
        let run = fetch(&emu, extra, Some(stored.clone()));
        run.expect(0, 1);
        assert!(of_kind(&run, "riskyUser").is_empty());
        assert_eq!(
            run.result["last_run"]["risky_users"], stored["risky_users"],
            "carried over unchanged"
        );
    }
    assert!(requests_to(&emu, RISKY_USERS).is_empty(), "no request to riskyUsers");
}

#[test]
fn fetch_risky_users_makes_one_incident_per_user_at_risk() {
    let emu = mirror_tenant();
    let run = fetch(&emu, json!({"fetch_risky_users": "true"}), None);
    run.expect(0, 1);
    let users = of_kind(&run, "riskyUser");
    // atRisk and confirmedCompromised only, in riskLastUpdatedDateTime order: Ann 10:00:05,
    // Bob 10:00:07.5, Dan 10:00:09; not Cat (dismissed), Eve (remediated), Fay (confirmedSafe).
    assert_eq!(mirror_ids(&users), [ANN, BOB, DAN]);
    let expected = [
        (
            "Azure AD risky user: ann@contoso.com high risk",
            "2024-06-01T10:00:05.123456Z",
            3,
        ),
        (
            "Azure AD risky user: bob@contoso.com medium risk",
            "2024-06-01T10:00:07.500000Z",
            2,
        ),
        (
            "Azure AD risky user: dan@contoso.com high risk",
            "2024-06-01T10:00:09.000000Z",
            3,
        ),
    ];
    let graph = tenant_config().risky_users;
    for (incident, (name, occurred, severity)) in users.iter().zip(expected) {
        assert_eq!(
            (&incident["name"], &incident["occurred"], &incident["severity"]),
            (&json!(name), &json!(occurred), &json!(severity))
        );
        let raw = raw_json(incident);
        assert_eq!(raw["entra_object_type"], "riskyUser");
        let user = graph
            .iter()
            .find(|u| u["id"] == incident["dbotMirrorId"])
            .expect("a user");
        assert_eq!(without(&raw, &ADDED), *user, "rawJSON is the Graph object");
    }
    // The cursor: its own object in last_run, at Dan's update, Graph's canonical form.
    let cursor = &run.result["last_run"]["risky_users"];
    assert_eq!(cursor["latest_detection_found"], "2024-06-01T10:00:09.0000000Z");
    // The query: a window on the update time, the two states fetched.
    let filters = listing_filters(&emu, RISKY_USERS);
    assert!(!filters.is_empty());
    for filter in filters.iter().map(|f| f.clone().unwrap_or_default()) {
        assert!(filter.contains("riskLastUpdatedDateTime ge "), "{filter}");
        assert!(
            filter.contains("(riskState eq 'atRisk' or riskState eq 'confirmedCompromised')"),
            "{filter}"
        );
    }
    assert_eq!(
        filters[0].as_deref(),
        Some(
            "riskLastUpdatedDateTime ge 2024-01-01T00:00:00.0000000Z and (riskState eq 'atRisk' or riskState eq 'confirmedCompromised')"
        )
    );

    let again = fetch(
        &emu,
        json!({"fetch_risky_users": "true"}),
        Some(run.result["last_run"].clone()),
    );
    again.expect(0, 1);
    assert!(
        incidents(&again).is_empty(),
        "nothing new: {:#}",
        again.result["incidents"]
    );
}

#[test]
fn a_risky_user_updated_again_is_one_new_incident_per_update() {
    let emu = mirror_tenant();
    let on = json!({"fetch_risky_users": "true"});
    let first = fetch(&emu, on.clone(), None);
    assert_eq!(mirror_ids(&of_kind(&first, "riskyUser")), [ANN, BOB, DAN]);
    let mut last_run = first.result["last_run"].clone();

    // A user who became risky later, added through the emulator's API.
    emu.add_risky_user(risky_user(
        "a1000000-0000-4000-8000-000000000007",
        "gus",
        "low",
        "atRisk",
        "none",
        "2024-06-01T11:00:00Z",
    ));
    let run = fetch(&emu, on.clone(), Some(last_run));
    run.expect(0, 1);
    let new = incidents(&run);
    assert_eq!(mirror_ids(&new), ["a1000000-0000-4000-8000-000000000007"]);
    assert_eq!(new[0]["name"], "Azure AD risky user: gus@contoso.com low risk");
    last_run = run.result["last_run"].clone();

    // An admin confirms Bob's sign-in compromised: Bob's risk goes to high (Microsoft Learn,
    // "Provide risk feedback"), updated now. One incident for that update, not two.
    let token = access_token(&emu);
    graph_post(
        &emu,
        &token,
        "auditLogs/signIns/confirmCompromised",
        json!({"requestIds": ["req-bob-signin"]}),
    );
    let bob_now = emu.risky_user(BOB).expect("Bob");
    assert_eq!(bob_now["riskState"], "confirmedCompromised");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let run = fetch(&emu, on.clone(), Some(last_run));
        run.expect(0, 1);
        seen.extend(incidents(&run));
        last_run = run.result["last_run"].clone();
    }
    assert_eq!(mirror_ids(&seen), [BOB], "one incident for the one update");
    assert_eq!(seen[0]["name"], "Azure AD risky user: bob@contoso.com high risk");
    assert_eq!(seen[0]["severity"], 3);
    assert_eq!(without(&raw_json(&seen[0]), &ADDED), bob_now);

    // Ann's risk dismissed: an update, but not to a state that is fetched.
    command(
        &emu,
        "azure-ad-identity-protection-risky-user-dismiss",
        json!({"user_ids": ANN}),
    )
    .expect(0, 1);
    let run = fetch(&emu, on, Some(last_run));
    run.expect(0, 1);
    assert!(incidents(&run).is_empty(), "{:#}", run.result["incidents"]);
}

#[test]
fn a_risky_user_update_graph_reports_late_is_fetched_once() {
    let emu = mirror_tenant();
    let on = json!({"fetch_risky_users": "true"});
    let first = fetch(&emu, on.clone(), None);
    assert_eq!(mirror_ids(&of_kind(&first, "riskyUser")), [ANN, BOB, DAN]);
    // Shown only now, an hour behind the latest update fetched (Dan's, 10:00:09).
    let hal = "a1000000-0000-4000-8000-000000000008";
    emu.add_risky_user(risky_user(hal, "hal", "high", "atRisk", "none", "2024-06-01T09:00:09Z"));
    let mut last_run = first.result["last_run"].clone();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let run = fetch(&emu, on.clone(), Some(last_run));
        run.expect(0, 1);
        seen.extend(incidents(&run));
        last_run = run.result["last_run"].clone();
    }
    assert_eq!(mirror_ids(&seen), [hal]);
    assert_eq!(
        last_run["risky_users"]["latest_detection_found"], "2024-06-01T10:00:09.0000000Z",
        "a late one does not move the cursor back"
    );
}

/// A riskyUser at risk updated at 2024-06-01T10:00:<second>Z.
fn at_risk_user(n: usize, second: usize) -> Value {
    let id = format!("d4000000-0000-4000-8000-{n:012}");
    risky_user(
        &id,
        &format!("user{n}"),
        "medium",
        "atRisk",
        "none",
        &format!("2024-06-01T10:00:{second:02}Z"),
    )
}

#[test]
fn all_kinds_page_to_the_end_in_time_order_bounded_together_by_max_fetch() {
    let emu = Emulator::start({
        let mut config = tenant_config();
        config.risk_detections = (0..3)
            .map(|n| {
                detection(
                    &format!("user-{n}"),
                    ANN,
                    "atRisk",
                    &format!("2024-06-01T10:00:{:02}Z", 3 * n),
                    None,
                )
            })
            .collect();
        config.service_principal_risk_detections = (0..3)
            .map(|n| principal_detection(&format!("sp-{n}"), &format!("2024-06-01T10:00:{:02}Z", 3 * n + 1)))
            .collect();
        config.risky_users = (0..3).map(|n| at_risk_user(n, 3 * n + 2)).collect();
        config.page_cap = 2;
        config.shuffle_seed = Some(5);
        config
    })
    .expect("emulator starts");
    let extra = json!({"fetch_risky_users": "true", "fetch_service_principal_detections": "true", "max_fetch": "4"});
    let mut last_run = None;
    let mut batches = Vec::new();
    for _ in 0..5 {
        let run = fetch(&emu, extra.clone(), last_run.take());
        run.expect(0, 1);
        batches.push(mirror_ids(&incidents(&run)));
        last_run = Some(run.result["last_run"].clone());
    }
    let user = |n: usize| format!("d4000000-0000-4000-8000-{n:012}");
    let expected: Vec<String> = (0..3)
        .flat_map(|n| [format!("user-{n}"), format!("sp-{n}"), user(n)])
        .collect();
    assert_eq!(batches.concat(), expected, "time order across the kinds, each once");
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 1, 0, 0], "max_fetch bounds the three kinds together");
}

#[test]
fn risky_users_are_read_to_the_last_page() {
    let emu = Emulator::start({
        let mut config = tenant_config();
        config.risk_detections = Vec::new();
        config.risky_users = (0..3).map(|n| at_risk_user(n, n)).collect();
        config.page_cap = 1;
        config.shuffle_seed = Some(3);
        config
    })
    .expect("emulator starts");
    let run = fetch(&emu, json!({"fetch_risky_users": "true"}), None);
    run.expect(0, 1);
    let all: Vec<String> = (0..3).map(|n| format!("d4000000-0000-4000-8000-{n:012}")).collect();
    assert_eq!(mirror_ids(&incidents(&run)), all, "one fetch, three pages of one");
    // The keys, one user a page: three listings at least before the users are read whole.
    assert!(listing_filters(&emu, RISKY_USERS).len() >= 3);
}

#[test]
fn fetch_user_id_narrows_risky_users_by_id() {
    let emu = mirror_tenant();
    let run = fetch(&emu, json!({"fetch_risky_users": "true", "fetch_user_id": BOB}), None);
    run.expect(0, 1);
    assert_eq!(mirror_ids(&of_kind(&run, "riskyUser")), [BOB]);
    let filter = listing_filters(&emu, RISKY_USERS)[0].clone().unwrap_or_default();
    assert!(filter.contains(&format!("id eq '{BOB}'")), "{filter}");
    assert!(!filter.contains("userId"), "a riskyUser has no userId: {filter}");
    let detections = listing_filters(&emu, DETECTIONS)[0].clone().unwrap_or_default();
    assert!(detections.contains(&format!("userId eq '{BOB}'")), "{detections}");
}

#[test]
fn every_incident_carries_the_mirror_marks_of_its_instance() {
    // (mirror_direction, dbotMirrorDirection as XSOAR spells it)
    let cases = [
        ("None", None),
        ("Incoming", Some("In")),
        ("Outgoing", Some("Out")),
        ("Incoming And Outgoing", Some("Both")),
    ];
    for (direction, field) in cases {
        let emu = mirror_tenant();
        let extra = json!({"fetch_risky_users": "true", "fetch_service_principal_detections": "true", "mirror_direction": direction});
        let run = fetch(&emu, extra, None);
        run.expect(0, 1);
        let all = incidents(&run);
        // Six user detections, one service-principal detection, three risky users at risk.
        assert_eq!(all.len(), 10, "{direction}");
        for incident in &all {
            let incident_map = incident.as_object().expect("an object");
            assert_eq!(
                incident_map.get("dbotMirrorDirection").and_then(Value::as_str),
                field,
                "{direction}"
            );
            let instance = field.map(|_| INSTANCE);
            assert_eq!(
                incident_map.get("dbotMirrorInstance").and_then(Value::as_str),
                instance,
                "{direction}"
            );
            let raw = raw_json(incident);
            assert_eq!(
                (&raw["mirror_direction"], &raw["mirror_instance"]),
                (&json!(field), &json!(INSTANCE))
            );
            let graph = match raw["entra_object_type"].as_str() {
                Some("riskDetection") => user_detection_now(&emu, raw["id"].as_str().unwrap_or_default()),
                Some("servicePrincipalRiskDetection") => principal_detection_now(&emu, "sp-det-1"),
                Some("riskyUser") => emu.risky_user(raw["id"].as_str().unwrap_or_default()).expect("a user"),
                other => panic!("unknown kind {other:?}"),
            };
            assert_eq!(
                without(&raw, &ADDED),
                graph,
                "rawJSON minus the marks is Graph's object"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// get-modified-remote-data
// ---------------------------------------------------------------------------------------------

/// Dismisses Ann's risk through the binary's command and answers the `lastUpdate` taken just before.
fn dismiss_ann(emu: &Emulator) -> String {
    let before = utc_second(now() - 1);
    command(
        emu,
        "azure-ad-identity-protection-risky-user-dismiss",
        json!({"user_ids": ANN}),
    )
    .expect(0, 1);
    before
}

fn modified_ids(run: &Run) -> Vec<String> {
    let mut ids: Vec<String> = run.result["mirror"]["modified_ids"]
        .as_array()
        .expect("modified_ids")
        .iter()
        .map(|id| id.as_str().expect("an id").to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn get_modified_lists_the_detections_a_dismissal_changed() {
    let emu = mirror_tenant();
    let since = dismiss_ann(&emu);
    emu.clear_requests();
    let run = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": since}),
        json!({}),
    );
    run.expect(0, 1);
    // Dismissing Ann closes her two detections still at risk; ann-old was dismissed already.
    assert_eq!(modified_ids(&run), ["ann-offline", "ann-signin"]);
    let canonical = format!("{}.0000000Z", since.trim_end_matches('Z'));
    assert_eq!(
        listing_filters(&emu, DETECTIONS),
        [Some(format!("lastUpdatedDateTime ge {canonical}"))]
    );
    assert!(requests_to(&emu, RISKY_USERS).is_empty(), "risky users are not fetched");
    assert!(requests_to(&emu, SP_DETECTIONS).is_empty(), "nor service principals");

    let with_users = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": since}),
        json!({"fetch_risky_users": "true"}),
    );
    with_users.expect(0, 1);
    assert_eq!(modified_ids(&with_users), [ANN, "ann-offline", "ann-signin"]);
    assert_eq!(
        listing_filters(&emu, RISKY_USERS),
        [Some(format!("riskLastUpdatedDateTime ge {canonical}"))]
    );
}

#[test]
fn get_modified_lists_service_principal_detections_only_when_they_are_fetched() {
    let emu = mirror_tenant();
    let since = utc_second(now() - 1);
    command(
        &emu,
        "azure-ad-identity-protection-risky-service-principal-dismiss",
        json!({"service_principal_ids": PRINCIPAL}),
    )
    .expect(0, 1);
    emu.clear_requests();
    let without_them = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": since}),
        json!({}),
    );
    assert!(modified_ids(&without_them).is_empty());
    assert!(requests_to(&emu, SP_DETECTIONS).is_empty());
    let with_them = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": since}),
        json!({"fetch_service_principal_detections": "true"}),
    );
    with_them.expect(0, 1);
    assert_eq!(modified_ids(&with_them), ["sp-det-1"]);
    let canonical = format!("{}.0000000Z", since.trim_end_matches('Z'));
    assert_eq!(
        listing_filters(&emu, SP_DETECTIONS),
        [Some(format!("lastUpdatedDateTime ge {canonical}"))]
    );
}

#[test]
fn get_modified_pages_to_the_end() {
    let emu = mirror_tenant();
    let since = dismiss_ann(&emu);
    remediate(&emu, BOB);
    emu.set_page_cap(1);
    emu.clear_requests();
    let run = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": since}),
        json!({"fetch_risky_users": "true"}),
    );
    run.expect(0, 1);
    assert_eq!(
        modified_ids(&run),
        [ANN, BOB, "ann-offline", "ann-signin", "bob-signin"]
    );
    // Three detections and two users, one to a page.
    assert!(requests_to(&emu, DETECTIONS).len() >= 3);
    assert!(requests_to(&emu, RISKY_USERS).len() >= 2);
}

#[test]
fn get_modified_past_its_bound_says_so_and_returns_the_earliest_changes() {
    // 10,000 ids at most (docs/protocol.md §3.5): 10,003 changed detections, one a second,
    // served in a shuffled order.
    let changed = 10_003;
    let emu = Emulator::start(TenantConfig {
        risk_detections: (0..changed)
            .map(|n| {
                let mut d = detection(&format!("det-{n:05}"), ANN, "dismissed", "2024-06-01T00:00:00Z", None);
                let at = format!("2024-06-02T{:02}:{:02}:{:02}Z", n / 3600, n % 3600 / 60, n % 60);
                d["lastUpdatedDateTime"] = json!(at);
                d
            })
            .collect(),
        shuffle_seed: Some(7),
        ..tenant_config()
    })
    .expect("emulator starts");
    let run = mirror(
        &emu,
        "get-modified-remote-data",
        json!({"lastUpdate": "2024-06-01T00:00:00Z"}),
        json!({}),
    );
    run.expect(0, 1).says(&["More changed than the 10000"]);
    let ids = modified_ids(&run);
    let later: Vec<&String> = ids.iter().filter(|id| id.as_str() >= "det-10000").collect();
    assert_eq!(
        (ids.len(), later),
        (10_000, Vec::<&String>::new()),
        "the earliest 10,000"
    );
}

#[test]
fn get_modified_refuses_a_bad_last_update_before_any_request() {
    let emu = mirror_tenant();
    for bad in ["yesterday", "2024-13-01T00:00:00Z"] {
        mirror(&emu, "get-modified-remote-data", json!({"lastUpdate": bad}), json!({}))
            .expect(2, 4)
            .says(&["`lastUpdate`"]);
    }
    assert!(emu.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// get-remote-data
// ---------------------------------------------------------------------------------------------

fn remote(emu: &Emulator, id: &str, close_incident: bool) -> Run {
    let extra = json!({"close_incident": close_incident, "mirror_direction": "Incoming And Outgoing"});
    let run = mirror(emu, "get-remote-data", json!({"id": id, "lastUpdate": "0"}), extra);
    run.expect(0, 1);
    run
}

fn remote_entries(run: &Run) -> Vec<Value> {
    run.result["mirror"]["entries"].as_array().cloned().expect("entries")
}

/// The one closing entry of a get-remote-data answer.
fn close_entry(run: &Run) -> Value {
    let entries = remote_entries(run);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(
        (&entries[0]["Type"], &entries[0]["ContentsFormat"]),
        (&json!(1), &json!("json"))
    );
    let contents = entries[0]["Contents"].clone();
    assert_eq!(contents["dbotIncidentClose"], true);
    contents
}

#[test]
fn get_remote_data_answers_a_detection_as_it_is_now_with_its_user_risk() {
    let emu = mirror_tenant();
    let run = remote(&emu, "ann-signin", true);
    let object = &run.result["mirror"]["object"];
    assert_eq!(
        (
            &object["entra_object_type"],
            &object["mirror_direction"],
            &object["mirror_instance"]
        ),
        (&json!("riskDetection"), &json!("Both"), &json!(INSTANCE))
    );
    assert_eq!(
        without(
            object,
            &["entra_object_type", "mirror_direction", "mirror_instance", "user_risk"]
        ),
        user_detection_now(&emu, "ann-signin")
    );
    assert_eq!(
        object["user_risk"],
        json!({"riskLevel": "high", "riskState": "atRisk", "riskDetail": "none", "riskLastUpdatedDateTime": "2024-06-01T10:00:05.1234567Z"})
    );
    assert!(remote_entries(&run).is_empty(), "still at risk: nothing closes");
}

#[test]
fn get_remote_data_closes_a_dismissed_risk_as_resolved() {
    let emu = mirror_tenant();
    dismiss_ann(&emu);
    let run = remote(&emu, "ann-signin", true);
    let object = &run.result["mirror"]["object"];
    assert_eq!(
        (&object["riskState"], &object["user_risk"]["riskState"]),
        (&json!("dismissed"), &json!("dismissed"))
    );
    let close = close_entry(&run);
    assert_eq!(close["closeReason"], "Resolved");
    let notes = close["closeNotes"].as_str().unwrap_or_default();
    assert!(notes.contains("adminDismissedAllRiskForUser"), "{notes}");
    // close_incident off: the object, no entries.
    assert!(remote_entries(&remote(&emu, "ann-signin", false)).is_empty());
}

#[test]
fn get_remote_data_closes_a_remediated_risk_as_resolved() {
    let emu = mirror_tenant();
    remediate(&emu, BOB);
    for id in ["bob-signin", BOB] {
        let run = remote(&emu, id, true);
        assert_eq!(run.result["mirror"]["object"]["riskState"], "remediated", "{id}");
        let close = close_entry(&run);
        assert_eq!(close["closeReason"], "Resolved", "{id}");
        assert!(
            close["closeNotes"]
                .as_str()
                .unwrap_or_default()
                .contains("userPerformedSecuredPasswordReset")
        );
    }
}

#[test]
fn get_remote_data_closes_a_sign_in_confirmed_safe_as_a_false_positive() {
    let emu = mirror_tenant();
    let token = access_token(&emu);
    graph_post(
        &emu,
        &token,
        "auditLogs/signIns/confirmSafe",
        json!({"requestIds": ["req-bob-signin"]}),
    );
    let run = remote(&emu, "bob-signin", true);
    assert_eq!(run.result["mirror"]["object"]["riskState"], "confirmedSafe");
    assert_eq!(close_entry(&run)["closeReason"], "False Positive");
}

#[test]
fn get_remote_data_finds_risky_users_and_service_principal_detections_in_their_collections() {
    let emu = mirror_tenant();
    let run = remote(&emu, DAN, true);
    let object = &run.result["mirror"]["object"];
    assert_eq!(object["entra_object_type"], "riskyUser");
    assert_eq!(without(object, &ADDED), emu.risky_user(DAN).expect("Dan"));
    assert!(remote_entries(&run).is_empty(), "confirmedCompromised is not over");

    let run = remote(&emu, "sp-det-1", true);
    let object = &run.result["mirror"]["object"];
    assert_eq!(object["entra_object_type"], "servicePrincipalRiskDetection");
    assert_eq!(without(object, &ADDED), principal_detection_now(&emu, "sp-det-1"));
}

#[test]
fn get_remote_data_of_an_unknown_id_is_a_note_not_a_failure() {
    let emu = mirror_tenant();
    let run = remote(&emu, "gone-detection", true);
    assert_eq!(run.result["mirror"]["object"], json!({"id": "gone-detection"}));
    let entries = remote_entries(&run);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["Type"], 1);
    assert!(
        entries[0]["Contents"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer")
    );
}

// ---------------------------------------------------------------------------------------------
// update-remote-system
// ---------------------------------------------------------------------------------------------

/// XSOAR's update-remote-system for an incident closed with `reason` in `delta` (the bridge
/// passes `data`, `delta` and `entries` as JSON text).
fn closed(id: &str, status: u64, delta: Value, data: Value) -> Value {
    json!({
        "remoteId": id,
        "status": status,
        "delta": delta.to_string(),
        "data": data.to_string(),
        "entries": "[]",
        "incidentChanged": true,
    })
}

fn update(emu: &Emulator, args: Value, close_out: bool) -> Run {
    emu.clear_requests();
    mirror(emu, "update-remote-system", args, json!({"close_out": close_out}))
}

#[test]
fn a_false_positive_confirms_the_detections_sign_in_safe() {
    let emu = mirror_tenant();
    let run = update(
        &emu,
        closed("ann-signin", 2, json!({"closeReason": "False Positive"}), json!({})),
        true,
    );
    run.expect(0, 1);
    assert_eq!(run.result["mirror"]["remote_id"], "ann-signin");
    assert_eq!(
        posts(&emu),
        [(
            SIGNIN_CONFIRM_SAFE.to_string(),
            json!({"requestIds": ["req-ann-signin"]})
        )]
    );
    let now = user_detection_now(&emu, "ann-signin");
    assert_eq!(
        (&now["riskState"], &now["riskDetail"]),
        (&json!("confirmedSafe"), &json!("adminConfirmedSigninSafe"))
    );
}

#[test]
fn a_false_positive_without_a_sign_in_dismisses_the_users_risk() {
    let emu = mirror_tenant();
    let run = update(
        &emu,
        closed("ann-offline", 2, json!({"closeReason": "False Positive"}), json!({})),
        true,
    );
    run.expect(0, 1);
    assert_eq!(posts(&emu), [(USER_DISMISS.to_string(), json!({"userIds": [ANN]}))]);
    assert_eq!(emu.risky_user(ANN).expect("Ann")["riskState"], "dismissed");
}

#[test]
fn resolved_dismisses_the_users_risk_for_a_detection_and_for_a_risky_user() {
    let emu = mirror_tenant();
    for (id, user) in [("ann-signin", ANN), (BOB, BOB)] {
        let run = update(&emu, closed(id, 2, json!({"closeReason": "Resolved"}), json!({})), true);
        run.expect(0, 1);
        assert_eq!(run.result["mirror"]["remote_id"], id);
        assert_eq!(
            posts(&emu),
            [(USER_DISMISS.to_string(), json!({"userIds": [user]}))],
            "{id}"
        );
        assert_eq!(emu.risky_user(user).expect("a user")["riskState"], "dismissed");
    }
}

#[test]
fn a_closed_service_principal_detection_dismisses_the_service_principal() {
    let emu = mirror_tenant();
    let run = update(
        &emu,
        closed("sp-det-1", 2, json!({"closeReason": "Other"}), json!({})),
        true,
    );
    run.expect(0, 1);
    assert_eq!(
        posts(&emu),
        [(
            PRINCIPAL_DISMISS.to_string(),
            json!({"servicePrincipalIds": [PRINCIPAL]})
        )]
    );
    assert_eq!(principal_detection_now(&emu, "sp-det-1")["riskState"], "dismissed");
}

#[test]
fn an_open_incident_or_close_out_off_changes_nothing_in_entra() {
    let emu = mirror_tenant();
    let cases = [
        (
            closed("ann-signin", 1, json!({"closeReason": "Resolved"}), json!({})),
            true,
        ),
        (
            closed("ann-signin", 2, json!({"closeReason": "Resolved"}), json!({})),
            false,
        ),
        (
            closed(BOB, 2, json!({}), json!({"closeReason": "False Positive"})),
            false,
        ),
    ];
    for (args, close_out) in cases {
        let run = update(&emu, args.clone(), close_out);
        run.expect(0, 1);
        assert_eq!(run.result["mirror"]["remote_id"], args["remoteId"]);
        assert!(posts(&emu).is_empty(), "{args}: {:?}", posts(&emu));
    }
    assert_eq!(emu.risky_user(ANN).expect("Ann")["riskState"], "atRisk");
}

#[test]
fn the_close_reason_is_read_from_delta_else_from_data() {
    let emu = mirror_tenant();
    let from_data = update(
        &emu,
        closed("ann-signin", 2, json!({}), json!({"closeReason": "False Positive"})),
        true,
    );
    from_data.expect(0, 1);
    assert_eq!(posts(&emu)[0].0, SIGNIN_CONFIRM_SAFE);
    let delta_wins = update(
        &emu,
        closed(
            "bob-signin",
            2,
            json!({"closeReason": "Resolved"}),
            json!({"closeReason": "False Positive"}),
        ),
        true,
    );
    delta_wins.expect(0, 1);
    assert_eq!(posts(&emu), [(USER_DISMISS.to_string(), json!({"userIds": [BOB]}))]);
}

#[test]
fn a_refused_dismissal_is_an_error_not_a_silent_drop() {
    let emu = mirror_tenant();
    emu.script(ScriptedAnswer::graph_error(
        USER_DISMISS,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ));
    let run = update(
        &emu,
        closed(BOB, 2, json!({"closeReason": "Resolved"}), json!({})),
        true,
    );
    run.expect(1, 4).says(&["403"]);
    assert_eq!(run.entry()["Contents"]["http_status"], 403);
    assert!(run.result.get("mirror").is_none());
    assert_eq!(emu.risky_user(BOB).expect("Bob")["riskState"], "atRisk");
}

// ---------------------------------------------------------------------------------------------
// get-mapping-fields
// ---------------------------------------------------------------------------------------------

#[test]
fn get_mapping_fields_names_the_three_incident_types_without_a_request() {
    let emu = mirror_tenant();
    let run = mirror(&emu, "get-mapping-fields", json!({}), json!({}));
    run.expect(0, 1);
    let schemes = run.result["mirror"]["schemes"].as_array().cloned().expect("schemes");
    // The pack's incident types (xsoar/pack_content.py).
    let names: Vec<&str> = schemes.iter().filter_map(|s| s["type_name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Azure AD Identity Protection Risk Detection",
            "Azure AD Identity Protection Risky User",
            "Azure AD Identity Protection Service Principal Risk Detection",
        ]
    );
    for scheme in &schemes {
        let mut fields: Vec<&String> = scheme["fields"].as_object().expect("fields").keys().collect();
        fields.sort();
        assert_eq!(fields, ["closeNotes", "closeReason"]);
    }
    assert!(emu.requests().is_empty(), "no request at all");
}

// ---------------------------------------------------------------------------------------------
// Failures during a mirroring cycle
// ---------------------------------------------------------------------------------------------

#[test]
fn a_throttled_graph_fails_the_mirror_command_with_429_and_keeps_the_context() {
    let emu = mirror_tenant();
    let params = params_with(&emu, json!({"close_out": "true", "close_incident": "true"}));
    let warm = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": 1}),
        &params,
        json!({}),
    ));
    warm.expect(0, 1);
    let context = warm.context().clone();
    emu.set_faults(FaultPlan {
        throttle_every: Some(1),
        throttle_retry_after: Some(0),
        ..FaultPlan::default()
    });
    let cases = [
        (
            "get-modified-remote-data",
            json!({"lastUpdate": "2024-06-01T00:00:00Z"}),
        ),
        ("get-remote-data", json!({"id": "ann-signin", "lastUpdate": "0"})),
        (
            "update-remote-system",
            closed("ann-signin", 2, json!({"closeReason": "Resolved"}), json!({})),
        ),
    ];
    for (name, args) in cases {
        let run = on_instance(name, args, &params, context.clone());
        run.expect(1, 4);
        assert_eq!(run.entry()["Contents"]["http_status"], 429, "{name}: {:#}", run.entry());
        assert_eq!(run.context(), &context, "{name}: the context is kept");
        assert!(run.result.get("mirror").is_none(), "{name}");
    }
}

#[test]
fn a_token_refreshed_during_a_failing_mirror_command_is_kept() {
    let emu = mirror_tenant();
    let params = device_params(&emu);
    let mut context = signed_in(&emu, &params);
    // The access token has run out: the next command refreshes it first.
    context.insert("valid_until".into(), json!(0));
    emu.script(ScriptedAnswer::throttled(DETECTIONS, Some("0")).times(10));
    emu.clear_requests();
    let run = on_instance(
        "get-modified-remote-data",
        json!({"lastUpdate": "2024-06-01T00:00:00Z"}),
        &params,
        Value::Object(context.clone()),
    );
    run.expect(1, 4);
    assert_eq!(run.entry()["Contents"]["http_status"], 429);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1, "one refresh");
    assert_eq!(run.result["context_changed"], true);
    let kept: &Map<String, Value> = run.context().as_object().expect("a context");
    assert_ne!(
        kept["access_token"], context["access_token"],
        "the refreshed token is in the context"
    );
    assert!(kept["valid_until"].as_u64().unwrap_or_default() > now());
}

/// Hostile envelope values for mirroring: an instance name past the schema's 512 characters or
/// not a string, and update-remote-system's `delta` / `data` that are not the JSON text of an
/// object. Each is exit 2 naming what is wrong, before anything is sent.
#[test]
fn hostile_instance_names_and_close_data_are_refused_before_any_request() {
    let emu = mirror_tenant();
    let params = params_with(&emu, json!({"close_out": "true", "mirror_direction": "Outgoing"}));
    for name in [json!("n".repeat(513)), json!({"a": 1}), json!(7)] {
        let mut envelope = envelope("get-mapping-fields", json!({}), &params, json!({}));
        envelope["instance_name"] = name.clone();
        run(&envelope).expect(2, 4).says(&["instance_name"]);
    }
    for (name, text) in [
        ("delta", "{\"closeReason\": "),
        ("delta", "[\"closeReason\"]"),
        ("data", "\"Resolved\""),
    ] {
        let args = json!({"remoteId": "d-1", "status": "2", name: text});
        on_instance("update-remote-system", args, &params, json!({}))
            .expect(2, 4)
            .says(&[&format!("`{name}`"), "the JSON text of an object"]);
    }
    assert!(
        emu.requests().is_empty(),
        "sent before the checks: {:?}",
        emu.requests().len()
    );
}

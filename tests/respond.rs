//! Issue 18, the binary's side: investigating a detection (its sign-in, the user's sign-ins around
//! it, the verdict on sign-ins) and responding (revoking sessions, blocking IP addresses through
//! a Conditional Access named location), every command through the binary against a tenant
//! built here, so every expected id, time, filter and range is read off that tenant or worked
//! out by hand from Microsoft's documented semantics, never off the binary.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, FaultPlan, ScriptedAnswer, TenantConfig};
use azure_ad_identity_protection::time::parse_iso8601;
use serde_json::{Value, json};

const GET: &str = "azure-ad-identity-protection-sign-in-get";
const LIST: &str = "azure-ad-identity-protection-sign-ins-list";
const SAFE: &str = "azure-ad-identity-protection-sign-in-confirm-safe";
const COMPROMISED: &str = "azure-ad-identity-protection-sign-in-confirm-compromised";
const REVOKE: &str = "azure-ad-identity-protection-user-sessions-revoke";
const BLOCK: &str = "azure-ad-identity-protection-ip-block";
const UNBLOCK: &str = "azure-ad-identity-protection-ip-unblock";
const LOCATIONS_LIST: &str = "azure-ad-identity-protection-named-locations-list";

const SIGN_INS: &str = "/auditLogs/signIns";
const LOCATIONS: &str = "/identity/conditionalAccess/namedLocations";
const POLICIES: &str = "/identity/conditionalAccess/policies";
const REVOCATION: &str = "/revokeSignInSessions";

const IP_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
const IPV4: &str = "#microsoft.graph.iPv4CidrRange";
const IPV6: &str = "#microsoft.graph.iPv6CidrRange";
/// The location `ip-block` uses when `named_location` is not given (README).
const BLOCKED: &str = "SOAR blocked IP addresses";
/// The country location of the emulator's default tenant.
const COUNTRIES: &str = "Blocked countries";

// The tenant: two risky users, their detections and their sign-ins, all on 2024-06-01.
const ANN: &str = "a1000000-0000-4000-8000-000000000001";
const ANN_UPN: &str = "ann@contoso.com";
const NEIL: &str = "a1000000-0000-4000-8000-000000000002";
const NEIL_UPN: &str = "o'neil@contoso.com";

fn risky_user(id: &str, upn: &str, level: &str) -> Value {
    json!({
        "id": id, "isDeleted": false, "isProcessing": false,
        "riskLastUpdatedDateTime": "2024-06-01T10:30:00Z", "riskLevel": level, "riskState": "atRisk",
        "riskDetail": "none", "userDisplayName": upn, "userPrincipalName": upn,
    })
}

/// A riskDetection at `(activity, detected)` times of 2024-06-01; a real-time one names its
/// sign-in by `requestId`, an offline one names none.
fn detection(id: &str, (user, upn): (&str, &str), request: Option<&str>, (activity, detected): (&str, &str)) -> Value {
    json!({
        "id": id,
        "requestId": request,
        "correlationId": request.map(|r| format!("corr-{r}")),
        "riskEventType": if request.is_some() { "unfamiliarFeatures" } else { "leakedCredentials" },
        "riskState": "atRisk", "riskLevel": "medium", "riskDetail": "none",
        "detectionTimingType": if request.is_some() { "realtime" } else { "offline" },
        "activity": if request.is_some() { "signin" } else { "user" },
        "activityDateTime": format!("2024-06-01T{activity}Z"),
        "detectedDateTime": format!("2024-06-01T{detected}Z"),
        "lastUpdatedDateTime": format!("2024-06-01T{detected}Z"),
        "userId": user, "userPrincipalName": upn,
    })
}

/// A signIn at `time` of 2024-06-01 from `ip` with this risk during sign-in.
fn sign_in(id: &str, (user, upn): (&str, &str), time: &str, ip: &str, during: &str) -> Value {
    let at_risk = during != "none";
    json!({
        "id": id,
        "createdDateTime": format!("2024-06-01T{time}Z"),
        "userId": user, "userPrincipalName": upn, "userDisplayName": upn,
        "appId": "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "appDisplayName": "Microsoft Teams",
        "ipAddress": ip, "clientAppUsed": "Browser", "correlationId": format!("corr-{id}"),
        "conditionalAccessStatus": "success", "isInteractive": true,
        "riskDetail": "none", "riskLevelAggregated": during, "riskLevelDuringSignIn": during,
        "riskState": if at_risk { "atRisk" } else { "none" },
        "riskEventTypes_v2": if at_risk { json!(["unfamiliarFeatures"]) } else { json!([]) },
        "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": null},
        "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": "Windows10", "browser": "Edge 125.0.0"},
        "location": {"city": "Lisbon", "state": "Lisboa", "countryOrRegion": "PT"},
    })
}

const A: (&str, &str) = (ANN, ANN_UPN);
const N: (&str, &str) = (NEIL, NEIL_UPN);

/// Ann's and Neil's sign-ins, newest first as Graph lists them. Ann's risky ones are `req-ann`
/// (09:58, the real-time detection's) and `ann-0230`; Neil's `req-neil`.
fn sign_ins() -> Vec<Value> {
    vec![
        sign_in("ann-1200", A, "12:00:00", "192.0.2.10", "none"),
        sign_in("ann-1100", A, "11:00:00", "192.0.2.10", "none"),
        sign_in("req-neil", N, "10:15:00", "203.0.113.50", "high"),
        sign_in("req-ann", A, "09:58:00", "198.51.100.7", "medium"),
        sign_in("neil-0800", N, "08:00:00", "198.51.100.7", "none"),
        sign_in("ann-0330", A, "03:30:00", "192.0.2.10", "none"),
        sign_in("ann-0230", A, "02:30:00", "192.0.2.10", "low"),
    ]
}

/// Ann's real-time detection of her 09:58 sign-in (detected 10:00), her offline leaked-credentials
/// detection (activity 04:00, detected 10:30) and Neil's real-time detection.
fn tenant_config() -> TenantConfig {
    TenantConfig {
        risky_users: vec![risky_user(ANN, ANN_UPN, "medium"), risky_user(NEIL, NEIL_UPN, "high")],
        risky_user_history: Vec::new(),
        risk_detections: vec![
            detection("ann-realtime", A, Some("req-ann"), ("09:58:00", "10:00:00")),
            detection("ann-offline", A, None, ("04:00:00", "10:30:00")),
            detection("neil-realtime", N, Some("req-neil"), ("10:15:00", "10:16:00")),
        ],
        sign_ins: sign_ins(),
        ..TenantConfig::default()
    }
}

fn investigation() -> Emulator {
    Emulator::start(tenant_config()).expect("emulator starts")
}

fn investigation_with(change: impl FnOnce(&mut TenantConfig)) -> Emulator {
    let mut config = tenant_config();
    change(&mut config);
    Emulator::start(config).expect("emulator starts")
}

fn ids(run: &Run, context: &str) -> Vec<String> {
    items(run, context)
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn entries(run: &Run) -> &Vec<Value> {
    run.result["entries"].as_array().expect("entries")
}

fn sign_in_now(emu: &Emulator, id: &str) -> Value {
    emu.sign_ins().into_iter().find(|s| s["id"] == id).expect("a sign-in")
}

fn detection_now(emu: &Emulator, id: &str) -> Value {
    emu.risk_detections()
        .into_iter()
        .find(|d| d["id"] == id)
        .expect("a detection")
}

// --- sign-in-get ------------------------------------------------------------------------------

#[test]
fn sign_in_get_by_id_and_by_a_real_time_detection() {
    let emu = investigation();
    let by_id = command(&emu, GET, json!({"id": "req-ann"}));
    by_id
        .expect(0, 1)
        .says(&["198.51.100.7", "Lisbon, Lisboa, PT", "Microsoft Teams", "medium"]);
    let found = &items(&by_id, "SignIn")[0];
    assert_eq!(
        (&found["id"], &found["userId"], &found["createdDateTime"]),
        (&json!("req-ann"), &json!(ANN), &json!("2024-06-01T09:58:00Z"))
    );
    assert!(requests_to(&emu, &format!("{SIGN_INS}/req-ann")).len() == 1);

    emu.clear_requests();
    let by_detection = command(&emu, GET, json!({"detection_id": "ann-realtime"}));
    by_detection.expect(0, 1);
    assert_eq!(ids(&by_detection, "SignIn"), ["req-ann"], "the detection's requestId");
    let paths: Vec<String> = emu.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("/identityProtection/riskDetections/ann-realtime"))
    );
    assert!(paths.iter().any(|p| p.ends_with(&format!("{SIGN_INS}/req-ann"))));
}

#[test]
fn sign_in_get_for_an_offline_detection_is_a_note_without_a_sign_in_request() {
    let emu = investigation();
    let run = command(&emu, GET, json!({"detection_id": "ann-offline"}));
    run.expect(0, 1).says(&[
        "ann-offline",
        "no requestId",
        "offline",
        "around_detection_id=ann-offline",
    ]);
    assert!(requests_to(&emu, SIGN_INS).is_empty(), "no sign-in is read");
    assert!(emu.requests().iter().all(|r| !r.path.contains(SIGN_INS)));
}

#[test]
fn sign_in_get_needs_exactly_one_argument_before_any_request() {
    let emu = investigation();
    command(&emu, GET, json!({"id": "req-ann", "detection_id": "ann-realtime"}))
        .expect(2, 4)
        .says(&["`id`", "detection_id"]);
    command(&emu, GET, json!({}))
        .expect(2, 4)
        .says(&["`id`", "detection_id"]);
    assert!(emu.requests().is_empty(), "not even a token request");
}

#[test]
fn sign_in_get_of_an_unknown_id_is_graphs_404_naming_it() {
    let emu = investigation();
    let run = command(&emu, GET, json!({"id": "no-such-sign-in"}));
    run.expect(1, 4).says(&["404", "no-such-sign-in"]);
    assert_eq!(run.entry()["Contents"]["http_status"], 404);
}

#[test]
fn sign_ins_forbidden_name_both_permissions_and_the_p1_licence() {
    let needles = ["403", "AuditLog.Read.All", "Directory.Read.All", "P1"];
    for missing in ["AuditLog.Read.All", "Directory.Read.All"] {
        let emu = investigation_with(|c| c.apps[1].permissions.retain(|p| p != missing));
        command(&emu, GET, json!({"id": "req-ann"})).expect(1, 4).says(&needles);
        command(&emu, LIST, json!({})).expect(1, 4).says(&needles);
    }
    let unlicensed = investigation_with(|c| c.p1_licence = false);
    command(&unlicensed, GET, json!({"id": "req-ann"}))
        .expect(1, 4)
        .says(&needles)
        .says(&["`Authentication_RequestFromNonPremiumTenantOrB2CTenant`"]);
    // Identity Protection itself is another licence: its commands still work.
    command(&unlicensed, "azure-ad-identity-protection-risks-list", json!({})).expect(0, 1);
}

// --- sign-ins-list ----------------------------------------------------------------------------

#[test]
fn each_filter_alone_with_escaped_literals() {
    let emu = investigation();
    let cases = [
        (
            json!({"user_id": ANN}),
            format!("userId eq '{ANN}'"),
            vec!["ann-1200", "ann-1100", "req-ann", "ann-0330", "ann-0230"],
        ),
        (
            json!({"user_principal_name": NEIL_UPN}),
            "userPrincipalName eq 'o''neil@contoso.com'".to_string(),
            vec!["req-neil", "neil-0800"],
        ),
        (
            json!({"ip_address": "198.51.100.7"}),
            "ipAddress eq '198.51.100.7'".to_string(),
            vec!["req-ann", "neil-0800"],
        ),
        (
            json!({"correlation_id": "corr-ann-0330"}),
            "correlationId eq 'corr-ann-0330'".to_string(),
            vec!["ann-0330"],
        ),
        (
            json!({"risky_only": "true"}),
            "riskLevelDuringSignIn ne 'none'".to_string(),
            vec!["req-neil", "req-ann", "ann-0230"],
        ),
        (
            json!({"start_time": "2024-06-01T10:00:00Z"}),
            "createdDateTime ge 2024-06-01T10:00:00.0000000Z".to_string(),
            vec!["ann-1200", "ann-1100", "req-neil"],
        ),
        // An offset is turned into UTC: 05:00 at -05:00 is 10:00 UTC.
        (
            json!({"end_time": "2024-06-01T05:00:00-05:00"}),
            "createdDateTime le 2024-06-01T10:00:00.0000000Z".to_string(),
            vec!["req-ann", "neil-0800", "ann-0330", "ann-0230"],
        ),
    ];
    for (args, filter, expected) in cases {
        let run = command(&emu, LIST, args.clone());
        run.expect(0, 1);
        assert_eq!(last_filter(&emu, SIGN_INS).as_deref(), Some(filter.as_str()), "{args}");
        assert_eq!(ids(&run, "SignIn"), expected, "{args}");
    }
}

#[test]
fn filters_combine_with_and_in_one_expression() {
    let emu = investigation();
    let args = json!({
        "user_id": ANN, "ip_address": "192.0.2.10", "risky_only": "true",
        "start_time": "2024-06-01T02:00:00Z", "end_time": "2024-06-01T03:00:00Z",
    });
    let run = command(&emu, LIST, args);
    run.expect(0, 1).says(&["Sign-ins (1 result)"]);
    assert_eq!(
        last_filter(&emu, SIGN_INS).as_deref(),
        Some(
            "userId eq 'a1000000-0000-4000-8000-000000000001' and ipAddress eq '192.0.2.10' and createdDateTime ge 2024-06-01T02:00:00.0000000Z and createdDateTime le 2024-06-01T03:00:00.0000000Z and riskLevelDuringSignIn ne 'none'"
        )
    );
    assert_eq!(ids(&run, "SignIn"), ["ann-0230"]);

    // filter_expression replaces the built filter.
    let run = command(
        &emu,
        LIST,
        json!({"user_id": ANN, "filter_expression": "ipAddress eq '203.0.113.50'"}),
    );
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, SIGN_INS).as_deref(),
        Some("ipAddress eq '203.0.113.50'")
    );
    assert_eq!(ids(&run, "SignIn"), ["req-neil"]);
}

#[test]
fn relative_times_are_that_long_before_now_in_utc() {
    let emu = investigation();
    let before = now();
    command(&emu, LIST, json!({"start_time": "2 hours", "end_time": "30 minutes"})).expect(0, 1);
    let after = now();
    let filter = last_filter(&emu, SIGN_INS).expect("a filter");
    let stamps: Vec<&str> = filter
        .split(" and ")
        .map(|part| part.rsplit(' ').next().unwrap_or_default())
        .collect();
    assert!(
        filter.starts_with("createdDateTime ge ") && filter.contains(" and createdDateTime le "),
        "{filter}"
    );
    assert!(
        stamps.iter().all(|s| s.ends_with('Z') && !s.contains('\'')),
        "unquoted UTC: {filter}"
    );
    let seconds: Vec<u64> = stamps.iter().map(|s| parse_iso8601(s).expect("a time").0).collect();
    assert!((before - 7_200..=after - 7_200).contains(&seconds[0]), "{filter}");
    assert!((before - 1_800..=after - 1_800).contains(&seconds[1]), "{filter}");
}

#[test]
fn around_a_detection_reaches_from_its_activity_to_after_its_detection() {
    let emu = investigation();
    // Offline: activity 04:00, detected 10:30, window 1 hour -> 03:00 to 11:30, Ann's sign-ins.
    let run = command(
        &emu,
        LIST,
        json!({"around_detection_id": "ann-offline", "window": "1 hour"}),
    );
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, SIGN_INS).as_deref(),
        Some(
            "userId eq 'a1000000-0000-4000-8000-000000000001' and createdDateTime ge 2024-06-01T03:00:00.0000000Z and createdDateTime le 2024-06-01T11:30:00.0000000Z"
        )
    );
    assert_eq!(ids(&run, "SignIn"), ["ann-1100", "req-ann", "ann-0330"]);

    // Real-time, default window of 2 hours: activity 09:58 - 2 h = 07:58 to 10:00 + 2 h = 12:00
    // (inclusive: the 12:00 sign-in is in).
    let run = command(&emu, LIST, json!({"around_detection_id": "ann-realtime"}));
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, SIGN_INS).as_deref(),
        Some(
            "userId eq 'a1000000-0000-4000-8000-000000000001' and createdDateTime ge 2024-06-01T07:58:00.0000000Z and createdDateTime le 2024-06-01T12:00:00.0000000Z"
        )
    );
    assert_eq!(ids(&run, "SignIn"), ["ann-1200", "ann-1100", "req-ann"]);

    // A user given replaces the detection's user; the window stays the detection's.
    let run = command(
        &emu,
        LIST,
        json!({"around_detection_id": "ann-realtime", "user_principal_name": NEIL_UPN}),
    );
    run.expect(0, 1);
    assert_eq!(
        last_filter(&emu, SIGN_INS).as_deref(),
        Some(
            "userPrincipalName eq 'o''neil@contoso.com' and createdDateTime ge 2024-06-01T07:58:00.0000000Z and createdDateTime le 2024-06-01T12:00:00.0000000Z"
        )
    );
    assert_eq!(ids(&run, "SignIn"), ["req-neil", "neil-0800"]);

    let unknown = command(&emu, LIST, json!({"around_detection_id": "no-such-detection"}));
    unknown.expect(1, 4).says(&["404", "no-such-detection"]);
}

#[test]
fn bad_times_and_windows_are_refused_before_any_request() {
    let emu = investigation();
    let cases = [
        (json!({"start_time": "soon"}), "`start_time`"),
        (json!({"end_time": "next week"}), "`end_time`"),
        (
            json!({"around_detection_id": "ann-realtime", "window": "31 days"}),
            "`window`",
        ),
        (
            json!({"around_detection_id": "ann-realtime", "window": "soon"}),
            "`window`",
        ),
        (
            json!({"around_detection_id": "ann-realtime", "window": "2024-06-01"}),
            "`window`",
        ),
    ];
    for (args, named) in cases {
        command(&emu, LIST, args).expect(2, 4).says(&[named]);
    }
    assert!(emu.requests().is_empty(), "not even a token request");
}

#[test]
fn limit_and_paging_to_the_end_with_a_small_page_cap() {
    let emu = investigation();
    emu.set_page_cap(2);
    let all = command(&emu, LIST, json!({"user_id": ANN}));
    all.expect(0, 1).says(&["Sign-ins (5 results)"]);
    assert_eq!(
        ids(&all, "SignIn"),
        ["ann-1200", "ann-1100", "req-ann", "ann-0330", "ann-0230"]
    );
    assert_eq!(requests_to(&emu, SIGN_INS).len(), 3, "pages of 2, 2 and 1");
    assert_eq!(next_link(&all, "SignIn"), "", "nothing remains");

    // Whole pages only (src/graph/paging.rs): 4 is two pages of 2.
    let first = command(&emu, LIST, json!({"user_id": ANN, "limit": "4"}));
    first.expect(0, 1).says(&["More results are available"]);
    assert_eq!(ids(&first, "SignIn"), ["ann-1200", "ann-1100", "req-ann", "ann-0330"]);
    let link = next_link(&first, "SignIn");
    assert!(
        link.starts_with(&format!("{}/beta{SIGN_INS}?", emu.base_url())),
        "{link}"
    );
    let rest = command(&emu, LIST, json!({"next_link": link, "limit": "50"}));
    rest.expect(0, 1);
    assert_eq!(ids(&rest, "SignIn"), ["ann-0230"], "the filter carried by the link");
    assert_eq!(next_link(&rest, "SignIn"), "");

    command(
        &emu,
        LIST,
        json!({"next_link": "https://graph.example/beta/auditLogs/signIns"}),
    )
    .expect(2, 4)
    .says(&["`next_link`"]);
}

// --- confirm-safe / confirm-compromised -------------------------------------------------------

#[test]
fn confirm_safe_dedupes_and_changes_the_sign_in_and_its_detection() {
    let emu = investigation();
    let run = command(&emu, SAFE, json!({"request_ids": "req-ann,REQ-ANN, req-ann"}));
    run.expect(0, 1).says(&["Confirmed safe", "Updated 1 sign-in."]);
    let posts = requests_to(&emu, &format!("{SIGN_INS}/confirmSafe"));
    assert_eq!(posts.len(), 1);
    let body: Value = serde_json::from_str(&posts[0].body).expect("JSON");
    assert_eq!(body, json!({"requestIds": ["req-ann"]}));
    // Microsoft Learn, "Provide risk feedback": a safe sign-in's risk goes to none.
    let detection = detection_now(&emu, "ann-realtime");
    assert_eq!(
        (&detection["riskState"], &detection["riskDetail"]),
        (&json!("confirmedSafe"), &json!("adminConfirmedSigninSafe"))
    );
    let sign_in = sign_in_now(&emu, "req-ann");
    assert_eq!(
        (&sign_in["riskState"], &sign_in["riskLevelAggregated"]),
        (&json!("confirmedSafe"), &json!("none"))
    );
    assert_eq!(
        detection_now(&emu, "neil-realtime")["riskState"],
        "atRisk",
        "others untouched"
    );
}

#[test]
fn confirm_compromised_raises_the_sign_in_to_high() {
    let emu = investigation();
    command(&emu, COMPROMISED, json!({"request_ids": ["req-neil"]}))
        .expect(0, 1)
        .says(&["Confirmed compromised", "Updated 1 sign-in."]);
    let detection = detection_now(&emu, "neil-realtime");
    assert_eq!(
        (&detection["riskState"], &detection["riskLevel"]),
        (&json!("confirmedCompromised"), &json!("high"))
    );
    let sign_in = sign_in_now(&emu, "req-neil");
    assert_eq!(
        (&sign_in["riskState"], &sign_in["riskLevelAggregated"]),
        (&json!("confirmedCompromised"), &json!("high"))
    );
    let user = emu.risky_user(NEIL).expect("Neil");
    assert_eq!(
        (&user["riskState"], &user["riskLevel"]),
        (&json!("confirmedCompromised"), &json!("high"))
    );
}

#[test]
fn confirm_batches_by_sixty_and_a_failed_batch_says_what_was_applied() {
    let emu = investigation();
    let request_ids: Vec<String> = (0..130).map(|i| format!("req-{i:03}")).collect();
    let path = format!("{SIGN_INS}/confirmSafe");
    command(&emu, SAFE, json!({"request_ids": request_ids})).expect(0, 1);
    let sizes: Vec<usize> = requests_to(&emu, &path)
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).expect("JSON")["requestIds"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(sizes, [60, 60, 10]);

    emu.clear_requests();
    emu.script(ScriptedAnswer::new(&path, 204, ""));
    emu.script(ScriptedAnswer::graph_error(
        &path,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ));
    let run = command(&emu, SAFE, json!({"request_ids": request_ids}));
    run.expect(1, 4).says(&[
        "batch 2 of 3 (60 sign-ins) failed",
        "60 sign-ins in earlier batches were already updated",
        "10 sign-ins after it were not attempted",
        "IdentityRiskEvent.ReadWrite.All",
    ]);
    let details = &run.entry()["Contents"];
    assert_eq!(details["applied"].as_array().map(Vec::len), Some(60));
    assert_eq!(details["failed"][0], "req-060");
    assert_eq!(details["not_attempted"], json!(request_ids[120..]));
    assert_eq!(requests_to(&emu, &path).len(), 2, "the third batch is not sent");
}

// --- device code: the sign-in permissions asked for on first use -------------------------------

const SP_LIST: &str = "azure-ad-identity-protection-risky-service-principal-list";

fn scope_of_only_token_request(emu: &Emulator) -> String {
    let token_requests = requests_to(emu, TOKEN);
    assert_eq!(token_requests.len(), 1, "one refresh, no new sign-in");
    assert_eq!(
        token_requests[0].form_value("grant_type").as_deref(),
        Some("refresh_token")
    );
    token_requests[0].form_value("scope").expect("a scope")
}

fn groups(run: &Run) -> Value {
    run.context()["token_permission_groups"].clone()
}

#[test]
fn device_code_asks_for_the_sign_in_permissions_once_and_keeps_them() {
    let emu = investigation();
    let params = device_params(&emu);
    let context = signed_in(&emu, &params);
    let at_sign_in = requests_to(&emu, "/oauth2/v2.0/devicecode")[0]
        .form_value("scope")
        .unwrap_or_default();
    assert!(!at_sign_in.contains("AuditLog.Read.All"), "{at_sign_in}");
    emu.clear_requests();

    let listed = run(&envelope(LIST, json!({"user_id": ANN}), &params, json!(context)));
    listed.expect(0, 1);
    let scope = scope_of_only_token_request(&emu);
    assert!(
        scope.contains("AuditLog.Read.All") && scope.contains("Directory.Read.All"),
        "{scope}"
    );
    assert_eq!(groups(&listed), json!(["sign_ins"]));

    // The service principals' permission is added to the sign-ins', not put in their place.
    emu.clear_requests();
    let principals = run(&envelope(
        SP_LIST,
        json!({"limit": 1}),
        &params,
        listed.context().clone(),
    ));
    principals.expect(0, 1);
    let scope = scope_of_only_token_request(&emu);
    assert!(
        scope.contains("IdentityRiskyServicePrincipal.ReadWrite.All") && scope.contains("AuditLog.Read.All"),
        "{scope}"
    );
    assert_eq!(groups(&principals), json!(["workload_identities", "sign_ins"]));

    // No flip-flop: the token serves both from now on, without a token request.
    emu.clear_requests();
    let again = run(&envelope(
        LIST,
        json!({"limit": 1}),
        &params,
        principals.context().clone(),
    ));
    again.expect(0, 1);
    let both = run(&envelope(
        SP_LIST,
        json!({"limit": 1}),
        &params,
        again.context().clone(),
    ));
    both.expect(0, 1);
    assert!(requests_to(&emu, TOKEN).is_empty());
    assert_eq!(groups(&both), json!(["workload_identities", "sign_ins"]));
}

#[test]
fn device_code_without_consent_for_the_sign_in_permissions_says_so_and_keeps_the_refresh_token() {
    let emu = investigation_with(|config| {
        config.rotate_refresh_tokens_strictly = true;
        let public = config
            .apps
            .iter_mut()
            .find(|a| a.public_client_flows)
            .expect("a public app");
        public.permissions.retain(|p| p != "AuditLog.Read.All");
    });
    let params = device_params(&emu);
    let context = signed_in(&emu, &params);
    let refused = run(&envelope(GET, json!({"id": "req-ann"}), &params, json!(context)));
    refused
        .expect(1, 4)
        .says(&["AADSTS65001", "AuditLog.Read.All", "Directory.Read.All"]);
    assert_eq!(
        refused.context()["current_refresh_token"],
        context["current_refresh_token"],
        "the refresh token the host holds stays"
    );
    assert!(
        requests_to(&emu, SIGN_INS).is_empty(),
        "no Graph request without the permission"
    );
}

// --- user-sessions-revoke ---------------------------------------------------------------------

fn revocations(emu: &Emulator) -> Vec<String> {
    requests_to(emu, REVOCATION)
        .into_iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            r.path
        })
        .collect()
}

#[test]
fn sessions_are_revoked_one_by_one_and_an_unknown_user_fails_the_command_after_the_others() {
    let emu = investigation();
    let run = command(
        &emu,
        REVOKE,
        json!({"user_id": format!("{ANN},nobody@contoso.com,{NEIL_UPN},{ANN}")}),
    );
    assert_eq!(run.exit, 1, "{:#}", run.result);
    let results = &run.entry()["Contents"];
    assert_eq!(
        results
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["user"].as_str().unwrap_or_default(), r["revoked"] == true))
            .collect::<Vec<_>>(),
        [(ANN, true), ("nobody@contoso.com", false), (NEIL_UPN, true)],
        "one result per user, the duplicate once"
    );
    assert!(
        run.text().contains("Access tokens already issued are not revoked"),
        "{}",
        run.text()
    );
    let error = &entries(&run)[1];
    assert_eq!(error["Type"], 4);
    let message = error["HumanReadable"].as_str().unwrap_or_default();
    assert!(
        message.contains("failed for 1 of 3 users (nobody@contoso.com); the others were revoked"),
        "{message}"
    );
    assert_eq!(error["Contents"]["failed"][0]["error"]["http_status"], 404);
    let paths = revocations(&emu);
    assert_eq!(paths.len(), 3);
    assert!(
        paths[1].ends_with("/users/nobody@contoso.com/revokeSignInSessions"),
        "{paths:?}"
    );
    assert!(
        paths[2].ends_with("/users/o'neil@contoso.com/revokeSignInSessions"),
        "{paths:?}"
    );
}

#[test]
fn revoking_the_signed_in_user_refuses_their_refresh_token_but_not_the_access_token_issued_before() {
    let emu = investigation();
    let params = device_params(&emu);
    let context = signed_in(&emu, &params);
    let analyst = emu.tenant().user.user_principal_name;
    let revoked = run(&envelope(REVOKE, json!({"user_id": analyst}), &params, json!(context)));
    revoked.expect(0, 1).says(&["yes"]);
    assert_eq!(groups(&revoked), json!(["sessions"]));

    emu.clear_requests();
    let with_access_token = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": 1}),
        &params,
        revoked.context().clone(),
    ));
    with_access_token.expect(0, 1);
    assert!(requests_to(&emu, TOKEN).is_empty(), "the cached access token served");

    let mut expired = revoked.context().clone();
    expired["valid_until"] = json!(0);
    let refused = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": 1}),
        &params,
        expired,
    ));
    refused.expect(1, 4).says(&["AADSTS50173"]);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
}

#[test]
fn revoking_without_the_permission_names_it() {
    let emu = investigation_with(|c| c.apps[1].permissions.retain(|p| p != "User.RevokeSessions.All"));
    let run = command(&emu, REVOKE, json!({"user_id": ANN}));
    assert_eq!(run.exit, 1, "{:#}", run.result);
    assert_eq!(
        run.text(),
        "### Session revocation\n|User|Revoked|\n|---|---|\n| a1000000-0000-4000-8000-000000000001 | no (see the error below) |\n"
    );
    let error = entries(&run)[1]["HumanReadable"].as_str().unwrap_or_default();
    assert!(
        error.contains("403") && error.contains("User.RevokeSessions.All"),
        "{error}"
    );
}

// --- ip-block ---------------------------------------------------------------------------------

fn location_named(emu: &Emulator, name: &str) -> Option<Value> {
    emu.named_locations().into_iter().find(|l| l["displayName"] == name)
}

fn cidrs_of(location: &Value) -> Vec<String> {
    location["ipRanges"]
        .as_array()
        .expect("ipRanges")
        .iter()
        .map(|r| r["cidrAddress"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn writes(emu: &Emulator) -> Vec<(String, Value)> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path.contains(LOCATIONS) && r.method != "GET")
        .map(|r| (r.method.clone(), serde_json::from_str(&r.body).unwrap_or(Value::Null)))
        .collect()
}

/// An IP location of this tenant, with a known id.
const MINE: &str = "5a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";

fn ip_location(id: &str, name: &str, cidrs: &[&str]) -> Value {
    let ranges: Vec<Value> = cidrs
        .iter()
        .map(|c| json!({"@odata.type": if c.contains(':') { IPV6 } else { IPV4 }, "cidrAddress": c}))
        .collect();
    json!({
        "@odata.type": IP_LOCATION, "id": id, "displayName": name, "isTrusted": false,
        "createdDateTime": "2024-06-01T00:00:00Z", "modifiedDateTime": "2024-06-01T00:00:00Z", "ipRanges": ranges,
    })
}

/// A Conditional Access policy in `state` that blocks access from the locations `include`.
fn blocking_policy(name: &str, state: &str, include: &[&str]) -> Value {
    json!({
        "id": "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "displayName": name, "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": ["0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"]},
            "applications": {"includeApplications": ["All"]},
            "locations": {"includeLocations": include, "excludeLocations": []},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    })
}

fn with_location(cidrs: &'static [&'static str]) -> Emulator {
    tenant_with(|c| c.named_locations.push(ip_location(MINE, BLOCKED, cidrs)))
}

#[test]
fn bad_addresses_are_refused_before_any_request() {
    let emu = tenant();
    for bad in ["10.0.0.300", "1.2.3.4/33", "example.com", "203.0.113.7,example.com"] {
        command(&emu, BLOCK, json!({"ip": bad})).expect(2, 4).says(&["`ip`"]);
        command(&emu, UNBLOCK, json!({"ip": bad})).expect(2, 4).says(&["`ip`"]);
    }
    command(&emu, BLOCK, json!({"ip": "example.com"})).says(&["example.com"]);
    assert!(emu.requests().is_empty(), "not even a token request");
}

#[test]
fn blocking_creates_the_location_then_adds_only_what_is_missing() {
    let emu = tenant();
    let created = command(&emu, BLOCK, json!({"ip": "203.0.113.7, 2001:DB8::1,198.51.100.0/24"}));
    created.expect(0, 1).says(&[
        "Created the IP named location",
        "`203.0.113.7/32`",
        "No Conditional Access policy uses this named location",
        "**not blocked**",
    ]);
    let posted = writes(&emu);
    let expected_ranges = json!([
        {"@odata.type": IPV4, "cidrAddress": "203.0.113.7/32"},
        {"@odata.type": IPV6, "cidrAddress": "2001:db8::1/128"},
        {"@odata.type": IPV4, "cidrAddress": "198.51.100.0/24"},
    ]);
    assert_eq!(
        posted,
        [(
            "POST".to_string(),
            json!({"@odata.type": IP_LOCATION, "displayName": BLOCKED, "isTrusted": false, "ipRanges": expected_ranges})
        )]
    );
    let location = location_named(&emu, BLOCKED).expect("created");
    let path = "AADIdentityProtection.NamedLocation(val.id === obj.id)";
    assert_eq!(created.entry()["EntryContext"][path]["id"], location["id"]);
    let looked_up = requests_to(&emu, LOCATIONS)
        .iter()
        .find_map(|r| r.query_value("$filter"));
    assert_eq!(looked_up.as_deref(), Some("displayName eq 'SOAR blocked IP addresses'"));

    emu.clear_requests();
    let added = command(&emu, BLOCK, json!({"ip": ["203.0.113.7", "203.0.113.8"]}));
    added
        .expect(0, 1)
        .says(&["Added `203.0.113.8/32` to the named location"]);
    let id = location["id"].as_str().expect("an id");
    let patched = writes(&emu);
    let mut merged = expected_ranges.as_array().cloned().unwrap_or_default();
    merged.push(json!({"@odata.type": IPV4, "cidrAddress": "203.0.113.8/32"}));
    assert_eq!(
        patched,
        [(
            "PATCH".to_string(),
            json!({"@odata.type": IP_LOCATION, "ipRanges": merged})
        )],
        "one PATCH with the whole merged list"
    );
    assert!(
        requests_to(&emu, &format!("{LOCATIONS}/{id}"))
            .iter()
            .any(|r| r.method == "PATCH")
    );
    assert_eq!(
        cidrs_of(&location_named(&emu, BLOCKED).expect("kept")),
        ["203.0.113.7/32", "2001:db8::1/128", "198.51.100.0/24", "203.0.113.8/32"]
    );

    emu.clear_requests();
    let unchanged = command(&emu, BLOCK, json!({"ip": "203.0.113.8/32"}));
    unchanged.expect(0, 1).says(&[
        "`203.0.113.8/32` is already in the named location",
        "nothing was changed",
    ]);
    assert!(writes(&emu).is_empty(), "no write");
}

#[test]
fn a_concurrent_writer_loses_nothing_and_neither_does_the_command() {
    let emu = with_location(&["198.51.100.0/24"]);
    let url = format!("{}/_emulator/named-locations/{MINE}/ranges", emu.base_url());
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let answer = agent
        .post(&url)
        .send_json(json!({"cidrAddress": "192.0.2.0/24", "after_next_patch": true}))
        .expect("the admin route answers");
    assert_eq!(answer.status(), 200);

    let run = command(&emu, BLOCK, json!({"ip": "203.0.113.9"}));
    run.expect(0, 1).says(&["Added `203.0.113.9/32`"]);
    let patches = writes(&emu);
    assert_eq!(patches.len(), 2, "the lost range is merged again: {patches:?}");
    assert_eq!(
        patches[1].1["ipRanges"]
            .as_array()
            .expect("ranges")
            .iter()
            .map(|r| r["cidrAddress"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["198.51.100.0/24", "192.0.2.0/24", "203.0.113.9/32"],
        "the second merge keeps the other writer's range"
    );
    let mut now = cidrs_of(&location_named(&emu, BLOCKED).expect("the location"));
    now.sort();
    assert_eq!(now, ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.9/32"]);
}

#[test]
fn the_entry_says_whether_a_policy_blocks_access_from_the_location() {
    let emu = tenant_with(|c| {
        c.named_locations.push(ip_location(MINE, BLOCKED, &["198.51.100.0/24"]));
        c.conditional_access_policies
            .push(blocking_policy("Block SOAR addresses", "enabled", &[MINE]));
    });
    command(&emu, BLOCK, json!({"ip": "203.0.113.9"})).expect(0, 1).says(&[
        "Block SOAR addresses",
        "blocks access",
        "Sign-ins from these addresses are blocked.",
    ]);

    let report_only = tenant_with(|c| {
        c.named_locations.push(ip_location(MINE, BLOCKED, &["198.51.100.0/24"]));
        c.conditional_access_policies.push(blocking_policy(
            "Block SOAR addresses",
            "enabledForReportingButNotEnforced",
            &[MINE],
        ));
    });
    command(&report_only, BLOCK, json!({"ip": "203.0.113.9"}))
        .expect(0, 1)
        .says(&["Block SOAR addresses", "**not blocked**"]);
}

#[test]
fn without_access_to_policies_the_block_succeeds_and_says_it_could_not_check() {
    let emu = with_location(&["198.51.100.0/24"]);
    emu.script(ScriptedAnswer::graph_error(
        POLICIES,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    ));
    command(&emu, BLOCK, json!({"ip": "203.0.113.9"})).expect(0, 1).says(&[
        "Added `203.0.113.9/32`",
        "could not be checked",
        "Policy.Read.All",
    ]);
    assert!(cidrs_of(&location_named(&emu, BLOCKED).expect("kept")).contains(&"203.0.113.9/32".to_string()));
}

#[test]
fn a_country_location_of_that_name_is_refused() {
    let emu = tenant();
    command(&emu, BLOCK, json!({"ip": "203.0.113.9", "named_location": COUNTRIES}))
        .expect(2, 4)
        .says(&["`named_location`", COUNTRIES]);
    assert!(writes(&emu).is_empty());
}

#[test]
fn throttled_graph_fails_the_block_with_the_429() {
    let emu = with_location(&["198.51.100.0/24"]);
    let listed = command(&emu, LOCATIONS_LIST, json!({}));
    listed.expect(0, 1);
    emu.set_faults(FaultPlan {
        throttle_every: Some(1),
        throttle_retry_after: Some(0),
        ..FaultPlan::default()
    });
    let run = run(&envelope(
        BLOCK,
        json!({"ip": "203.0.113.9"}),
        &app_params(&emu),
        listed.context().clone(),
    ));
    run.expect(1, 4);
    assert_eq!(run.entry()["Contents"]["http_status"], 429, "{:#}", run.result);
    assert!(writes(&emu).is_empty());
}

// --- ip-unblock -------------------------------------------------------------------------------

#[test]
fn unblocking_removes_ranges_with_one_patch() {
    let emu = with_location(&["198.51.100.0/24", "203.0.113.7/32", "2001:db8::/48"]);
    command(&emu, UNBLOCK, json!({"ip": "203.0.113.7, 2001:db8:0:0:1::/48"}))
        .expect(0, 1)
        .says(&["Removed `203.0.113.7/32`, `2001:db8::/48` from the named location"]);
    assert_eq!(
        writes(&emu),
        [(
            "PATCH".to_string(),
            json!({"@odata.type": IP_LOCATION, "ipRanges": [{"@odata.type": IPV4, "cidrAddress": "198.51.100.0/24"}]})
        )]
    );
    assert_eq!(
        cidrs_of(&location_named(&emu, BLOCKED).expect("kept")),
        ["198.51.100.0/24"]
    );
}

#[test]
fn the_last_range_is_not_removed_and_the_entry_says_what_to_do() {
    let emu = with_location(&["198.51.100.0/24"]);
    command(&emu, UNBLOCK, json!({"ip": "198.51.100.0/24"}))
        .expect(2, 4)
        .says(&["`ip`", "last range", "Delete the named location"]);
    assert!(writes(&emu).is_empty());
    assert_eq!(
        cidrs_of(&location_named(&emu, BLOCKED).expect("kept")),
        ["198.51.100.0/24"]
    );
}

#[test]
fn unblocking_what_is_not_there_is_a_note_without_a_write() {
    let emu = with_location(&["198.51.100.0/24", "203.0.113.7/32"]);
    command(&emu, UNBLOCK, json!({"ip": "203.0.113.99"}))
        .expect(0, 1)
        .says(&["`203.0.113.99/32` is not in the named location", "nothing was changed"]);
    command(&emu, UNBLOCK, json!({"ip": "203.0.113.7", "named_location": "Nowhere"}))
        .expect(0, 1)
        .says(&["There is no IP named location Nowhere", "nothing was changed"]);
    assert!(writes(&emu).is_empty());
    assert!(location_named(&emu, "Nowhere").is_none(), "unblocking creates nothing");
}

// --- named-locations-list ---------------------------------------------------------------------

#[test]
fn named_locations_list_filters_limits_and_pages() {
    let emu = tenant_with(|c| {
        c.named_locations
            .push(ip_location(MINE, "O'Brien office", &["198.51.100.0/24"]))
    });
    let all = command(&emu, LOCATIONS_LIST, json!({}));
    all.expect(0, 1).says(&["Named locations (3 results)"]);
    let names: Vec<&str> = items(&all, "NamedLocation")
        .iter()
        .map(|l| l["displayName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["Corporate network", COUNTRIES, "O'Brien office"]);

    let one = command(&emu, LOCATIONS_LIST, json!({"display_name": "O'Brien office"}));
    one.expect(0, 1);
    assert_eq!(
        last_filter(&emu, LOCATIONS).as_deref(),
        Some("displayName eq 'O''Brien office'")
    );
    assert_eq!(ids(&one, "NamedLocation"), [MINE]);

    let first = command(&emu, LOCATIONS_LIST, json!({"limit": "2"}));
    first.expect(0, 1).says(&["More results are available"]);
    assert_eq!(items(&first, "NamedLocation").len(), 2);
    let link = next_link(&first, "NamedLocation");
    assert!(
        link.starts_with(&format!("{}/beta{LOCATIONS}?", emu.base_url())),
        "{link}"
    );
    let rest = command(&emu, LOCATIONS_LIST, json!({"next_link": link}));
    rest.expect(0, 1);
    assert_eq!(ids(&rest, "NamedLocation"), [MINE]);
    assert_eq!(next_link(&rest, "NamedLocation"), "");

    emu.set_page_cap(1);
    emu.clear_requests();
    let paged = command(&emu, LOCATIONS_LIST, json!({}));
    paged.expect(0, 1);
    assert_eq!(items(&paged, "NamedLocation").len(), 3);
    assert_eq!(requests_to(&emu, LOCATIONS).len(), 3, "one page each");
}

/// Regression: a location whose display name differs only in case was skipped, so the command
/// tried to create a second one and failed with Graph's 400 for a duplicate name.
#[test]
fn a_location_named_in_another_case_is_the_one_used() {
    let emu = tenant_with(|c| {
        c.named_locations
            .push(ip_location(MINE, "soar blocked ip addresses", &["198.51.100.0/24"]))
    });
    command(&emu, BLOCK, json!({"ip": "203.0.113.9"}))
        .expect(0, 1)
        .says(&["Added `203.0.113.9/32`"]);
    let patched: Vec<_> = requests_to(&emu, &format!("{LOCATIONS}/{MINE}"))
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patched.len(), 1);
    assert!(
        writes(&emu).iter().all(|(method, _)| method != "POST"),
        "no second location"
    );
    assert_eq!(emu.named_locations().len(), 3);
}

#[test]
fn a_name_with_an_apostrophe_is_found_again() {
    let emu = tenant();
    let name = "O'Brien (blocked)";
    command(&emu, BLOCK, json!({"ip": "203.0.113.9", "named_location": name})).expect(0, 1);
    command(&emu, BLOCK, json!({"ip": "203.0.113.10", "named_location": name}))
        .expect(0, 1)
        .says(&["Added `203.0.113.10/32`"]);
    let filters: Vec<String> = requests_to(&emu, LOCATIONS)
        .iter()
        .filter_map(|r| r.query_value("$filter"))
        .collect();
    assert!(
        filters.iter().all(|f| f == "displayName eq 'O''Brien (blocked)'"),
        "{filters:?}"
    );
    assert_eq!(
        cidrs_of(&location_named(&emu, name).expect("one location")),
        ["203.0.113.9/32", "203.0.113.10/32"]
    );
}

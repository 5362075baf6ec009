//! The sign-in log (Graph signIn objects) of a tenant's risky users, derived from their
//! detections so the two agree, as in Entra: every detection of a sign-in names its sign-in by
//! `requestId`, with the same user, IP, location and time (`activityDateTime`); around them each
//! user has a handful of ordinary sign-ins from a home city. Deterministic in the seed, and a
//! stream of its own: adding the log leaves the generated users and detections as they were.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::conditional_access::{BLOCK_POLICY, MFA_POLICY};
use super::{CITIES, City, REFERENCE_EPOCH, SplitMix, USER_AGENTS, timestamp};
use formats::time::parse_iso8601;

/// The seed of the default tenant's ordinary sign-ins.
pub(crate) const DEFAULT_SIGN_IN_SEED: u64 = 0x5349_474e;
/// Mixed into a generated tenant's seed, so its sign-ins are a separate stream.
pub(crate) const SIGN_IN_STREAM: u64 = 0x2f1b_7c3d_51e0_a6b9;
/// Signed-in properties Graph serves on beta only; v1.0 leaves them out.
pub(crate) const BETA_ONLY: [&str; 1] = ["mfaDetail"];

/// `(appId, appDisplayName, resourceDisplayName, resourceId)` of first-party apps users sign in to.
#[rustfmt::skip]
const APPS: [(&str, &str, &str, &str); 5] = [
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Microsoft Teams Services", "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe"),
    ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal", "Windows Azure Service Management API", "797f4846-ba00-4fd7-ba43-dac1f8f63013"),
    ("2793995e-0a7d-40d7-bd35-6968ba142197", "My Apps", "Microsoft Graph", "00000003-0000-0000-c000-000000000000"),
    ("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", "Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000"),
];

/// `(operatingSystem, browser)`, one per entry of `USER_AGENTS`, as Entra parses them.
const DEVICES: [(&str, &str); 4] = [
    ("Windows10", "Chrome 124.0.0"),
    ("MacOs", "Safari 17.4"),
    ("Linux", "Firefox 126.0"),
    ("Ios", "Mobile Safari"),
];

/// The sign-in log of `users` and `detections`, newest first (Graph's order).
pub(crate) fn sign_ins(seed: u64, users: &[Value], detections: &[Value]) -> Vec<Value> {
    let mut rng = SplitMix(seed);
    let mut log: Vec<Value> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for detection in detections {
        let Some(request) = detection["requestId"].as_str().filter(|id| !id.is_empty()) else {
            continue;
        };
        let request = request.to_ascii_lowercase();
        match at.get(&request) {
            Some(&n) => add_detection(&mut log[n], detection),
            None => {
                at.insert(request, log.len());
                log.extend(of_detection(&mut rng, detection));
            }
        }
    }
    for user in users {
        log.extend(ordinary(&mut rng, user, detections));
    }
    sort_newest_first(&mut log);
    log
}

/// Graph lists sign-ins by `createdDateTime`, descending.
pub(crate) fn sort_newest_first(log: &mut [Value]) {
    let at = |s: &Value| s["createdDateTime"].as_str().and_then(parse_iso8601);
    log.sort_by_key(|s| std::cmp::Reverse(at(s)));
}

/// Adds the sign-in a detection added while serving names, unless the log holds it already;
/// its details are seeded by its request id, so the same detection gives the same sign-in.
pub(crate) fn log_sign_in_of(log: &mut Vec<Value>, detection: &Value) {
    let Some(id) = detection["requestId"].as_str() else {
        return;
    };
    if log
        .iter()
        .any(|s| s["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
    {
        return;
    }
    let seed = id.bytes().fold(SIGN_IN_STREAM, |h, b| h.rotate_left(5) ^ u64::from(b));
    log.extend(of_detection(&mut SplitMix(seed), detection));
    sort_newest_first(log);
}

/// The sign-in a detection names (`None` for a detection of no sign-in: no `requestId`).
fn of_detection(rng: &mut SplitMix, detection: &Value) -> Option<Value> {
    let id = detection["requestId"].as_str().filter(|id| !id.is_empty())?;
    let realtime = detection["detectionTimingType"] != "offline";
    let level = detection["riskLevel"].as_str().unwrap_or("none");
    let during = if realtime { level } else { "none" };
    let mut sign_in = base(rng, detection, id, detection["correlationId"].clone());
    sign_in["location"] = detection["location"].clone();
    sign_in["ipAddress"] = detection["ipAddress"].clone();
    sign_in["riskState"] = detection["riskState"].clone();
    sign_in["riskDetail"] = detection["riskDetail"].clone();
    sign_in["riskLevelAggregated"] = json!(level);
    sign_in["riskLevelDuringSignIn"] = json!(during);
    sign_in["riskEventTypes"] = json!([detection["riskEventType"]]);
    sign_in["riskEventTypes_v2"] = json!([detection["riskEventType"]]);
    settle(&mut sign_in, during, true);
    Some(sign_in)
}

/// A second detection of the same sign-in adds its type and may raise the aggregated level.
fn add_detection(sign_in: &mut Value, detection: &Value) {
    for key in ["riskEventTypes", "riskEventTypes_v2"] {
        if let Some(types) = sign_in[key].as_array_mut() {
            if !types.contains(&detection["riskEventType"]) {
                types.push(detection["riskEventType"].clone());
            }
        }
    }
    let rank = |level: &Value| ["low", "medium", "high"].iter().position(|l| level == l);
    if rank(&detection["riskLevel"]) > rank(&sign_in["riskLevelAggregated"]) {
        sign_in["riskLevelAggregated"] = detection["riskLevel"].clone();
    }
}

/// 3 to 5 ordinary sign-ins of a user from one home city, each within a day and a half of one
/// of the user's detections (or of their last risk update, for a user without any).
fn ordinary(rng: &mut SplitMix, user: &Value, detections: &[Value]) -> Vec<Value> {
    let user_id = user["id"].as_str().unwrap_or_default();
    let anchors: Vec<u64> = detections
        .iter()
        .filter(|d| d["userId"].as_str().is_some_and(|u| u.eq_ignore_ascii_case(user_id)))
        .chain(std::iter::once(&user["riskLastUpdatedDateTime"]))
        .filter_map(|d| seconds(d.get("activityDateTime").unwrap_or(d)))
        .collect();
    let home = &CITIES[rng.index(CITIES.len())];
    let ip = format!("{}.{}", home.5, 1 + rng.below(254));
    (0..3 + rng.below(3))
        .map(|_| {
            let anchor = anchors.get(rng.index(anchors.len())).copied().unwrap_or(REFERENCE_EPOCH);
            let at = (anchor + rng.below(3 * 86_400)).saturating_sub(36 * 3600).min(REFERENCE_EPOCH);
            let subject = json!({"userId": user["id"], "userDisplayName": user["userDisplayName"],
                "userPrincipalName": user["userPrincipalName"], "activityDateTime": timestamp((at, rng.below(10_000_000) as u32))});
            let (id, correlation) = (rng.guid(), json!(rng.guid()));
            let mut sign_in = base(rng, &subject, &id, correlation);
            sign_in["ipAddress"] = json!(ip);
            sign_in["location"] = location(home);
            let failed = rng.chance(8);
            settle(&mut sign_in, if failed { "failed" } else { "none" }, false);
            sign_in
        })
        .collect()
}

fn seconds(value: &Value) -> Option<u64> {
    value.as_str().and_then(parse_iso8601).map(|(s, _)| s)
}

/// Everything but risk, place and outcome: who, when, which app, which device.
fn base(rng: &mut SplitMix, subject: &Value, id: &str, correlation_id: Value) -> Value {
    let (app_id, app, resource, resource_id) = APPS[rng.index(APPS.len())];
    let device = rng.index(USER_AGENTS.len());
    let (os, browser) = DEVICES[device];
    let managed = device == 0 && rng.chance(60);
    json!({
        "id": id,
        "createdDateTime": subject["activityDateTime"],
        "userDisplayName": subject["userDisplayName"],
        "userPrincipalName": subject["userPrincipalName"],
        "userId": subject["userId"],
        "appId": app_id,
        "appDisplayName": app,
        "ipAddress": null,
        "clientAppUsed": if device == 3 { "Mobile Apps and Desktop clients" } else { "Browser" },
        "correlationId": correlation_id,
        "conditionalAccessStatus": "notApplied",
        "isInteractive": true,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "resourceDisplayName": resource,
        "resourceId": resource_id,
        "status": {"errorCode": 0, "failureReason": null, "additionalDetails": null},
        "deviceDetail": {
            "deviceId": if managed { rng.guid() } else { String::new() },
            "displayName": if managed { json!(format!("CONTOSO-{:04X}", rng.below(0x10000))) } else { Value::Null },
            "operatingSystem": os,
            "browser": browser,
            "isCompliant": managed,
            "isManaged": managed,
            "trustType": if managed { json!("Azure AD joined") } else { Value::Null },
        },
        "location": null,
        "mfaDetail": {"authMethod": null, "authDetail": null},
        "authenticationDetails": [],
        "appliedConditionalAccessPolicies": [],
    })
}

/// The outcome Conditional Access gave: a high real-time risk is blocked (53003), a medium one
/// passes MFA, a failed password is 50126; the rest sign in with a password (and MFA when risky).
fn settle(sign_in: &mut Value, during: &str, risky: bool) {
    let (status, ca_status, mfa) = match during {
        "high" => (blocked(), "failure", false),
        "failed" => (bad_password(), "notApplied", false),
        "medium" => (success(), "success", true),
        _ => (success(), if risky { "success" } else { "notApplied" }, risky),
    };
    sign_in["status"] = status;
    sign_in["conditionalAccessStatus"] = json!(ca_status);
    sign_in["appliedConditionalAccessPolicies"] = json!([
        applied(BLOCK_POLICY, during == "high", "Block"),
        applied(MFA_POLICY, mfa, "Mfa"),
    ]);
    let at = sign_in["createdDateTime"].clone();
    let mut steps = vec![
        json!({"authenticationStepDateTime": at, "authenticationMethod": "Password",
        "authenticationMethodDetail": "Password in the cloud", "succeeded": during != "failed",
        "authenticationStepResultDetail": if during == "failed" { "Invalid username or password or Invalid on-premise username or password." } else { "Correct password" },
        "authenticationStepRequirement": "Primary authentication"}),
    ];
    if mfa {
        sign_in["mfaDetail"] = json!({"authMethod": "Mobile app notification", "authDetail": null});
        steps.push(json!({"authenticationStepDateTime": at, "authenticationMethod": "Mobile app notification",
            "authenticationMethodDetail": null, "succeeded": true, "authenticationStepResultDetail": "MFA successfully completed",
            "authenticationStepRequirement": "Multifactor authentication"}));
    }
    sign_in["authenticationDetails"] = json!(steps);
}

/// One appliedConditionalAccessPolicy: enforced (with `control`) or not applied.
fn applied((id, name): (&str, &str), enforced: bool, control: &str) -> Value {
    let (controls, result) = match (enforced, control) {
        (true, "Block") => (json!([control]), "failure"),
        (true, _) => (json!([control]), "success"),
        (false, _) => (json!([]), "notApplied"),
    };
    json!({"id": id, "displayName": name, "enforcedGrantControls": controls,
        "enforcedSessionControls": [], "result": result})
}

fn success() -> Value {
    json!({"errorCode": 0, "failureReason": null, "additionalDetails": null})
}

fn blocked() -> Value {
    json!({"errorCode": 53003, "failureReason": "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        "additionalDetails": "Sign-in was blocked by a Conditional Access policy."})
}

fn bad_password() -> Value {
    json!({"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password.",
        "additionalDetails": "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes."})
}

fn location(city: &City) -> Value {
    json!({
        "city": city.0,
        "state": city.1,
        "countryOrRegion": city.2,
        "geoCoordinates": {"altitude": null, "latitude": city.3, "longitude": city.4},
    })
}

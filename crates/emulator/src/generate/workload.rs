//! Workload identities: risky service principals, their history and their risk detections,
//! generated from a seed of their own, so adding them leaves the generated users and user
//! detections exactly as they were.

use serde_json::{Value, json};

use super::{LEVELS, REFERENCE_EPOCH, SplitMix, WINDOW_SECONDS, timestamp};

/// The seed of the default tenant's workload identities.
pub(crate) const DEFAULT_WORKLOAD_SEED: u64 = 0x5750_4c44;
/// Mixed into a generated tenant's seed, so its workload identities are a separate stream.
pub(crate) const WORKLOAD_STREAM: u64 = 0x9e6c_63d0_676a_9a99;
/// Risky service principals and detections per tenant.
const PRINCIPALS: usize = 12;
const DETECTIONS: usize = 40;

/// Service principal names, used in order; one holds an apostrophe, as real names do.
const NAMES: [&str; 12] = [
    "Contoso Payroll Sync",
    "O'Neil Reporting Connector",
    "Fabrikam Build Agent",
    "Tailspin Backup",
    "Northwind Mailer",
    "Woodgrove Ledger API",
    "Litware Ticket Bridge",
    "Adatum HR Export",
    "Proseware Scanner",
    "Wingtip Deploy Bot",
    "Relecloud Metrics",
    "Lamna Key Rotator",
];

/// `(riskEventType, activity)` of service-principal detections.
const EVENT_TYPES: [(&str, &str); 6] = [
    ("investigationsThreatIntelligence", "servicePrincipal"),
    ("suspiciousSignins", "signin"),
    ("leakedCredentials", "servicePrincipal"),
    ("anomalousServicePrincipalActivity", "servicePrincipal"),
    ("maliciousApplication", "servicePrincipal"),
    ("suspiciousApplication", "servicePrincipal"),
];

/// `(riskState, riskDetail, weight)`: most are open, some resolved by an admin.
const OUTCOMES: [(&str, &str, u64); 3] = [
    ("atRisk", "none", 70),
    ("confirmedCompromised", "adminConfirmedServicePrincipalCompromised", 15),
    ("dismissed", "adminDismissedAllRiskForServicePrincipal", 15),
];

/// A tenant's workload identities in Graph's shapes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Workload {
    /// riskyServicePrincipal objects.
    pub principals: Vec<Value>,
    /// riskyServicePrincipalHistoryItem objects.
    pub history: Vec<Value>,
    /// servicePrincipalRiskDetection objects, oldest detection first.
    pub detections: Vec<Value>,
}

impl Workload {
    /// The workload identities of `seed` (the same seed gives the same ones).
    pub fn generated(seed: u64) -> Workload {
        let mut rng = SplitMix(seed);
        let mut principals: Vec<Value> = NAMES.iter().take(PRINCIPALS).map(|n| principal(&mut rng, n)).collect();
        let mut detections: Vec<Value> = (0..DETECTIONS)
            .map(|_| {
                let owner = rng.index(principals.len());
                detection(&mut rng, &principals[owner])
            })
            .collect();
        detections.sort_by(|a, b| a["detectedDateTime"].as_str().cmp(&b["detectedDateTime"].as_str()));
        for principal in &mut principals {
            settle(principal, &detections);
        }
        let history = principals
            .iter()
            .flat_map(|p| history(&mut rng, p, &detections))
            .collect();
        Workload {
            principals,
            history,
            detections,
        }
    }
}

fn principal(rng: &mut SplitMix, name: &str) -> Value {
    let (state, detail, _) = rng.weighted(&OUTCOMES, |o| o.2);
    let kind = if rng.chance(25) {
        "ManagedIdentity"
    } else {
        "Application"
    };
    json!({
        "id": rng.guid(),
        "appId": rng.guid(),
        "displayName": name,
        "isEnabled": !rng.chance(10),
        "isProcessing": false,
        "riskLastUpdatedDateTime": Value::Null,
        "riskLevel": "none",
        "riskState": state,
        "riskDetail": detail,
        "servicePrincipalType": kind,
    })
}

fn detection(rng: &mut SplitMix, principal: &Value) -> Value {
    let (event_type, activity) = EVENT_TYPES[rng.index(EVENT_TYPES.len())];
    let activity_at = REFERENCE_EPOCH - WINDOW_SECONDS + rng.below(WINDOW_SECONDS - 86_400);
    let detected = (activity_at + 600 + rng.below(20 * 3600), rng.below(10_000_000) as u32);
    let signin = activity == "signin";
    let key_ids: Vec<String> = if event_type == "leakedCredentials" {
        vec![rng.guid()]
    } else {
        Vec::new()
    };
    json!({
        "id": rng.guid(),
        "requestId": signin.then(|| rng.guid()),
        "correlationId": signin.then(|| rng.guid()),
        "riskEventType": event_type,
        "riskState": principal["riskState"],
        "riskLevel": LEVELS[rng.index(LEVELS.len())],
        "riskDetail": principal["riskDetail"],
        "source": "IdentityProtection",
        "detectionTimingType": "offline",
        "activity": activity,
        "tokenIssuerType": "AzureAD",
        "ipAddress": signin.then(|| format!("203.0.113.{}", 1 + rng.below(254))),
        "location": if signin { json!({"city": "Redmond", "state": "Washington", "countryOrRegion": "US"}) } else { Value::Null },
        "activityDateTime": timestamp((activity_at, 0)),
        "detectedDateTime": timestamp(detected),
        "lastUpdatedDateTime": timestamp(detected),
        "servicePrincipalId": principal["id"],
        "servicePrincipalDisplayName": principal["displayName"],
        "appId": principal["appId"],
        "keyIds": key_ids,
        "additionalInfo": json!([{"Key": "riskReasons", "Value": [event_type]}]).to_string(),
    })
}

/// A principal's level and update time follow its detections (the highest level, the latest
/// time); a principal without any keeps a time of its own and low risk.
fn settle(principal: &mut Value, detections: &[Value]) {
    let own: Vec<&Value> = detections
        .iter()
        .filter(|d| d["servicePrincipalId"] == principal["id"])
        .collect();
    let level = own
        .iter()
        .filter_map(|d| LEVELS.iter().position(|l| d["riskLevel"] == *l))
        .max()
        .map_or("low", |at| LEVELS[at]);
    let updated = own.last().map_or_else(
        || json!(timestamp((REFERENCE_EPOCH - 86_400, 0))),
        |d| d["lastUpdatedDateTime"].clone(),
    );
    let resolved_level = match principal["riskState"].as_str() {
        Some("confirmedCompromised") => "high",
        Some("dismissed") => "none",
        _ => level,
    };
    principal["riskLevel"] = json!(resolved_level);
    principal["riskLastUpdatedDateTime"] = updated;
}

/// Identity Protection raising the risk, then (for resolved principals) the admin's action.
fn history(rng: &mut SplitMix, principal: &Value, detections: &[Value]) -> Vec<Value> {
    let types: Vec<&str> = detections
        .iter()
        .filter(|d| d["servicePrincipalId"] == principal["id"])
        .filter_map(|d| d["riskEventType"].as_str())
        .take(3)
        .collect();
    let mut raised = principal.clone();
    raised["riskState"] = json!("atRisk");
    raised["riskDetail"] = json!("none");
    if principal["riskState"] != "atRisk" {
        raised["riskLevel"] = json!("medium");
    }
    let analyst = super::SignedInUser::default().object_id;
    let mut items = vec![history_item(&raised, &rng.guid(), None, &types)];
    if principal["riskState"] != "atRisk" {
        items.push(history_item(principal, &rng.guid(), Some(&analyst), &[]));
    }
    items
}

/// A riskyServicePrincipalHistoryItem: the principal's fields as they are now, plus
/// `servicePrincipalId`, `initiatedBy` (`None` for Identity Protection) and `activity`.
pub(crate) fn history_item(principal: &Value, id: &str, initiated_by: Option<&str>, event_types: &[&str]) -> Value {
    let mut item = principal.as_object().cloned().unwrap_or_default();
    let principal_id = item.get("id").cloned().unwrap_or(Value::Null);
    let detail = item.get("riskDetail").cloned().unwrap_or(Value::Null);
    item.insert("id".into(), json!(id));
    item.insert("servicePrincipalId".into(), principal_id);
    item.insert("initiatedBy".into(), json!(initiated_by));
    item.insert(
        "activity".into(),
        json!({"detail": detail, "riskEventTypes": event_types}),
    );
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let a = Workload::generated(1);
        assert_eq!(a.principals, Workload::generated(1).principals);
        assert_eq!(a.detections, Workload::generated(1).detections);
        assert_ne!(a.principals, Workload::generated(2).principals);
        assert_eq!((a.principals.len(), a.detections.len()), (PRINCIPALS, DETECTIONS));
    }

    #[test]
    fn history_ends_in_the_current_state_and_detections_follow_their_principal() {
        let workload = Workload::generated(DEFAULT_WORKLOAD_SEED);
        for principal in &workload.principals {
            let last = workload
                .history
                .iter()
                .rfind(|h| h["servicePrincipalId"] == principal["id"]);
            assert_eq!(last.map(|h| &h["riskState"]), Some(&principal["riskState"]));
        }
        for detection in &workload.detections {
            let owner = workload
                .principals
                .iter()
                .find(|p| p["id"] == detection["servicePrincipalId"]);
            assert_eq!(owner.map(|p| &p["riskState"]), Some(&detection["riskState"]));
        }
    }
}

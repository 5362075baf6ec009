use std::collections::{HashMap, HashSet};

use super::*;
use crate::wire::parse_instant;

fn distinct(items: &[Value], key: &str) -> HashSet<String> {
    items.iter().map(|item| item[key].to_string()).collect()
}

#[test]
fn the_reference_date_is_2024_06_30() {
    let nanos = parse_instant("2024-06-30T00:00:00Z").unwrap_or_default();
    assert_eq!(nanos, i128::from(REFERENCE_EPOCH) * 1_000_000_000);
}

#[test]
fn the_same_seed_gives_the_same_tenant() {
    let a = TenantConfig::generated(7, 40, 300).to_json();
    assert_eq!(a, TenantConfig::generated(7, 40, 300).to_json());
    assert_ne!(a, TenantConfig::generated(8, 40, 300).to_json());
}

#[test]
fn sizes_and_unique_ids() {
    #[rustfmt::skip]
    let cases = [(0, 0), (1, 0), (0, 5), (3, 2), (300, 3000)];
    for (users, detections) in cases {
        let config = TenantConfig::generated(1, users, detections);
        let expected_detections = if users == 0 { 0 } else { detections };
        assert_eq!(config.risky_users.len(), users);
        assert_eq!(config.risk_detections.len(), expected_detections);
        assert_eq!(distinct(&config.risky_users, "id").len(), users);
        assert_eq!(distinct(&config.risky_users, "userPrincipalName").len(), users);
        assert_eq!(distinct(&config.risk_detections, "id").len(), expected_detections);
    }
}

#[test]
fn the_default_cli_tenant_has_variety() {
    let config = TenantConfig::generated(1, 300, 3000);
    #[rustfmt::skip]
    let cases = [
        (&config.risky_users, "riskLevel", 4),
        (&config.risky_users, "riskState", 5),
        (&config.risky_users, "riskDetail", 8),
        (&config.risk_detections, "riskEventType", 12),
        (&config.risk_detections, "riskLevel", 3),
        (&config.risk_detections, "riskState", 5),
        (&config.risk_detections, "ipAddress", 300),
        (&config.risk_detections, "location", 15),
        (&config.risk_detections, "detectionTimingType", 3),
        (&config.risk_detections, "activity", 2),
    ];
    for (items, key, at_least) in cases {
        assert!(
            distinct(items, key).len() >= at_least,
            "{key}: {:?}",
            distinct(items, key)
        );
    }
}

#[test]
fn dates_lie_in_the_90_days_before_the_reference() {
    let config = TenantConfig::generated(3, 100, 1000);
    let second = 1_000_000_000_i128;
    let end = i128::from(REFERENCE_EPOCH) * second;
    let start = end - 91 * 86_400 * second;
    let dated = [
        (&config.risk_detections, "detectedDateTime"),
        (&config.risk_detections, "activityDateTime"),
        (&config.risk_detections, "lastUpdatedDateTime"),
        (&config.risky_users, "riskLastUpdatedDateTime"),
        (&config.risky_user_history, "riskLastUpdatedDateTime"),
        (&config.service_principal_risk_detections, "lastUpdatedDateTime"),
        (&config.risky_service_principals, "riskLastUpdatedDateTime"),
    ];
    for (items, key) in dated {
        for item in items.iter() {
            let at = item[key].as_str().and_then(parse_instant).unwrap_or_default();
            assert!((start..end).contains(&at), "{key}: {}", item[key]);
        }
    }
}

#[test]
fn several_detections_share_a_detected_time() {
    let config = TenantConfig::generated(1, 300, 3000);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for detection in &config.risk_detections {
        *counts.entry(detection["detectedDateTime"].to_string()).or_default() += 1;
    }
    assert!(counts.values().filter(|n| **n > 1).count() >= 10);
}

#[test]
fn histories_end_in_the_current_state() {
    let config = TenantConfig::generated(5, 120, 800);
    for user in &config.risky_users {
        let id = user["id"].as_str().unwrap_or_default();
        let items: Vec<&Value> = config.risky_user_history.iter().filter(|h| h["userId"] == id).collect();
        assert!((1..=4).contains(&items.len()), "{id}: {}", items.len());
        let last = items[items.len() - 1];
        for key in ["riskState", "riskDetail", "riskLevel", "riskLastUpdatedDateTime"] {
            assert_eq!(last[key], user[key], "{id} {key}");
        }
        let times: Vec<&str> = items
            .iter()
            .map(|h| h["riskLastUpdatedDateTime"].as_str().unwrap_or(""))
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{id}: {times:?}");
    }
}

#[test]
fn detections_follow_their_users_state() {
    let config = TenantConfig::generated(9, 80, 600);
    let users: HashMap<&str, &Value> = config
        .risky_users
        .iter()
        .map(|u| (u["id"].as_str().unwrap_or(""), u))
        .collect();
    for detection in &config.risk_detections {
        let user = users
            .get(detection["userId"].as_str().unwrap_or(""))
            .copied()
            .unwrap_or(&Value::Null);
        assert_eq!(detection["riskState"], user["riskState"]);
        assert_eq!(detection["userPrincipalName"], user["userPrincipalName"]);
        assert!(detection["detectedDateTime"].as_str() <= detection["lastUpdatedDateTime"].as_str());
    }
}

#[test]
fn every_default_detection_says_when_it_was_last_updated() {
    // A mirroring client finds changed detections by `lastUpdatedDateTime ge`: one without it
    // would never be seen again.
    let config = TenantConfig::default();
    let detections = config
        .risk_detections
        .iter()
        .chain(&config.service_principal_risk_detections);
    for detection in detections {
        let updated = detection["lastUpdatedDateTime"].as_str().and_then(parse_instant);
        let detected = detection["detectedDateTime"].as_str().and_then(parse_instant);
        assert!(updated.is_some() && updated >= detected, "{detection}");
    }
}

/// The default tenant's sign-in log: every id once, and more sign-ins than detections (each
/// sign-in detection has its sign-in, and every user signs in ordinarily too). How long building
/// it takes is the bench's business, not a test's: a timed test fails on a busy machine.
#[test]
fn the_default_cli_tenant_logs_each_sign_in_once() {
    let config = TenantConfig::generated(1, 300, 3000);
    let log: HashSet<&str> = config.sign_ins.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(log.len(), config.sign_ins.len());
    assert!(config.sign_ins.len() > 3000, "{}", config.sign_ins.len());
}

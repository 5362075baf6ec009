//! A generated tenant that looks real: hundreds of risky users and thousands of risk detections
//! spread over levels, states, details, event types, places, IPs and the 90 days before a fixed
//! reference date, with histories consistent with each user's current state. Deterministic in
//! the seed (splitmix64), so a seed names a tenant.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::conditional_access;
use super::config::{
    AppRegistration, CERTIFICATE_APP_ID, MANAGED_IDENTITY_CLIENT_ID, SignedInUser, TEST_APP_CERTIFICATE, TenantConfig,
};
use super::samples::{self, history_item};
use formats::time::iso8601_graph;

mod sign_ins;
mod workload;
use sign_ins::DEFAULT_SIGN_IN_SEED;
pub(crate) use sign_ins::{BETA_ONLY, log_sign_in_of, sign_ins};
pub(crate) use workload::{DEFAULT_WORKLOAD_SEED, Workload, history_item as principal_history_item};

/// 2024-06-30T00:00:00Z: generated dates lie in the 90 days before it, so output is reproducible.
pub(crate) const REFERENCE_EPOCH: u64 = 1_719_705_600;
const WINDOW_SECONDS: u64 = 90 * 86_400;
const LEVELS: [&str; 3] = ["low", "medium", "high"];

/// splitmix64 (Steele, Lea, Flood 2014): small, fast and good enough for test data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An item chosen with probability proportional to `weight(item)`.
    fn weighted<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u64) -> &'a T {
        let total: u64 = items.iter().map(&weight).sum();
        let mut ticket = self.below(total);
        for item in items {
            if ticket < weight(item) {
                return item;
            }
            ticket -= weight(item);
        }
        &items[items.len() - 1]
    }

    /// A version-4-shaped GUID.
    fn guid(&mut self) -> String {
        let (high, low) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0x0fff,
            (low >> 48) & 0x3fff | 0x8000,
            low & 0xffff_ffff_ffff
        )
    }
}

/// Who moved a user to their current state.
#[derive(Clone, Copy, PartialEq)]
enum Actor {
    /// Identity Protection itself (`initiatedBy` null).
    System,
    /// The user (self-remediation: `initiatedBy` is the user's id).
    User,
    /// The analyst (`initiatedBy` is the analyst's object id).
    Admin,
}

/// A user's current risk state, with how often it occurs.
struct Outcome {
    state: &'static str,
    detail: &'static str,
    /// `None`: the highest level of the user's detections.
    level: Option<&'static str>,
    actor: Actor,
    weight: u64,
}

#[rustfmt::skip]
const OUTCOMES: [Outcome; 10] = [
    Outcome { state: "atRisk", detail: "none", level: None, actor: Actor::System, weight: 45 },
    Outcome { state: "remediated", detail: "userPerformedSecuredPasswordReset", level: Some("none"), actor: Actor::User, weight: 10 },
    Outcome { state: "remediated", detail: "userPerformedSecuredPasswordChange", level: Some("none"), actor: Actor::User, weight: 6 },
    Outcome { state: "remediated", detail: "userPassedMFADrivenByRiskBasedPolicy", level: Some("none"), actor: Actor::User, weight: 6 },
    Outcome { state: "remediated", detail: "adminGeneratedTemporaryPassword", level: Some("none"), actor: Actor::Admin, weight: 3 },
    Outcome { state: "remediated", detail: "aiConfirmedSigninSafe", level: Some("none"), actor: Actor::System, weight: 3 },
    Outcome { state: "dismissed", detail: "adminDismissedAllRiskForUser", level: Some("none"), actor: Actor::Admin, weight: 14 },
    Outcome { state: "confirmedCompromised", detail: "adminConfirmedUserCompromised", level: Some("high"), actor: Actor::Admin, weight: 7 },
    Outcome { state: "confirmedSafe", detail: "adminConfirmedSigninSafe", level: Some("none"), actor: Actor::Admin, weight: 4 },
    Outcome { state: "atRisk", detail: "hidden", level: Some("hidden"), actor: Actor::System, weight: 2 },
];

/// A risk event type with its activity, timing and source.
struct EventKind {
    name: &'static str,
    signin: bool,
    timing: &'static str,
    source: &'static str,
    weight: u64,
}

#[rustfmt::skip]
const EVENT_KINDS: [EventKind; 16] = [
    EventKind { name: "unfamiliarFeatures", signin: true, timing: "realtime", source: "IdentityProtection", weight: 20 },
    EventKind { name: "anonymizedIPAddress", signin: true, timing: "realtime", source: "IdentityProtection", weight: 12 },
    EventKind { name: "unlikelyTravel", signin: true, timing: "offline", source: "IdentityProtection", weight: 10 },
    EventKind { name: "maliciousIPAddress", signin: true, timing: "offline", source: "IdentityProtection", weight: 6 },
    EventKind { name: "passwordSpray", signin: true, timing: "offline", source: "IdentityProtection", weight: 6 },
    EventKind { name: "newCountry", signin: true, timing: "offline", source: "MicrosoftCloudAppSecurity", weight: 6 },
    EventKind { name: "impossibleTravel", signin: true, timing: "offline", source: "MicrosoftCloudAppSecurity", weight: 4 },
    EventKind { name: "suspiciousBrowser", signin: true, timing: "offline", source: "IdentityProtection", weight: 4 },
    EventKind { name: "anomalousToken", signin: true, timing: "realtime", source: "IdentityProtection", weight: 4 },
    EventKind { name: "tokenIssuerAnomaly", signin: true, timing: "offline", source: "IdentityProtection", weight: 2 },
    EventKind { name: "malwareInfectedIPAddress", signin: true, timing: "offline", source: "IdentityProtection", weight: 2 },
    EventKind { name: "mcasSuspiciousInboxManipulationRules", signin: true, timing: "offline", source: "MicrosoftCloudAppSecurity", weight: 2 },
    EventKind { name: "generic", signin: true, timing: "nearRealtime", source: "IdentityProtection", weight: 3 },
    EventKind { name: "leakedCredentials", signin: false, timing: "offline", source: "IdentityProtection", weight: 8 },
    EventKind { name: "investigationsThreatIntelligence", signin: false, timing: "offline", source: "IdentityProtection", weight: 3 },
    EventKind { name: "anomalousUserActivity", signin: false, timing: "offline", source: "IdentityProtection", weight: 2 },
];

/// A sign-in location and the documentation prefix its IPv4 addresses come from.
struct City(&'static str, &'static str, &'static str, f64, f64, &'static str);

#[rustfmt::skip]
const CITIES: [City; 20] = [
    City("Seattle", "Washington", "US", 47.6062, -122.3321, "203.0.113"),
    City("New York", "New York", "US", 40.7128, -74.0060, "198.51.100"),
    City("Chicago", "Illinois", "US", 41.8781, -87.6298, "192.0.2"),
    City("Toronto", "Ontario", "CA", 43.6532, -79.3832, "203.0.113"),
    City("London", "England", "GB", 51.5072, -0.1276, "198.51.100"),
    City("Dublin", "Dublin", "IE", 53.3498, -6.2603, "192.0.2"),
    City("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, "203.0.113"),
    City("Berlin", "Berlin", "DE", 52.5200, 13.4050, "198.51.100"),
    City("Paris", "Ile-de-France", "FR", 48.8566, 2.3522, "192.0.2"),
    City("Madrid", "Madrid", "ES", 40.4168, -3.7038, "203.0.113"),
    City("Warsaw", "Mazowieckie", "PL", 52.2297, 21.0122, "198.51.100"),
    City("São Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, "192.0.2"),
    City("Mexico City", "Ciudad de Mexico", "MX", 19.4326, -99.1332, "203.0.113"),
    City("Lagos", "Lagos", "NG", 6.5244, 3.3792, "198.51.100"),
    City("Johannesburg", "Gauteng", "ZA", -26.2041, 28.0473, "192.0.2"),
    City("Mumbai", "Maharashtra", "IN", 19.0760, 72.8777, "203.0.113"),
    City("Singapore", "Singapore", "SG", 1.3521, 103.8198, "198.51.100"),
    City("Tokyo", "Tokyo", "JP", 35.6762, 139.6503, "192.0.2"),
    City("Sydney", "New South Wales", "AU", -33.8688, 151.2093, "203.0.113"),
    City("Moscow", "Moscow", "RU", 55.7558, 37.6173, "198.51.100"),
];

const FIRST_NAMES: [&str; 32] = [
    "Adele", "Alex", "Allan", "Bianca", "Carlos", "Chen", "Dana", "Diego", "Elena", "Fatima", "Grady", "Hana",
    "Isaiah", "Ivan", "Johanna", "Joni", "Kenji", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Noah", "Olga",
    "Patti", "Pradeep", "Priya", "Sofia", "Tomasz", "Yuki", "Zainab",
];

const LAST_NAMES: [&str; 32] = [
    "Vance",
    "Wilber",
    "Deyoung",
    "Pucci",
    "Mendes",
    "Wei",
    "Okafor",
    "Siciliani",
    "Petrova",
    "Haddad",
    "Archie",
    "Sato",
    "Langer",
    "Novak",
    "Lindqvist",
    "Sherman",
    "Tanaka",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Adeyemi",
    "Kowalski",
    "Fernandez",
    "Gupta",
    "Raman",
    "Rossi",
    "Nowak",
    "Yamada",
    "Bello",
];

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];

/// One generated person and where their risk stands.
struct Person {
    id: String,
    name: String,
    upn: String,
    outcome: &'static Outcome,
    deleted: bool,
    processing: bool,
}

/// One generated detection before its risk state (which follows its user) is known.
struct Event {
    user: usize,
    id: String,
    kind: &'static EventKind,
    level: &'static str,
    city: &'static City,
    ip: String,
    user_agent: &'static str,
    activity_at: u64,
    detected_at: (u64, u32),
    ids: (String, String),
}

/// Where one user's risk ended up, derived from their detections.
struct Summary {
    level: &'static str,
    peak: &'static str,
    updated_at: (u64, u32),
    event_types: Vec<&'static str>,
}

impl TenantConfig {
    /// A tenant with `users` risky users and `detections` risk detections, generated from
    /// `seed` (the same seed gives the same tenant), plus the default apps and signed-in user.
    pub fn generated(seed: u64, users: usize, detections: usize) -> TenantConfig {
        let mut rng = SplitMix(seed);
        let people = people(&mut rng, users);
        let mut events = events(&mut rng, people.len(), detections);
        share_detection_times(&mut rng, &mut events);
        events.sort_by_key(|event| event.detected_at);
        let summaries: Vec<Summary> = (0..people.len())
            .map(|u| summarise(&mut rng, &people[u], events.iter().filter(|e| e.user == u)))
            .collect();
        let analyst = SignedInUser::default().object_id;
        let workload = Workload::generated(seed ^ workload::WORKLOAD_STREAM);
        let risky_users: Vec<Value> = people.iter().zip(&summaries).map(|(p, s)| risky_user(p, s)).collect();
        let risk_detections: Vec<Value> = events
            .iter()
            .map(|e| detection(e, &people[e.user], &summaries[e.user]))
            .collect();
        TenantConfig {
            sign_ins: sign_ins(seed ^ sign_ins::SIGN_IN_STREAM, &risky_users, &risk_detections),
            risky_users,
            risk_detections,
            risky_user_history: (0..people.len())
                .flat_map(|u| history(&mut rng, &people[u], &summaries[u], &analyst))
                .collect(),
            risky_service_principals: workload.principals,
            risky_service_principal_history: workload.history,
            service_principal_risk_detections: workload.detections,
            ..TenantConfig::default()
        }
    }
}

fn people(rng: &mut SplitMix, count: usize) -> Vec<Person> {
    let mut taken = HashSet::new();
    (0..count)
        .map(|_| {
            let (first, last) = (FIRST_NAMES[rng.index(32)], LAST_NAMES[rng.index(32)]);
            let alias = unique_alias(&mut taken, &format!("{first}.{last}").to_lowercase());
            Person {
                id: rng.guid(),
                name: format!("{first} {last}"),
                upn: format!("{alias}@contoso.onmicrosoft.com"),
                outcome: rng.weighted(&OUTCOMES, |o| o.weight),
                deleted: rng.chance(1),
                processing: rng.chance(2),
            }
        })
        .collect()
}

/// `base`, or `base2`, `base3`, … if taken.
fn unique_alias(taken: &mut HashSet<String>, base: &str) -> String {
    let alias = (1..)
        .map(|n| if n == 1 { base.to_owned() } else { format!("{base}{n}") })
        .find(|alias| !taken.contains(alias))
        .unwrap_or_else(|| base.to_owned());
    taken.insert(alias.clone());
    alias
}

/// Every user gets one detection first; the rest go mostly to a few noisy users.
fn events(rng: &mut SplitMix, users: usize, count: usize) -> Vec<Event> {
    (0..count)
        .filter(|_| users > 0)
        .map(|n| {
            let user = if n < users {
                n
            } else {
                (rng.index(users) * rng.index(users)) / users
            };
            event(rng, user)
        })
        .collect()
}

fn event(rng: &mut SplitMix, user: usize) -> Event {
    let kind = rng.weighted(&EVENT_KINDS, |k| k.weight);
    let city = &CITIES[rng.index(CITIES.len())];
    let activity_at = REFERENCE_EPOCH - WINDOW_SECONDS + rng.below(WINDOW_SECONDS - 86_400);
    let delay = if kind.timing == "realtime" {
        rng.below(5)
    } else {
        600 + rng.below(20 * 3600)
    };
    Event {
        user,
        id: rng.guid(),
        kind,
        level: LEVELS[rng.weighted(&[(0, 40), (1, 35), (2, 25)], |w| w.1).0],
        city,
        ip: ip_address(rng, city),
        user_agent: USER_AGENTS[rng.index(USER_AGENTS.len())],
        activity_at,
        detected_at: (activity_at + delay, rng.below(10_000_000) as u32),
        ids: (rng.guid(), rng.guid()),
    }
}

/// Mostly IPv4 from the city's documentation prefix, sometimes IPv6 from 2001:db8::/32.
fn ip_address(rng: &mut SplitMix, city: &City) -> String {
    if rng.chance(15) {
        return format!("2001:db8:{:x}::{:x}", rng.below(0x10000), 1 + rng.below(0xfffe));
    }
    format!("{}.{}", city.5, 1 + rng.below(254))
}

/// Offline detections are processed in batches: some share the previous one's `detectedDateTime`.
fn share_detection_times(rng: &mut SplitMix, events: &mut [Event]) {
    for n in 1..events.len() {
        if rng.chance(6) {
            let shared = events[n - 1].detected_at;
            events[n].detected_at = shared;
            events[n].activity_at = events[n].activity_at.min(shared.0);
        }
    }
}

fn summarise<'a>(rng: &mut SplitMix, person: &Person, events: impl Iterator<Item = &'a Event>) -> Summary {
    let mut peak = 0;
    let mut latest = (REFERENCE_EPOCH - WINDOW_SECONDS + rng.below(WINDOW_SECONDS / 2), 0);
    let mut event_types = Vec::new();
    for event in events {
        peak = peak.max(LEVELS.iter().position(|l| *l == event.level).unwrap_or(0));
        latest = latest.max(event.detected_at);
        if !event_types.contains(&event.kind.name) {
            event_types.push(event.kind.name);
        }
    }
    let outcome = person.outcome;
    let acted_later = if outcome.actor == Actor::System {
        0
    } else {
        600 + rng.below(3 * 86_400)
    };
    // Actions after the window's end land somewhere in its last six hours instead.
    let updated = (latest.0 + acted_later).min(REFERENCE_EPOCH - 60 - rng.below(6 * 3600));
    Summary {
        level: outcome.level.unwrap_or(LEVELS[peak]),
        peak: outcome.level.filter(|l| *l == "hidden").unwrap_or(LEVELS[peak]),
        updated_at: (updated.max(latest.0), latest.1),
        event_types,
    }
}

/// Generated instants count Graph's 100 ns ticks.
fn timestamp((epoch, ticks): (u64, u32)) -> String {
    iso8601_graph((epoch, ticks.saturating_mul(100)))
}

fn risky_user(person: &Person, summary: &Summary) -> Value {
    json!({
        "id": person.id,
        "isDeleted": person.deleted,
        "isProcessing": person.processing,
        "riskLastUpdatedDateTime": timestamp(summary.updated_at),
        "riskLevel": summary.level,
        "riskState": person.outcome.state,
        "riskDetail": person.outcome.detail,
        "userDisplayName": person.name,
        "userPrincipalName": person.upn,
    })
}

/// A riskDetection: its state and detail follow its user's (as Graph's actions do).
fn detection(event: &Event, person: &Person, summary: &Summary) -> Value {
    let kind = event.kind;
    let open = person.outcome.state == "atRisk";
    let updated = if open {
        event.detected_at
    } else {
        summary.updated_at.max(event.detected_at)
    };
    json!({
        "id": event.id,
        "requestId": kind.signin.then_some(&event.ids.0),
        "correlationId": kind.signin.then_some(&event.ids.1),
        "riskEventType": kind.name,
        "riskState": person.outcome.state,
        "riskLevel": if person.outcome.detail == "hidden" { "hidden" } else { event.level },
        "riskDetail": person.outcome.detail,
        "source": kind.source,
        "detectionTimingType": kind.timing,
        "activity": if kind.signin { "signin" } else { "user" },
        "tokenIssuerType": "AzureAD",
        "ipAddress": kind.signin.then_some(&event.ip),
        "location": if kind.signin { location(event.city) } else { Value::Null },
        "activityDateTime": timestamp((event.activity_at, 0)),
        "detectedDateTime": timestamp(event.detected_at),
        "lastUpdatedDateTime": timestamp(updated),
        "userId": person.id,
        "userDisplayName": person.name,
        "userPrincipalName": person.upn,
        "additionalInfo": additional_info(event),
    })
}

fn location(city: &City) -> Value {
    json!({
        "city": city.0,
        "state": city.1,
        "countryOrRegion": city.2,
        "geoCoordinates": {"latitude": city.3, "longitude": city.4},
    })
}

/// `additionalInfo` is a JSON-encoded string of `[{"Key":…,"Value":…}]`, as Graph sends it.
fn additional_info(event: &Event) -> String {
    let info = if event.kind.signin {
        json!([{"Key": "userAgent", "Value": event.user_agent}, {"Key": "riskReasons", "Value": [event.kind.name]}])
    } else {
        json!([{"Key": "alertUrl", "Value": null}])
    };
    info.to_string()
}

/// 1–4 history items ending in the user's current state: Identity Protection raising the risk
/// step by step, then (for resolved users) the action that resolved it.
fn history(rng: &mut SplitMix, person: &Person, summary: &Summary, analyst: &str) -> Vec<Value> {
    let steps = 1 + rng.index(4);
    let resolved = person.outcome.state != "atRisk";
    let rising = if resolved { steps - 1 } else { steps };
    let user = risky_user(person, summary);
    let mut items: Vec<Value> = (0..rising)
        .map(|n| {
            let level = step_level(summary.peak, rising - 1 - n);
            let at = summary.updated_at.0.saturating_sub(((steps - 1 - n) as u64) * 86_400);
            let detail = if resolved { "none" } else { person.outcome.detail };
            let snapshot = snapshot(&user, level, "atRisk", detail, (at, summary.updated_at.1));
            let types: Vec<&str> = summary.event_types.iter().skip(n).take(2).copied().collect();
            history_item(&snapshot, &rng.guid(), None, &types)
        })
        .collect();
    if resolved {
        let initiated_by = match person.outcome.actor {
            Actor::Admin => Some(analyst),
            Actor::User => Some(person.id.as_str()),
            Actor::System => None,
        };
        items.push(history_item(&user, &rng.guid(), initiated_by, &[]));
    }
    items
}

/// The level `below` steps under `peak` (never under `low`; `hidden` stays hidden).
fn step_level(peak: &'static str, below: usize) -> &'static str {
    match LEVELS.iter().position(|l| *l == peak) {
        Some(at) => LEVELS[at.saturating_sub(below)],
        None => peak,
    }
}

fn snapshot(user: &Value, level: &str, state: &str, detail: &str, at: (u64, u32)) -> Value {
    let mut fields = user.as_object().cloned().unwrap_or_default();
    fields.insert("riskLevel".into(), json!(level));
    fields.insert("riskState".into(), json!(state));
    fields.insert("riskDetail".into(), json!(detail));
    fields.insert("riskLastUpdatedDateTime".into(), json!(timestamp(at)));
    Value::Object(fields)
}

/// The default tenant: the hand-written samples and the default workload identities. It is
/// assembled here, beside the generators, so that `config.rs` stays a module of types that
/// nothing it imports imports back.
impl Default for TenantConfig {
    fn default() -> Self {
        let workload = Workload::generated(DEFAULT_WORKLOAD_SEED);
        TenantConfig {
            tenant_id: "72f988bf-0000-4e2a-9c5d-1f0e8d7c6b5a".to_owned(),
            tenant_domain: "contoso.onmicrosoft.com".to_owned(),
            apps: vec![
                AppRegistration::public_client("4ffef4a4-601f-4393-a789-432f3f3b8470"),
                AppRegistration::confidential(
                    "3c1b2a90-7d6e-4f5a-8b9c-0d1e2f3a4b5c",
                    "emu8Q~OfflineTenantSecretValue.0123456789",
                ),
                AppRegistration::with_certificate(CERTIFICATE_APP_ID, TEST_APP_CERTIFICATE),
                AppRegistration::managed_identity(MANAGED_IDENTITY_CLIENT_ID),
            ],
            user: SignedInUser::default(),
            device_code_lifetime: 900,
            device_code_interval: 5,
            access_token_lifetime: 3599,
            rotate_refresh_tokens_strictly: false,
            p2_licence: true,
            workload_id_premium: true,
            p1_licence: true,
            risky_users: samples::risky_users(),
            risky_user_history: samples::history(&samples::risky_users()),
            risk_detections: samples::risk_detections(),
            sign_ins: sign_ins(
                DEFAULT_SIGN_IN_SEED,
                &samples::risky_users(),
                &samples::risk_detections(),
            ),
            named_locations: conditional_access::named_locations(),
            conditional_access_policies: conditional_access::policies(),
            risky_service_principals: workload.principals,
            risky_service_principal_history: workload.history,
            service_principal_risk_detections: workload.detections,
            page_cap: 1000,
            shuffle_seed: None,
            arc_key_file: None,
        }
    }
}

#[cfg(test)]
mod tests;

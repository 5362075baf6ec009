//! `fetch-incidents`: every risk detection becomes exactly one incident, in time order, however
//! late Identity Protection reports it.
//!
//! Each fetch asks for `detectedDateTime ge <the cursor's lower bound>` (50 hours behind the
//! latest detection emitted, see `cursor.rs`), reads the keys of every page, sorts by time then
//! id (Graph promises no order), drops what the cursor remembers emitting, chooses at most
//! `max_fetch`, reads those whole (`window.rs`), and remembers exactly what it emitted. Nothing
//! is skipped when many detections share a timestamp or arrive late, and nothing is emitted
//! twice. Service-principal detections, when the instance asks for them, go the same way with a
//! cursor of their own; `max_fetch` bounds both together.

mod cursor;
mod window;

use super::Arguments;
use super::CommandOutput;
use crate::config::{FetchSettings, MirrorSettings};
use crate::error::Error;
use crate::graph::picking;
use crate::output::{Entry, Incident};
use crate::session::Session;
use crate::time::{iso8601_graph, iso8601_micros, parse_since};
use cursor::Cursor;
use cursor::LATEST;
use serde_json::{Map, Value, json};
use window::{Candidate, MAX_FETCH_BYTES, Source, text};

/// Where service-principal detections keep their cursor in `last_run`: an object of the same
/// keys, beside the user detections' ones.
pub const SERVICE_PRINCIPALS: &str = "service_principals";
/// Where risky users keep theirs.
pub const RISKY_USERS: &str = "risky_users";

/// The rawJSON member that says which kind of object an incident comes from: the pack's
/// classifier keys on it, since the three Graph resources share no member that tells them apart.
pub const OBJECT_TYPE: &str = "entra_object_type";

/// Which kind of object an incident comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    ServicePrincipal,
    RiskyUser,
}

impl Kind {
    /// The value of [`OBJECT_TYPE`]: the Graph resource's name.
    pub fn object_type(self) -> &'static str {
        match self {
            Kind::User => "riskDetection",
            Kind::ServicePrincipal => "servicePrincipalRiskDetection",
            Kind::RiskyUser => "riskyUser",
        }
    }

    /// The collection below the Graph root.
    pub fn path(self) -> &'static str {
        match self {
            Kind::User => "identityProtection/riskDetections",
            Kind::ServicePrincipal => "identityProtection/servicePrincipalRiskDetections",
            Kind::RiskyUser => "identityProtection/riskyUsers",
        }
    }

    /// The member that tells when the object last changed.
    pub fn updated(self) -> &'static str {
        match self {
            Kind::User | Kind::ServicePrincipal => "lastUpdatedDateTime",
            Kind::RiskyUser => "riskLastUpdatedDateTime",
        }
    }

    /// Where its cursor sits in `last_run` (user detections: at the top, as always).
    fn cursor_key(self) -> Option<&'static str> {
        match self {
            Kind::User => None,
            Kind::ServicePrincipal => Some(SERVICE_PRINCIPALS),
            Kind::RiskyUser => Some(RISKY_USERS),
        }
    }

    fn fetched(self, settings: &FetchSettings) -> bool {
        match self {
            Kind::User => true,
            Kind::ServicePrincipal => settings.service_principals,
            Kind::RiskyUser => settings.risky_users,
        }
    }
}

/// A member's string (`""` when missing or not a string), for the mirroring commands too.
pub(super) use window::text as member_text;

/// The risk states that make a risky user an incident.
const AT_RISK: [&str; 2] = ["atRisk", "confirmedCompromised"];

/// Fetches new risk detections as incidents: user detections and, when the instance asks for
/// them, service-principal detections and risky users, at most `max_fetch` of all together, in
/// time order.
pub fn fetch(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    let settings = session.config.fetch_settings()?;
    let last_run = session.last_run.clone().unwrap_or_default();
    let mut warnings = Vec::new();
    let mut found = Vec::new();
    let user_ids: Vec<(&str, String)> = settings
        .users
        .iter()
        .map(|(property, value)| (if *property == "userId" { "id" } else { *property }, value.clone()))
        .collect();
    let at_risk: Vec<(&str, String)> = AT_RISK.iter().map(|state| ("riskState", state.to_string())).collect();
    for kind in [Kind::User, Kind::ServicePrincipal, Kind::RiskyUser] {
        if !kind.fetched(&settings) {
            continue;
        }
        let stored = match kind.cursor_key() {
            None => Some(&last_run),
            Some(key) => last_run.get(key).and_then(Value::as_object),
        };
        let (cursor, warning) = read_cursor(stored, &settings, session.now())?;
        warnings.extend(warning);
        let source = match kind {
            Kind::User => Source {
                path: kind.path(),
                action: "Fetching risk detections",
                time: "detectedDateTime",
                keys: "id,detectedDateTime",
                filter: settings.filter.as_deref(),
                users: &settings.users,
                states: &[],
                per_update: false,
            },
            Kind::ServicePrincipal => Source {
                path: kind.path(),
                action: "Fetching service principal risk detections",
                time: "detectedDateTime",
                keys: "id,detectedDateTime",
                filter: None,
                users: &[],
                states: &[],
                per_update: false,
            },
            Kind::RiskyUser => Source {
                path: kind.path(),
                action: "Fetching risky users",
                time: "riskLastUpdatedDateTime",
                keys: "id,riskLastUpdatedDateTime",
                filter: None,
                users: &user_ids,
                states: &at_risk,
                per_update: true,
            },
        };
        let candidates = window::read(session, &source, &cursor, settings.max_fetch)?;
        found.push((kind, cursor, candidates));
    }
    let mut cursors: Vec<(Kind, Cursor)> = Vec::new();
    let mut candidates = Vec::new();
    for (kind, cursor, found) in found {
        cursors.push((kind, cursor));
        candidates.push((kind, found));
    }
    let emitted = earliest(candidates, settings.max_fetch);
    let mut next_run = Map::new();
    let mut next_from = None;
    for (kind, cursor) in &cursors {
        let of_kind = emitted
            .iter()
            .filter(|(_, k)| k == kind)
            .map(|(c, _)| (c.id.as_str(), c.instant));
        let advanced = cursor.advance(of_kind);
        match kind.cursor_key() {
            None => {
                next_from = Some(advanced.lower_bound());
                next_run.extend(advanced.to_map());
            }
            Some(key) => {
                next_run.insert(key.into(), Value::Object(advanced.to_map()));
            }
        }
    }
    // A kind switched off keeps its cursor, so switching it back on goes on from where it stopped.
    for key in [SERVICE_PRINCIPALS, RISKY_USERS] {
        if let (false, Some(stored)) = (next_run.contains_key(key), last_run.get(key)) {
            next_run.insert(key.into(), stored.clone());
        }
    }
    let counts = [Kind::User, Kind::RiskyUser, Kind::ServicePrincipal]
        .map(|kind| (kind, emitted.iter().filter(|(_, k)| *k == kind).count()));
    let marks = Marks::new(settings.mirror, session.instance_name.as_deref());
    let now = session.now();
    let incidents: Vec<Incident> = emitted
        .into_iter()
        .map(|(c, kind)| incident(c, kind, &marks, now))
        .collect();
    let mut entries: Vec<Entry> = warnings.into_iter().map(Entry::warning).collect();
    entries.push(summary(&counts, next_from, &next_run));
    Ok(CommandOutput {
        entries,
        incidents: Some(incidents),
        last_run: Some(next_run),
        ..CommandOutput::default()
    })
}

/// The `limit` earliest of all kinds together, in time order, at most [`MAX_FETCH_BYTES`] of
/// them (at least one). Each kind keeps a prefix of its own order, so each cursor advances past
/// exactly what was emitted and nothing is lost.
fn earliest(found: Vec<(Kind, Vec<Candidate>)>, limit: usize) -> Vec<(Candidate, Kind)> {
    let mut all: Vec<(Candidate, Kind)> = found
        .into_iter()
        .flat_map(|(kind, candidates)| candidates.into_iter().map(move |c| (c, kind)))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bytes = 0usize;
    let within_budget = all
        .iter()
        .take_while(|(c, _)| {
            bytes = bytes.saturating_add(c.detection.len());
            bytes <= MAX_FETCH_BYTES
        })
        .count();
    all.truncate(limit.min(within_budget.max(1)));
    all
}

/// The cursor from `last_run`, or the first-fetch time. An unreadable cursor restarts from the
/// first-fetch time with a warning rather than blocking every later fetch.
fn read_cursor(
    last_run: Option<&Map<String, Value>>,
    settings: &FetchSettings,
    now: u64,
) -> Result<(Cursor, Option<String>), Error> {
    if let Some(cursor) = last_run.and_then(Cursor::from_last_run) {
        return Ok((cursor, None));
    }
    let stored = last_run.and_then(|run| run.get(LATEST));
    let warning = stored.map(|s| {
        format!(
            "The stored fetch cursor `{}` is not a date; fetching from first_fetch instead.",
            crate::markdown::escape_markdown(&s.to_string())
        )
    });
    let since = parse_since(&settings.first_fetch, now).ok_or_else(|| {
        Error::parameter(
            "first_fetch",
            "expected a time such as `3 days`, `12 hours`, `2 weeks` or an ISO date like 2024-05-01.",
        )
    })?;
    Ok((Cursor::starting_at((since, 0)), warning))
}

/// What every incident carries for mirroring: the direction and instance, on the incident for
/// XSOAR and in its rawJSON for the pack's incoming mapper (XSOAR's documented pattern).
pub struct Marks<'a> {
    direction: Option<&'static str>,
    instance: Option<&'a str>,
    /// The members added to each kind's rawJSON, as JSON text, written once per fetch.
    added: [String; 3],
}

impl<'a> Marks<'a> {
    pub fn new(mirror: MirrorSettings, instance: Option<&'a str>) -> Self {
        let added = [Kind::User, Kind::ServicePrincipal, Kind::RiskyUser].map(|kind| {
            json!({
                OBJECT_TYPE: kind.object_type(),
                "mirror_direction": mirror.direction,
                "mirror_instance": instance,
            })
            .to_string()
        });
        Marks {
            direction: mirror.direction,
            instance,
            added,
        }
    }

    /// `object` (a JSON object's text, as Graph sent it) with the members the pack reads added
    /// at its end: [`OBJECT_TYPE`], `mirror_direction` and `mirror_instance`. Added last, they
    /// win over any member of the same name Graph sent, as JSON readers keep the last one.
    pub fn raw_json(&self, object: &str, kind: Kind) -> String {
        let added = match kind {
            Kind::User => &self.added[0],
            Kind::ServicePrincipal => &self.added[1],
            Kind::RiskyUser => &self.added[2],
        };
        crate::json_text::with_members(object, added)
    }
}

/// The members an incident is named and described from.
const DESCRIBED_BY: [&str; 5] = [
    "riskLevel",
    "riskEventType",
    "riskDetail",
    "userPrincipalName",
    "ipAddress",
];
const PRINCIPAL_DESCRIBED_BY: [&str; 5] = [
    "riskLevel",
    "riskEventType",
    "riskDetail",
    "servicePrincipalDisplayName",
    "appId",
];
const USER_DESCRIBED_BY: [&str; 5] = ["riskLevel", "riskState", "riskDetail", "userPrincipalName", "id"];

/// XSOAR's severity for a Graph `riskLevel`: low 1, medium 2, high 3, anything else unknown (0).
pub fn severity(level: &str) -> u8 {
    match level {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 0,
    }
}

fn incident(candidate: Candidate, kind: Kind, marks: &Marks, now: u64) -> Incident {
    let raw = candidate.detection.as_str();
    let described_by = match kind {
        Kind::User => &DESCRIBED_BY,
        Kind::ServicePrincipal => &PRINCIPAL_DESCRIBED_BY,
        Kind::RiskyUser => &USER_DESCRIBED_BY,
    };
    let [level, what, detail, who, whence] = picking::members(raw, described_by).map(text);
    let (name, details, mirror_id) = match kind {
        Kind::User => (
            format!("Azure AD: {} {what} {detail}", candidate.id),
            format!("{level} risk ({what}) for {who} from {whence}"),
            candidate.id.clone(),
        ),
        Kind::ServicePrincipal => (
            format!("Azure AD workload identity: {} {what} {detail}", candidate.id),
            format!("{level} risk ({what}) for service principal {who} (app {whence})"),
            candidate.id.clone(),
        ),
        Kind::RiskyUser => (
            format!("Azure AD risky user: {who} {level} risk"),
            format!("{level} risk ({what}, {detail}) for user {who}"),
            whence.to_string(),
        ),
    };
    Incident {
        name,
        occurred: iso8601_micros(candidate.instant.unwrap_or((now, 0))),
        severity: severity(&level),
        details,
        raw_json: marks.raw_json(raw, kind),
        dbot_mirror_id: mirror_id,
        dbot_mirror_direction: marks.direction,
        dbot_mirror_instance: marks.direction.and(marks.instance.map(str::to_string)),
    }
}

/// What the fetch did, per kind, and what the next one asks for: detections from 50 hours
/// before the latest one fetched (late reports), skipping those already fetched.
fn summary(counts: &[(Kind, usize)], next_from: Option<crate::time::Instant>, last_run: &Map<String, Value>) -> Entry {
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| match kind {
            Kind::User => plural(*n, "risk detection", "risk detections"),
            Kind::RiskyUser => plural(*n, "risky user", "risky users"),
            Kind::ServicePrincipal => plural(
                *n,
                "service principal risk detection",
                "service principal risk detections",
            ),
        })
        .collect();
    let what = match parts.is_empty() {
        true => String::new(),
        false => format!(" ({})", parts.join(", ")),
    };
    let mut markdown = format!("Fetched {}{what}.", plural(total, "new incident", "new incidents"));
    if let Some(from) = next_from {
        markdown.push_str(&format!(
            " The next fetch asks for detections from {} on (50 hours before the latest one fetched, for those Identity Protection reports late) and skips those already fetched.",
            iso8601_graph(from)
        ));
    }
    Entry::json(json!({"incidents": total, "last_run": last_run}), markdown)
}

#[cfg(test)]
mod tests {
    use super::window::{KEY_MEMBERS, Selection};
    use super::*;
    use crate::graph::picking::Picked;
    use crate::time::parse_iso8601;
    use serde_json::value::RawValue;

    /// Detections not emitted before, each once, in time order: all of them.
    fn new_detections(items: Vec<Value>, cursor: &Cursor) -> Vec<Candidate> {
        let items: Vec<Box<RawValue>> = items
            .iter()
            .map(|d| serde_json::value::to_raw_value(d).unwrap())
            .collect();
        let page: Vec<Picked<'_, 2>> = items
            .iter()
            .map(|item| Picked {
                text: item.get(),
                members: crate::graph::picking::members(item.get(), &KEY_MEMBERS),
            })
            .collect();
        let mut selection = Selection::new(usize::MAX, false);
        selection.offer_all(&page, cursor);
        selection.into_sorted()
    }

    fn detection(id: &str, at: Option<&str>) -> Value {
        match at {
            Some(at) => json!({"id": id, "detectedDateTime": at, "riskLevel": "high"}),
            None => json!({"id": id}),
        }
    }

    /// A cursor as an earlier fetch left it: with the ids at its instant, or Python-era without.
    fn cursor(latest: &str, ids: Option<&[&str]>) -> Cursor {
        let mut last_run = json!({LATEST: latest});
        if let Some(ids) = ids {
            last_run["ids_at_latest_detection"] = json!(ids);
        }
        Cursor::from_last_run(last_run.as_object().unwrap()).unwrap()
    }

    fn advanced(cursor: &Cursor, emitted: &[Candidate]) -> Cursor {
        cursor.advance(emitted.iter().map(|c| (c.id.as_str(), c.instant)))
    }

    fn ids(candidates: &[Candidate]) -> Vec<&str> {
        candidates.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn order_dedupe_and_boundary() {
        let items = vec![
            detection("c", Some("2021-07-17T14:09:54Z")),
            detection("a", Some("2021-07-17T14:09:54.0000000Z")),
            detection("old", Some("2021-07-17T14:09:53Z")),
            detection("b", Some("2021-07-17T14:09:54Z")),
            detection("z", Some("2021-07-17T14:09:55Z")),
            detection("b", Some("2021-07-17T14:09:54Z")),
            detection("u", None),
        ];
        let fresh = new_detections(items.clone(), &cursor("2021-07-17T14:09:54Z", Some(&["a"])));
        assert_eq!(ids(&fresh), ["u", "b", "c", "z"]);
        let python = new_detections(items, &cursor("2021-07-17T14:09:54Z", None));
        assert_eq!(
            ids(&python),
            ["u", "z"],
            "a Python cursor used gt: the boundary was emitted"
        );
    }

    #[test]
    fn advance_moves_exactly_to_what_was_emitted() {
        let start = cursor("2021-07-17T14:09:54Z", Some(&["a"]));
        let items = vec![
            detection("b", Some("2021-07-17T14:09:54Z")),
            detection("c", Some("2021-07-17T14:09:55.5Z")),
            detection("d", Some("2021-07-17T14:09:55.5Z")),
        ];
        let fresh = new_detections(items, &start);
        let after_two = advanced(&start, &fresh[..2]).to_map();
        assert_eq!(after_two[LATEST], "2021-07-17T14:09:55.5000000Z");
        assert_eq!(after_two["ids_at_latest_detection"], json!(["c"]));
        let after_one = advanced(&start, &fresh[..1]).to_map();
        assert_eq!(after_one["ids_at_latest_detection"], json!(["a", "b"]));
        assert_eq!(advanced(&start, &[]), start);
    }

    #[test]
    fn incidents() {
        let candidate = Candidate {
            instant: parse_iso8601("2021-04-25T09:00:40.7780969Z"),
            id: "37".into(),
            detection: json!({"id": "37", "riskEventType": "newCountry", "riskDetail": "none", "riskLevel": "medium"})
                .to_string(),
        };
        let detection = candidate.detection.clone();
        let off = MirrorSettings {
            direction: None,
            close_incident: false,
            close_out: false,
        };
        let incident = incident(candidate, Kind::User, &Marks::new(off, Some("inst")), 0);
        assert_eq!(incident.name, "Azure AD: 37 newCountry none");
        assert_eq!(incident.occurred, "2021-04-25T09:00:40.778096Z");
        assert_eq!((incident.severity, incident.dbot_mirror_id.as_str()), (2, "37"));
        let mut expected = serde_json::from_str::<Value>(&detection).unwrap();
        expected[OBJECT_TYPE] = json!("riskDetection");
        expected["mirror_direction"] = Value::Null;
        expected["mirror_instance"] = json!("inst");
        assert_eq!(serde_json::from_str::<Value>(&incident.raw_json).unwrap(), expected);
        assert!(
            incident.raw_json.starts_with(detection.trim_end_matches('}')),
            "Graph's text is kept"
        );
        assert_eq!(incident.details, "medium risk (newCountry) for  from ");
        assert_eq!(
            (incident.dbot_mirror_direction, incident.dbot_mirror_instance),
            (None, None)
        );
    }

    #[test]
    fn a_risky_user_is_one_incident_per_update_named_by_its_user() {
        let user = json!({"id": "u1", "userPrincipalName": "ann@contoso.com", "riskLevel": "high",
            "riskState": "atRisk", "riskDetail": "none", "riskLastUpdatedDateTime": "2024-06-01T10:00:00Z"});
        let both = MirrorSettings {
            direction: Some("Both"),
            close_incident: true,
            close_out: true,
        };
        let candidate = Candidate {
            instant: parse_iso8601("2024-06-01T10:00:00Z"),
            id: "u1@2024-06-01T10:00:00.0000000Z".into(),
            detection: user.to_string(),
        };
        let incident = incident(candidate, Kind::RiskyUser, &Marks::new(both, Some("Entra (prod)")), 0);
        assert_eq!(incident.name, "Azure AD risky user: ann@contoso.com high risk");
        assert_eq!(incident.details, "high risk (atRisk, none) for user ann@contoso.com");
        assert_eq!((incident.severity, incident.dbot_mirror_id.as_str()), (3, "u1"));
        assert_eq!(incident.occurred, "2024-06-01T10:00:00.000000Z");
        assert_eq!(
            (incident.dbot_mirror_direction, incident.dbot_mirror_instance.as_deref()),
            (Some("Both"), Some("Entra (prod)"))
        );
        let raw: Value = serde_json::from_str(&incident.raw_json).unwrap();
        assert_eq!(
            (&raw[OBJECT_TYPE], &raw["mirror_direction"], &raw["mirror_instance"]),
            (&json!("riskyUser"), &json!("Both"), &json!("Entra (prod)"))
        );
    }
}

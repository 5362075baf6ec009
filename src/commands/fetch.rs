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
use crate::config::FetchSettings;
use crate::error::Error;
use crate::graph::picking;
use crate::output::{Entry, Incident};
use crate::session::Session;
use crate::time::{iso8601_graph, iso8601_micros, parse_since};
use cursor::Cursor;
use cursor::LATEST;
use serde_json::{Map, Value, json};
use window::{Candidate, MAX_FETCH_BYTES, Source, text};

/// The members an incident is named and described from.
const DESCRIBED_BY: [&str; 5] = [
    "riskLevel",
    "riskEventType",
    "riskDetail",
    "userPrincipalName",
    "ipAddress",
];

/// Where service-principal detections keep their cursor in `last_run`: an object of the same
/// keys, beside the user detections' ones.
pub const SERVICE_PRINCIPALS: &str = "service_principals";

/// Which kind of detection an incident comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    ServicePrincipal,
}

/// Fetches new risk detections as incidents: user detections and, when the instance asks for
/// them, service-principal ones, at most `max_fetch` of both together, in time order.
pub fn fetch(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    let settings = session.config.fetch_settings()?;
    let last_run = session.last_run.clone();
    let (cursor, warning) = read_cursor(last_run.as_ref(), &settings, session.now())?;
    let source = Source {
        path: "identityProtection/riskDetections",
        action: "Fetching risk detections",
        filter: settings.filter.as_deref(),
        users: &settings.users,
    };
    let users = window::read(session, &source, &cursor, settings.max_fetch)?;
    let stored = last_run.as_ref().and_then(|run| run.get(SERVICE_PRINCIPALS));
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let workload = match settings.service_principals {
        true => Some(fetch_principals(session, &settings, stored, &mut warnings)?),
        false => None,
    };
    let (principal_cursor, principals) = workload.unzip();
    let emitted = earliest(users, principals.unwrap_or_default(), settings.max_fetch);
    let of = |kind: Kind| {
        emitted
            .iter()
            .filter(move |(_, k)| *k == kind)
            .map(|(c, _)| (c.id.as_str(), c.instant))
    };
    let next = cursor.advance(of(Kind::User));
    let mut next_run = next.to_map();
    match principal_cursor.map(|c| c.advance(of(Kind::ServicePrincipal))) {
        Some(advanced) => next_run.insert(SERVICE_PRINCIPALS.into(), Value::Object(advanced.to_map())),
        // Kept while switched off, so switching back on goes on from where it stopped.
        None => stored.and_then(|s| next_run.insert(SERVICE_PRINCIPALS.into(), s.clone())),
    };
    let now = session.now();
    let incidents: Vec<Incident> = emitted.into_iter().map(|(c, kind)| incident(c, kind, now)).collect();
    let mut entries: Vec<Entry> = warnings.into_iter().map(Entry::warning).collect();
    entries.push(summary(&incidents, &next, &next_run));
    Ok(CommandOutput {
        entries,
        incidents: Some(incidents),
        last_run: Some(next_run),
        ..CommandOutput::default()
    })
}

/// The service-principal detections not emitted before (at most `max_fetch`), and their cursor.
fn fetch_principals(
    session: &mut Session,
    settings: &FetchSettings,
    stored: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<(Cursor, Vec<Candidate>), Error> {
    let stored = stored.and_then(Value::as_object);
    let (cursor, warning) = read_cursor(stored, settings, session.now())?;
    warnings.extend(warning);
    let source = Source {
        path: "identityProtection/servicePrincipalRiskDetections",
        action: "Fetching service principal risk detections",
        filter: None,
        users: &[],
    };
    let found = window::read(session, &source, &cursor, settings.max_fetch)?;
    Ok((cursor, found))
}

/// The `limit` earliest of both kinds together, in time order, at most [`MAX_FETCH_BYTES`] of
/// them (at least one). Each kind keeps a prefix of its own order, so each cursor advances past
/// exactly what was emitted and nothing is lost.
fn earliest(users: Vec<Candidate>, principals: Vec<Candidate>, limit: usize) -> Vec<(Candidate, Kind)> {
    let users = users.into_iter().map(|c| (c, Kind::User));
    let principals = principals.into_iter().map(|c| (c, Kind::ServicePrincipal));
    let mut all: Vec<(Candidate, Kind)> = users.chain(principals).collect();
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

/// The members a service-principal incident is named and described from.
const PRINCIPAL_DESCRIBED_BY: [&str; 5] = [
    "riskLevel",
    "riskEventType",
    "riskDetail",
    "servicePrincipalDisplayName",
    "appId",
];

fn incident(candidate: Candidate, kind: Kind, now: u64) -> Incident {
    let raw = candidate.detection.as_str();
    let members = match kind {
        Kind::User => picking::members(raw, &DESCRIBED_BY),
        Kind::ServicePrincipal => picking::members(raw, &PRINCIPAL_DESCRIBED_BY),
    };
    let [level, event, detail, who, whence] = members.map(text);
    let (name, details) = match kind {
        Kind::User => (
            format!("Azure AD: {} {event} {detail}", candidate.id),
            format!("{level} risk ({event}) for {who} from {whence}"),
        ),
        Kind::ServicePrincipal => (
            format!("Azure AD workload identity: {} {event} {detail}", candidate.id),
            format!("{level} risk ({event}) for service principal {who} (app {whence})"),
        ),
    };
    let severity = match level.as_ref() {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 0,
    };
    Incident {
        name,
        occurred: iso8601_micros(candidate.instant.unwrap_or((now, 0))),
        severity,
        details,
        raw_json: candidate.detection,
        dbot_mirror_id: candidate.id,
    }
}

fn summary(incidents: &[Incident], next: &Cursor, last_run: &Map<String, Value>) -> Entry {
    let markdown = format!(
        "Fetched {} new risk detection{}. Next fetch starts at {}.",
        incidents.len(),
        if incidents.len() == 1 { "" } else { "s" },
        iso8601_graph(next.watermark)
    );
    Entry::json(json!({"incidents": incidents.len(), "last_run": last_run}), markdown)
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
        let mut selection = Selection::new(usize::MAX);
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
        let incident = incident(candidate, Kind::User, 0);
        assert_eq!(incident.name, "Azure AD: 37 newCountry none");
        assert_eq!(incident.occurred, "2021-04-25T09:00:40.778096Z");
        assert_eq!((incident.severity, incident.dbot_mirror_id.as_str()), (2, "37"));
        assert_eq!(incident.raw_json, detection);
        assert_eq!(incident.details, "medium risk (newCountry) for  from ");
    }
}

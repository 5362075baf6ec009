//! `fetch-incidents`: every risk detection becomes exactly one incident, in time order, however
//! late Identity Protection reports it.
//!
//! Each fetch asks for `detectedDateTime ge <the cursor's lower bound>` (50 hours behind the
//! latest detection emitted, see `cursor.rs`), reads every page, sorts by time then id (Graph
//! promises no order), drops what the cursor remembers emitting, emits at most `max_fetch`, and
//! remembers exactly what it emitted. Nothing is skipped when many detections share a timestamp
//! or arrive late, and nothing is emitted twice. Service-principal detections, when the instance
//! asks for them, go the same way with a cursor of their own; `max_fetch` bounds both together.

mod cursor;

use super::Arguments;
use super::CommandOutput;
use crate::config::FetchSettings;
use crate::error::Error;
use crate::graph::odata::Filter;
use crate::graph::paging::{self, MAX_PAGE};
use crate::graph::picking::{self, Picked};
use crate::graph::query::Query;
use crate::output::{Entry, Incident};
use crate::session::Session;
use crate::time::{Instant, graph_ticks, iso8601_graph, iso8601_micros, parse_iso8601, parse_since};
use cursor::Cursor;
use cursor::LATEST;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BinaryHeap, HashSet};

/// A detection with its time, ready to sort; the detection itself stays the text Graph sent.
struct Candidate {
    instant: Option<Instant>,
    id: String,
    detection: String,
}

/// The members fetch reads of every detection to choose: its id and its time.
const KEY_MEMBERS: [&str; 2] = ["id", "detectedDateTime"];

/// The members an incident is named and described from.
const DESCRIBED_BY: [&str; 5] = [
    "riskLevel",
    "riskEventType",
    "riskDetail",
    "userPrincipalName",
    "ipAddress",
];

/// A field's string, or `""` when it is missing or not a string. A string without escapes (ids
/// and times always are) is its text between the quotes, read without a parser: the raw value
/// is already valid JSON.
fn text(field: Option<&RawValue>) -> Cow<'_, str> {
    let Some(raw) = field.map(RawValue::get).filter(|raw| raw.starts_with('"')) else {
        return Cow::Borrowed("");
    };
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(inside) if !inside.contains('\\') => Cow::Borrowed(inside),
        _ => serde_json::from_str(raw).unwrap_or_default(),
    }
}

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
    let url = first_url(session, &settings, &cursor);
    let users = select(session, &url, "Fetching risk detections", &cursor, settings.max_fetch)?;
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
    let filter = Filter::new()
        .since("detectedDateTime", Some(&iso8601_graph(cursor.lower_bound())))
        .build();
    let url = Query::at("identityProtection/servicePrincipalRiskDetections")
        .top(MAX_PAGE)
        .filter(filter)
        .url(&session.config);
    let action = "Fetching service principal risk detections";
    let found = select(session, &url, action, &cursor, settings.max_fetch)?;
    Ok((cursor, found))
}

/// Reads every page of `url` and keeps the `limit` earliest detections the cursor has not emitted.
fn select(
    session: &mut Session,
    url: &str,
    action: &str,
    cursor: &Cursor,
    limit: usize,
) -> Result<Vec<Candidate>, Error> {
    let mut selection = Selection::new(limit);
    paging::visit_all(session, url, action, &KEY_MEMBERS, |page| {
        selection.offer_all(page, cursor)
    })?;
    Ok(selection.into_sorted())
}

/// Bytes of detections one fetch hands over at most (each becomes an incident's rawJSON):
/// 1,000 real detections are about 2 MB, so only a broken or hostile Graph reaches it, and the
/// result then stays well under `output::MAX_RESULT_BYTES`. The rest comes with the next fetch.
const MAX_FETCH_BYTES: usize = 16 * 1024 * 1024;

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
            crate::output::escape_markdown(&s.to_string())
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

fn first_url(session: &Session, settings: &FetchSettings, cursor: &Cursor) -> String {
    let filter = Filter::new()
        .since("detectedDateTime", Some(&iso8601_graph(cursor.lower_bound())))
        .raw(settings.filter.as_deref())
        .any_of(&settings.users)
        .build();
    let query = Query::at("identityProtection/riskDetections")
        .top(MAX_PAGE)
        .filter(filter);
    query.url(&session.config)
}

impl Candidate {
    /// A detection's time (`None` when it has none that reads as a date) and id (a non-string
    /// id as its JSON text; `""` when it has none or is not an object).
    fn key_of<'a>(detection: &Picked<'a, 2>) -> (Option<Instant>, Cow<'a, str>) {
        let [id, detected] = detection.members;
        let instant = parse_iso8601(&text(detected)).map(graph_ticks);
        let id = match id {
            Some(id) if id.get().starts_with('"') => text(Some(id)),
            Some(id) => Cow::Owned(
                serde_json::from_str::<Value>(id.get()).map_or_else(|_| id.get().to_string(), |v| v.to_string()),
            ),
            None => Cow::Borrowed(""),
        };
        (instant, id)
    }

    /// Time order (undated first), then id.
    fn key(&self) -> (Option<Instant>, &str) {
        (self.instant, &self.id)
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The `limit` earliest detections not emitted before, each once, kept while pages stream by:
/// memory holds one page and `limit` detections of at most [`MAX_FETCH_BYTES`] together,
/// however many pages the window has and however large Graph makes them. Only a detection that
/// is kept is copied out of its page.
struct Selection {
    limit: usize,
    kept: BinaryHeap<Candidate>,
    bytes: usize,
}

impl Selection {
    fn new(limit: usize) -> Selection {
        Selection {
            limit,
            kept: BinaryHeap::new(),
            bytes: 0,
        }
    }

    /// Drops the latest kept detections while more than `limit`, or more than the byte budget
    /// (the earliest one always stays).
    fn trim(&mut self) {
        while self.kept.len() > self.limit || (self.bytes > MAX_FETCH_BYTES && self.kept.len() > 1) {
            let Some(latest) = self.kept.pop() else { return };
            self.bytes = self.bytes.saturating_sub(latest.detection.len());
        }
    }

    fn offer_all(&mut self, page: &[Picked<'_, 2>], cursor: &Cursor) {
        for detection in page {
            let (instant, id) = Candidate::key_of(detection);
            if cursor.already_emitted(&id, instant) {
                continue;
            }
            let full = self.kept.len() >= self.limit;
            if full
                && self
                    .kept
                    .peek()
                    .is_some_and(|last| (instant, id.as_ref()) >= last.key())
            {
                continue;
            }
            let id = id.into_owned();
            let detection = detection.text.to_string();
            self.bytes = self.bytes.saturating_add(detection.len());
            self.kept.push(Candidate { instant, id, detection });
            self.trim();
        }
    }

    /// The kept detections in time order, each id once (the earliest copy when Graph sent one
    /// twice; a repeat held a place, so at worst fewer than `limit` are emitted and the next
    /// fetch goes on from them).
    fn into_sorted(self) -> Vec<Candidate> {
        let mut sorted = self.kept.into_sorted_vec();
        let mut ids = HashSet::with_capacity(sorted.len());
        sorted.retain(|candidate| ids.insert(candidate.id.clone()));
        sorted
    }
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
    use super::*;

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

//! `fetch-incidents`: every risk detection becomes exactly one incident, in time order, however
//! late Identity Protection reports it.
//!
//! Each fetch asks for `detectedDateTime ge <the cursor's lower bound>` (50 hours behind the
//! latest detection emitted, see `cursor.rs`), reads every page, sorts by time then id (Graph
//! promises no order), drops what the cursor remembers emitting, emits at most `max_fetch`, and
//! remembers exactly what it emitted. Nothing is skipped when many detections share a timestamp
//! or arrive late, and nothing is emitted twice.

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

/// A field's string, or `""` when it is missing or not a string.
fn text(field: Option<&RawValue>) -> Cow<'_, str> {
    field
        .filter(|raw| raw.get().starts_with('"'))
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default()
}

/// Fetches new risk detections as incidents.
pub fn fetch(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    let settings = session.config.fetch_settings()?;
    let (cursor, warning) = read_cursor(session.last_run.as_ref(), &settings, session.now())?;
    let url = first_url(session, &settings, &cursor);
    let mut selection = Selection::new(settings.max_fetch);
    paging::visit_all(session, &url, "Fetching risk detections", &KEY_MEMBERS, |page| {
        selection.offer_all(page, &cursor)
    })?;
    let emitted = selection.into_sorted();
    let next = cursor.advance(emitted.iter().map(|c| (c.id.as_str(), c.instant)));
    let now = session.now();
    let incidents: Vec<Incident> = emitted.into_iter().map(|c| incident(c, now)).collect();
    let mut entries: Vec<Entry> = warning.into_iter().map(Entry::warning).collect();
    entries.push(summary(&incidents, &next));
    Ok(CommandOutput {
        entries,
        incidents: Some(incidents),
        last_run: Some(next.to_map()),
        ..CommandOutput::default()
    })
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
/// memory holds one page and `limit` detections, however many pages the window has. Only a
/// detection that is kept is copied out of its page.
struct Selection {
    limit: usize,
    kept: BinaryHeap<Candidate>,
}

impl Selection {
    fn new(limit: usize) -> Selection {
        Selection {
            limit,
            kept: BinaryHeap::new(),
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
            self.kept.push(Candidate { instant, id, detection });
            if self.kept.len() > self.limit {
                self.kept.pop();
            }
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

fn incident(candidate: Candidate, now: u64) -> Incident {
    let raw = candidate.detection.as_str();
    let [level, event, detail, user, ip] = picking::members(raw, &DESCRIBED_BY).map(text);
    let severity = match level.as_ref() {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 0,
    };
    Incident {
        name: format!("Azure AD: {} {event} {detail}", candidate.id),
        occurred: iso8601_micros(candidate.instant.unwrap_or((now, 0))),
        severity,
        details: format!("{level} risk ({event}) for {user} from {ip}"),
        raw_json: candidate.detection,
        dbot_mirror_id: candidate.id,
    }
}

fn summary(incidents: &[Incident], next: &Cursor) -> Entry {
    let markdown = format!(
        "Fetched {} new risk detection{}. Next fetch starts at {}.",
        incidents.len(),
        if incidents.len() == 1 { "" } else { "s" },
        iso8601_graph(next.watermark)
    );
    Entry::json(
        json!({"incidents": incidents.len(), "last_run": next.to_map()}),
        markdown,
    )
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
        let incident = incident(candidate, 0);
        assert_eq!(incident.name, "Azure AD: 37 newCountry none");
        assert_eq!(incident.occurred, "2021-04-25T09:00:40.778096Z");
        assert_eq!((incident.severity, incident.dbot_mirror_id.as_str()), (2, "37"));
        assert_eq!(incident.raw_json, detection);
        assert_eq!(incident.details, "medium risk (newCountry) for  from ");
    }
}

//! `fetch-incidents`: every risk detection becomes exactly one incident, in time order.
//!
//! The cursor is the `detectedDateTime` of the last emitted detection (`latest_detection_found`,
//! the Python integration's key) plus the ids emitted at exactly that instant. Each fetch asks
//! for `detectedDateTime ge <cursor>`, reads every page, sorts by time then id (Graph promises
//! no order), drops what was emitted before, emits at most `max_fetch`, and moves the cursor to
//! exactly what it emitted. Nothing is skipped when many detections share a timestamp, and
//! nothing is emitted twice.

use super::Output;
use crate::config;
use crate::envelope::Args;
use crate::error::Error;
use crate::graph::client::encode;
use crate::graph::odata::Filter;
use crate::graph::paging::{self, MAX_PAGE};
use crate::output::Entry;
use crate::session::Session;
use crate::time::{Instant, graph_ticks, iso8601_graph, iso8601_micros, parse_iso8601, parse_since};
use serde_json::{Map, Value, json};
use std::collections::{BinaryHeap, HashSet};

/// The Python integration's cursor key, kept so a migrated instance continues where it stopped.
pub const LATEST: &str = "latest_detection_found";
/// Ids already emitted whose `detectedDateTime` is exactly the cursor.
pub const IDS_AT_LATEST: &str = "ids_at_latest_detection";
/// Ids of detections without `detectedDateTime` already emitted (bounded).
pub const UNDATED: &str = "undated_detection_ids";

const UNDATED_KEPT: usize = 1_000;
const DEFAULT_FIRST_FETCH: &str = "1 days";
const DEFAULT_MAX_FETCH: u64 = 50;
const MAX_MAX_FETCH: u64 = 1_000;

/// Where the previous fetch stopped.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    /// Only the instant is kept: written back in one canonical form, never as the text it came in.
    instant: Instant,
    /// `None` for a Python-era cursor: it used `gt`, so everything at the instant was emitted.
    ids_at_latest: Option<HashSet<String>>,
    undated: Vec<String>,
}

/// A detection with its time, ready to sort.
struct Candidate {
    instant: Option<Instant>,
    id: String,
    detection: Value,
}

/// Fetches new risk detections as incidents.
pub fn fetch(session: &mut Session, _: &Args) -> Result<Output, Error> {
    let settings = Settings::read(&session.config.raw)?;
    let (cursor, warning) = Cursor::read(session.last_run.as_ref(), &settings, session.now())?;
    let url = first_url(session, &settings, &cursor);
    let mut selection = Selection::new(settings.max_fetch);
    paging::visit_all(session, &url, "Fetching risk detections", |page| {
        selection.offer_all(page, &cursor)
    })?;
    let emitted = selection.into_sorted();
    let next = cursor.advance(&emitted);
    let incidents: Vec<Value> = emitted.iter().map(|c| incident(c, session.now())).collect();
    let mut entries: Vec<Entry> = warning.into_iter().map(Entry::warning).collect();
    entries.push(summary(&incidents, &next));
    Ok(Output {
        entries,
        incidents: Some(incidents),
        last_run: Some(next.to_map()),
        ..Output::default()
    })
}

/// The instance parameters fetch reads.
struct Settings {
    first_fetch: String,
    max_fetch: usize,
    filter: Option<String>,
    users: Vec<(&'static str, String)>,
}

impl Settings {
    fn read(params: &Map<String, Value>) -> Result<Settings, Error> {
        let max_fetch = match config::text(params, "max_fetch") {
            None => DEFAULT_MAX_FETCH,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_MAX_FETCH).contains(n))
                .ok_or_else(|| {
                    Error::parameter(
                        "max_fetch",
                        format!("expected a whole number from 1 to {MAX_MAX_FETCH}."),
                    )
                })?,
        };
        let list = |name: &str| {
            config::text(params, name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let ids = list("fetch_user_id").into_iter().map(|id| ("userId", id));
        let upns = list("fetch_user_principal_name")
            .into_iter()
            .map(|upn| ("userPrincipalName", upn));
        Ok(Settings {
            first_fetch: config::text(params, "first_fetch").unwrap_or_else(|| DEFAULT_FIRST_FETCH.to_string()),
            max_fetch: max_fetch as usize,
            filter: config::text(params, "fetch_filter_expression"),
            users: ids.chain(upns).collect(),
        })
    }
}

impl Cursor {
    /// The cursor from `last_run`, or the first-fetch time. An unreadable cursor restarts from
    /// the first-fetch time with a warning rather than blocking every later fetch.
    fn read(
        last_run: Option<&Map<String, Value>>,
        settings: &Settings,
        now: u64,
    ) -> Result<(Cursor, Option<String>), Error> {
        let stored = last_run.and_then(|run| run.get(LATEST)).and_then(Value::as_str);
        if let Some(cursor) = stored.and_then(|latest| Cursor::from_last_run(latest, last_run)) {
            return Ok((cursor, None));
        }
        let warning = stored.map(|s| {
            format!(
                "The stored fetch cursor `{}` is not a date; fetching from first_fetch instead.",
                crate::output::escape_markdown(s)
            )
        });
        Ok((Cursor::first(settings, now)?, warning))
    }

    fn from_last_run(latest: &str, last_run: Option<&Map<String, Value>>) -> Option<Cursor> {
        let ids = |key: &str| {
            last_run.and_then(|r| r.get(key)).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
        };
        Some(Cursor {
            instant: graph_ticks(parse_iso8601(latest)?),
            ids_at_latest: ids(IDS_AT_LATEST).map(|v| v.into_iter().collect()),
            undated: ids(UNDATED).unwrap_or_default(),
        })
    }

    fn first(settings: &Settings, now: u64) -> Result<Cursor, Error> {
        let since = parse_since(&settings.first_fetch, now).ok_or_else(|| {
            Error::parameter(
                "first_fetch",
                "expected a time such as `3 days`, `12 hours`, `2 weeks` or an ISO date like 2024-05-01.",
            )
        })?;
        Ok(Cursor {
            instant: (since, 0),
            ids_at_latest: Some(HashSet::new()),
            undated: Vec::new(),
        })
    }

    fn already_emitted(&self, candidate: &Candidate) -> bool {
        match candidate.instant {
            None => self.undated.contains(&candidate.id),
            Some(instant) if instant < self.instant => true,
            Some(instant) if instant == self.instant => self
                .ids_at_latest
                .as_ref()
                .is_none_or(|ids| ids.contains(&candidate.id)),
            Some(_) => false,
        }
    }

    /// The cursor after emitting `emitted` (sorted): exactly up to the last one.
    fn advance(&self, emitted: &[Candidate]) -> Cursor {
        let mut next = self.clone();
        let undated = emitted.iter().filter(|c| c.instant.is_none()).map(|c| c.id.clone());
        next.undated.extend(undated);
        let excess = next.undated.len().saturating_sub(UNDATED_KEPT);
        next.undated.drain(..excess);
        let Some(last) = emitted.iter().rev().find(|c| c.instant.is_some()) else {
            return next;
        };
        if last.instant != Some(self.instant) {
            next.instant = last.instant.unwrap_or(self.instant);
            next.ids_at_latest = Some(HashSet::new());
        }
        let at_latest = emitted
            .iter()
            .filter(|c| c.instant == Some(next.instant))
            .map(|c| c.id.clone());
        next.ids_at_latest.get_or_insert_with(HashSet::new).extend(at_latest);
        next
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut ids: Vec<&String> = self.ids_at_latest.iter().flatten().collect();
        ids.sort();
        let mut map = Map::new();
        map.insert(LATEST.into(), Value::String(iso8601_graph(self.instant)));
        map.insert(IDS_AT_LATEST.into(), json!(ids));
        map.insert(UNDATED.into(), json!(self.undated));
        map
    }
}

fn first_url(session: &Session, settings: &Settings, cursor: &Cursor) -> String {
    let filter = Filter::new()
        .since("detectedDateTime", Some(&iso8601_graph(cursor.instant)))
        .raw(settings.filter.as_deref())
        .any_of(&settings.users)
        .build()
        .unwrap_or_default();
    format!(
        "{}/identityProtection/riskDetections?$top={MAX_PAGE}&$filter={}",
        session.config.graph_root(),
        encode(&filter)
    )
}

impl Candidate {
    fn of(detection: Value) -> Candidate {
        Candidate {
            instant: detection
                .get("detectedDateTime")
                .and_then(Value::as_str)
                .and_then(parse_iso8601)
                .map(graph_ticks),
            id: detection
                .get("id")
                .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string))
                .unwrap_or_default(),
            detection,
        }
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
/// memory holds one page and `limit` detections, however many pages the window has.
struct Selection {
    limit: usize,
    seen: HashSet<String>,
    kept: BinaryHeap<Candidate>,
}

impl Selection {
    fn new(limit: usize) -> Selection {
        Selection {
            limit,
            seen: HashSet::new(),
            kept: BinaryHeap::new(),
        }
    }

    fn offer_all(&mut self, page: Vec<Value>, cursor: &Cursor) {
        for detection in page {
            let candidate = Candidate::of(detection);
            if !cursor.already_emitted(&candidate) && self.seen.insert(candidate.id.clone()) {
                self.kept.push(candidate);
                if self.kept.len() > self.limit {
                    self.kept.pop();
                }
            }
        }
    }

    fn into_sorted(self) -> Vec<Candidate> {
        self.kept.into_sorted_vec()
    }
}

/// Detections not emitted before, each once, in time order: all of them (for tests).
#[cfg(test)]
fn new_detections(items: Vec<Value>, cursor: &Cursor) -> Vec<Candidate> {
    let mut selection = Selection::new(usize::MAX);
    selection.offer_all(items, cursor);
    selection.into_sorted()
}

fn incident(candidate: &Candidate, now: u64) -> Value {
    let d = &candidate.detection;
    let text = |key: &str| d.get(key).and_then(Value::as_str).unwrap_or_default();
    let severity = match text("riskLevel") {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 0,
    };
    let details = format!(
        "{} risk ({}) for {} from {}",
        text("riskLevel"),
        text("riskEventType"),
        text("userPrincipalName"),
        text("ipAddress")
    );
    json!({
        "name": format!("Azure AD: {} {} {}", candidate.id, text("riskEventType"), text("riskDetail")),
        "occurred": iso8601_micros(candidate.instant.unwrap_or((now, 0))),
        "rawJSON": d.to_string(),
        "severity": severity,
        "details": details,
        "dbotMirrorId": candidate.id,
    })
}

fn summary(incidents: &[Value], next: &Cursor) -> Entry {
    let markdown = format!(
        "Fetched {} new risk detection{}. Next fetch starts at {}.",
        incidents.len(),
        if incidents.len() == 1 { "" } else { "s" },
        iso8601_graph(next.instant)
    );
    Entry::json(
        json!({"incidents": incidents.len(), "last_run": next.to_map()}),
        markdown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(id: &str, at: Option<&str>) -> Value {
        match at {
            Some(at) => json!({"id": id, "detectedDateTime": at, "riskLevel": "high"}),
            None => json!({"id": id}),
        }
    }

    fn cursor(latest: &str, ids: Option<&[&str]>) -> Cursor {
        let last_run = json!({LATEST: latest, IDS_AT_LATEST: ids}).as_object().cloned();
        let mut cursor = Cursor::from_last_run(latest, last_run.as_ref()).unwrap();
        if ids.is_none() {
            cursor.ids_at_latest = None;
        }
        cursor
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
        let after_two = start.advance(&fresh[..2]);
        assert_eq!(after_two.to_map()[LATEST], "2021-07-17T14:09:55.5000000Z");
        assert_eq!(after_two.ids_at_latest, Some(HashSet::from(["c".to_string()])));
        let after_one = start.advance(&fresh[..1]);
        assert_eq!(
            after_one.ids_at_latest,
            Some(HashSet::from(["a".to_string(), "b".to_string()]))
        );
        assert_eq!(start.advance(&[]), start);
    }

    #[test]
    fn incidents() {
        let candidate = Candidate {
            instant: parse_iso8601("2021-04-25T09:00:40.7780969Z"),
            id: "37".into(),
            detection: json!({"id": "37", "riskEventType": "newCountry", "riskDetail": "none", "riskLevel": "medium"}),
        };
        let incident = incident(&candidate, 0);
        assert_eq!(incident["name"], "Azure AD: 37 newCountry none");
        assert_eq!(incident["occurred"], "2021-04-25T09:00:40.778096Z");
        assert_eq!(
            (incident["severity"].as_u64(), incident["dbotMirrorId"].as_str()),
            (Some(2), Some("37"))
        );
        assert_eq!(
            serde_json::from_str::<Value>(incident["rawJSON"].as_str().unwrap()).unwrap(),
            candidate.detection
        );
    }

    #[test]
    fn settings() {
        let params = json!({"max_fetch": "20", "fetch_user_id": "a, b", "fetch_user_principal_name": "o'brien@x"})
            .as_object()
            .cloned()
            .unwrap();
        let settings = Settings::read(&params).unwrap();
        assert_eq!((settings.max_fetch, settings.users.len()), (20, 3));
        for bad in [
            json!({"max_fetch": "0"}),
            json!({"max_fetch": "many"}),
            json!({"max_fetch": "5000"}),
        ] {
            assert!(Settings::read(bad.as_object().unwrap()).is_err());
        }
    }
}

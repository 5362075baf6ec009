//! fetch-incidents' cursor in `last_run`: a watermark on `detectedDateTime`, a look-back for
//! detections Identity Protection reports late, and the memory of what was already emitted.
//!
//! Offline detections become visible up to 48 hours after their `detectedDateTime` (Microsoft
//! documents 5-10 minutes for real-time ones), so a cursor that only moves forward has passed
//! them when they appear. Each fetch therefore asks for `detectedDateTime ge watermark - 50 h`
//! and drops the detections it remembers emitting. The memory holds the ids emitted in that
//! window (at most [`MAX_REMEMBERED`]); a later change of an emitted detection (its level, its
//! state, `lastUpdatedDateTime`) never makes it new again, inside the window or beyond it.

use crate::time::{Instant, graph_ticks, iso8601_graph, parse_iso8601};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The Python integration's cursor key: here, the latest `detectedDateTime` emitted.
pub const LATEST: &str = "latest_detection_found";
/// Ids emitted at exactly the latest instant (the previous format's memory; still written).
pub const IDS_AT_LATEST: &str = "ids_at_latest_detection";
/// Emitted detections, id → `detectedDateTime`, from `COMPLETE_SINCE` on.
pub const EMITTED: &str = "emitted_detections";
/// From this instant on, every emitted detection is in `EMITTED`.
pub const COMPLETE_SINCE: &str = "emitted_complete_since";
/// Ids of detections without `detectedDateTime` already emitted (bounded).
pub const UNDATED: &str = "undated_detection_ids";

/// How far behind the watermark each fetch looks: Microsoft's 48 hours for offline detections,
/// plus two hours for clock skew and processing.
pub const LOOK_BACK_SECS: u64 = 50 * 3_600;
/// Emitted detections remembered at most (about 100 bytes each in `last_run`). Past it the
/// oldest instants are forgotten and the look-back no longer reaches them.
pub const MAX_REMEMBERED: usize = 10_000;
const UNDATED_KEPT: usize = 1_000;

/// Where the previous fetch stopped, and what it already emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The latest `detectedDateTime` emitted (or the first-fetch time).
    pub watermark: Instant,
    /// Every detection emitted at or after this instant is in `emitted`; the query never looks
    /// further back.
    pub complete_since: Instant,
    /// Emitted detections and their `detectedDateTime`.
    pub emitted: HashMap<String, Instant>,
    /// Emitted detections without a `detectedDateTime`, oldest first.
    pub undated: Vec<String>,
}

impl Cursor {
    /// A first fetch from `since`.
    pub fn starting_at(since: Instant) -> Cursor {
        Cursor {
            watermark: since,
            complete_since: since,
            emitted: HashMap::new(),
            undated: Vec::new(),
        }
    }

    /// The cursor in `last_run`, in this format or an earlier one; `None` when its time is not a
    /// date. A Python-era cursor (no ids) used `gt`: everything at its instant was emitted.
    pub fn from_last_run(last_run: &Map<String, Value>) -> Option<Cursor> {
        let watermark = instant(last_run.get(LATEST)?)?;
        let strings = |key: &str| -> Vec<String> {
            let items = last_run.get(key).and_then(Value::as_array);
            items
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let mut cursor = Cursor::starting_at(watermark);
        cursor.undated = strings(UNDATED);
        if let Some(emitted) = last_run.get(EMITTED).and_then(Value::as_object) {
            let remembered = emitted.iter().filter_map(|(id, at)| Some((id.clone(), instant(at)?)));
            cursor.emitted = remembered.collect();
            cursor.complete_since = last_run.get(COMPLETE_SINCE).and_then(instant).unwrap_or(watermark);
        } else if last_run.contains_key(IDS_AT_LATEST) {
            cursor.emitted = strings(IDS_AT_LATEST).into_iter().map(|id| (id, watermark)).collect();
        } else {
            cursor.complete_since = next_tick(watermark);
        }
        Some(cursor.forgetting_the_oldest())
    }

    /// The earliest `detectedDateTime` the next query asks for.
    pub fn lower_bound(&self) -> Instant {
        let (seconds, nanos) = self.watermark;
        (seconds.saturating_sub(LOOK_BACK_SECS), nanos).max(self.complete_since)
    }

    /// True when the detection `id` (at `at`, if dated) was emitted by an earlier fetch.
    pub fn already_emitted(&self, id: &str, at: Option<Instant>) -> bool {
        match at {
            None => self.undated.iter().any(|seen| seen == id),
            Some(at) if at < self.complete_since => true,
            Some(_) => self.emitted.contains_key(id),
        }
    }

    /// The cursor after emitting `emitted`: remembered, the watermark at the latest of them,
    /// and whatever fell behind the look-back forgotten.
    pub fn advance<'a>(&self, emitted: impl IntoIterator<Item = (&'a str, Option<Instant>)>) -> Cursor {
        let mut next = self.clone();
        for (id, at) in emitted {
            match at {
                None => next.undated.push(id.to_string()),
                Some(at) => {
                    next.watermark = next.watermark.max(at);
                    next.emitted.insert(id.to_string(), at);
                }
            }
        }
        let excess = next.undated.len().saturating_sub(UNDATED_KEPT);
        next.undated.drain(..excess);
        next.complete_since = next.complete_since.max(next.lower_bound());
        next.forgetting_the_oldest()
    }

    /// Drops what lies before `complete_since`; past [`MAX_REMEMBERED`], drops whole instants,
    /// oldest first, and moves `complete_since` up to the oldest instant kept.
    fn forgetting_the_oldest(mut self) -> Cursor {
        let since = self.complete_since;
        self.emitted.retain(|_, at| *at >= since);
        if self.emitted.len() > MAX_REMEMBERED {
            let mut instants: Vec<Instant> = self.emitted.values().copied().collect();
            instants.sort_unstable();
            // The instant of the MAX_REMEMBERED-th newest entry; earlier instants go entirely.
            let keep_from = instants[instants.len() - MAX_REMEMBERED];
            let cut = if instants.iter().filter(|at| **at >= keep_from).count() > MAX_REMEMBERED {
                next_tick(keep_from)
            } else {
                keep_from
            };
            self.emitted.retain(|_, at| *at >= cut);
            self.complete_since = self.complete_since.max(cut);
        }
        self
    }

    /// As `last_run`: every time in Graph's canonical UTC form, the memory oldest first.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut remembered: Vec<(&Instant, &String)> = self.emitted.iter().map(|(id, at)| (at, id)).collect();
        remembered.sort();
        let at_latest: Vec<&String> = remembered
            .iter()
            .filter(|(at, _)| **at == self.watermark)
            .map(|(_, id)| *id)
            .collect();
        let emitted: Map<String, Value> = remembered
            .iter()
            .map(|(at, id)| ((*id).clone(), Value::String(iso8601_graph(**at))))
            .collect();
        let mut map = Map::new();
        map.insert(LATEST.into(), Value::String(iso8601_graph(self.watermark)));
        map.insert(IDS_AT_LATEST.into(), json!(at_latest));
        map.insert(COMPLETE_SINCE.into(), Value::String(iso8601_graph(self.complete_since)));
        map.insert(EMITTED.into(), Value::Object(emitted));
        map.insert(UNDATED.into(), json!(self.undated));
        map
    }
}

/// A time from `last_run`, at Graph's precision.
fn instant(value: &Value) -> Option<Instant> {
    value.as_str().and_then(parse_iso8601).map(graph_ticks)
}

/// The next instant Graph can express (100 ns later).
fn next_tick((seconds, nanos): Instant) -> Instant {
    if nanos >= 999_999_900 {
        (seconds.saturating_add(1), 0)
    } else {
        (seconds, nanos + 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_717_236_000; // 2024-06-01T10:00:00Z

    fn last_run(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn every_earlier_format_reads_with_its_own_meaning() {
        // (last_run, complete_since, emitted ids), the expectations from each format's meaning.
        let python = last_run(json!({LATEST: "2024-06-01T10:00:00Z"}));
        let previous = last_run(json!({LATEST: "2024-06-01T10:00:00Z", IDS_AT_LATEST: ["a"]}));
        let current = last_run(json!({
            LATEST: "2024-06-01T10:00:00Z", COMPLETE_SINCE: "2024-05-30T08:00:00Z",
            EMITTED: {"late": "2024-05-31T00:00:00Z", "a": "2024-06-01T10:00:00Z"},
        }));
        let cases = [
            (python, (T, 100), vec![]),
            (previous, (T, 0), vec!["a"]),
            (current, (T - 50 * 3_600, 0), vec!["a", "late"]),
        ];
        for (stored, complete_since, ids) in cases {
            let cursor = Cursor::from_last_run(&stored).expect("a cursor");
            let mut remembered: Vec<&str> = cursor.emitted.keys().map(String::as_str).collect();
            remembered.sort();
            assert_eq!((cursor.complete_since, remembered), (complete_since, ids), "{stored:?}");
        }
    }

    #[test]
    fn a_python_cursor_counts_its_own_instant_as_emitted() {
        let cursor = Cursor::from_last_run(&last_run(json!({LATEST: "2024-06-01T10:00:00Z"}))).unwrap();
        assert!(cursor.already_emitted("x", Some((T, 0))));
        assert!(!cursor.already_emitted("x", Some((T, 100))));
        assert_eq!(cursor.lower_bound(), (T, 100));
    }

    #[test]
    fn the_look_back_reaches_50_hours_behind_the_watermark() {
        let cursor = Cursor::starting_at((T - 100 * 3_600, 0)).advance([("a", Some((T, 0)))]);
        assert_eq!(cursor.lower_bound(), (T - 50 * 3_600, 0));
        assert_eq!(cursor.complete_since, (T - 50 * 3_600, 0));
        // A late detection inside the window is new; the emitted one is not, whatever its time now.
        assert!(!cursor.already_emitted("late", Some((T - 49 * 3_600, 0))));
        assert!(cursor.already_emitted("a", Some((T, 0))));
        assert!(cursor.already_emitted("older", Some((T - 51 * 3_600, 0))));
    }

    #[test]
    fn late_detections_do_not_move_the_watermark_back() {
        let cursor = Cursor::starting_at((T, 0)).advance([("late", Some((T - 3_600, 0)))]);
        assert_eq!(cursor.watermark, (T, 0));
        assert!(cursor.already_emitted("late", Some((T - 3_600, 0))));
    }

    #[test]
    fn memory_beyond_the_window_is_forgotten() {
        let start = Cursor::starting_at((T, 0)).advance([("old", Some((T, 0)))]);
        let later = start.advance([("new", Some((T + 60 * 3_600, 0)))]);
        assert_eq!(later.emitted.keys().collect::<Vec<_>>(), ["new"]);
        assert_eq!(later.complete_since, (T + 10 * 3_600, 0));
    }

    #[test]
    fn memory_is_bounded_by_whole_instants() {
        let ids: Vec<String> = (0..MAX_REMEMBERED + 5).map(|i| format!("d{i}")).collect();
        // Five detections at T, then MAX_REMEMBERED at T + 1 s.
        let emitted = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), Some(if i < 5 { (T, 0) } else { (T + 1, 0) })));
        let cursor = Cursor::starting_at((T, 0)).advance(emitted);
        assert_eq!(cursor.emitted.len(), MAX_REMEMBERED);
        assert_eq!(cursor.complete_since, (T + 1, 0));
        assert!(
            cursor.already_emitted("d0", Some((T, 0))),
            "forgotten, but behind complete_since"
        );
    }

    #[test]
    fn last_run_round_trips() {
        let cursor = Cursor::starting_at((T, 0)).advance([("a", Some((T, 500))), ("u", None)]);
        let stored = cursor.to_map();
        assert_eq!(stored[LATEST], "2024-06-01T10:00:00.0000005Z");
        assert_eq!(stored[IDS_AT_LATEST], json!(["a"]));
        assert_eq!(Cursor::from_last_run(&stored), Some(cursor));
    }
}

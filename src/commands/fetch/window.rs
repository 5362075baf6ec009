//! Reading one kind of detection for a fetch, in two passes. First the keys of every detection
//! of the window (`$select=id,detectedDateTime`: a tenth of the bytes), to choose the
//! `max_fetch` earliest the cursor has not emitted; then those detections whole, from the
//! narrowest time range that holds them. Reading every detection of the 50-hour window whole at
//! every interval cost a tenant with 10,000 of them 10 MB, read and checked, for the few kept
//! (BENCHMARKS.md). A Graph that refuses `$select` (400) is read in one pass, as before.

use super::cursor::Cursor;
use crate::error::Error;
use crate::graph::odata::Filter;
use crate::graph::paging::{self, MAX_PAGE};
use crate::graph::picking::Picked;
use crate::graph::query::Query;
use crate::session::Session;
use crate::time::{Instant, graph_ticks, iso8601_graph, parse_iso8601};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// A detection with its time, ready to sort; the detection itself stays the text Graph sent.
pub(super) struct Candidate {
    pub instant: Option<Instant>,
    pub id: String,
    pub detection: String,
}

/// The members fetch reads of every detection to choose: its id and its time (in tests; a
/// [`Source`] names its own time member).
#[cfg(test)]
pub(super) const KEY_MEMBERS: [&str; 2] = ["id", "detectedDateTime"];

/// A field's string, or `""` when it is missing or not a string. A string without escapes (ids
/// and times always are) is its text between the quotes, read without a parser: the raw value
/// is already valid JSON.
pub(in crate::commands) fn text(field: Option<&RawValue>) -> Cow<'_, str> {
    let Some(raw) = field.map(RawValue::get).filter(|raw| raw.starts_with('"')) else {
        return Cow::Borrowed("");
    };
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(inside) if !inside.contains('\\') => Cow::Borrowed(inside),
        _ => serde_json::from_str(raw).unwrap_or_default(),
    }
}

/// Where one kind of object is listed, and what the instance filters it by.
pub(super) struct Source<'s> {
    /// The collection below the Graph root.
    pub path: &'static str,
    /// What the error says was being done.
    pub action: &'static str,
    /// The member that orders the objects and moves the cursor (`detectedDateTime`).
    pub time: &'static str,
    /// `id,` and that member, as the first pass's `$select`.
    pub keys: &'static str,
    /// `fetch_filter_expression`.
    pub filter: Option<&'s str>,
    /// `fetch_user_id` and `fetch_user_principal_name`, as (property, value).
    pub users: &'s [(&'static str, String)],
    /// Alternatives of which one must hold, as (property, value): the risk states fetched.
    pub states: &'s [(&'static str, String)],
    /// Each update of an object is new (risky users: the same user again when its risk changes
    /// later): the cursor's key is the id and the time together.
    pub per_update: bool,
}

impl Source<'_> {
    /// The members read of every object to choose.
    fn members(&self) -> [&'static str; 2] {
        ["id", self.time]
    }

    /// The listing of `since..=until`, only the keys when `keys_only`.
    fn url(&self, session: &Session, since: Instant, until: Option<Instant>, keys_only: bool) -> String {
        let filter = Filter::new()
            .since(self.time, Some(&iso8601_graph(since)))
            .until(self.time, until.map(iso8601_graph).as_deref())
            .raw(self.filter)
            .any_of(self.users)
            .any_of(self.states)
            .build();
        let query = Query::at(self.path).top(MAX_PAGE).filter(filter);
        match keys_only {
            true => query.select(self.keys),
            false => query,
        }
        .url(&session.config)
    }
}

/// The `limit` earliest detections of `source` the cursor has not emitted, whole, in time order.
pub(super) fn read(
    session: &mut Session,
    source: &Source,
    cursor: &Cursor,
    limit: usize,
) -> Result<Vec<Candidate>, Error> {
    let keys_url = source.url(session, cursor.lower_bound(), None, true);
    let chosen = match choose(session, &keys_url, source, cursor, limit) {
        Err(Error::Graph(refused)) if refused.status == 400 => {
            let url = source.url(session, cursor.lower_bound(), None, false);
            return choose(session, &url, source, cursor, limit);
        }
        other => other?,
    };
    let (Some(first), Some(last)) = (chosen.first(), chosen.last()) else {
        return Ok(chosen);
    };
    // Undated detections (which a time filter cannot name) are looked for in the whole window.
    let range = match (first.instant, last.instant) {
        (Some(first), Some(last)) => (first, Some(last)),
        _ => (cursor.lower_bound(), None),
    };
    let url = source.url(session, range.0, range.1, false);
    whole(session, &url, source, chosen)
}

/// Reads every page of `url` and keeps the `limit` earliest detections the cursor has not emitted.
fn choose(
    session: &mut Session,
    url: &str,
    source: &Source,
    cursor: &Cursor,
    limit: usize,
) -> Result<Vec<Candidate>, Error> {
    let mut selection = Selection::new(limit, source.per_update);
    paging::visit_all(session, url, source.action, &source.members(), |page| {
        selection.offer_all(page, cursor)
    })?;
    Ok(selection.into_sorted())
}

/// The `chosen` detections whole, from the listing at `url`; a prefix of them when one did not
/// come back (gone between the two reads) or they outgrow the byte budget, so the cursor moves
/// past exactly what is emitted and the rest comes with the next fetch.
fn whole(session: &mut Session, url: &str, source: &Source, chosen: Vec<Candidate>) -> Result<Vec<Candidate>, Error> {
    let wanted: HashMap<&str, usize> = chosen.iter().enumerate().map(|(n, c)| (c.id.as_str(), n)).collect();
    let mut found = Found::new(chosen.len());
    paging::visit_all(session, url, source.action, &source.members(), |page| {
        for detection in page {
            let (instant, id) = Candidate::key_of(detection, source.per_update);
            let Some(&n) = wanted.get(id.as_ref()) else { continue };
            if chosen[n].instant == instant {
                found.fill(n, detection.text);
            }
        }
    })?;
    let texts = found.texts;
    drop(wanted);
    Ok(chosen
        .into_iter()
        .zip(texts)
        .map_while(|(candidate, text)| text.map(|detection| Candidate { detection, ..candidate }))
        .collect())
}

/// The texts of the chosen detections as they come, kept within [`MAX_FETCH_BYTES`] by
/// dropping the latest ones (the first always stays): only a prefix is emitted anyway.
struct Found {
    texts: Vec<Option<String>>,
    bytes: usize,
    /// Detections from this index on are not kept any more.
    end: usize,
}

impl Found {
    fn new(count: usize) -> Found {
        Found {
            texts: vec![None; count],
            bytes: 0,
            end: count,
        }
    }

    /// Keeps the text of detection `n`, the first copy when Graph sends one twice.
    fn fill(&mut self, n: usize, text: &str) {
        if n >= self.end || self.texts[n].is_some() {
            return;
        }
        self.bytes = self.bytes.saturating_add(text.len());
        self.texts[n] = Some(text.to_string());
        while self.bytes > MAX_FETCH_BYTES {
            let Some(latest) = self.texts.iter().rposition(Option::is_some).filter(|&k| k > 0) else {
                return;
            };
            let dropped = self.texts[latest].take().map_or(0, |t| t.len());
            self.bytes = self.bytes.saturating_sub(dropped);
            self.end = latest;
        }
    }
}

/// Bytes of detections one fetch hands over at most (each becomes an incident's rawJSON):
/// 1,000 real detections are about 2 MB, so only a broken or hostile Graph reaches it, and the
/// result then stays well under `output::MAX_RESULT_BYTES`. The rest comes with the next fetch.
pub(super) const MAX_FETCH_BYTES: usize = 16 * 1024 * 1024;

impl Candidate {
    /// A detection's time (`None` when it has none that reads as a date) and id (a non-string
    /// id as its JSON text; `""` when it has none or is not an object). `per_update`: the id
    /// is `id@time`, the time in Graph's canonical form, so each update is its own key.
    pub(super) fn key_of<'a>(detection: &Picked<'a, 2>, per_update: bool) -> (Option<Instant>, Cow<'a, str>) {
        let [id, detected] = detection.members;
        let instant = parse_iso8601(&text(detected)).map(graph_ticks);
        let id = match id {
            Some(id) if id.get().starts_with('"') => text(Some(id)),
            Some(id) => Cow::Owned(
                serde_json::from_str::<Value>(id.get()).map_or_else(|_| id.get().to_string(), |v| v.to_string()),
            ),
            None => Cow::Borrowed(""),
        };
        match (per_update, instant) {
            (true, Some(at)) => (instant, Cow::Owned(format!("{id}@{}", iso8601_graph(at)))),
            _ => (instant, id),
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
/// memory holds one page and `limit` detections of at most [`MAX_FETCH_BYTES`] together,
/// however many pages the window has and however large Graph makes them. Only a detection that
/// is kept is copied out of its page.
pub(super) struct Selection {
    limit: usize,
    per_update: bool,
    kept: BinaryHeap<Candidate>,
    bytes: usize,
}

impl Selection {
    pub(super) fn new(limit: usize, per_update: bool) -> Selection {
        Selection {
            limit,
            per_update,
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

    pub(super) fn offer_all(&mut self, page: &[Picked<'_, 2>], cursor: &Cursor) {
        for detection in page {
            let (instant, id) = Candidate::key_of(detection, self.per_update);
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
    pub(super) fn into_sorted(self) -> Vec<Candidate> {
        let mut sorted = self.kept.into_sorted_vec();
        let mut ids = HashSet::with_capacity(sorted.len());
        sorted.retain(|candidate| ids.insert(candidate.id.clone()));
        sorted
    }
}

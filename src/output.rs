//! The result on stdout (docs/protocol.md §3): XSOAR entries and the result object.

use crate::json_text;
use crate::redact::Redactor;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// XSOAR entry types used by this integration.
pub const NOTE: u8 = 1;
/// An error entry.
pub const ERROR: u8 = 4;
/// A warning entry.
pub const WARNING: u8 = 11;

/// JSON in an entry: a tree built here, or text as Microsoft Graph sent it. Listings keep
/// Graph's items as text from the page to stdout, so thousands of items are neither parsed into
/// trees (5-7 bytes of memory per byte of JSON) nor written back from them.
#[derive(Debug, Clone)]
pub enum Json {
    Tree(Value),
    Raw(Box<RawValue>),
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json::Tree(value)
    }
}

impl From<Box<RawValue>> for Json {
    fn from(raw: Box<RawValue>) -> Self {
        Json::Raw(raw)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Tree(value) => value.serialize(serializer),
            Json::Raw(raw) => raw.serialize(serializer),
        }
    }
}

impl Json {
    /// The JSON as a tree (a copy when it is text).
    pub fn to_value(&self) -> Value {
        match self {
            Json::Tree(value) => value.clone(),
            Json::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

/// One war-room entry, in XSOAR's field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(rename = "Type")]
    pub kind: u8,
    pub contents_format: &'static str,
    pub contents: Json,
    pub human_readable: String,
    pub readable_contents_format: &'static str,
    /// Context paths and their values, in the order they were added.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub entry_context: Vec<(String, Json)>,
}

fn as_map<S: Serializer>(pairs: &[(String, Json)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (key, value) in pairs {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

impl Entry {
    /// A note whose contents are the same text as its markdown.
    pub fn text(markdown: impl Into<String>) -> Self {
        let markdown = markdown.into();
        Entry::new(NOTE, "text", Value::String(markdown.clone()).into(), markdown)
    }

    /// A note with JSON contents (the raw API answer) and a markdown rendering.
    pub fn json(contents: impl Into<Json>, markdown: impl Into<String>) -> Self {
        Entry::new(NOTE, "json", contents.into(), markdown.into())
    }

    /// An error entry: the message, plus machine-readable details when there are any.
    pub fn error(message: impl Into<String>, details: Value) -> Self {
        let message = message.into();
        match details {
            Value::Null => Entry::new(ERROR, "text", Value::String(message.clone()).into(), message),
            details => Entry::new(ERROR, "json", details.into(), message),
        }
    }

    /// A warning note.
    pub fn warning(message: impl Into<String>) -> Self {
        let message = message.into();
        Entry::new(WARNING, "text", Value::String(message.clone()).into(), message)
    }

    /// Adds one context path, e.g. `AADIdentityProtection.Auth` (replacing an earlier value).
    pub fn with_context(mut self, path: &str, value: impl Into<Json>) -> Self {
        let value = value.into();
        match self.entry_context.iter_mut().find(|(p, _)| p == path) {
            Some((_, old)) => *old = value,
            None => self.entry_context.push((path.to_string(), value)),
        }
        self
    }

    /// The value at one context path.
    pub fn context(&self, path: &str) -> Option<&Json> {
        self.entry_context.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    fn new(kind: u8, contents_format: &'static str, contents: Json, human_readable: String) -> Self {
        Entry {
            kind,
            contents_format,
            contents,
            human_readable,
            readable_contents_format: "markdown",
            entry_context: Vec::new(),
        }
    }
}

/// Ask the host to run a command again later (XSOAR polling).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduledCommand {
    pub command: String,
    pub args: Map<String, Value>,
    pub next_run_in_seconds: u64,
    pub timeout_in_seconds: u64,
}

/// An incident for the host, in XSOAR's field names.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub name: String,
    pub occurred: String,
    /// The detection as Graph sent it.
    #[serde(rename = "rawJSON")]
    pub raw_json: String,
    pub severity: u8,
    pub details: String,
    #[serde(rename = "dbotMirrorId")]
    pub dbot_mirror_id: String,
    /// `In`, `Out` or `Both`; absent when the instance does not mirror.
    #[serde(rename = "dbotMirrorDirection", skip_serializing_if = "Option::is_none")]
    pub dbot_mirror_direction: Option<&'static str>,
    /// The instance that runs the mirror commands (the envelope's `instance_name`).
    #[serde(rename = "dbotMirrorInstance", skip_serializing_if = "Option::is_none")]
    pub dbot_mirror_instance: Option<String>,
}

/// The result document on stdout (docs/protocol.md §3): entries, context, incidents, last run.
#[derive(Debug, Clone, Serialize)]
pub struct ResultDocument {
    pub entries: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    pub context_changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<Vec<Incident>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_command: Option<ScheduledCommand>,
    /// The mirroring commands' answer for the host (docs/protocol.md §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Value>,
}

impl ResultDocument {
    /// A result that holds only entries (no context: the envelope was never parsed).
    pub fn bare(entries: Vec<Entry>) -> Self {
        ResultDocument {
            entries,
            context: None,
            context_changed: false,
            context_version: None,
            incidents: None,
            last_run: None,
            scheduled_command: None,
            mirror: None,
        }
    }
}

/// The most a result may hold, written out: a host holds it in memory (the XSOAR bridge more
/// than once), so no answer, however large or hostile, makes it larger.
pub const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// A result that would be larger than the limit it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl ResultDocument {
    /// The result as JSON text, at most `limit` bytes, with every credential `redactor` knows
    /// replaced everywhere but in `context` (which carries the tokens to the host). The keys
    /// come in the order of the struct, as `Serialize` writes them.
    pub fn to_json(&self, redactor: &Redactor, limit: usize) -> Result<Vec<u8>, TooLarge> {
        let mut out = Capped::new(limit);
        out.put(b"{\"entries\":")?;
        let entries = out.bytes.len();
        out.write_json(&self.entries)?;
        out.redact_from(entries, redactor)?;
        if let Some(context) = &self.context {
            out.put(b",\"context\":")?;
            out.write_json(context)?;
        }
        out.put(b",\"context_changed\":")?;
        out.write_json(&self.context_changed)?;
        if let Some(version) = &self.context_version {
            out.put(b",\"context_version\":")?;
            out.write_json(version)?;
        }
        let rest = out.bytes.len();
        if let Some(incidents) = &self.incidents {
            out.put(b",\"incidents\":")?;
            out.put(&incidents_json(incidents, limit)?)?;
        }
        if let Some(last_run) = &self.last_run {
            out.put(b",\"last_run\":")?;
            out.write_json(last_run)?;
        }
        if let Some(scheduled) = &self.scheduled_command {
            out.put(b",\"scheduled_command\":")?;
            out.write_json(scheduled)?;
        }
        if let Some(mirror) = &self.mirror {
            out.put(b",\"mirror\":")?;
            out.write_json(mirror)?;
        }
        out.redact_from(rest, redactor)?;
        out.put(b"}")?;
        Ok(out.bytes)
    }
}

/// Incidents as JSON text, exactly as their `Serialize` writes them, but with the strings escaped
/// by [`json_text::write_string`]: a fetch hands over a thousand detections, each one string.
fn incidents_json(incidents: &[Incident], limit: usize) -> Result<Vec<u8>, TooLarge> {
    let mut out = Vec::new();
    out.push(b'[');
    for (n, incident) in incidents.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let strings = [
            ("{\"name\":", &incident.name),
            (",\"occurred\":", &incident.occurred),
            (",\"rawJSON\":", &incident.raw_json),
        ];
        for (key, value) in strings {
            out.extend_from_slice(key.as_bytes());
            json_text::write_string(&mut out, value);
        }
        out.extend_from_slice(format!(",\"severity\":{},\"details\":", incident.severity).as_bytes());
        json_text::write_string(&mut out, &incident.details);
        out.extend_from_slice(b",\"dbotMirrorId\":");
        json_text::write_string(&mut out, &incident.dbot_mirror_id);
        if let Some(direction) = incident.dbot_mirror_direction {
            out.extend_from_slice(b",\"dbotMirrorDirection\":");
            json_text::write_string(&mut out, direction);
        }
        if let Some(instance) = &incident.dbot_mirror_instance {
            out.extend_from_slice(b",\"dbotMirrorInstance\":");
            json_text::write_string(&mut out, instance);
        }
        out.push(b'}');
        if out.len() > limit {
            return Err(TooLarge);
        }
    }
    out.push(b']');
    Ok(out)
}

/// A buffer that refuses to grow past its limit.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl Capped {
    fn new(limit: usize) -> Self {
        Capped {
            bytes: Vec::new(),
            limit,
        }
    }

    /// Redacts what was written from `start` on, in place; the text is copied only when a
    /// credential was found in it.
    fn redact_from(&mut self, start: usize, redactor: &Redactor) -> Result<(), TooLarge> {
        let tail = self.bytes.get(start..).unwrap_or_default();
        if let std::borrow::Cow::Owned(redacted) = redactor.json(tail) {
            self.bytes.truncate(start);
            self.put(&redacted)?;
        }
        Ok(())
    }

    fn write_json(&mut self, value: &impl Serialize) -> Result<(), TooLarge> {
        // Writing these types fails only when the limit is reached.
        serde_json::to_writer(&mut *self, value).map_err(|_| TooLarge)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        std::io::Write::write_all(self, bytes).map_err(|_| TooLarge)
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            return Err(std::io::Error::other("the result is larger than its limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_use_xsoar_field_names() {
        let entry = Entry::text("done").with_context("A.B", json!({"x": 1}));
        let value = serde_json::to_value(entry).unwrap();
        assert_eq!(value["Type"], 1);
        assert_eq!(value["ContentsFormat"], "text");
        assert_eq!(value["HumanReadable"], "done");
        assert_eq!(value["ReadableContentsFormat"], "markdown");
        assert_eq!(value["EntryContext"]["A.B"]["x"], 1);
        let error = serde_json::to_value(Entry::error("bad", json!({"error": "x"}))).unwrap();
        assert_eq!(
            (error["Type"].as_u64(), error["ContentsFormat"].as_str()),
            (Some(4), Some("json"))
        );
        assert!(
            serde_json::to_value(Entry::text("x"))
                .unwrap()
                .get("EntryContext")
                .is_none()
        );
    }

    #[test]
    fn incidents_are_written_as_their_serialize_writes_them() {
        let incident = |n: u8, text: &str| Incident {
            name: format!("Azure AD: {n} \"quoted\" {text}"),
            occurred: "2024-05-01T10:00:00.000000Z".into(),
            raw_json: format!(r#"{{"id":"{n}","additionalInfo":"[{{\"Key\":\"a\\b\"}}]","t":"{text}"}}"#),
            severity: n,
            details: format!("line\nbreak\t{text}\u{1}"),
            dbot_mirror_id: n.to_string(),
            dbot_mirror_direction: [None, Some("Both")][usize::from(n % 2)],
            dbot_mirror_instance: (n > 0).then(|| format!("instance \"{text}\"")),
        };
        let incidents = vec![incident(0, ""), incident(3, "é €\u{7f}"), incident(255, "\\")];
        for list in [&incidents[..0], &incidents[..1], &incidents[..]] {
            assert_eq!(
                incidents_json(list, usize::MAX).unwrap(),
                serde_json::to_vec(list).unwrap()
            );
        }
        assert_eq!(incidents_json(&incidents, 100), Err(TooLarge));
    }

    fn raw(text: &str) -> Json {
        Json::Raw(RawValue::from_string(text.to_string()).unwrap())
    }

    #[test]
    fn graph_text_is_written_as_it_came() {
        let text = r#"{"b":1,"a":[true,null],"c":"\u00e9"}"#;
        let entry = Entry::json(raw(text), "m");
        let out = serde_json::to_string(&entry).unwrap();
        assert!(out.contains(&format!(r#""Contents":{text}"#)), "{out}");
    }
}

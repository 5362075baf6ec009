//! The result on stdout (CONTRACT.md §3): XSOAR entries and the result object.

use serde::Serialize;
use serde_json::{Map, Value};

/// XSOAR entry types used by this integration.
pub const NOTE: u8 = 1;
/// An error entry.
pub const ERROR: u8 = 4;
/// A warning entry.
pub const WARNING: u8 = 11;

/// One war-room entry, in XSOAR's field names.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(rename = "Type")]
    pub kind: u8,
    pub contents_format: &'static str,
    pub contents: Value,
    pub human_readable: String,
    pub readable_contents_format: &'static str,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub entry_context: Map<String, Value>,
}

impl Entry {
    /// A note whose contents are the same text as its markdown.
    pub fn text(markdown: impl Into<String>) -> Self {
        let markdown = markdown.into();
        Entry::new(NOTE, "text", Value::String(markdown.clone()), markdown)
    }

    /// A note with JSON contents (the raw API answer) and a markdown rendering.
    pub fn json(contents: Value, markdown: impl Into<String>) -> Self {
        Entry::new(NOTE, "json", contents, markdown.into())
    }

    /// An error entry: the message, plus machine-readable details when there are any.
    pub fn error(message: impl Into<String>, details: Value) -> Self {
        let message = message.into();
        match details {
            Value::Null => Entry::new(ERROR, "text", Value::String(message.clone()), message),
            details => Entry::new(ERROR, "json", details, message),
        }
    }

    /// A warning note.
    pub fn warning(message: impl Into<String>) -> Self {
        let message = message.into();
        Entry::new(WARNING, "text", Value::String(message.clone()), message)
    }

    /// Adds one context path, e.g. `AADIdentityProtection.Auth`.
    pub fn with_context(mut self, path: &str, value: Value) -> Self {
        self.entry_context.insert(path.to_string(), value);
        self
    }

    fn new(kind: u8, contents_format: &'static str, contents: Value, human_readable: String) -> Self {
        Entry {
            kind,
            contents_format,
            contents,
            human_readable,
            readable_contents_format: "markdown",
            entry_context: Map::new(),
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

/// The whole result object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommandResult {
    pub entries: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    pub context_changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_command: Option<ScheduledCommand>,
}

impl CommandResult {
    /// A result that holds only entries (no context: the envelope was never parsed).
    pub fn bare(entries: Vec<Entry>) -> Self {
        CommandResult {
            entries,
            context: None,
            context_changed: false,
            context_version: None,
            incidents: None,
            last_run: None,
            scheduled_command: None,
        }
    }
}

/// Escapes text for a markdown table cell or inline text: backslashes, pipes, backticks, and
/// line breaks (as `<br>`), in one pass.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
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
    fn markdown_escaping() {
        assert_eq!(escape_markdown("a|b`c\r\nd\ne"), "a\\|b\\`c<br>d<br>e");
    }
}

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

/// The result document on stdout (CONTRACT.md §3): entries, context, incidents, last run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResultDocument {
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
        }
    }
}

/// Text from an argument or a server quoted inside a title or a message: markdown punctuation is
/// escaped and line breaks and other control characters become spaces, so the text can neither
/// start a new markdown block nor add a link, an image or HTML.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Replaces every known secret value in the entries' text and contents with `[redacted]`: a
/// last line of defence against a server that echoes a secret back (values under 8 characters
/// are too short to be told from ordinary text and are left alone).
pub fn redact(entries: &mut [Entry], secrets: &[String]) {
    let secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 8).collect();
    if secrets.is_empty() {
        return;
    }
    let scrub = |text: &mut String| {
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), "[redacted]");
            }
        }
    };
    for entry in entries {
        scrub(&mut entry.human_readable);
        scrub_value(&mut entry.contents, &scrub);
        for value in entry.entry_context.values_mut() {
            scrub_value(value, &scrub);
        }
    }
}

fn scrub_value(value: &mut Value, scrub: &impl Fn(&mut String)) {
    match value {
        Value::String(text) => scrub(text),
        Value::Array(items) => items.iter_mut().for_each(|item| scrub_value(item, scrub)),
        Value::Object(map) => map.values_mut().for_each(|item| scrub_value(item, scrub)),
        _ => {}
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

    #[test]
    fn quoted_text_cannot_add_blocks_links_or_images() {
        let cases = [
            ("5c1b-4a7e", "5c1b-4a7e"),
            (
                "a\n![x](http://t.example/p.png)",
                "a \\!\\[x\\]\\(http://t.example/p.png\\)",
            ),
            ("x\r\n# Title", "x  \\# Title"),
            ("<img src=x>", "\\<img src=x\\>"),
        ];
        for (text, expected) in cases {
            assert_eq!(quoted(text), expected, "{text:?}");
        }
    }

    #[test]
    fn known_secrets_are_redacted_everywhere_in_an_entry() {
        let mut entries = vec![
            Entry::error(
                "AADSTS7000215: Invalid client secret provided: s3cr3t-value-123",
                json!({"error_description": ["s3cr3t-value-123"], "n": 1}),
            )
            .with_context("X", json!({"k": "token s3cr3t-value-123"})),
        ];
        redact(&mut entries, &["s3cr3t-value-123".into(), "short".into()]);
        let text = serde_json::to_string(&entries[0]).unwrap();
        assert!(!text.contains("s3cr3t-value-123"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 3, "{text}");
    }
}

//! The envelope on stdin: size and JSON checks, the embedded schema, and argument coercion.

use crate::error::Error;
use serde_json::{Map, Value};
use std::sync::LazyLock;

mod conforms;

/// The largest envelope accepted. A real one is a few KiB; this leaves room for a big context.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;

/// The envelope schema, embedded so the binary never reads or fetches it.
pub const ENVELOPE_SCHEMA: &str = include_str!("../schema/envelope.schema.json");

/// The schema as JSON, for the quick check (parsing it costs microseconds; compiling it, ms).
static SCHEMA: LazyLock<Option<Value>> = LazyLock::new(|| serde_json::from_str(ENVELOPE_SCHEMA).ok());

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(ENVELOPE_SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::draft202012::new(&schema).map_err(|e| e.masked().to_string())
});

/// A parsed, schema-checked envelope (docs/protocol.md §2). Its `Debug` shows only names: the
/// parameters hold the client secret and the context holds tokens.
#[derive(Clone)]
pub struct Envelope {
    pub command: String,
    pub args: Args,
    pub params: Map<String, Value>,
    pub context: Map<String, Value>,
    pub context_version: Option<Value>,
    pub last_run: Option<Map<String, Value>>,
    /// The host's name for the integration instance (XSOAR's `demisto.integrationInstance()`):
    /// fetched incidents name it as the instance that mirrors them.
    pub instance_name: Option<String>,
    /// Top-level keys the envelope format does not define (ignored, but named in hints).
    pub other_keys: Vec<String>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = |map: &Map<String, Value>| map.keys().cloned().collect::<Vec<_>>();
        f.debug_struct("Envelope")
            .field("command", &self.command)
            .field("args", &keys(&self.args.0))
            .field("params", &keys(&self.params))
            .field("context", &keys(&self.context))
            .field("last_run", &self.last_run.as_ref().map(keys))
            .finish_non_exhaustive()
    }
}

/// Parses stdin bytes into JSON. Errors are exit-2 envelope errors.
pub fn parse_json(input: &[u8]) -> Result<Value, Error> {
    if input.len() > MAX_ENVELOPE_BYTES {
        return Err(Error::Envelope(format!(
            "stdin holds {} bytes; the limit is {MAX_ENVELOPE_BYTES}.",
            input.len()
        )));
    }
    let text = std::str::from_utf8(input).map_err(|e| Error::Envelope(format!("stdin is not UTF-8 ({e}).")))?;
    if text.trim().is_empty() {
        return Err(Error::Envelope("stdin is empty; expected one JSON object.".into()));
    }
    serde_json::from_str(text).map_err(|e| Error::Envelope(format!("stdin is not valid JSON: {}.", json_problem(&e))))
}

/// serde_json's message, without anything quoted from the input.
fn json_problem(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        serde_json::error::Category::Syntax if e.to_string().contains("recursion limit") => "it is nested too deeply",
        serde_json::error::Category::Syntax => "syntax error",
        _ => "unreadable data",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Checks the value against the envelope schema and builds the envelope.
pub fn from_value(value: Value) -> Result<Envelope, Error> {
    check_schema(&value)?;
    let Value::Object(mut top) = value else {
        return Err(Error::Envelope("expected a JSON object.".into()));
    };
    let mut take_object = |key: &str| match top.remove(key) {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    Ok(Envelope {
        args: Args(take_object("args").unwrap_or_default()),
        params: take_object("params").unwrap_or_default(),
        context: take_object("context").unwrap_or_default(),
        last_run: take_object("last_run"),
        command: top
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        context_version: top.remove("context_version"),
        instance_name: match top.remove("instance_name") {
            Some(Value::String(name)) => Some(name.trim().to_string()).filter(|n| !n.is_empty()),
            _ => None,
        },
        other_keys: top.keys().filter(|k| *k != "command").cloned().collect(),
    })
}

/// Checks the envelope against the embedded schema. Compiling the schema costs about 2 ms, more
/// than everything else a local command does, so a well-formed envelope is recognised by
/// [`conforms`], a walk of the schema itself whose verdict the tests compare with the compiled
/// schema's on random envelopes; the compiled schema runs only to name what is wrong.
fn check_schema(value: &Value) -> Result<(), Error> {
    if conforms(value) {
        return Ok(());
    }
    let validator = VALIDATOR
        .as_ref()
        .map_err(|e| Error::Internal(format!("embedded envelope schema: {e}")))?;
    let problems: Vec<String> = validator.iter_errors(value).take(5).map(|e| describe(&e)).collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Envelope(format!(
        "does not match the envelope schema: {}.",
        problems.join("; ")
    )))
}

/// True when `value` is certainly valid against `schema/envelope.schema.json`, read by a walk
/// of the schema's own keywords (see `envelope/conforms.rs` and [`check_schema`]).
pub fn conforms(value: &Value) -> bool {
    SCHEMA.as_ref().is_some_and(|schema| conforms::conforms(schema, value))
}

/// Names the offending field and the rule it breaks, never its value (it may be a secret).
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path().to_string();
    let field = if path.is_empty() {
        "the envelope".to_string()
    } else {
        format!("`{}`", path.trim_start_matches('/').replace('/', "."))
    };
    format!("{field}: {}", error.masked())
}

/// Command arguments as XSOAR sends them (strings), with typed accessors.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    /// A trimmed, non-empty text argument.
    pub fn text(&self, name: &str) -> Result<Option<String>, Error> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(Error::argument(name, "expected a single text value.")),
        }
    }

    /// A boolean: `true`/`false` (any case), `yes`/`no`, `1`/`0`, or a JSON boolean.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, Error> {
        let Some(raw) = self.text(name)? else { return Ok(None) };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Some(true)),
            "false" | "no" | "0" => Ok(Some(false)),
            _ => Err(Error::argument(name, "expected true or false.")),
        }
    }

    /// A whole number within `min..=max`: `"50"` or `50`.
    pub fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
        let Some(raw) = self.text(name)? else { return Ok(None) };
        let out_of_range = || Error::argument(name, format!("expected a whole number from {min} to {max}."));
        let n = raw.parse::<u64>().map_err(|_| out_of_range())?;
        if n < min || n > max {
            return Err(out_of_range());
        }
        Ok(Some(n))
    }

    /// One of `options`, matched without regard to case and returned as the option is spelled.
    pub fn choice(&self, name: &str, options: &[&'static str]) -> Result<Option<&'static str>, Error> {
        let Some(raw) = self.text(name)? else { return Ok(None) };
        let found = options.iter().find(|o| o.eq_ignore_ascii_case(&raw)).copied();
        found
            .map(Some)
            .ok_or_else(|| Error::argument(name, format!("expected one of {}.", options.join(", "))))
    }

    /// A list: a JSON array, a JSON-array string (`"[\"a\",\"b\"]"`) or a comma string (`"a, b"`).
    /// Items are trimmed; empty items are dropped; order is kept.
    pub fn list(&self, name: &str) -> Result<Vec<String>, Error> {
        let items = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|v| scalar_text(name, v)).collect::<Result<_, _>>()?,
            Some(Value::String(s)) if s.trim_start().starts_with('[') => json_list(name, s)?,
            Some(value) => scalar_text(name, value)?.split(',').map(str::to_string).collect(),
        };
        Ok(items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect())
    }
}

fn json_list(name: &str, raw: &str) -> Result<Vec<String>, Error> {
    let parsed: Value =
        serde_json::from_str(raw).map_err(|_| Error::argument(name, "starts with [ but is not a JSON array."))?;
    match parsed {
        Value::Array(items) => items.iter().map(|v| scalar_text(name, v)).collect(),
        _ => Err(Error::argument(name, "starts with [ but is not a JSON array.")),
    }
}

fn scalar_text(name: &str, value: &Value) -> Result<String, Error> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(Error::argument(name, "expected a list of text values.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_output_shows_names_never_secrets_or_tokens() {
        let envelope = from_value(json!({
            "command": "azure-ad-auth-test",
            "params": {"credentials": {"password": "the-secret-value"}},
            "context": {"access_token": "the-token-value"},
        }))
        .unwrap();
        let text = format!("{envelope:?}");
        assert!(text.contains("credentials") && text.contains("access_token"), "{text}");
        assert!(
            !text.contains("the-secret-value") && !text.contains("the-token-value"),
            "{text}"
        );
    }

    fn args(value: Value) -> Args {
        Args(value.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn lists() {
        let cases = [
            (json!({"ids": "a,b"}), vec!["a", "b"]),
            (json!({"ids": " a , ,b "}), vec!["a", "b"]),
            (json!({"ids": "[\"a\",\"b\"]"}), vec!["a", "b"]),
            (json!({"ids": ["a", "b"]}), vec!["a", "b"]),
            (json!({"ids": "single"}), vec!["single"]),
            (json!({"ids": 7}), vec!["7"]),
            (json!({"ids": ""}), vec![]),
            (json!({}), vec![]),
        ];
        for (input, expected) in cases {
            assert_eq!(args(input.clone()).list("ids").unwrap(), expected, "{input}");
        }
        assert!(args(json!({"ids": "[not json"})).list("ids").is_err());
        assert!(args(json!({"ids": [{"a": 1}]})).list("ids").is_err());
    }

    #[test]
    fn numbers_and_flags() {
        let a = args(json!({"limit": "50", "n": 7, "bad": "5x", "big": "501", "t": "True", "f": false, "x": "maybe"}));
        assert_eq!(a.number("limit", 1, 500).unwrap(), Some(50));
        assert_eq!(a.number("n", 1, 500).unwrap(), Some(7));
        assert_eq!(a.number("missing", 1, 500).unwrap(), None);
        assert!(a.number("bad", 1, 500).unwrap_err().to_string().contains("`bad`"));
        assert!(a.number("big", 1, 500).is_err());
        assert_eq!(a.flag("t").unwrap(), Some(true));
        assert_eq!(a.flag("f").unwrap(), Some(false));
        assert!(a.flag("x").unwrap_err().to_string().contains("`x`"));
    }

    #[test]
    fn bad_json_inputs() {
        let deep = "[".repeat(10_000);
        let cases: [(&[u8], &str); 5] = [
            (b"", "empty"),
            (b"  \n", "empty"),
            (b"{\"command\":", "ends too early"),
            (b"\xff\xfe", "UTF-8"),
            (deep.as_bytes(), "nested too deeply"),
        ];
        for (input, needle) in cases {
            let message = parse_json(input).unwrap_err().to_string();
            assert!(message.contains(needle), "{message}");
        }
    }

    #[test]
    fn schema_errors_name_the_field_without_its_value() {
        let value = json!({"command": "x", "params": {"credentials": {"password": 12345}}, "args": {"a": {"deep": "secret-value"}}});
        let message = from_value(value).unwrap_err().to_string();
        assert!(message.contains("`args.a`"), "{message}");
        assert!(!message.contains("secret-value"), "{message}");
        assert!(
            from_value(json!({"params": {}}))
                .unwrap_err()
                .to_string()
                .contains("command")
        );
    }

    #[test]
    fn embedded_schema_compiles() {
        assert!(VALIDATOR.is_ok(), "{:?}", VALIDATOR.as_ref().err());
    }
}

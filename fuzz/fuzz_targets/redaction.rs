//! Redaction: arbitrary text and JSON × an arbitrary set of credentials. Each credential is
//! written into the text in one of the forms a server or the result could carry it in (as it
//! is, percent-encoded, JSON-escaped, every character `\u`-escaped, markdown-quoted), and
//! nothing of any credential may survive: not in the redacted text, not in any string (key or
//! value) of the redacted JSON, which must still be JSON.
#![no_main]

use azure_ad_identity_protection::markdown::quoted;
use azure_ad_identity_protection::redact::{MIN_CREDENTIAL, REDACTED, Redactor};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// A credential from fuzz input: long enough to be redacted, without the marker's brackets and
/// not the marker's word, so that an occurrence can only be one the redactor missed (a
/// credential ending in `d]` could otherwise be made by the marker and the text after it).
fn credential(raw: &str) -> Option<String> {
    let text: String = raw.chars().filter(|c| !matches!(c, '[' | ']')).collect();
    (text.len() >= MIN_CREDENTIAL && !REDACTED.contains(&text)).then_some(text)
}

/// `credential` as form `choice` of text (not JSON): written by this target's own encoders.
fn in_text(credential: &str, choice: u8) -> String {
    match choice % 5 {
        0 => credential.to_string(),
        1 => utf8_percent_encode(credential, NON_ALPHANUMERIC).to_string(),
        2 => lower_hex(&utf8_percent_encode(credential, NON_ALPHANUMERIC).to_string()),
        3 => quoted(credential),
        _ => serde_json::to_string(credential).unwrap_or_default(),
    }
}

/// The hex digits after each `%` in lower case (the credential's own letters stay).
fn lower_hex(encoded: &str) -> String {
    let mut out = String::new();
    let mut digits = 0;
    for c in encoded.chars() {
        match c {
            '%' => digits = 2,
            c if digits > 0 => {
                digits -= 1;
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// A JSON string literal of `text`, each character escaped as `\u` when `escape_all`.
fn literal(text: &str, escape_all: bool) -> String {
    if !escape_all {
        return serde_json::to_string(text).unwrap_or_default();
    }
    let escaped: String = text.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect();
    format!("\"{escaped}\"")
}

/// Every string of a JSON value, keys included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (key, value) in map {
                out.push(key.clone());
                strings(value, out);
            }
        }
        _ => {}
    }
}

fuzz_target!(|input: (Vec<String>, Vec<(String, u8, u8)>)| {
    let (raw_credentials, pieces) = input;
    let credentials: Vec<String> = raw_credentials.iter().filter_map(|c| credential(c)).take(4).collect();
    if credentials.is_empty() {
        return;
    }
    let redactor = Redactor::new(credentials.iter().map(String::as_str));

    // Plain text: the pieces with credentials between them, in any form.
    let mut text = String::new();
    for (piece, which, form) in &pieces {
        text.push_str(piece);
        text.push_str(&in_text(&credentials[usize::from(*which) % credentials.len()], *form));
    }
    // Short texts are searched prefix by prefix, long ones by the automaton: both must hold.
    let long = format!("{}{text}", " ".repeat(5000));
    for text in [&text, &long] {
        let redacted = redactor.text(text);
        for credential in &credentials {
            for form in 0..5 {
                let shown = in_text(credential, form);
                assert!(!redacted.contains(&shown), "{shown:?} survived in {redacted:?}");
            }
        }
    }

    // JSON: an object whose keys and values carry the credentials, some strings \u-escaped.
    let mut object = String::from("{");
    for (n, (piece, which, form)) in pieces.iter().enumerate() {
        let credential = &credentials[usize::from(*which) % credentials.len()];
        let key = format!("{n}{piece}{credential}");
        let value = format!("{credential}{piece}");
        if n > 0 {
            object.push(',');
        }
        object.push_str(&literal(&key, form & 1 == 1));
        object.push(':');
        object.push_str(&literal(&value, form & 2 == 2));
    }
    object.push('}');
    let redacted = redactor.json(object.as_bytes());
    let value: Value = serde_json::from_slice(&redacted).expect("still JSON");
    let mut found = Vec::new();
    strings(&value, &mut found);
    for credential in &credentials {
        assert!(!found.iter().any(|s| s.contains(credential.as_str())), "{credential:?} survived in {value}");
    }
});

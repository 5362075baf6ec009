//! Reading instance parameter values: the helpers `config.rs` and the sign-in modes share, in a
//! module of their own so that neither imports the other for them.

use serde_json::{Map, Value};

/// A trimmed, non-empty string parameter (numbers are accepted as their text).
pub fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    let value = match params.get(name)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

/// True for `localhost`, `127.x.x.x` and `[::1]`, with or without a port.
pub fn is_loopback(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let host = host.to_ascii_lowercase();
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The credentials instance parameters hold, for redaction: the client secret (or the private
/// key that `credentials.password` holds with a certificate), and each private key's base64
/// body, line by line and as one run (an echo of the key would carry either).
pub fn credentials(params: &Map<String, Value>) -> Vec<String> {
    let password = match params.get("credentials") {
        Some(Value::Object(c)) => c.get("password"),
        _ => params.get("credentials.password"),
    };
    let values = [password, params.get("private_key"), params.get("certificate")];
    let mut found = Vec::new();
    for value in values.into_iter().flatten().filter_map(Value::as_str) {
        let value = value.trim();
        match value.contains("PRIVATE KEY-----") {
            true => found.extend(private_key_bodies(value)),
            false if !value.starts_with("-----BEGIN") => found.push(value.to_string()),
            // A bundle of certificates alone holds nothing secret.
            false => {}
        }
    }
    found
}

/// The base64 lines of each `-----BEGIN … PRIVATE KEY-----` block, and each block's lines joined.
fn private_key_bodies(pem: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in pem.lines().map(str::trim) {
        match (&mut block, line) {
            (None, l) if l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY") => block = Some(Vec::new()),
            (Some(lines), l) if l.starts_with("-----END") => {
                bodies.extend(lines.iter().map(|l| l.to_string()));
                bodies.push(lines.concat());
                block = None;
            }
            (Some(lines), l) if !l.is_empty() && !l.contains(':') => lines.push(l),
            _ => {}
        }
    }
    bodies
}

/// Most characters of a parameter's value a message quotes.
const SHOWN_CHARS: usize = 24;

/// A parameter's value for a message: at most [`SHOWN_CHARS`] characters of it, markdown-inert,
/// and nothing at all of a value of several lines (PEM text pasted in the wrong place) or of one
/// that shares its first 8 characters with a credential of the instance.
pub fn shown(value: &str, params: &Map<String, Value>) -> String {
    let value = value.trim();
    if value.contains(['\n', '\r']) {
        return "(a value of several lines, not shown)".to_string();
    }
    let start: String = value.chars().take(crate::redact::MIN_CREDENTIAL).collect();
    let secret = credentials(params)
        .iter()
        .any(|c| c.contains(&start) || start.contains(c.as_str()));
    if secret && !start.is_empty() {
        return "(not shown: it looks like a credential of this instance)".to_string();
    }
    let mut cut: String = value.chars().take(SHOWN_CHARS).collect();
    if cut.len() < value.len() {
        cut.push('…');
    }
    format!("\"{}\"", crate::markdown::quoted(&cut))
}

/// What [`shown_path`] says instead of a value that is no path.
const NOT_A_PATH: &str = "a value that is no file path (not shown)";

/// A file path from a parameter or a variable, for a message: quoted (markdown-inert) when it
/// looks like one (absolute, or starting with `.`; at most 256 characters on one line), and not
/// shown otherwise: a value that is no path may be a secret or a key pasted into the wrong place.
pub fn shown_path(path: &str) -> String {
    let windows = path.get(1..3).is_some_and(|s| s == ":\\" || s == ":/") || path.starts_with("\\\\");
    let looks_like_a_path = path.starts_with(['/', '.']) || windows;
    if looks_like_a_path && path.len() <= 256 && !path.chars().any(char::is_control) {
        crate::markdown::quoted(path)
    } else {
        NOT_A_PATH.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_shown_short_and_never_when_they_may_be_secret() {
        let params = json!({"credentials": {"password": "Sx8Q~secret-value-0123"}});
        let params = params.as_object().unwrap();
        let long = "x".repeat(40);
        let cases = [
            ("Mars", "\"Mars\""),
            (long.as_str(), "\"xxxxxxxxxxxxxxxxxxxxxxxx…\""),
            (
                "a\n-----BEGIN PRIVATE KEY-----",
                "(a value of several lines, not shown)",
            ),
            (
                "Sx8Q~secret-value-0123",
                "(not shown: it looks like a credential of this instance)",
            ),
            ("[x](y)", "\"\\[x\\]\\(y\\)\""),
        ];
        for (value, expected) in cases {
            assert_eq!(shown(value, params), expected, "{value}");
        }
    }

    #[test]
    fn paths_are_shown_only_when_they_look_like_paths() {
        let cases = [
            ("/var/run/secrets/azure/tokens/azure-identity-token", true),
            ("./token", true),
            ("C:\\ProgramData\\token", true),
            ("Sx8Q~secret-value-0123", false),
            ("-----BEGIN PRIVATE KEY-----", false),
            ("/a\nb", false),
        ];
        for (path, shown) in cases {
            assert_eq!(shown_path(path) != NOT_A_PATH, shown, "{path}");
        }
    }

    #[test]
    fn private_keys_give_their_base64_lines_and_body() {
        let params = json!({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END PRIVATE KEY-----\n", "certificate": "-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----"});
        let found = credentials(params.as_object().unwrap());
        assert_eq!(found, ["AAAABBBBCCCC", "DDDDEEEE", "AAAABBBBCCCCDDDDEEEE"]);
    }
}

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

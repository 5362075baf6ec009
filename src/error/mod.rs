//! The one error type: every failure knows its exit code and the message a person can act on.

mod entra;
mod graph;
mod parameters;

pub use entra::{EntraError, Flow};
pub use graph::{Area, GraphError};
pub use parameters::{DISPLAY_NAMES, parameter_label};

use serde_json::{Value, json};
use std::fmt;

/// What went wrong, in the words the war room shows.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// stdin was not one usable JSON envelope (exit 2).
    Envelope(String),
    /// The envelope names a command this binary does not have (exit 2); `closest` is the
    /// command it most likely meant, if one is close.
    UnknownCommand {
        name: String,
        closest: Option<&'static str>,
    },
    /// A command argument could not be coerced (exit 2).
    Argument { name: String, reason: String },
    /// An instance parameter is missing or invalid (exit 2): nothing was sent.
    Parameter { name: String, reason: String },
    /// An environment variable of the engine cannot be used (exit 2): nothing was sent.
    Environment { variable: String, reason: String },
    /// The network failed before Microsoft answered (exit 1).
    Network { host: String, reason: String },
    /// Microsoft kept answering 429/5xx or timing out until the retry budget ran out (exit 1).
    Throttled {
        host: String,
        attempts: u32,
        waited_secs: u64,
        /// The HTTP status of the last answer (429, 503...), `Contents.http_status` of the entry.
        status: u16,
    },
    /// Nothing answered within the request timeout, attempt after attempt (exit 1).
    TimedOut {
        host: String,
        attempts: u32,
        timeout_secs: u64,
    },
    /// The token endpoint answered an OAuth error (exit 1).
    Entra(Box<EntraError>),
    /// Microsoft Graph answered an error (exit 1).
    Graph(Box<GraphError>),
    /// A Microsoft host answered something that is not the expected JSON (exit 1).
    Unexpected { host: String, status: u16, detail: String },
    /// The command needs a sign-in this instance does not have (exit 1).
    SignIn(String),
    /// An action applied to some users and then failed; says what was and was not applied (exit 1).
    Partial { message: String, details: Value },
    /// The command stopped part-way on purpose (a bound); its other entries hold what it had (exit 1).
    Incomplete(String),
    /// A bug: a panic or an impossible state (exit 1).
    Internal(String),
}

impl Error {
    /// Exit status for this failure (docs/protocol.md §1).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Envelope(_) | Error::UnknownCommand { .. } | Error::Argument { .. } | Error::Parameter { .. } => 2,
            Error::Environment { .. } => 2,
            _ => 1,
        }
    }

    /// Shorthand for an argument error.
    pub fn argument(name: &str, reason: impl Into<String>) -> Self {
        Error::Argument {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a parameter error.
    pub fn parameter(name: &str, reason: impl Into<String>) -> Self {
        Error::Parameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// Machine-readable details for the error entry's `Contents`.
    pub fn contents(&self) -> Value {
        match self {
            Error::Entra(e) => e.contents(),
            Error::Graph(e) => e.contents(),
            Error::Partial { details, .. } => details.clone(),
            Error::Unexpected { host, status, .. } => json!({"host": host, "http_status": status}),
            Error::TimedOut {
                host,
                attempts,
                timeout_secs,
            } => json!({"host": host, "attempts": attempts, "timeout_seconds": timeout_secs}),
            Error::Throttled {
                host,
                attempts,
                waited_secs,
                status,
            } => {
                json!({"host": host, "attempts": attempts, "waited_seconds": waited_secs, "http_status": status})
            }
            _ => Value::Null,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Envelope(m) => write!(f, "Invalid envelope: {m}"),
            Error::UnknownCommand { name, closest } => {
                write!(f, "Command {} is not implemented by this integration.", as_code(name))?;
                if let Some(closest) = closest {
                    write!(f, " Did you mean `{closest}`?")?;
                }
                f.write_str(" The commands are listed by `--help` and in integration.yml.")
            }
            Error::Argument { name, reason } => write!(f, "Invalid argument `{name}`: {reason}"),
            Error::Parameter { name, reason } => {
                let label = parameter_label(name);
                write!(
                    f,
                    "Invalid instance parameter {label}: {reason} Fix the integration instance settings."
                )
            }
            Error::Environment { variable, reason } => write!(
                f,
                "The environment variable {variable} on this engine {reason} Fix or unset {variable} on the engine."
            ),
            Error::Network { host, reason } => write!(
                f,
                "The request to {host} failed: {reason}. Check the endpoint parameters, the proxy setting and that this host can reach {host}."
            ),
            Error::Throttled {
                host,
                attempts,
                waited_secs,
                status,
            } => write!(
                f,
                "{host} is throttling or unavailable (HTTP {status}); gave up after {attempts} attempts and {waited_secs} s of waiting. Try again in a few minutes."
            ),
            Error::TimedOut {
                host,
                attempts,
                timeout_secs,
            } => write!(
                f,
                "{host} did not answer within the request timeout ({timeout_secs} s), {attempts} attempts in a row. Check that this engine can reach {host} (proxy, firewall, DNS), or raise the instance's request_timeout."
            ),
            Error::Entra(e) => e.fmt(f),
            Error::Graph(e) => e.fmt(f),
            Error::Unexpected { host, status, detail } => {
                write!(
                    f,
                    "{host} answered HTTP {status} with {detail}. This is usually a proxy or a temporary Microsoft problem; try again."
                )
            }
            Error::SignIn(m) | Error::Partial { message: m, .. } | Error::Incomplete(m) => f.write_str(m),
            Error::Internal(m) => write!(
                f,
                "Internal error: {m}. Please report this; no secrets are included in this message."
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A name from the envelope as markdown: in backticks when it is a plain word (every command name
/// is), else escaped and in quotes, since escapes do not work inside a code span and a backtick
/// in the name would end it.
fn as_code(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!');
    if !name.is_empty() && name.chars().all(plain) {
        format!("`{name}`")
    } else {
        format!("\"{}\"", crate::markdown::quoted(name))
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn exit_codes() {
        let cases = [
            (Error::Envelope("x".into()), 2),
            (
                Error::UnknownCommand {
                    name: "x".into(),
                    closest: None,
                },
                2,
            ),
            (Error::argument("limit", "x"), 2),
            (Error::parameter("tenant_id", "x"), 2),
            (Error::SignIn("x".into()), 1),
            (Error::Internal("x".into()), 1),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn unknown_command_names_are_shown_as_code_only_when_plain() {
        let cases = [
            ("azure-ad-nope", None, "Command `azure-ad-nope` is not implemented"),
            ("test-modul", Some("test-module"), "Did you mean `test-module`?"),
            ("a`b", None, "Command \"a\\`b\" is not"),
            ("x\n# Title", None, "Command \"x \\# Title\" is not"),
        ];
        for (name, closest, expected) in cases {
            let name = name.to_string();
            let text = Error::UnknownCommand { name, closest }.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(text.ends_with("listed by `--help` and in integration.yml."), "{text}");
        }
    }
}

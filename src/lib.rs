//! azure-ad-identity-protection: a SOAR integration for Microsoft Entra ID Identity Protection.
//!
//! One invocation runs one command: [`run`] takes the envelope's bytes and returns the result
//! and exit code (docs/protocol.md). `main.rs` only moves bytes between stdin, this and stdout.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod demo;
pub mod envelope;
pub mod error;
pub mod files;
pub mod graph;
pub mod http;
pub mod json_text;
pub mod markdown;
pub mod output;
pub mod params;
pub mod redact;
pub mod runtime;
pub mod secret;
pub mod session;
pub mod table;
pub use formats::time;

/// The offline Entra ID + Graph tenant (crates/emulator), for the `emulator` and `demo` subcommands.
pub use entra_graph_emulator as emulator;

use config::Config;
use envelope::Envelope;
use error::Error;
use output::{Entry, ResultDocument};
use redact::Redactor;
use runtime::Runtime;
use serde_json::{Map, Value};
use session::Session;
use std::rc::Rc;

/// How an invocation ends: the [`ResultDocument`] to print and the exit status to leave with.
/// (A command handler returns a [`commands::CommandOutput`]; [`run`] turns it into this.)
#[derive(Debug)]
pub struct Outcome {
    pub result: ResultDocument,
    pub exit_code: i32,
    /// Knows every credential the command knew (parameters, context, what it sent and
    /// received): [`Outcome::to_json`] writes the result without any of them outside `context`.
    pub redactor: Rc<Redactor>,
}

impl Outcome {
    /// The result as JSON text and the exit status: redacted, and at most
    /// [`output::MAX_RESULT_BYTES`]. A larger result becomes an error entry (exit 1) with the
    /// context kept and no incidents or cursor, so the host loses nothing.
    pub fn to_json(&self, pretty: bool) -> (Vec<u8>, i32) {
        let redactor = &self.redactor;
        let (bytes, exit_code) = match self.result.to_json(redactor, output::MAX_RESULT_BYTES) {
            Ok(bytes) => (bytes, self.exit_code),
            Err(output::TooLarge) => (self.too_large(redactor), 1),
        };
        match pretty {
            true => (indented(bytes), exit_code),
            false => (bytes, exit_code),
        }
    }

    fn too_large(&self, redactor: &Redactor) -> Vec<u8> {
        let error = Error::Incomplete(format!(
            "The result was larger than {} MiB, the most this integration hands to the host, so nothing of it was kept (a fetch moved no cursor). Use a smaller limit or a narrower filter.",
            output::MAX_RESULT_BYTES / (1024 * 1024)
        ));
        let mut result = ResultDocument::bare(vec![error_entry(&error)]);
        result.context = self.result.context.clone();
        result.context_changed = self.result.context_changed;
        result.context_version = self.result.context_version.clone();
        // The context is the host's, not a Graph answer: it fits unless the host sent a huge one.
        result.to_json(redactor, usize::MAX).unwrap_or_default()
    }
}

/// `--pretty`: the same JSON, indented (key order is kept: serde_json's preserve_order).
fn indented(bytes: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => serde_json::to_vec_pretty(&value).unwrap_or(bytes),
        Err(_) => bytes,
    }
}

/// Runs one envelope to completion. Never panics on bad input; every failure is a result.
pub fn run(input: &[u8], runtime: &dyn Runtime) -> Outcome {
    let value = match envelope::parse_json(input) {
        Ok(value) => value,
        Err(error) => return failed(error, None, None),
    };
    let echo = Echo::of(&value);
    match envelope::from_value(value) {
        Ok(envelope) => execute(envelope, runtime),
        Err(error) => echo.failed(error),
    }
}

/// [`run`], with a panic (a bug) caught: it still becomes one result, exit 1, with the host's
/// context and version intact.
pub fn run_guarded(input: &[u8], runtime: &dyn Runtime) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(input, runtime)))
        .unwrap_or_else(|_| Echo::from_bytes(input).failed(Error::Internal("the command stopped unexpectedly".into())))
}

/// What a failed envelope still lets us hand back: the host's context and version, and the
/// credentials its parameters and context hold (never to be quoted back).
pub struct Echo {
    pub context: Option<Map<String, Value>>,
    pub version: Option<Value>,
    pub credentials: Vec<String>,
}

impl Echo {
    /// Picks the context (if it is an object), the version and the credentials out of a parsed
    /// envelope.
    pub fn of(value: &Value) -> Echo {
        let context = value.get("context").and_then(Value::as_object).cloned();
        let mut credentials = value
            .get("params")
            .and_then(Value::as_object)
            .map(params::credentials)
            .unwrap_or_default();
        credentials.extend(context.as_ref().map(known_secrets).unwrap_or_default());
        Echo {
            context,
            version: value.get("context_version").cloned(),
            credentials,
        }
    }

    /// The result for `error`: the host's context and version back, redacted of the envelope's
    /// credentials.
    pub fn failed(self, error: Error) -> Outcome {
        let mut outcome = failed(error, self.context, self.version);
        outcome.redactor = Rc::new(Redactor::new(self.credentials.iter().map(String::as_str)));
        outcome
    }

    /// From raw stdin bytes, for the panic path.
    pub fn from_bytes(input: &[u8]) -> Echo {
        envelope::parse_json(input).map_or(
            Echo {
                context: None,
                version: None,
                credentials: Vec::new(),
            },
            |v| Echo::of(&v),
        )
    }
}

fn execute(envelope: Envelope, runtime: &dyn Runtime) -> Outcome {
    let Envelope {
        command,
        args,
        params,
        context,
        context_version,
        last_run,
        instance_name,
        other_keys,
    } = envelope;
    let prepared = commands::find(&command).and_then(|spec| {
        let arguments = spec.check_args(&args, &other_keys)?;
        Ok((spec, arguments, Config::from_params(&params)?))
    });
    let (spec, arguments, config) = match prepared {
        Ok(ready) => ready,
        Err(error) => {
            let mut credentials = params::credentials(&params);
            credentials.extend(known_secrets(&context));
            let echo = Echo {
                context: Some(context),
                version: context_version,
                credentials,
            };
            return echo.failed(error);
        }
    };
    let input_context = context.clone();
    let mut session = Session::new(config, context, runtime);
    session.http.add_credentials(params::credentials(&params));
    session.http.add_credentials(known_secrets(&input_context));
    session.last_run = last_run;
    session.instance_name = instance_name;
    let outcome = spec.run(&mut session, &arguments);
    session.http.add_credentials(known_secrets(&session.context));
    let mut result = ResultDocument::bare(Vec::new());
    result.context_changed = session.context != input_context;
    result.context = Some(session.context);
    result.context_version = context_version;
    let mut finished = finish(result, outcome);
    // First, where it is seen: the last entry must stay the command's (the bridge merges a
    // scheduled command into it), and test-module and fetch-incidents, whose first entry the
    // bridge reads, declare no arguments and so never get this warning.
    let warning = spec.top_level_warning(&other_keys);
    finished.result.entries.splice(0..0, warning);
    finished.redactor = session.http.redactor();
    finished
}

/// The secret values a context holds (tokens and the device code; `refresh_token` as older
/// hosts named it), for redaction.
fn known_secrets(context: &Map<String, Value>) -> Vec<String> {
    use auth::{device_code, tokens};
    [
        tokens::ACCESS_TOKEN,
        tokens::REFRESH_TOKEN,
        "refresh_token",
        device_code::DEVICE_CODE,
    ]
    .iter()
    .filter_map(|key| context.get(*key).and_then(Value::as_str))
    .map(str::to_string)
    .collect()
}

/// Puts the command's output, or its error entry, into the result.
fn finish(mut result: ResultDocument, outcome: Result<commands::CommandOutput, Error>) -> Outcome {
    match outcome {
        Ok(output) => {
            result.entries = output.entries;
            result.scheduled_command = output.scheduled;
            result.incidents = output.incidents;
            result.last_run = output.last_run;
            result.mirror = output.mirror;
            let exit_code = output.error.map_or(0, |error| {
                result.entries.push(error_entry(&error));
                error.exit_code()
            });
            Outcome {
                result,
                exit_code,
                redactor: Rc::default(),
            }
        }
        Err(error) => {
            result.entries = vec![error_entry(&error)];
            Outcome {
                result,
                exit_code: error.exit_code(),
                redactor: Rc::default(),
            }
        }
    }
}

/// The result for a failure before any command ran: the host's context comes back untouched.
pub fn failed(error: Error, context: Option<Map<String, Value>>, version: Option<Value>) -> Outcome {
    let mut result = ResultDocument::bare(vec![error_entry(&error)]);
    result.context = context;
    result.context_version = version;
    Outcome {
        result,
        exit_code: error.exit_code(),
        redactor: Rc::default(),
    }
}

fn error_entry(error: &Error) -> Entry {
    Entry::error(error.to_string(), error.contents())
}

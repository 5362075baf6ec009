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
pub mod output;
pub mod params;
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
use runtime::Runtime;
use serde_json::{Map, Value};
use session::Session;

/// How an invocation ends: the [`ResultDocument`] to print and the exit status to leave with.
/// (A command handler returns a [`commands::CommandOutput`]; [`run`] turns it into this.)
#[derive(Debug)]
pub struct Outcome {
    pub result: ResultDocument,
    pub exit_code: i32,
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
        Err(error) => failed(error, echo.context, echo.version),
    }
}

/// [`run`], with a panic (a bug) caught: it still becomes one result, exit 1, with the host's
/// context and version intact.
pub fn run_guarded(input: &[u8], runtime: &dyn Runtime) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(input, runtime))).unwrap_or_else(|_| {
        let echo = Echo::from_bytes(input);
        failed(
            Error::Internal("the command stopped unexpectedly".into()),
            echo.context,
            echo.version,
        )
    })
}

/// What a failed envelope still lets us hand back: the host's context and version.
pub struct Echo {
    pub context: Option<Map<String, Value>>,
    pub version: Option<Value>,
}

impl Echo {
    /// Picks the context (if it is an object) and the version out of a parsed envelope.
    pub fn of(value: &Value) -> Echo {
        Echo {
            context: value.get("context").and_then(Value::as_object).cloned(),
            version: value.get("context_version").cloned(),
        }
    }

    /// From raw stdin bytes, for the panic path.
    pub fn from_bytes(input: &[u8]) -> Echo {
        envelope::parse_json(input).map_or(
            Echo {
                context: None,
                version: None,
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
        other_keys,
    } = envelope;
    let prepared = commands::find(&command).and_then(|spec| {
        let arguments = spec.check_args(&args, &other_keys)?;
        Ok((spec, arguments, Config::from_params(&params)?))
    });
    let (spec, arguments, config) = match prepared {
        Ok(ready) => ready,
        Err(error) => return failed(error, Some(context), context_version),
    };
    let input_context = context.clone();
    let mut session = Session::new(config, context, runtime);
    session.last_run = last_run;
    let outcome = spec.run(&mut session, &arguments);
    let mut secrets = known_secrets(&input_context);
    secrets.extend(known_secrets(&session.context));
    secrets.extend(session.config.client_secret.as_ref().map(|s| s.expose().to_string()));
    secrets.extend(session.http.credentials_sent());
    secrets.sort_unstable();
    secrets.dedup();
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
    output::redact(&mut finished.result.entries, &secrets);
    finished
}

/// The secret values a context holds (tokens and the device code), for [`output::redact`].
fn known_secrets(context: &Map<String, Value>) -> Vec<String> {
    use auth::{device_code, tokens};
    [tokens::ACCESS_TOKEN, tokens::REFRESH_TOKEN, device_code::DEVICE_CODE]
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
            let exit_code = output.error.map_or(0, |error| {
                result.entries.push(error_entry(&error));
                error.exit_code()
            });
            Outcome { result, exit_code }
        }
        Err(error) => {
            result.entries = vec![error_entry(&error)];
            Outcome {
                result,
                exit_code: error.exit_code(),
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
    }
}

fn error_entry(error: &Error) -> Entry {
    Entry::error(error.to_string(), error.contents())
}

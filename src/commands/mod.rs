//! The command table: every command's name, arguments and handler. integration.yml is checked
//! against this table by the tests, so the two cannot drift.

mod auth;

use crate::envelope::Args;
use crate::error::Error;
use crate::output::{Entry, ScheduledCommand};
use crate::session::Session;
use serde_json::{Map, Value};

/// How an argument is coerced from XSOAR's strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Free text.
    Text,
    /// `true` / `false`.
    Flag,
    /// A whole number in the range.
    Number { min: u64, max: u64 },
    /// A list (array, JSON-array string or comma string).
    List,
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgKind,
    pub required: bool,
}

/// What a command produced.
#[derive(Debug, Default)]
pub struct Output {
    pub entries: Vec<Entry>,
    pub scheduled: Option<ScheduledCommand>,
    pub incidents: Option<Vec<Value>>,
    pub last_run: Option<Map<String, Value>>,
}

impl Output {
    /// An output of one entry.
    pub fn entry(entry: Entry) -> Self {
        Output {
            entries: vec![entry],
            ..Output::default()
        }
    }
}

type Handler = fn(&mut Session, &Args) -> Result<Output, Error>;

/// One command: its name as XSOAR calls it, its arguments and its handler.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub args: &'static [ArgSpec],
    handler: Handler,
}

const fn arg(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: false,
    }
}

/// Every command this binary runs.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "test-module",
        args: &[],
        handler: auth::test_module,
    },
    CommandSpec {
        name: "azure-ad-auth-start",
        args: &[],
        handler: auth::start,
    },
    CommandSpec {
        name: "azure-ad-auth-complete",
        args: &[arg("polling", ArgKind::Flag)],
        handler: auth::complete,
    },
    CommandSpec {
        name: "azure-ad-auth-test",
        args: &[],
        handler: auth::test,
    },
    CommandSpec {
        name: "azure-ad-auth-reset",
        args: &[],
        handler: auth::reset,
    },
];

/// Finds a command by name.
pub fn find(name: &str) -> Result<&'static CommandSpec, Error> {
    COMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Error::UnknownCommand(name.to_string()))
}

impl CommandSpec {
    /// Checks every declared argument before anything is sent, so a bad one is an exit-2 error.
    /// Arguments the table does not declare are ignored (hosts add their own).
    pub fn check_args(&self, args: &Args) -> Result<(), Error> {
        for spec in self.args {
            let present = match spec.kind {
                ArgKind::Text => args.text(spec.name)?.is_some(),
                ArgKind::Flag => args.flag(spec.name)?.is_some(),
                ArgKind::Number { min, max } => args.number(spec.name, min, max)?.is_some(),
                ArgKind::List => !args.list(spec.name)?.is_empty(),
            };
            if spec.required && !present {
                return Err(Error::argument(spec.name, "is required."));
            }
        }
        Ok(())
    }

    /// Runs the command.
    pub fn run(&self, session: &mut Session, args: &Args) -> Result<Output, Error> {
        (self.handler)(session, args)
    }
}

//! The command table: every command's name, arguments and handler. integration.yml is checked
//! against this table by the tests, so the two cannot drift.

mod auth;
mod fetch;
mod listing;
mod risk_detections;
mod risky_users;

use listing::MAX_LIMIT;
use risky_users::{RISK_DETAILS, RISK_LEVELS, RISK_STATES};

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
    /// One of a fixed set of values (XSOAR's predefined values).
    Choice(&'static [&'static str]),
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgKind,
    pub required: bool,
}

/// What a command handler produced: entries and, when relevant, incidents, a last run, a
/// scheduled command or the error that cut it short. [`crate::run`] turns it into an [`crate::Outcome`].
#[derive(Debug, Default)]
pub struct CommandOutput {
    pub entries: Vec<Entry>,
    pub scheduled: Option<ScheduledCommand>,
    pub incidents: Option<Vec<Value>>,
    pub last_run: Option<Map<String, Value>>,
    /// Set when the command got only part-way: its entries stand, this error's entry follows
    /// them, and the command fails (exit 1).
    pub error: Option<Error>,
}

impl CommandOutput {
    /// An output of one entry.
    pub fn entry(entry: Entry) -> Self {
        CommandOutput {
            entries: vec![entry],
            ..CommandOutput::default()
        }
    }
}

type Handler = fn(&mut Session, &Args) -> Result<CommandOutput, Error>;

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

const fn required(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: true,
    }
}

const TEXT: ArgKind = ArgKind::Text;
const LIMIT: ArgSpec = arg("limit", ArgKind::Number { min: 1, max: MAX_LIMIT });
const FILTER: ArgSpec = arg("filter_expression", TEXT);
const NEXT_LINK: ArgSpec = arg("next_link", TEXT);
const USER_IDS: &[ArgSpec] = &[required("user_ids", ArgKind::List)];

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
    CommandSpec {
        name: "azure-ad-identity-protection-risks-list",
        args: &[
            arg("id", TEXT),
            arg("user_id", TEXT),
            arg("user_principal_name", TEXT),
            arg("country", TEXT),
            FILTER,
            LIMIT,
            NEXT_LINK,
        ],
        handler: risk_detections::list,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-user-list",
        args: &[
            arg("updated_time", TEXT),
            arg("risk_level", ArgKind::Choice(RISK_LEVELS)),
            arg("risk_state", ArgKind::Choice(RISK_STATES)),
            arg("risk_detail", ArgKind::Choice(RISK_DETAILS)),
            arg("user_principal_name", TEXT),
            arg("user_name", TEXT),
            FILTER,
            LIMIT,
            NEXT_LINK,
        ],
        handler: risky_users::list,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-user-history-list",
        args: &[required("user_id", TEXT), FILTER, LIMIT, NEXT_LINK],
        handler: risky_users::history,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-user-confirm-compromised",
        args: USER_IDS,
        handler: risky_users::confirm_compromised,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-user-dismiss",
        args: USER_IDS,
        handler: risky_users::dismiss,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-user-confirm-safe",
        args: USER_IDS,
        handler: risky_users::confirm_safe,
    },
    CommandSpec {
        name: "fetch-incidents",
        args: &[],
        handler: fetch::fetch,
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
                ArgKind::Choice(options) => args.choice(spec.name, options)?.is_some(),
            };
            if spec.required && !present {
                return Err(Error::argument(spec.name, "is required."));
            }
        }
        Ok(())
    }

    /// Runs the command.
    pub fn run(&self, session: &mut Session, args: &Args) -> Result<CommandOutput, Error> {
        (self.handler)(session, args)
    }
}

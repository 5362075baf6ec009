//! The command table: every command's name, arguments and handler. integration.yml is checked
//! against this table by the tests, so the two cannot drift.

mod auth;
mod fetch;
mod listing;
mod mirror;
mod respond;
mod risk_detections;
mod risky_users;
mod service_principals;
mod signins;

use listing::MAX_LIMIT;
use risky_users::{RISK_DETAILS, RISK_LEVELS, RISK_STATES};

use crate::envelope::Args;
use crate::error::Error;
use crate::output::{Entry, Incident, ScheduledCommand};
use crate::session::Session;
use serde_json::{Map, Value};
use std::collections::HashMap;

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
    pub incidents: Option<Vec<Incident>>,
    pub last_run: Option<Map<String, Value>>,
    /// The mirroring commands' answer (`mirror` in the result).
    pub mirror: Option<Value>,
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

type Handler = fn(&mut Session, &Arguments) -> Result<CommandOutput, Error>;

/// One checked argument value.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Text(String),
    Flag(bool),
    Number(u64),
    List(Vec<String>),
    Choice(&'static str),
}

/// A command's arguments as the table checked them, once: typed, in range, required ones
/// present. Handlers read them without re-checking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arguments(HashMap<&'static str, Arg>);

impl Arguments {
    /// A text argument, trimmed and non-empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(Arg::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// A text argument the table declares required (so present).
    pub fn required_text(&self, name: &str) -> &str {
        self.text(name).unwrap_or_default()
    }

    /// A flag; absent is false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(Arg::Flag(true)))
    }

    /// A number, within the table's range.
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.0.get(name) {
            Some(Arg::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// A list; absent is empty.
    pub fn list(&self, name: &str) -> &[String] {
        match self.0.get(name) {
            Some(Arg::List(items)) => items,
            _ => &[],
        }
    }

    /// One of the predefined values, as the table spells it.
    pub fn choice(&self, name: &str) -> Option<&'static str> {
        match self.0.get(name) {
            Some(Arg::Choice(value)) => Some(value),
            _ => None,
        }
    }
}

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
const SERVICE_PRINCIPAL_IDS: &[ArgSpec] = &[required("service_principal_ids", ArgKind::List)];
const REQUEST_IDS: &[ArgSpec] = &[required("request_ids", ArgKind::List)];
const IP_RANGES: &[ArgSpec] = &[required("ip", ArgKind::List), arg("named_location", TEXT)];

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
        name: "azure-ad-identity-protection-risky-service-principal-list",
        args: &[
            arg("updated_time", TEXT),
            arg("risk_level", ArgKind::Choice(RISK_LEVELS)),
            arg("risk_state", ArgKind::Choice(RISK_STATES)),
            arg("risk_detail", ArgKind::Choice(service_principals::RISK_DETAILS)),
            arg("display_name", TEXT),
            arg("app_id", TEXT),
            FILTER,
            LIMIT,
            NEXT_LINK,
        ],
        handler: service_principals::list,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-service-principal-history-list",
        args: &[required("service_principal_id", TEXT), LIMIT, NEXT_LINK],
        handler: service_principals::history,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-service-principal-confirm-compromised",
        args: SERVICE_PRINCIPAL_IDS,
        handler: service_principals::confirm_compromised,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-risky-service-principal-dismiss",
        args: SERVICE_PRINCIPAL_IDS,
        handler: service_principals::dismiss,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-service-principal-risks-list",
        args: &[
            arg("id", TEXT),
            arg("service_principal_id", TEXT),
            arg("app_id", TEXT),
            FILTER,
            LIMIT,
            NEXT_LINK,
        ],
        handler: service_principals::risks,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-sign-in-get",
        args: &[arg("id", TEXT), arg("detection_id", TEXT)],
        handler: signins::get,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-sign-ins-list",
        args: &[
            arg("user_id", TEXT),
            arg("user_principal_name", TEXT),
            arg("ip_address", TEXT),
            arg("correlation_id", TEXT),
            arg("start_time", TEXT),
            arg("end_time", TEXT),
            arg("around_detection_id", TEXT),
            arg("window", TEXT),
            arg("risky_only", ArgKind::Flag),
            FILTER,
            LIMIT,
            NEXT_LINK,
        ],
        handler: signins::list,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-sign-in-confirm-safe",
        args: REQUEST_IDS,
        handler: signins::confirm_safe,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-sign-in-confirm-compromised",
        args: REQUEST_IDS,
        handler: signins::confirm_compromised,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-user-sessions-revoke",
        args: &[required("user_id", ArgKind::List)],
        handler: respond::revoke_sessions,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-ip-block",
        args: IP_RANGES,
        handler: respond::block,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-ip-unblock",
        args: IP_RANGES,
        handler: respond::unblock,
    },
    CommandSpec {
        name: "azure-ad-identity-protection-named-locations-list",
        args: &[arg("display_name", TEXT), LIMIT, NEXT_LINK],
        handler: respond::list_locations,
    },
    CommandSpec {
        name: "fetch-incidents",
        args: &[],
        handler: fetch::fetch,
    },
    CommandSpec {
        name: "get-modified-remote-data",
        args: &[required("lastUpdate", TEXT)],
        handler: mirror::get_modified,
    },
    CommandSpec {
        name: "get-remote-data",
        args: &[required("id", TEXT), arg("lastUpdate", TEXT)],
        handler: mirror::get_remote,
    },
    CommandSpec {
        name: "update-remote-system",
        args: &[
            arg("data", TEXT),
            arg("entries", TEXT),
            arg("incidentChanged", TEXT),
            required("remoteId", TEXT),
            arg("status", ArgKind::Number { min: 0, max: 255 }),
            arg("delta", TEXT),
        ],
        handler: mirror::update_remote,
    },
    CommandSpec {
        name: "get-mapping-fields",
        args: &[],
        handler: mirror::mapping_fields,
    },
];

/// Finds a command by name; an unknown name comes back with the closest command, if any is close.
pub fn find(name: &str) -> Result<&'static CommandSpec, Error> {
    COMMANDS
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Error::UnknownCommand {
            name: name.to_string(),
            closest: closest_command(name),
        })
}

/// The command a mistyped name most likely meant (see [`closest_name`]).
pub fn closest_command(typed: &str) -> Option<&'static str> {
    closest_name(typed, COMMANDS.iter().map(|c| c.name))
}

/// The name a mistyped one most likely meant: the nearest of `names` by edit distance, offered
/// only when it is within max(3, a quarter of the typed length) edits and at most half the
/// name's length, so a plural, a missing `!` or a swapped word is caught while a word like `foo`
/// gets no far-fetched guess (not even the four-letter `demo`, three edits away). Case is
/// ignored: every name is lower case. Also the subcommands' suggestion (src/main.rs).
pub fn closest_name<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = 3.max(typed.chars().count() / 4);
    let typed = typed.to_lowercase();
    names
        .into_iter()
        .map(|name| (edit_distance(&typed, name), name))
        .filter(|(distance, name)| *distance <= limit && *distance <= name.chars().count() / 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance in characters. Written here (one row of the classic table) because no
/// crate in Cargo.lock has it and this one use does not justify a dependency. The typed name is
/// at most 200 characters (the envelope schema), so the work is bounded.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

impl CommandSpec {
    /// Checks every declared argument before anything is sent, so a bad one is an exit-2 error,
    /// and hands them on typed. Arguments the table does not declare are ignored (hosts add
    /// their own). `top_level` is the envelope's keys outside `args`: a missing required
    /// argument's error names the declared ones found there, the likely cause.
    pub fn check_args(&self, args: &Args, top_level: &[String]) -> Result<Arguments, Error> {
        let mut checked = Arguments::default();
        for spec in self.args {
            let value = match spec.kind {
                ArgKind::Text => args.text(spec.name)?.map(Arg::Text),
                ArgKind::Flag => args.flag(spec.name)?.map(Arg::Flag),
                ArgKind::Number { min, max } => args.number(spec.name, min, max)?.map(Arg::Number),
                ArgKind::List => Some(args.list(spec.name)?).filter(|l| !l.is_empty()).map(Arg::List),
                ArgKind::Choice(options) => args.choice(spec.name, options)?.map(Arg::Choice),
            };
            match value {
                Some(value) => {
                    checked.0.insert(spec.name, value);
                }
                None if spec.required => return Err(Error::argument(spec.name, self.missing(top_level))),
                None => {}
            }
        }
        Ok(checked)
    }

    /// The declared arguments among the envelope's top-level keys: given, but not under `args`,
    /// so ignored. Only declared names count: any other key would be ignored under `args` too,
    /// and hosts may add top-level keys of their own (the schema lets them).
    pub fn given_at_top_level(&self, top_level: &[String]) -> Vec<&'static str> {
        self.args
            .iter()
            .map(|a| a.name)
            .filter(|name| top_level.iter().any(|key| key == name))
            .collect()
    }

    /// The reason a required argument is missing, with the top-level hint when it applies.
    fn missing(&self, top_level: &[String]) -> String {
        let names = self.given_at_top_level(top_level);
        match top_level_note(&names) {
            Some(note) => format!("is required. {note}; put {} under `args`.", them(names.len())),
            None => "is required.".to_string(),
        }
    }

    /// The warning for declared arguments given at the top level of a command that ran anyway.
    pub fn top_level_warning(&self, top_level: &[String]) -> Option<Entry> {
        let names = self.given_at_top_level(top_level);
        top_level_note(&names)
            .map(|note| Entry::warning(format!("{note} and ignored; put {} under `args`.", them(names.len()))))
    }

    /// Runs the command on its checked arguments.
    pub fn run(&self, session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
        (self.handler)(session, args)
    }
}

/// "`a` was" / "`a`, `b` were" given at the top level. Names only, never values; they come from
/// the table, so they are plain words that need no markdown escaping.
fn top_level_note(names: &[&str]) -> Option<String> {
    let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    let verb = if listed.len() == 1 { "was" } else { "were" };
    (!listed.is_empty()).then(|| format!("{} {verb} given at the top level of the envelope", listed.join(", ")))
}

fn them(count: usize) -> &'static str {
    if count == 1 { "it" } else { "them" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(command: &str, args: Value) -> Result<Arguments, Error> {
        let args = Args(args.as_object().cloned().unwrap_or_default());
        find(command).and_then(|spec| spec.check_args(&args, &[]))
    }

    #[test]
    fn arguments_are_checked_once_and_handed_on_typed() {
        let history = checked(
            "azure-ad-identity-protection-risky-user-history-list",
            json!({"user_id": " u1 ", "limit": "700", "undeclared": "ignored"}),
        )
        .unwrap();
        assert_eq!(
            (history.required_text("user_id"), history.number("limit")),
            ("u1", Some(700))
        );
        assert_eq!(history.text("undeclared"), None);
        let users = checked(
            "azure-ad-identity-protection-risky-user-list",
            json!({"risk_level": "HIGH"}),
        )
        .unwrap();
        assert_eq!(users.choice("risk_level"), Some("high"));
        let actions = checked(
            "azure-ad-identity-protection-risky-user-dismiss",
            json!({"user_ids": "a, b"}),
        )
        .unwrap();
        assert_eq!(actions.list("user_ids"), ["a", "b"]);
        let complete = checked("azure-ad-auth-complete", json!({"polling": "true"})).unwrap();
        assert!(complete.flag("polling"));
    }

    #[test]
    fn edit_distance_counts_characters() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("kitten", "sitting", 3),
            ("users", "user", 1),
            ("é", "e", 1),
        ];
        for (a, b, distance) in cases {
            assert_eq!(
                (edit_distance(a, b), edit_distance(b, a)),
                (distance, distance),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn only_close_names_get_a_suggestion() {
        let cases = [
            ("azure-ad-auth-stat", Some("azure-ad-auth-start")),
            ("fetch-incident", Some("fetch-incidents")),
            ("TEST-MODULE", Some("test-module")),
            ("foo", None),
            ("", None),
        ];
        for (typed, closest) in cases {
            assert_eq!(closest_command(typed), closest, "{typed}");
        }
    }

    #[test]
    fn short_names_get_a_suggestion_only_within_half_their_length() {
        let subcommands = ["demo", "emulator", "help", "version"];
        let cases = [
            ("emulater", Some("emulator")),
            ("emualtor", Some("emulator")),
            ("dmeo", Some("demo")),
            ("Versoin", Some("version")),
            ("foo", None),
            ("test", None),
            ("serve", None),
            ("", None),
        ];
        for (typed, closest) in cases {
            assert_eq!(closest_name(typed, subcommands), closest, "{typed}");
        }
    }

    #[test]
    fn arguments_at_the_top_level_are_named_in_the_error_and_the_warning() {
        let top = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let history = find("azure-ad-identity-protection-risky-user-history-list").unwrap();
        let error = history
            .check_args(&Args::default(), &top(&["user_id", "junk"]))
            .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("is required. `user_id` was given at the top level of the envelope; put it under `args`."),
            "{error}"
        );
        let warning = history
            .top_level_warning(&top(&["limit", "next_link", "junk"]))
            .unwrap();
        assert_eq!(
            warning.human_readable,
            "`limit`, `next_link` were given at the top level of the envelope and ignored; put them under `args`."
        );
        assert!(history.top_level_warning(&top(&["junk"])).is_none());
    }

    #[test]
    fn the_table_refuses_what_handlers_then_never_see() {
        let cases = [
            (
                "azure-ad-identity-protection-risky-user-history-list",
                json!({}),
                "user_id",
            ),
            (
                "azure-ad-identity-protection-risky-user-dismiss",
                json!({"user_ids": " , "}),
                "user_ids",
            ),
            (
                "azure-ad-identity-protection-risks-list",
                json!({"limit": "0"}),
                "limit",
            ),
            (
                "azure-ad-identity-protection-risky-user-list",
                json!({"risk_level": "severe"}),
                "risk_level",
            ),
        ];
        for (command, args, name) in cases {
            let error = checked(command, args).unwrap_err();
            assert!(
                matches!(&error, Error::Argument { name: n, .. } if n == name),
                "{command}: {error}"
            );
        }
    }
}

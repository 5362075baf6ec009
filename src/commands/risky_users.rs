//! Risky users: list, history, and the three actions (confirm compromised, dismiss, confirm safe).

use super::Arguments;
use super::CommandOutput;
use super::listing::{self, ListKind};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::query::Query;
use crate::markdown::quoted;
use crate::output::Entry;
use crate::session::Session;
use crate::time::{iso8601, parse_since};
use serde_json::json;

/// `risk_level` values (the original's `unknownFeatureValue` typo is corrected).
pub const RISK_LEVELS: &[&str] = &["low", "medium", "high", "hidden", "none", "unknownFutureValue"];
/// `risk_state` values.
pub const RISK_STATES: &[&str] = &[
    "none",
    "confirmedSafe",
    "remediated",
    "dismissed",
    "atRisk",
    "confirmedCompromised",
    "unknownFutureValue",
];
/// `risk_detail` values.
pub const RISK_DETAILS: &[&str] = &[
    "none",
    "adminGeneratedTemporaryPassword",
    "userPerformedSecuredPasswordChange",
    "userPerformedSecuredPasswordReset",
    "adminConfirmedSigninSafe",
    "aiConfirmedSigninSafe",
    "userPassedMFADrivenByRiskBasedPolicy",
    "adminDismissedAllRiskForUser",
    "adminConfirmedSigninCompromised",
    "hidden",
    "adminConfirmedUserCompromised",
    "unknownFutureValue",
];

/// Microsoft's documented limit of ids per action call (users and service principals).
pub const BATCH: usize = 60;

const PATH: &str = "identityProtection/riskyUsers";

/// `azure-ad-identity-protection-risky-user-list`.
pub fn list(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let upn = args.text("user_principal_name").or(args.text("user_name"));
    let filter = Filter::new()
        .eq("riskLevel", args.choice("risk_level"))
        .eq("riskState", args.choice("risk_state"))
        .eq("riskDetail", args.choice("risk_detail"))
        .eq("userPrincipalName", upn)
        .since("riskLastUpdatedDateTime", updated_since(session, args)?.as_deref())
        .build();
    let kind = ListKind {
        row: None,
        query: Query::at(PATH),
        context: "RiskyUsers",
        title: "Risky Users".into(),
        action: "Listing risky users",
    };
    listing::run(session, args, &kind, filter)
}

pub fn updated_since(session: &Session, args: &Arguments) -> Result<Option<String>, Error> {
    let Some(text) = args.text("updated_time") else {
        return Ok(None);
    };
    let since = parse_since(text, session.now()).ok_or_else(|| {
        Error::argument(
            "updated_time",
            "expected a time such as `12 hours`, `7 days`, `2 weeks` or an ISO date like 2024-05-01.",
        )
    })?;
    Ok(Some(iso8601(since)))
}

/// `azure-ad-identity-protection-risky-user-history-list`.
pub fn history(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let user_id = args.required_text("user_id");
    let action = format!("Listing the risk history of user {}", quoted(user_id));
    let kind = ListKind {
        row: None,
        query: Query::at(PATH).segment(user_id).then("history"),
        context: "RiskyUserHistory",
        title: format!("Risky user history for {}", quoted(user_id)),
        action: &action,
    };
    listing::run(session, args, &kind, None)
}

/// What an action acts on: the collection, the argument and body key holding the ids, and the
/// noun for messages. Risky users and risky service principals share the action code.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub collection: &'static str,
    pub argument: &'static str,
    pub body_key: &'static str,
    pub one: &'static str,
    pub many: &'static str,
}

const USERS: Subject = Subject {
    collection: PATH,
    argument: "user_ids",
    body_key: "userIds",
    one: "user",
    many: "users",
};

/// One action on risky users or risky service principals.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    pub subject: Subject,
    pub path: &'static str,
    pub doing: &'static str,
    pub done: &'static str,
}

const CONFIRM_COMPROMISED: Action = Action {
    subject: USERS,
    path: "confirmCompromised",
    doing: "Confirming users compromised",
    done: "✅ Confirmed successfully.",
};
const DISMISS: Action = Action {
    subject: USERS,
    path: "dismiss",
    doing: "Dismissing user risk",
    done: "✅ Dismissed successfully.",
};
const CONFIRM_SAFE: Action = Action {
    subject: USERS,
    path: "confirmSafe",
    doing: "Confirming users safe",
    done: "✅ Confirmed safe successfully.",
};

/// `azure-ad-identity-protection-risky-user-confirm-compromised`.
pub fn confirm_compromised(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    act(session, args, CONFIRM_COMPROMISED)
}

/// `azure-ad-identity-protection-risky-user-dismiss`.
pub fn dismiss(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    act(session, args, DISMISS)
}

/// `azure-ad-identity-protection-risky-user-confirm-safe`.
pub fn confirm_safe(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    act(session, args, CONFIRM_SAFE)
}

/// Sends the ids, de-duplicated, in batches of at most 60; stops at the first failed batch and
/// says which ids were applied and which were not.
pub fn act(session: &mut Session, args: &Arguments, action: Action) -> Result<CommandOutput, Error> {
    let subject = action.subject;
    let mut ids = args.list(subject.argument).to_vec();
    dedupe(&mut ids);
    let query = Query::at(subject.collection).then(action.path);
    let batches: Vec<&[String]> = ids.chunks(BATCH).collect();
    for (index, batch) in batches.iter().enumerate() {
        client::post_json(session, &query, &json!({ subject.body_key: batch }), action.doing)
            .map_err(|error| partial(action, &batches, index, error))?;
    }
    let noun = if ids.len() == 1 { subject.one } else { subject.many };
    let markdown = format!("{} Updated {} {noun}.", action.done, ids.len());
    Ok(CommandOutput::entry(Entry::json(
        json!({"action": action.path, subject.body_key: ids}),
        markdown,
    )))
}

fn dedupe(ids: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.to_ascii_lowercase()));
}

fn partial(action: Action, batches: &[&[String]], failed: usize, error: Error) -> Error {
    let flatten = |range: &[&[String]]| range.iter().flat_map(|b| b.iter().cloned()).collect::<Vec<String>>();
    let applied = flatten(&batches[..failed]);
    let not_attempted = flatten(&batches[failed + 1..]);
    let message = if batches.len() == 1 {
        error.to_string()
    } else {
        format!(
            "{}: batch {} of {} ({} {many}) failed; {} {many} in earlier batches were already updated, {} {many} after it were not attempted.\n\n{error}",
            action.doing,
            failed + 1,
            batches.len(),
            batches[failed].len(),
            applied.len(),
            not_attempted.len(),
            many = action.subject.many,
        )
    };
    let details = json!({"applied": applied, "failed": batches[failed], "not_attempted": not_attempted, "error": error.contents()});
    Error::Partial { message, details }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_first_spelling_and_order() {
        let mut ids = vec!["b".to_string(), "A".into(), "b".into(), "a".into(), "c".into()];
        dedupe(&mut ids);
        assert_eq!(ids, ["b", "A", "c"]);
    }

    #[test]
    fn partial_failure_says_what_was_applied() {
        let ids: Vec<String> = (0..130).map(|i| i.to_string()).collect();
        let batches: Vec<&[String]> = ids.chunks(BATCH).collect();
        let error = partial(DISMISS, &batches, 1, Error::Internal("boom".into()));
        let Error::Partial { message, details } = error else {
            panic!("not partial")
        };
        assert!(message.contains("batch 2 of 3 (60 users) failed; 60 users in earlier batches were already updated, 10 users after it were not attempted"));
        assert_eq!(
            (
                details["applied"].as_array().unwrap().len(),
                details["not_attempted"].as_array().unwrap().len()
            ),
            (60, 10)
        );
    }
}

//! The signIn actions `confirmSafe` and `confirmCompromised` (`POST
//! /auditLogs/signIns/{action}`, body `{"requestIds": [...]}`, 204 No Content): an admin's
//! verdict on sign-ins. Identity Protection applies it to the risk detections of those sign-ins
//! (the detections whose `requestId` is named) and then to their users' risk, as Microsoft Learn
//! describes it ("Provide risk feedback in Microsoft Entra ID Protection"): a sign-in confirmed
//! compromised moves "the sign-in's aggregate risk and the user risk to High"; one confirmed safe
//! moves the sign-in's risk to none "and reverse[s] its effect on the user risk". Unknown request
//! ids are ignored, as the riskyUsers actions ignore unknown users. The sign-ins of the log
//! take the verdict too: their `riskState` and `riskDetail` as their detections', and their
//! aggregated risk high (compromised) or none (safe); the risk during sign-in is history and stays.

use serde_json::{Value, json};

use super::actions::{self, ACTIVE_RISK};
use super::errors::GraphError;
use super::request::RecordedRequest;
use super::state::State;
use super::wire::graph_timestamp_now;

/// An admin's verdict on sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Safe,
    Compromised,
}

/// A user's risk: `(riskState, riskLevel, riskDetail)`.
type UserRisk = (&'static str, String, String);

impl Verdict {
    /// The verdict named by the last path segment (case-insensitive).
    pub fn from_segment(segment: &str) -> Option<Verdict> {
        [
            (Verdict::Safe, "confirmSafe"),
            (Verdict::Compromised, "confirmCompromised"),
        ]
        .into_iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(segment))
        .map(|(verdict, _)| verdict)
    }

    /// The sign-in's detections' new `(riskState, riskDetail)`.
    fn detection(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Safe => ("confirmedSafe", "adminConfirmedSigninSafe"),
            Verdict::Compromised => ("confirmedCompromised", "adminConfirmedSigninCompromised"),
        }
    }
}

/// Validates the body (1 to 60 request ids, like the riskyUsers actions' user ids: Microsoft
/// documents no limit of its own) and applies `verdict` for `initiated_by`.
pub(crate) fn apply(
    state: &mut State,
    request: &RecordedRequest,
    verdict: Verdict,
    initiated_by: &str,
) -> Result<(), GraphError> {
    let ids = actions::ids_of(&request.body, "requestIds")?;
    let now = graph_timestamp_now();
    mark_sign_ins(&mut state.config.sign_ins, &ids, verdict);
    let users = mark_detections(&mut state.config.risk_detections, &ids, verdict, &now);
    for user_id in users {
        let open = open_levels(&state.config.risk_detections, &user_id);
        let user = state.config.risky_users.iter().find(|u| same_id(&u["id"], &user_id));
        if let Some((risk_state, level, detail)) = user.and_then(|u| user_risk_after(u, &open, verdict)) {
            actions::set_user_risk(state, &user_id, (risk_state, &level, &detail), initiated_by, &now);
        }
    }
    Ok(())
}

/// Marks every detection of a named sign-in that is not already so (a sign-in confirmed
/// compromised is "immediately flagged as high risk ... overriding previous risk states", so any
/// state changes); returns the ids of their users, each once.
fn mark_detections(detections: &mut [Value], ids: &[String], verdict: Verdict, now: &str) -> Vec<String> {
    let (risk_state, detail) = verdict.detection();
    let mut users: Vec<String> = Vec::new();
    for detection in detections.iter_mut() {
        let named = detection["requestId"]
            .as_str()
            .is_some_and(|r| ids.iter().any(|id| id.eq_ignore_ascii_case(r)));
        if !named || detection["riskState"] == risk_state {
            continue;
        }
        actions::set_risk(detection, risk_state, detail, now);
        if verdict == Verdict::Compromised {
            detection["riskLevel"] = json!("high");
        }
        let user = detection["userId"].as_str().unwrap_or_default();
        if !user.is_empty() && !users.iter().any(|u| u.eq_ignore_ascii_case(user)) {
            users.push(user.to_owned());
        }
    }
    users
}

/// Gives each named sign-in of the log the verdict.
fn mark_sign_ins(log: &mut [Value], ids: &[String], verdict: Verdict) {
    let (risk_state, detail) = verdict.detection();
    let aggregated = match verdict {
        Verdict::Safe => "none",
        Verdict::Compromised => "high",
    };
    let named = |s: &Value| {
        s["id"]
            .as_str()
            .is_some_and(|s| ids.iter().any(|id| id.eq_ignore_ascii_case(s)))
    };
    for sign_in in log.iter_mut().filter(|s| named(s)) {
        sign_in["riskState"] = json!(risk_state);
        sign_in["riskDetail"] = json!(detail);
        sign_in["riskLevelAggregated"] = json!(aggregated);
    }
}

/// The `riskLevel` of each detection of the user that still holds risk.
fn open_levels(detections: &[Value], user_id: &str) -> Vec<String> {
    detections
        .iter()
        .filter(|d| same_id(&d["userId"], user_id))
        .filter(|d| d["riskState"].as_str().is_some_and(|s| ACTIVE_RISK.contains(&s)))
        .map(|d| d["riskLevel"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The user's risk after the verdict, or `None` when it stands. Microsoft documents the outcome
/// of a compromised sign-in (the user goes to high) but not the user's state after a safe one;
/// the emulator recomputes it the simplest faithful way: a user whose risk came from sign-ins
/// (`atRisk`, or confirmed compromised through a sign-in) with no open detection left is
/// `confirmedSafe` / `adminConfirmedSigninSafe` at level `none`; with open detections left, an
/// `atRisk` user takes the highest level among them. A verdict on the user itself (dismissed,
/// remediated, confirmed safe or compromised as a user) is not revisited by a sign-in's.
fn user_risk_after(user: &Value, open_levels: &[String], verdict: Verdict) -> Option<UserRisk> {
    if verdict == Verdict::Compromised {
        return Some(owned((
            "confirmedCompromised",
            "high",
            "adminConfirmedSigninCompromised",
        )));
    }
    let text = |key: &str| user[key].as_str().unwrap_or_default().to_owned();
    let from_signins = user["riskState"] == "atRisk"
        || (user["riskState"] == "confirmedCompromised" && user["riskDetail"] == "adminConfirmedSigninCompromised");
    if !from_signins {
        return None;
    }
    if open_levels.is_empty() {
        return Some(owned(("confirmedSafe", "none", "adminConfirmedSigninSafe")));
    }
    let level = highest(open_levels).unwrap_or_else(|| text("riskLevel"));
    let changed = user["riskState"] == "atRisk" && level != text("riskLevel");
    changed.then(|| ("atRisk", level, text("riskDetail")))
}

fn owned((risk_state, level, detail): (&'static str, &str, &str)) -> UserRisk {
    (risk_state, level.to_owned(), detail.to_owned())
}

/// The highest of `low`, `medium` and `high` among `levels` (others, like `hidden`, are not ranked).
fn highest(levels: &[String]) -> Option<String> {
    const RANKED: [&str; 3] = ["low", "medium", "high"];
    levels
        .iter()
        .filter_map(|level| RANKED.iter().position(|r| r == level))
        .max()
        .map(|at| RANKED[at].to_owned())
}

/// Whether a JSON id is `id` (GUIDs compare case-insensitively).
fn same_id(value: &Value, id: &str) -> bool {
    value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(given: &[&str]) -> Vec<String> {
        given.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn a_user_after_a_safe_sign_in() {
        let user = |state: &str, level: &str, detail: &str| json!({"riskState": state, "riskLevel": level, "riskDetail": detail});
        #[rustfmt::skip]
        let cases = [
            (user("atRisk", "high", "none"), levels(&[]), Some(("confirmedSafe", "none", "adminConfirmedSigninSafe"))),
            (user("atRisk", "high", "none"), levels(&["low", "medium"]), Some(("atRisk", "medium", "none"))),
            (user("atRisk", "medium", "none"), levels(&["medium", "hidden"]), None),
            (user("confirmedCompromised", "high", "adminConfirmedSigninCompromised"), levels(&[]), Some(("confirmedSafe", "none", "adminConfirmedSigninSafe"))),
            (user("confirmedCompromised", "high", "adminConfirmedSigninCompromised"), levels(&["low"]), None),
            (user("confirmedCompromised", "high", "adminConfirmedUserCompromised"), levels(&[]), None),
            (user("dismissed", "none", "adminDismissedAllRiskForUser"), levels(&[]), None),
        ];
        for (user, open, expected) in cases {
            assert_eq!(
                user_risk_after(&user, &open, Verdict::Safe),
                expected.map(owned),
                "{user} {open:?}"
            );
        }
    }

    #[test]
    fn verdicts_by_segment() {
        #[rustfmt::skip]
        let cases = [("confirmSafe", Some(Verdict::Safe)), ("CONFIRMCOMPROMISED", Some(Verdict::Compromised)), ("dismiss", None)];
        for (segment, expected) in cases {
            assert_eq!(Verdict::from_segment(segment), expected, "{segment}");
        }
    }
}

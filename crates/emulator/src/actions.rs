//! The riskyUsers actions `dismiss`, `confirmCompromised` and `confirmSafe`: a JSON body
//! `{"userIds": [...]}` with at most 60 ids; each known user's risk changes and gains a history
//! item; unknown ids are ignored, as Graph does. The riskyServicePrincipals actions `dismiss`
//! and `confirmCompromised` work the same way on `{"servicePrincipalIds": [...]}`.
//!
//! As in Entra, a verdict on a user or principal carries over to its detections that still hold
//! risk ("Dismiss user risk closes all risk on the user and past sign-ins", Microsoft Learn,
//! "Provide risk feedback in Microsoft Entra ID Protection"): their `riskState`, `riskDetail`
//! and `lastUpdatedDateTime` change, so a `lastUpdatedDateTime ge` query sees them again.

use serde_json::{Value, json};

use super::errors::GraphError;
use super::generate::principal_history_item;
use super::request::RecordedRequest;
use super::samples::history_item;
use super::state::State;
use super::wire::{graph_timestamp_now, guid};

/// The most user ids one action call takes.
pub(crate) const MAX_USER_IDS: usize = 60;

/// Detection states that still hold risk: a confirmed compromise "is considered risky until
/// remediation steps are taken" (Microsoft Learn, risk feedback), so verdicts close it too.
pub(crate) const ACTIVE_RISK: [&str; 2] = ["atRisk", "confirmedCompromised"];

/// What a verdict does to the detections it reaches: those in one of `from` states take
/// `state` and `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DetectionVerdict {
    pub from: &'static [&'static str],
    pub state: &'static str,
    pub detail: &'static str,
}

/// An admin action on risky users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Dismiss,
    ConfirmCompromised,
    ConfirmSafe,
}

impl Action {
    /// The action named by the last path segment (case-insensitive).
    pub fn from_segment(segment: &str) -> Option<Action> {
        [Action::Dismiss, Action::ConfirmCompromised, Action::ConfirmSafe]
            .into_iter()
            .find(|action| action.segment().eq_ignore_ascii_case(segment))
    }

    fn segment(self) -> &'static str {
        match self {
            Action::Dismiss => "dismiss",
            Action::ConfirmCompromised => "confirmCompromised",
            Action::ConfirmSafe => "confirmSafe",
        }
    }

    /// The user's new `(riskState, riskLevel, riskDetail)`.
    fn outcome(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Action::Dismiss => ("dismissed", "none", "adminDismissedAllRiskForUser"),
            Action::ConfirmCompromised => ("confirmedCompromised", "high", "adminConfirmedUserCompromised"),
            Action::ConfirmSafe => ("confirmedSafe", "none", "adminConfirmedAccountSafe"),
        }
    }

    /// What the action does to the user's detections. Dismissing closes every open risk;
    /// confirming a compromise turns the detections still at risk into confirmed ones. Confirming
    /// the account safe: Graph's riskDetail enum lists `adminConfirmedAccountSafe` for riskyUser
    /// and signIn only, never for riskDetection, so the detections show the admin's verdict as
    /// the one riskDetection value for it, `confirmedSafe` / `adminConfirmedSigninSafe`.
    fn detection_verdict(self) -> DetectionVerdict {
        let (from, state, detail): (&'static [&'static str], _, _) = match self {
            Action::Dismiss => (&ACTIVE_RISK, "dismissed", "adminDismissedAllRiskForUser"),
            Action::ConfirmCompromised => (&["atRisk"], "confirmedCompromised", "adminConfirmedUserCompromised"),
            Action::ConfirmSafe => (&ACTIVE_RISK, "confirmedSafe", "adminConfirmedSigninSafe"),
        };
        DetectionVerdict { from, state, detail }
    }
}

/// Validates the body and applies `action` for `initiated_by` to every known user it names.
pub(crate) fn apply(
    state: &mut State,
    request: &RecordedRequest,
    action: Action,
    initiated_by: &str,
) -> Result<(), GraphError> {
    let ids = ids_of(&request.body, "userIds")?;
    let now = graph_timestamp_now();
    for (n, id) in ids.iter().enumerate() {
        let repeated = ids[..n].iter().any(|earlier| earlier.eq_ignore_ascii_case(id));
        if !repeated {
            apply_to_user(state, id, action, initiated_by, &now);
        }
    }
    Ok(())
}

/// Updates one user (if known), appends its history item and settles its detections.
fn apply_to_user(state: &mut State, id: &str, action: Action, initiated_by: &str, now: &str) {
    let Some(user_id) = set_user_risk(state, id, action.outcome(), initiated_by, now) else {
        return;
    };
    let detections = &mut state.config.risk_detections;
    settle_detections(detections, "userId", &user_id, action.detection_verdict(), now);
}

/// Gives the risky user `id` (if known) its new `(riskState, riskLevel, riskDetail)`, updated
/// `now`, and appends the history item `initiated_by` caused; returns the user's id as stored.
pub(crate) fn set_user_risk(
    state: &mut State,
    id: &str,
    (risk_state, level, detail): (&str, &str, &str),
    initiated_by: &str,
    now: &str,
) -> Option<String> {
    let user = state
        .config
        .risky_users
        .iter_mut()
        .find(|u| u["id"].as_str().is_some_and(|uid| uid.eq_ignore_ascii_case(id)))?;
    if let Some(fields) = user.as_object_mut() {
        fields.insert("isProcessing".into(), json!(false));
        fields.insert("riskLastUpdatedDateTime".into(), json!(now));
        fields.insert("riskLevel".into(), json!(level));
        fields.insert("riskState".into(), json!(risk_state));
        fields.insert("riskDetail".into(), json!(detail));
    }
    let item = history_item(user, &guid(), Some(initiated_by), &[]);
    let user_id = user["id"].as_str().unwrap_or(id).to_owned();
    state.config.risky_user_history.push(item);
    Some(user_id)
}

/// What a user's secure password reset leaves: the user's risk and its open detections'
/// remediated (`userPerformedSecuredPasswordReset`, Graph's riskDetail for it on both).
const REMEDIATED: (&str, &str, &str) = ("remediated", "none", "userPerformedSecuredPasswordReset");
const REMEDIATION: DetectionVerdict = DetectionVerdict {
    from: &ACTIVE_RISK,
    state: REMEDIATED.0,
    detail: REMEDIATED.2,
};

/// The risky user `id` remediated their risk with a secure password reset (initiated by
/// themselves, as self-remediation is in a history); returns how many detections it closed, or
/// `None` for an unknown user.
pub(crate) fn remediate(state: &mut State, id: &str) -> Option<usize> {
    let now = graph_timestamp_now();
    let stored = state
        .config
        .risky_users
        .iter()
        .find_map(|u| u["id"].as_str().filter(|uid| uid.eq_ignore_ascii_case(id)))?
        .to_owned();
    set_user_risk(state, &stored, REMEDIATED, &stored, &now)?;
    let detections = &mut state.config.risk_detections;
    Some(settle_detections(detections, "userId", &stored, REMEDIATION, &now))
}

/// Applies `verdict` to every detection whose `owner_key` is `owner_id` and whose state is one
/// of `verdict.from`, stamped `now`; returns how many changed.
pub(crate) fn settle_detections(
    detections: &mut [Value],
    owner_key: &str,
    owner_id: &str,
    verdict: DetectionVerdict,
    now: &str,
) -> usize {
    let reached = |d: &Value| {
        let owned = d[owner_key].as_str().is_some_and(|o| o.eq_ignore_ascii_case(owner_id));
        owned && d["riskState"].as_str().is_some_and(|s| verdict.from.contains(&s))
    };
    let mut changed = 0;
    for detection in detections.iter_mut().filter(|d| reached(d)) {
        set_risk(detection, verdict.state, verdict.detail, now);
        changed += 1;
    }
    changed
}

/// A detection's new `riskState` and `riskDetail`, updated `now`.
pub(crate) fn set_risk(detection: &mut Value, state: &str, detail: &str, now: &str) {
    if let Some(fields) = detection.as_object_mut() {
        fields.insert("riskState".into(), json!(state));
        fields.insert("riskDetail".into(), json!(detail));
        fields.insert("lastUpdatedDateTime".into(), json!(now));
    }
}

/// Applies a riskyServicePrincipals action (`dismiss` or `confirmCompromised`; `confirmSafe`
/// does not exist for service principals) to every known principal the body names.
pub(crate) fn apply_to_principals(
    state: &mut State,
    request: &RecordedRequest,
    action: Action,
    initiated_by: &str,
) -> Result<(), GraphError> {
    let ids = ids_of(&request.body, "servicePrincipalIds")?;
    let now = graph_timestamp_now();
    let (risk_state, level, detail) = principal_outcome(action);
    let mut reached = Vec::new();
    for principal in state.config.risky_service_principals.iter_mut() {
        let named = principal["id"]
            .as_str()
            .is_some_and(|pid| ids.iter().any(|id| id.eq_ignore_ascii_case(pid)));
        if !named {
            continue;
        }
        principal["isProcessing"] = json!(false);
        principal["riskLastUpdatedDateTime"] = json!(now);
        principal["riskLevel"] = json!(level);
        principal["riskState"] = json!(risk_state);
        principal["riskDetail"] = json!(detail);
        let item = principal_history_item(principal, &guid(), Some(initiated_by), &[]);
        state.config.risky_service_principal_history.push(item);
        reached.push(principal["id"].as_str().unwrap_or_default().to_owned());
    }
    let verdict = principal_detection_verdict(action);
    for id in reached {
        let detections = &mut state.config.service_principal_risk_detections;
        settle_detections(detections, "servicePrincipalId", &id, verdict, &now);
    }
    Ok(())
}

/// The principal's new `(riskState, riskLevel, riskDetail)`.
fn principal_outcome(action: Action) -> (&'static str, &'static str, &'static str) {
    match action {
        Action::Dismiss => ("dismissed", "none", "adminDismissedAllRiskForServicePrincipal"),
        _ => (
            "confirmedCompromised",
            "high",
            "adminConfirmedServicePrincipalCompromised",
        ),
    }
}

/// What a principal action does to its detections, as the user actions do to users' detections.
fn principal_detection_verdict(action: Action) -> DetectionVerdict {
    let (risk_state, _, detail) = principal_outcome(action);
    let from: &'static [&'static str] = match action {
        Action::Dismiss => &ACTIVE_RISK,
        _ => &["atRisk"],
    };
    DetectionVerdict {
        from,
        state: risk_state,
        detail,
    }
}

/// The ids of a `{"<key>": [...]}` body: 1 to 60 strings.
pub(crate) fn ids_of(body: &str, key: &str) -> Result<Vec<String>, GraphError> {
    let invalid = |message: &str| GraphError::invalid_request(message);
    let body: Value = serde_json::from_str(body)
        .map_err(|e| invalid(&format!("Invalid request body: the body is not valid JSON ({e}).")))?;
    let ids = body
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&format!("Invalid request body: '{key}' must be an array of ids.")))?;
    if ids.is_empty() || ids.len() > MAX_USER_IDS {
        let message = format!(
            "Invalid request body: '{key}' holds {} ids; between 1 and {MAX_USER_IDS} are allowed.",
            ids.len()
        );
        return Err(invalid(&message));
    }
    ids.iter()
        .map(|id| id.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            invalid(&format!(
                "Invalid request body: every entry of '{key}' must be a string."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_bodies() {
        let sixty: Vec<String> = (0..60).map(|i| format!("u{i}")).collect();
        let sixty_one: Vec<String> = (0..61).map(|i| format!("u{i}")).collect();
        #[rustfmt::skip]
        let cases = [
            (json!({"userIds": ["a", "b"]}).to_string(), Ok(2)),
            (json!({"userIds": sixty}).to_string(), Ok(60)),
            (json!({"userIds": sixty_one}).to_string(), Err("holds 61 ids")),
            (json!({"userIds": []}).to_string(), Err("holds 0 ids")),
            (json!({"userIds": "a"}).to_string(), Err("must be an array")),
            (json!({"ids": ["a"]}).to_string(), Err("must be an array")),
            (json!({"userIds": ["a", 1]}).to_string(), Err("must be a string")),
            ("{\"userIds\": [".to_owned(), Err("not valid JSON")),
            (String::new(), Err("not valid JSON")),
        ];
        for (body, expected) in cases {
            match (ids_of(&body, "userIds"), expected) {
                (Ok(ids), Ok(n)) => assert_eq!(ids.len(), n, "{body}"),
                (Err(e), Err(needle)) => assert!(e.status == 400 && e.message.contains(needle), "{body}: {e:?}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn actions_by_segment() {
        #[rustfmt::skip]
        let cases = [
            ("dismiss", Some(("dismissed", "none", "adminDismissedAllRiskForUser"))),
            ("confirmCompromised", Some(("confirmedCompromised", "high", "adminConfirmedUserCompromised"))),
            ("confirmsafe", Some(("confirmedSafe", "none", "adminConfirmedAccountSafe"))),
            ("delete", None),
        ];
        for (segment, outcome) in cases {
            assert_eq!(Action::from_segment(segment).map(Action::outcome), outcome, "{segment}");
        }
    }
}

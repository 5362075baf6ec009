//! Incident mirroring, XSOAR's four commands (docs/protocol.md §3, "Mirroring"): which mirrored
//! objects changed in Entra, each one as it is now (closing the incident when Entra says the
//! risk is over), acting in Entra when the incident is closed, and the fields that mirror out.
//!
//! An incident's `dbotMirrorId` is the id of a user risk detection, a risky user (a user id) or
//! a service-principal risk detection: the id alone names the object, so it is looked for in
//! the collections in turn, the likeliest first (user ids are GUIDs, detection ids are not).
//! Incidents of the Python integration carry the detection id too, so they mirror unchanged.

use super::fetch::{Kind, Marks};
use super::{Arguments, CommandOutput};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::paging::{self, MAX_PAGE};
use crate::graph::query::Query;
use crate::markdown::quoted;
use crate::output::Entry;
use crate::session::Session;
use crate::time::{iso8601_graph, parse_iso8601};
use serde_json::{Map, Value, json};

/// The most ids one `get-modified-remote-data` hands back (about 70 bytes each): XSOAR then asks
/// `get-remote-data` for each, so more in one minute would not be worked through anyway. Past
/// it the answer says so in its entry and the earliest changes are the ones returned.
pub const MAX_MODIFIED: usize = 10_000;

/// The incident types of the pack (their ids), by kind.
fn incident_type(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "Azure AD Identity Protection Risk Detection",
        Kind::RiskyUser => "Azure AD Identity Protection Risky User",
        Kind::ServicePrincipal => "Azure AD Identity Protection Service Principal Risk Detection",
    }
}

/// The risk states after which an incident has nothing left to work on, and XSOAR's close
/// reason for each. XSOAR's reasons are Resolved, False Positive, Duplicate and Other: Entra's
/// `confirmedSafe` is an admin saying the sign-in or user was never at risk (a false positive);
/// `remediated` (a secure password reset, MFA) and `dismissed` (an admin decided the risk needs
/// no more action) both end the risk without saying it was false, so they are Resolved.
const OVER: [(&str, &str); 3] = [
    ("confirmedSafe", "False Positive"),
    ("remediated", "Resolved"),
    ("dismissed", "Resolved"),
];

/// XSOAR's `IncidentStatus.DONE`: the incident was closed.
const DONE: u64 = 2;

/// `get-modified-remote-data`: the ids of the mirrored objects that changed at or after
/// `lastUpdate`, from one filtered, paged query per kind the instance fetches.
pub fn get_modified(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let since = last_update(args.required_text("lastUpdate"), "lastUpdate")?;
    let settings = session.config.fetch_settings()?;
    let mut kinds = vec![Kind::User];
    if settings.service_principals {
        kinds.push(Kind::ServicePrincipal);
    }
    if settings.risky_users {
        kinds.push(Kind::RiskyUser);
    }
    let mut changes = Changes::default();
    for kind in kinds {
        let filter = Filter::new().since(kind.updated(), Some(&iso8601_graph(since))).build();
        let query = Query::at(kind.path()).top(MAX_PAGE).filter(filter);
        let action = format!("Listing what changed in {}", kind.path());
        let keys = query.clone().select(change_keys(kind)).url(&session.config);
        let members = ["id", kind.updated()];
        match paging::visit_all(session, &keys, &action, &members, |page| changes.offer(page)) {
            // A Graph that refuses `$select` is asked again for whole objects.
            Err(Error::Graph(refused)) if refused.status == 400 => {
                let url = query.url(&session.config);
                paging::visit_all(session, &url, &action, &members, |page| changes.offer(page))?;
            }
            other => other?,
        }
    }
    let cut = changes.cut;
    let ids = changes.into_ids();
    let mut markdown = format!(
        "{} mirrored object{} changed in Microsoft Entra ID since {}.",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        iso8601_graph(since)
    );
    if cut {
        markdown.push_str(&format!(
            " More changed than the {MAX_MODIFIED} listed here; the others are listed by the next mirroring run only if they change again."
        ));
    }
    Ok(CommandOutput {
        entries: vec![Entry::json(json!(ids), markdown)],
        mirror: Some(json!({ "modified_ids": ids })),
        ..CommandOutput::default()
    })
}

/// `$select` of a listing of changes: the id and when it last changed.
fn change_keys(kind: Kind) -> &'static str {
    match kind {
        Kind::User | Kind::ServicePrincipal => "id,lastUpdatedDateTime",
        Kind::RiskyUser => "id,riskLastUpdatedDateTime",
    }
}

/// The [`MAX_MODIFIED`] earliest changes of every kind listed, kept while pages stream by (Graph
/// promises no order), so memory stays bounded however many changed.
#[derive(Default)]
struct Changes {
    kept: std::collections::BinaryHeap<(Option<crate::time::Instant>, String)>,
    /// Whether a later change was dropped for the bound.
    cut: bool,
}

impl Changes {
    fn offer(&mut self, page: &[crate::graph::picking::Picked<'_, 2>]) {
        for item in page {
            let id = super::fetch::member_text(item.members[0]);
            if id.is_empty() {
                continue;
            }
            let at = parse_iso8601(&super::fetch::member_text(item.members[1]));
            self.kept.push((at, id.into_owned()));
            if self.kept.len() > MAX_MODIFIED {
                self.kept.pop();
                self.cut = true;
            }
        }
    }

    /// The ids in time order, each once (Graph may send one twice).
    fn into_ids(self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.kept
            .into_sorted_vec()
            .into_iter()
            .filter_map(|(_, id)| seen.insert(id.clone()).then_some(id))
            .collect()
    }
}

/// `get-remote-data`: the object as it is now, with the members the pack's mapper reads, and
/// the closing entry when `close_incident` is set and Entra says the risk is over.
pub fn get_remote(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let id = args.required_text("id");
    if let Some(given) = args.text("lastUpdate") {
        last_update(given, "lastUpdate")?;
    }
    let settings = session.config.mirror_settings()?;
    let Some((kind, mut object)) = find(session, id)? else {
        let markdown = format!(
            "{} is no longer in Microsoft Entra ID Identity Protection (no risk detection, risky user or service principal risk detection has this id); the incident is not updated from Entra any more.",
            quoted(id)
        );
        let entry = json!({"Type": 1, "ContentsFormat": "text", "Contents": markdown});
        return Ok(CommandOutput {
            entries: vec![Entry::text(markdown)],
            mirror: Some(json!({"object": {"id": id}, "entries": [entry]})),
            ..CommandOutput::default()
        });
    };
    if kind == Kind::User {
        if let Some(risk) = user_risk(session, &object)? {
            object.insert("user_risk".into(), risk);
        }
    }
    let marks = Marks::new(settings, session.instance_name.as_deref());
    let raw = marks.raw_json(&Value::Object(object.clone()).to_string(), kind);
    let object: Value = serde_json::from_str(&raw).unwrap_or(Value::Object(object));
    let state = object["riskState"].as_str().unwrap_or_default();
    let detail = object["riskDetail"].as_str().unwrap_or_default();
    let mut entries = Vec::new();
    let mut markdown = format!(
        "{} is `{}` in Microsoft Entra ID (risk state {}, detail {}).",
        quoted(id),
        kind.object_type(),
        quoted(state),
        quoted(detail)
    );
    let over = OVER.iter().find(|(over, _)| *over == state);
    if let (true, Some((_, reason))) = (settings.close_incident, over) {
        let updated = object[kind.updated()].as_str().unwrap_or_default();
        let notes =
            format!("Microsoft Entra ID reports the risk as {state} ({detail}) since {updated}; closed by mirroring.");
        entries.push(json!({
            "Type": 1,
            "ContentsFormat": "json",
            "Contents": {"dbotIncidentClose": true, "closeReason": reason, "closeNotes": notes},
        }));
        markdown.push_str(&format!(" The incident is closed as {reason}."));
    }
    Ok(CommandOutput {
        entries: vec![Entry::json(object.clone(), markdown)],
        mirror: Some(json!({"object": object, "entries": entries})),
        ..CommandOutput::default()
    })
}

/// `update-remote-system`: when `close_out` is set and the incident was closed, ends the risk in
/// Entra: a False Positive detection has its sign-in confirmed safe (or, without a sign-in, its
/// user's risk dismissed); any other reason dismisses the user's risk; a service principal's
/// detection dismisses the service principal. Anything else makes no request.
pub fn update_remote(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let remote_id = args.required_text("remoteId").to_string();
    let settings = session.config.mirror_settings()?;
    let closed = args.number("status") == Some(DONE);
    let answer = |markdown: String| CommandOutput {
        entries: vec![Entry::text(markdown)],
        mirror: Some(json!({ "remote_id": remote_id })),
        ..CommandOutput::default()
    };
    if !closed || !settings.close_out {
        let why = match settings.close_out {
            false => "close_out is off",
            true => "the incident is not closed",
        };
        return Ok(answer(format!(
            "Nothing changed in Microsoft Entra ID for {}: {why}.",
            quoted(&remote_id)
        )));
    }
    let reason = close_reason(args)?;
    let Some((kind, object)) = find(session, &remote_id)? else {
        return Ok(answer(format!(
            "{} is no longer in Microsoft Entra ID Identity Protection; nothing to change there.",
            quoted(&remote_id)
        )));
    };
    let member = |name: &str| object.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (path, body, done) = match (kind, reason.as_deref(), member("requestId")) {
        (Kind::User, Some("False Positive"), Some(request)) => (
            "auditLogs/signIns/confirmSafe",
            json!({"requestIds": [request]}),
            format!("confirmed its sign-in {} safe", quoted(request)),
        ),
        (Kind::User | Kind::RiskyUser, _, _) => {
            let user = match kind {
                Kind::RiskyUser => member("id"),
                _ => member("userId"),
            };
            let user = user.ok_or_else(|| no_member(&remote_id, "userId"))?;
            (
                "identityProtection/riskyUsers/dismiss",
                json!({"userIds": [user]}),
                format!("dismissed the risk of user {}", quoted(user)),
            )
        }
        (Kind::ServicePrincipal, _, _) => {
            let principal = member("servicePrincipalId").ok_or_else(|| no_member(&remote_id, "servicePrincipalId"))?;
            (
                "identityProtection/riskyServicePrincipals/dismiss",
                json!({"servicePrincipalIds": [principal]}),
                format!("dismissed the risk of service principal {}", quoted(principal)),
            )
        }
    };
    let doing = format!("Acting in Entra on the closed incident of {}", quoted(&remote_id));
    client::post_json(session, &Query::at(path), &body, &doing)?;
    let reason = reason.unwrap_or_else(|| "no close reason".into());
    Ok(answer(format!(
        "✅ The incident of {} was closed ({}): {done} in Microsoft Entra ID.",
        quoted(&remote_id),
        quoted(&reason)
    )))
}

/// `get-mapping-fields`: each incident type and the remote fields that mirror out to it.
pub fn mapping_fields(_: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    let fields = json!({
        "closeReason": "Why the incident was closed: False Positive confirms a detection's sign-in safe; any other reason dismisses the user's (or service principal's) risk. Acted on only with close_out.",
        "closeNotes": "The notes written when the incident was closed.",
    });
    let schemes: Vec<Value> = [Kind::User, Kind::RiskyUser, Kind::ServicePrincipal]
        .iter()
        .map(|kind| json!({"type_name": incident_type(*kind), "fields": fields}))
        .collect();
    let markdown = format!(
        "{} incident types; the fields that mirror out of each: closeReason, closeNotes.",
        schemes.len()
    );
    Ok(CommandOutput {
        entries: vec![Entry::json(json!(schemes), markdown)],
        mirror: Some(json!({ "schemes": schemes })),
        ..CommandOutput::default()
    })
}

/// The close reason in `delta` (what changed) or else in `data` (the mapped incident), each
/// the JSON text of an object as the bridge passes them.
fn close_reason(args: &Arguments) -> Result<Option<String>, Error> {
    for name in ["delta", "data"] {
        let Some(text) = args.text(name) else { continue };
        let value: Value =
            serde_json::from_str(text).map_err(|_| Error::argument(name, "expected the JSON text of an object."))?;
        if !value.is_object() {
            return Err(Error::argument(name, "expected the JSON text of an object."));
        }
        let reason = value["closeReason"].as_str().map(str::trim).filter(|r| !r.is_empty());
        if let Some(reason) = reason {
            return Ok(Some(reason.chars().take(200).collect()));
        }
    }
    Ok(None)
}

fn no_member(id: &str, member: &str) -> Error {
    Error::Internal(format!(
        "{} has no {member} in Microsoft Graph's answer, so nothing could be changed in Entra for it.",
        quoted(id)
    ))
}

/// A mirrored object: its kind and its members as Graph sent them.
type Found = (Kind, Map<String, Value>);

/// The kind and the object whose id is `id`, or `None` when no collection has it. A GUID is
/// looked for among risky users first.
fn find(session: &mut Session, id: &str) -> Result<Option<Found>, Error> {
    let order = match is_guid(id) {
        true => [Kind::RiskyUser, Kind::User, Kind::ServicePrincipal],
        false => [Kind::User, Kind::ServicePrincipal, Kind::RiskyUser],
    };
    for kind in order {
        let url = Query::at(kind.path()).segment(id).url(&session.config);
        let action = format!("Reading {} from {}", quoted(id), kind.path());
        match client::get_json(session, &url, &action) {
            Ok(raw) => {
                let mut object = serde_json::from_str::<Map<String, Value>>(raw.get()).map_err(|_| {
                    Error::Internal(format!(
                        "{action}: Microsoft Graph answered with something that is not an object."
                    ))
                })?;
                // `@odata.context` and its kin describe the answer, not the object.
                object.retain(|name, _| !name.starts_with("@odata."));
                return Ok(Some((kind, object)));
            }
            Err(Error::Graph(missing)) if missing.status == 404 => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

/// The detection's user as a risky user now (`user_risk` in the object): their risk level,
/// state, detail and when it last changed. `None` when the user is not a risky user (404).
fn user_risk(session: &mut Session, detection: &Map<String, Value>) -> Result<Option<Value>, Error> {
    let Some(user) = detection
        .get("userId")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let url = Query::at(Kind::RiskyUser.path()).segment(user).url(&session.config);
    let action = format!("Reading the risk of user {}", quoted(user));
    match client::get_json(session, &url, &action) {
        Ok(raw) => {
            let user: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let pick = ["riskLevel", "riskState", "riskDetail", "riskLastUpdatedDateTime"];
            let risk: Map<String, Value> = pick
                .iter()
                .filter_map(|name| Some((name.to_string(), user.get(*name)?.clone())))
                .collect();
            Ok(Some(Value::Object(risk)))
        }
        Err(Error::Graph(missing)) if missing.status == 404 => Ok(None),
        Err(other) => Err(other),
    }
}

/// `8-4-4-4-12` hex digits: the shape of a user's object id.
fn is_guid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// XSOAR's `lastUpdate`: an ISO 8601 time (with an offset or `Z`), or epoch seconds or
/// milliseconds (XSOAR's default is `0`).
fn last_update(text: &str, name: &str) -> Result<crate::time::Instant, Error> {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()) {
        let number: u64 = text.parse().unwrap_or(u64::MAX);
        // Past 10^11 seconds (year 5138) the number is milliseconds.
        let seconds = if number >= 100_000_000_000 {
            number / 1_000
        } else {
            number
        };
        return Ok((seconds, 0));
    }
    parse_iso8601(text).ok_or_else(|| {
        Error::argument(
            name,
            "expected an ISO 8601 time such as 2024-06-01T10:00:00Z, or epoch seconds or milliseconds.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_user_ids_and_detection_ids_are_not() {
        assert!(is_guid("0c9f4c6e-7c39-4b7e-8a2e-3d1f7a9e2b10"));
        assert!(!is_guid(
            "86a9d0e9f1c6ac49b7e8c2b0d6c9d17a3e1f0b4c5d6e7f8091a2b3c4d5e6f7a8"
        ));
        assert!(!is_guid("0c9f4c6e-7c39-4b7e-8a2e-3d1f7a9e2b1g"));
        assert!(!is_guid(""));
    }

    #[test]
    fn last_update_reads_xsoar_forms() {
        let at = (1_717_236_000, 0); // 2024-06-01T10:00:00Z
        for text in [
            "2024-06-01T10:00:00Z",
            "2024-06-01T12:00:00+02:00",
            "1717236000",
            "1717236000000",
        ] {
            assert_eq!(last_update(text, "lastUpdate").unwrap(), at, "{text}");
        }
        assert_eq!(last_update("0", "lastUpdate").unwrap(), (0, 0));
        for bad in ["yesterday", "", "99999999999999999999999"] {
            assert!(last_update(bad, "lastUpdate").is_err(), "{bad}");
        }
    }
}

//! Responding: revoking a user's sessions, and blocking IP addresses through a Conditional
//! Access named location (`identity/conditionalAccess/namedLocations`).
//!
//! A named location blocks nothing by itself: a Conditional Access policy that blocks access
//! from it does (README, "Blocking IP addresses"). `ip-block` therefore says whether any policy
//! references the location. Graph replaces a location's `ipRanges` whole on PATCH, so two SOAR
//! instances blocking at once could each write the list it read and drop the other's range:
//! each one reads the location again after writing and merges again while one of its own ranges
//! is missing.

use super::listing::{self, ListKind};
use super::{Arguments, CommandOutput};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::paging;
use crate::graph::query::Query;
use crate::http::HttpRequest;
use crate::markdown::quoted;
use crate::output::Entry;
use crate::session::Session;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

const LOCATIONS: &str = "identity/conditionalAccess/namedLocations";
const POLICIES: &str = "identity/conditionalAccess/policies";
const IP_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
/// `named_location` when none is given.
pub const DEFAULT_LOCATION: &str = "SOAR blocked IP addresses";
/// Merges after a write that lost one of this command's ranges to another writer.
const MERGE_ATTEMPTS: usize = 3;
/// The most addresses one command blocks or unblocks: a named location holds at most 2,000
/// ranges (Microsoft's documented limit), and one PATCH carries them all.
pub const MAX_RANGES: usize = 2_000;

/// `azure-ad-identity-protection-user-sessions-revoke`: each user one by one, with a result per
/// user; the command fails (exit 1) when any of them failed, after trying all.
pub fn revoke_sessions(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let mut users = args.list("user_id").to_vec();
    let mut seen = std::collections::HashSet::new();
    users.retain(|user| seen.insert(user.to_ascii_lowercase()));
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for user in &users {
        let url = Query::at("users")
            .segment(user)
            .then("revokeSignInSessions")
            .url(&session.config);
        let action = format!("Revoking the sessions of user {}", quoted(user));
        match client::change(session, HttpRequest::post_empty(url), &action) {
            Ok(_) => results.push(json!({"user": user, "revoked": true})),
            Err(error) => {
                results.push(json!({"user": user, "revoked": false, "error": error.to_string()}));
                failed.push((user.clone(), error));
            }
        }
    }
    let revoked: Vec<&str> = results
        .iter()
        .filter(|r| r["revoked"] == true)
        .filter_map(|r| r["user"].as_str())
        .collect();
    let mut markdown = String::from("### Session revocation\n|User|Revoked|\n|---|---|\n");
    for result in &results {
        let user = result["user"].as_str().unwrap_or_default();
        let done = if result["revoked"] == true {
            "yes"
        } else {
            "no (see the error below)"
        };
        markdown.push_str(&format!("| {} | {done} |\n", quoted(user)));
    }
    if !revoked.is_empty() {
        markdown.push_str(
            "\nThe refresh tokens and session cookies of these users are invalidated: every app and browser must sign in again (and pass Conditional Access again). Access tokens already issued are not revoked and stay valid until they expire (about an hour, longer for apps with continuous access evaluation turned off); to stop those at once, also disable the account or block sign-in.\n",
        );
    }
    let mut output = CommandOutput::entry(Entry::json(json!(results), markdown).with_context(
        "AADIdentityProtection.SessionRevocation(val.user === obj.user)",
        json!(results),
    ));
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|(user, _)| quoted(user)).collect();
        let first = failed.first().map(|(_, error)| error.to_string()).unwrap_or_default();
        output.error = Some(Error::Partial {
            message: format!(
                "Revoking sessions failed for {} of {} users ({}); the others were revoked.\n\n{first}",
                failed.len(),
                users.len(),
                names.join(", ")
            ),
            details: json!({"failed": failed.iter().map(|(user, e)| json!({"user": user, "error": e.contents()})).collect::<Vec<_>>()}),
        });
    }
    Ok(output)
}

/// `azure-ad-identity-protection-named-locations-list`.
pub fn list_locations(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let filter = Filter::new().eq("displayName", args.text("display_name")).build();
    let kind = ListKind {
        row: None,
        query: Query::at(LOCATIONS),
        context: "NamedLocation",
        title: "Named locations".into(),
        action: "Listing named locations",
    };
    listing::run(session, args, &kind, filter)
}

/// `azure-ad-identity-protection-ip-block`: adds the addresses to the IP named location, created
/// when absent; idempotent.
pub fn block(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    change_ranges(session, args, Change::Block)
}

/// `azure-ad-identity-protection-ip-unblock`: removes the addresses from the named location.
pub fn unblock(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    change_ranges(session, args, Change::Unblock)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Block,
    Unblock,
}

fn change_ranges(session: &mut Session, args: &Arguments, change: Change) -> Result<CommandOutput, Error> {
    // Every address is checked before anything is sent.
    let wanted = cidrs(args.list("ip"))?;
    let name = args.text("named_location").unwrap_or(DEFAULT_LOCATION).to_string();
    let mut location = find(session, &name)?;
    if location.is_none() && change == Change::Block {
        match create(session, &name, &wanted) {
            Ok(created) => {
                let note = format!(
                    "Created the IP named location {} with {}.",
                    quoted(&name),
                    listed(&wanted)
                );
                return finish(session, &name, created, note);
            }
            // Graph refuses a second location of the same name: another writer created it
            // between the look-up and this request, so the ranges are merged into theirs.
            Err(Error::Graph(refused)) if refused.status == 400 || refused.status == 409 => {
                location = find(session, &name)?;
                if location.is_none() {
                    return Err(Error::Graph(refused));
                }
            }
            Err(error) => return Err(error),
        }
    }
    let Some(mut location) = location else {
        let note = format!(
            "There is no IP named location {}, so {} {} not blocked through it; nothing was changed.",
            quoted(&name),
            listed(&wanted),
            if wanted.len() == 1 { "is" } else { "are" }
        );
        return Ok(CommandOutput::entry(Entry::text(note)));
    };
    let id = text(&location, "id").to_string();
    for attempt in 1..=MERGE_ATTEMPTS {
        let present = ranges(&location);
        let (next, changed): (Vec<Value>, Vec<String>) = match change {
            Change::Block => {
                let missing: Vec<String> = wanted.iter().filter(|c| !present.contains(c)).cloned().collect();
                let mut next = raw_ranges(&location);
                next.extend(missing.iter().map(|c| range(c)));
                (next, missing)
            }
            Change::Unblock => {
                let removed: Vec<String> = wanted.iter().filter(|c| present.contains(c)).cloned().collect();
                let next = raw_ranges(&location)
                    .into_iter()
                    .filter(|r| !range_cidr(r).is_some_and(|c| removed.contains(&c)))
                    .collect();
                (next, removed)
            }
        };
        if changed.is_empty() {
            let note = match (change, attempt) {
                (Change::Block, 1) => format!(
                    "{} {} already in the named location {}; nothing was changed.",
                    listed(&wanted),
                    if wanted.len() == 1 { "is" } else { "are" },
                    quoted(&name)
                ),
                (Change::Unblock, 1) => format!(
                    "{} {} not in the named location {}; nothing was changed.",
                    listed(&wanted),
                    if wanted.len() == 1 { "is" } else { "are" },
                    quoted(&name)
                ),
                _ => format!(
                    "The named location {} now has what was asked ({}).",
                    quoted(&name),
                    listed(&wanted)
                ),
            };
            return finish(session, &name, location, note);
        }
        if next.is_empty() {
            return Err(Error::argument(
                "ip",
                format!(
                    "would remove the last range of the named location {}, and Entra does not allow an IP named location without ranges. Delete the named location in the Entra admin center (Protection → Conditional Access → Named locations) after removing it from the policies that use it, or unblock fewer addresses.",
                    quoted(&name)
                ),
            ));
        }
        if next.len() > MAX_RANGES {
            return Err(Error::argument(
                "ip",
                format!(
                    "would give the named location {} {} ranges; Entra allows at most {MAX_RANGES} in one location. Use another named_location.",
                    quoted(&name),
                    next.len()
                ),
            ));
        }
        let url = Query::at(LOCATIONS).segment(&id).url(&session.config);
        let body = json!({"@odata.type": IP_LOCATION, "ipRanges": next});
        let action = format!("Updating the named location {}", quoted(&name));
        client::change(session, HttpRequest::patch_json(url, body.to_string()), &action)?;
        // Read it again: another writer's PATCH in between would have replaced the whole list.
        location = read(session, &id, &name)?;
        let now = ranges(&location);
        let kept = match change {
            Change::Block => wanted.iter().all(|c| now.contains(c)),
            Change::Unblock => wanted.iter().all(|c| !now.contains(c)),
        };
        if kept {
            let done = match change {
                Change::Block => "Added",
                Change::Unblock => "Removed",
            };
            let note = format!(
                "{done} {} {} the named location {}.",
                listed(&changed),
                if change == Change::Block { "to" } else { "from" },
                quoted(&name)
            );
            return finish(session, &name, location, note);
        }
        session.http.log(&format!(
            "the named location changed under this command (attempt {attempt} of {MERGE_ATTEMPTS}); merging again"
        ));
    }
    Err(Error::Incomplete(format!(
        "The named location {} kept changing under this command ({MERGE_ATTEMPTS} merges): another writer replaced its ranges each time. Run the command again.",
        quoted(&name)
    )))
}

/// The entry after a change (or none): the location, and whether a policy uses it.
fn finish(
    session: &mut Session,
    name: &str,
    location: Map<String, Value>,
    note: String,
) -> Result<CommandOutput, Error> {
    let id = text(&location, "id").to_string();
    let policy_note = policies_using(session, &id, name);
    let count = ranges(&location).len();
    let markdown = format!(
        "{note}\n\nThe named location {} (id `{}`) has {count} range{}.\n\n{policy_note}",
        quoted(name),
        quoted(&id),
        if count == 1 { "" } else { "s" }
    );
    let location = Value::Object(location);
    Ok(CommandOutput::entry(
        Entry::json(location.clone(), markdown)
            .with_context("AADIdentityProtection.NamedLocation(val.id === obj.id)", location),
    ))
}

/// Whether an enabled Conditional Access policy blocks access from the location, read only;
/// what cannot be read is said, never a failure of the block.
fn policies_using(session: &mut Session, id: &str, name: &str) -> String {
    let url = Query::at(POLICIES).url(&session.config);
    let mut using = Vec::new();
    let read = paging::visit_all(session, &url, "Reading Conditional Access policies", &["id"], |page| {
        for item in page {
            let policy: Value = serde_json::from_str(item.text).unwrap_or(Value::Null);
            let included = policy["conditions"]["locations"]["includeLocations"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|l| l.as_str() == Some(id)));
            if included {
                let name = policy["displayName"].as_str().unwrap_or("(unnamed)").to_string();
                let state = policy["state"].as_str().unwrap_or("unknown").to_string();
                let blocks = policy["grantControls"]["builtInControls"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == "block"));
                using.push((name, state, blocks));
            }
        }
    });
    let setup = "Create one Conditional Access policy once: all users (exclude your break-glass accounts), all resources, Conditions → Locations → include this named location, Grant → Block access, state On (README, \"Blocking IP addresses\").";
    match read {
        Err(Error::Graph(refused)) if refused.status == 403 => format!(
            "Whether a Conditional Access policy uses {} could not be checked: reading policies needs Policy.Read.All. The named location blocks nothing until a policy blocks access from it.",
            quoted(name)
        ),
        Err(error) => format!("Whether a Conditional Access policy uses it could not be checked: {error}"),
        Ok(()) if using.is_empty() => format!(
            "⚠️ No Conditional Access policy uses this named location yet, so these addresses are **not blocked**. {setup}"
        ),
        Ok(()) => {
            let listed: Vec<String> = using
                .iter()
                .map(|(name, state, blocks)| {
                    format!(
                        "{} ({}{})",
                        quoted(name),
                        quoted(state),
                        if *blocks {
                            ", blocks access"
                        } else {
                            ", does not block access"
                        }
                    )
                })
                .collect();
            let effective = using.iter().any(|(_, state, blocks)| state == "enabled" && *blocks);
            let verdict = match effective {
                true => "Sign-ins from these addresses are blocked.",
                false => {
                    "None of them is an enabled policy that blocks access, so these addresses are **not blocked** yet."
                }
            };
            format!("Conditional Access policies using it: {}. {verdict}", listed.join("; "))
        }
    }
}

/// The IP named location with this display name, if any.
fn find(session: &mut Session, name: &str) -> Result<Option<Map<String, Value>>, Error> {
    let filter = Filter::new().eq("displayName", Some(name)).build();
    let url = Query::at(LOCATIONS).filter(filter).url(&session.config);
    let action = format!("Looking for the named location {}", quoted(name));
    let listing = paging::collect(session, &url, 100, &action)?;
    let mut other_kind = false;
    for item in &listing.items {
        let Ok(location) = serde_json::from_str::<Map<String, Value>>(item.get()) else {
            continue;
        };
        // Graph compares the filter's text case-insensitively, and display names are unique
        // regardless of case: "soar blocked ip addresses" is the location asked for.
        if text(&location, "displayName").to_lowercase() != name.to_lowercase() {
            continue;
        }
        match text(&location, "@odata.type") {
            IP_LOCATION => return Ok(Some(location)),
            _ => other_kind = true,
        }
    }
    if other_kind {
        return Err(Error::argument(
            "named_location",
            format!(
                "names {}, a named location that is not an IP named location (a country location?). Give the name of an IP named location, or a new name.",
                quoted(name)
            ),
        ));
    }
    Ok(None)
}

/// One location by id, as it is now.
fn read(session: &mut Session, id: &str, name: &str) -> Result<Map<String, Value>, Error> {
    let url = Query::at(LOCATIONS).segment(id).url(&session.config);
    let action = format!("Reading the named location {}", quoted(name));
    let raw = client::get_json(session, &url, &action)?;
    serde_json::from_str(raw.get()).map_err(|_| {
        Error::Internal(format!(
            "{action}: Microsoft Graph answered with something that is not an object"
        ))
    })
}

/// Creates the location with the ranges.
fn create(session: &mut Session, name: &str, wanted: &[String]) -> Result<Map<String, Value>, Error> {
    let body = json!({
        "@odata.type": IP_LOCATION,
        "displayName": name,
        "isTrusted": false,
        "ipRanges": wanted.iter().map(|c| range(c)).collect::<Vec<_>>(),
    });
    let url = Query::at(LOCATIONS).url(&session.config);
    let action = format!("Creating the named location {}", quoted(name));
    let response = client::change(session, HttpRequest::json(url, body.to_string()), &action)?;
    serde_json::from_str(&response.body).map_err(|_| {
        Error::Internal(format!(
            "{action}: Microsoft Graph answered with something that is not an object"
        ))
    })
}

/// The location's ranges, normalised.
fn ranges(location: &Map<String, Value>) -> Vec<String> {
    raw_ranges(location).iter().filter_map(range_cidr).collect()
}

fn raw_ranges(location: &Map<String, Value>) -> Vec<Value> {
    location
        .get("ipRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A range's CIDR, normalised (so `10.0.0.5/24` and `10.0.0.0/24` are one range).
fn range_cidr(range: &Value) -> Option<String> {
    range["cidrAddress"].as_str().and_then(|c| cidr(c).ok())
}

/// A range as Graph takes it, typed by its address family.
fn range(cidr: &str) -> Value {
    let kind = match cidr.contains(':') {
        true => "#microsoft.graph.iPv6CidrRange",
        false => "#microsoft.graph.iPv4CidrRange",
    };
    json!({"@odata.type": kind, "cidrAddress": cidr})
}

fn text<'a>(object: &'a Map<String, Value>, name: &str) -> &'a str {
    object.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// "`a`, `b` and 3 more", for messages.
fn listed(cidrs: &[String]) -> String {
    let shown: Vec<String> = cidrs.iter().take(5).map(|c| format!("`{c}`")).collect();
    match cidrs.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The `ip` argument: each an IPv4 or IPv6 address or CIDR range, normalised, de-duplicated.
fn cidrs(given: &[String]) -> Result<Vec<String>, Error> {
    if given.len() > MAX_RANGES {
        return Err(Error::argument(
            "ip",
            format!(
                "holds {} addresses; at most {MAX_RANGES} fit in one named location.",
                given.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for item in given {
        let normal = cidr(item).map_err(|reason| Error::argument("ip", format!("{}: {reason}", quoted(item))))?;
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

/// One address or CIDR range in canonical form: the network address (host bits cleared) in
/// std's notation, and the prefix length; a bare address is `/32` or `/128`. The address is
/// read by std's parser; the prefix is a decimal number, so nothing else is hand-parsed.
fn cidr(text: &str) -> Result<String, String> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| {
        "not an IPv4 or IPv6 address or CIDR range (such as 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48)".to_string()
    })?;
    let bits: u8 = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = match prefix {
        None => bits,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().map_err(|_| "the prefix length is not a number".to_string())?
        }
        Some(_) => return Err("the prefix length after / must be a number".into()),
    };
    if prefix > bits {
        return Err(format!(
            "the prefix length /{prefix} is longer than the address ({bits} bits)"
        ));
    }
    let network = match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    };
    Ok(format!("{network}/{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ranges_are_normalised_to_cidrs() {
        let cases = [
            ("203.0.113.7", "203.0.113.7/32"),
            (" 203.0.113.7/24 ", "203.0.113.0/24"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:DB8::1", "2001:db8::1/128"),
            ("2001:db8:0:0:1::/48", "2001:db8::/48"),
            ("::/0", "::/0"),
        ];
        for (given, expected) in cases {
            assert_eq!(cidr(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            "",
            "203.0.113",
            "203.0.113.7/33",
            "2001:db8::/129",
            "203.0.113.7/",
            "203.0.113.7/+8",
            "203.0.113.7/0008",
            "example.com",
            "203.0.113.7/24/1",
        ] {
            assert!(cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_list_is_deduplicated_after_normalising() {
        let given = ["203.0.113.7".to_string(), "203.0.113.7/32".into(), "2001:db8::1".into()];
        assert_eq!(cidrs(&given).unwrap(), ["203.0.113.7/32", "2001:db8::1/128"]);
        let error = cidrs(&["203.0.113.7".into(), "nope".into()]).unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
    }
}

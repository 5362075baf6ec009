//! Conditional Access named locations (`/identity/conditionalAccess/namedLocations`): list (with
//! `$filter` and paging), get, create (201), update (PATCH, 204) and delete (204), as Microsoft
//! Learn documents them ("Create namedLocation", "Update ipNamedLocation"). Reading takes
//! Policy.Read.All; writing takes Policy.Read.All *and* Policy.ReadWrite.ConditionalAccess.
//!
//! Graph's validation, each a 400: a body without the derived `@odata.type` (create and update
//! both require it), no display name, an IP location without ranges, a range whose `@odata.type`
//! is not `iPv4CidrRange` / `iPv6CidrRange` or does not match its address, a malformed CIDR,
//! and the limits of "Conditional Access: Network assignment" (masks of /8 or longer, no private
//! ranges, at most 2000 ranges). Microsoft documents the rules, not the error bodies: the code is
//! Graph's generic `BadRequest` and the messages are the emulator's. Display names are unique
//! here (case-insensitively), as the Entra admin center requires; Graph's own answer to a
//! duplicate is undocumented, so this is the emulator's choice. Deleting a location a policy
//! still names is refused the same way.
//!
//! An ipRanges list in a PATCH replaces the old one whole, so two writers who each read, merged
//! and wrote can lose each other's ranges; [`PendingWrite`] lets a test play that other writer.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::conditional_access;
use super::errors::GraphError;
use super::graph::{self, Answer, Caller};
use super::request::RecordedRequest;
use super::state::State;
use super::wire::{graph_timestamp_now, guid};

const POLICY_READ: [&str; 1] = ["Policy.Read.All"];
const POLICY_WRITE: [&str; 2] = ["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"];
const IP_LOCATION: &str = "#microsoft.graph.ipNamedLocation";
const COUNTRY_LOCATION: &str = "#microsoft.graph.countryNamedLocation";
const IPV4_RANGE: &str = "#microsoft.graph.iPv4CidrRange";
const IPV6_RANGE: &str = "#microsoft.graph.iPv6CidrRange";
/// "Configure up to 2000 IP ranges per named location".
const MAX_RANGES: usize = 2000;
/// "Only CIDR masks greater than /8 are allowed": read as /8 and longer.
const SHORTEST_MASK: u8 = 8;

/// Another admin's change to a location's ranges, applied right after the next PATCH of it: the
/// ranges the location had before that PATCH plus `ranges`, written over the PATCH's result, as
/// a writer who read before the PATCH and wrote after it would.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingWrite {
    pub location_id: String,
    pub ranges: Vec<Value>,
}

/// Answers a request under `namedLocations` (`rest` is what follows it).
pub(crate) fn handle(
    state: &mut State,
    request: &RecordedRequest,
    version: &str,
    caller: &Caller,
    rest: &[&str],
) -> Result<Answer, GraphError> {
    let method = request.method.to_ascii_uppercase();
    let reading = method == "GET";
    graph::check_all_permissions(caller, if reading { &POLICY_READ } else { &POLICY_WRITE })?;
    let context = graph::metadata(state, version, "identity/conditionalAccess/namedLocations");
    match (method.as_str(), rest) {
        ("GET", []) => graph::listing(state, request, context)
            .page(&state.config.named_locations)
            .map(Answer::Body),
        ("GET", [id]) => entity(state, &context, id).map(Answer::Body),
        ("POST", []) => create(state, &request.body, &context).map(Answer::Created),
        ("PATCH", [id]) => update(state, &request.body, id).map(|()| Answer::NoContent),
        ("DELETE", [id]) => delete(state, id).map(|()| Answer::NoContent),
        _ => Err(graph::unknown_segment(&request.path)),
    }
}

fn entity(state: &State, context: &str, id: &str) -> Result<Value, GraphError> {
    let location = find(&state.config.named_locations, id).ok_or_else(|| graph::item_not_found(id))?;
    Ok(with_context(context, location))
}

/// `{"@odata.context": "<context>/$entity", ...location}`.
fn with_context(context: &str, location: &Value) -> Value {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{context}/$entity")));
    body.extend(location.as_object().cloned().unwrap_or_default());
    Value::Object(body)
}

fn find<'a>(locations: &'a [Value], id: &str) -> Option<&'a Value> {
    graph::find(locations, "id", id)
}

fn position(locations: &[Value], id: &str) -> Option<usize> {
    locations
        .iter()
        .position(|l| l["id"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(id)))
}

/// POST: a new IP or country location, with its id and times.
fn create(state: &mut State, body: &str, context: &str) -> Result<Value, GraphError> {
    let body = object_body(body)?;
    let kind = derived_type(&body)?;
    let name = display_name(&body)?.ok_or_else(|| bad_request("The displayName of a named location is required."))?;
    check_unique_name(&state.config.named_locations, name, None)?;
    let now = graph_timestamp_now();
    let mut location = json!({"@odata.type": kind, "id": guid(), "displayName": name,
        "modifiedDateTime": now, "createdDateTime": now});
    match kind {
        IP_LOCATION => {
            location["isTrusted"] = json!(trusted(&body)?.unwrap_or(false));
            location["ipRanges"] = json!(ip_ranges(&body)?.ok_or_else(no_ranges)?);
        }
        _ => {
            location["countriesAndRegions"] = json!(countries(&body)?.ok_or_else(no_countries)?);
            location["includeUnknownCountriesAndRegions"] = body
                .get("includeUnknownCountriesAndRegions")
                .cloned()
                .unwrap_or(json!(false));
            location["countryLookupMethod"] = json!("clientIpAddress");
        }
    }
    state.config.named_locations.push(location.clone());
    Ok(with_context(context, &location))
}

/// PATCH: the given properties change, `ipRanges` replaces the old list whole; then another
/// admin's pending write to this location, if a test armed one.
fn update(state: &mut State, body: &str, id: &str) -> Result<(), GraphError> {
    let body = object_body(body)?;
    let at = position(&state.config.named_locations, id).ok_or_else(|| graph::item_not_found(id))?;
    let kind = state.config.named_locations[at]["@odata.type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if derived_type(&body)? != kind {
        return Err(bad_request(&format!(
            "The @odata.type of the update must be the location's own, '{kind}'."
        )));
    }
    let changes = changes(&state.config.named_locations, &body, id, &kind)?;
    let location = &mut state.config.named_locations[at];
    let before = location["ipRanges"].clone();
    for (key, value) in changes {
        location[key] = value;
    }
    location["modifiedDateTime"] = json!(graph_timestamp_now());
    apply_pending_write(state, at, before);
    Ok(())
}

/// The validated `(property, value)` pairs a PATCH body sets.
fn changes(
    locations: &[Value],
    body: &Map<String, Value>,
    id: &str,
    kind: &str,
) -> Result<Vec<(&'static str, Value)>, GraphError> {
    let mut changes = Vec::new();
    if let Some(name) = display_name(body)? {
        check_unique_name(locations, name, Some(id))?;
        changes.push(("displayName", json!(name)));
    }
    if kind == IP_LOCATION {
        if let Some(trusted) = trusted(body)? {
            changes.push(("isTrusted", json!(trusted)));
        }
        if let Some(ranges) = ip_ranges(body)? {
            changes.push(("ipRanges", json!(ranges)));
        }
    } else if let Some(countries) = countries(body)? {
        changes.push(("countriesAndRegions", json!(countries)));
    }
    Ok(changes)
}

/// The other writer read `before` and now writes it back with its own ranges added.
fn apply_pending_write(state: &mut State, at: usize, before: Value) {
    let location = &mut state.config.named_locations[at];
    let id = location["id"].as_str().unwrap_or_default().to_owned();
    let Some(n) = state
        .pending_location_writes
        .iter()
        .position(|w| w.location_id.eq_ignore_ascii_case(&id))
    else {
        return;
    };
    let write = state.pending_location_writes.remove(n);
    let mut ranges = before.as_array().cloned().unwrap_or_default();
    add_ranges(&mut ranges, &write.ranges);
    location["ipRanges"] = json!(ranges);
    location["modifiedDateTime"] = json!(graph_timestamp_now());
}

/// Appends each of `added` not already in `ranges` (CIDRs compare case-insensitively).
pub(crate) fn add_ranges(ranges: &mut Vec<Value>, added: &[Value]) {
    let cidr = |r: &Value| r["cidrAddress"].as_str().unwrap_or_default().to_ascii_lowercase();
    for range in added {
        if !ranges.iter().any(|r| cidr(r) == cidr(range)) {
            ranges.push(range.clone());
        }
    }
}

/// DELETE: refused while a policy still names the location.
fn delete(state: &mut State, id: &str) -> Result<(), GraphError> {
    let at = position(&state.config.named_locations, id).ok_or_else(|| graph::item_not_found(id))?;
    let policies = &state.config.conditional_access_policies;
    if let Some(policy) = policies.iter().find(|p| conditional_access::references(p, id)) {
        let name = policy["displayName"].as_str().unwrap_or_default();
        return Err(bad_request(&format!(
            "The named location is referenced by the Conditional Access policy '{name}'; remove it from the policy first."
        )));
    }
    state.config.named_locations.remove(at);
    Ok(())
}

fn object_body(body: &str) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(bad_request("The request body must be a JSON object.")),
    }
}

/// The derived type create and update both require.
fn derived_type(body: &Map<String, Value>) -> Result<&'static str, GraphError> {
    let given = body.get("@odata.type").and_then(Value::as_str).unwrap_or_default();
    [IP_LOCATION, COUNTRY_LOCATION]
        .into_iter()
        .find(|kind| kind.eq_ignore_ascii_case(given))
        .ok_or_else(|| {
            bad_request(&format!(
                "The @odata.type of a named location is required: '{IP_LOCATION}' or '{COUNTRY_LOCATION}'."
            ))
        })
}

fn display_name(body: &Map<String, Value>) -> Result<Option<&str>, GraphError> {
    match body.get("displayName") {
        None => Ok(None),
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(Some(name)),
        Some(_) => Err(bad_request(
            "The displayName of a named location must be a non-empty string.",
        )),
    }
}

fn trusted(body: &Map<String, Value>) -> Result<Option<bool>, GraphError> {
    match body.get("isTrusted") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(trusted)) => Ok(Some(*trusted)),
        Some(_) => Err(bad_request("isTrusted must be true or false.")),
    }
}

fn check_unique_name(locations: &[Value], name: &str, except: Option<&str>) -> Result<(), GraphError> {
    let other = |l: &&Value| except.is_none_or(|id| l["id"].as_str().is_none_or(|l| !l.eq_ignore_ascii_case(id)));
    let taken = locations
        .iter()
        .filter(other)
        .any(|l| l["displayName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)));
    match taken {
        false => Ok(()),
        true => Err(bad_request(&format!(
            "A named location with the display name '{name}' already exists."
        ))),
    }
}

/// `ipRanges`, each validated; `None` when the body has none; an empty list is an error.
fn ip_ranges(body: &Map<String, Value>) -> Result<Option<Vec<Value>>, GraphError> {
    let Some(ranges) = body.get("ipRanges") else {
        return Ok(None);
    };
    let ranges = ranges
        .as_array()
        .ok_or_else(|| bad_request("ipRanges must be an array of ipRange objects."))?;
    if ranges.is_empty() {
        return Err(no_ranges());
    }
    if ranges.len() > MAX_RANGES {
        return Err(bad_request(&format!(
            "A named location holds at most {MAX_RANGES} IP ranges; this one has {}.",
            ranges.len()
        )));
    }
    ranges.iter().map(ip_range).collect::<Result<Vec<_>, _>>().map(Some)
}

/// One ipRange as Graph stores it: `{"@odata.type", "cidrAddress"}`.
pub(crate) fn ip_range(range: &Value) -> Result<Value, GraphError> {
    let kind = range["@odata.type"].as_str().unwrap_or_default();
    let cidr = range["cidrAddress"].as_str().unwrap_or_default();
    let ipv4 = match kind {
        k if k.eq_ignore_ascii_case(IPV4_RANGE) => true,
        k if k.eq_ignore_ascii_case(IPV6_RANGE) => false,
        _ => {
            return Err(bad_request(&format!(
                "The @odata.type of each IP range is required: '{IPV4_RANGE}' or '{IPV6_RANGE}'."
            )));
        }
    };
    check_cidr(cidr, ipv4)?;
    Ok(json!({"@odata.type": if ipv4 { IPV4_RANGE } else { IPV6_RANGE }, "cidrAddress": cidr}))
}

/// `address/prefix` of the range's family, with a mask of /8 or longer and no private network.
/// The address is std's parser; the prefix is a number after the one slash.
fn check_cidr(cidr: &str, ipv4: bool) -> Result<(), GraphError> {
    let invalid = || {
        bad_request(&format!(
            "'{cidr}' is not a valid {} CIDR range.",
            if ipv4 { "IPv4" } else { "IPv6" }
        ))
    };
    let (address, prefix) = cidr.split_once('/').ok_or_else(invalid)?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= if ipv4 { 32 } else { 128 })
        .ok_or_else(invalid)?;
    let private = match ipv4 {
        true => address.parse::<Ipv4Addr>().map(|a| a.is_private()),
        false => address.parse::<Ipv6Addr>().map(|a| a.segments()[0] & 0xfe00 == 0xfc00),
    }
    .map_err(|_| invalid())?;
    if prefix < SHORTEST_MASK {
        return Err(bad_request(&format!(
            "'{cidr}' is too wide: only masks of /{SHORTEST_MASK} or longer are allowed."
        )));
    }
    if private {
        return Err(bad_request(&format!(
            "'{cidr}' is a private range, which cannot be configured."
        )));
    }
    Ok(())
}

fn countries(body: &Map<String, Value>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(countries) = body.get("countriesAndRegions") else {
        return Ok(None);
    };
    let codes: Option<Vec<String>> = countries
        .as_array()
        .map(|codes| codes.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect());
    match codes {
        Some(codes) if !codes.is_empty() => Ok(Some(codes)),
        _ => Err(no_countries()),
    }
}

fn no_ranges() -> GraphError {
    bad_request("An IP named location needs at least one IP range (ipRanges).")
}

fn no_countries() -> GraphError {
    bad_request("A country named location needs at least one country or region (countriesAndRegions).")
}

fn bad_request(message: &str) -> GraphError {
    GraphError::new(400, "BadRequest", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges() {
        #[rustfmt::skip]
        let cases = [
            ("203.0.113.7/32", true, Ok(())),
            ("12.34.221.11/22", true, Ok(())),
            ("2001:db8::/48", false, Ok(())),
            ("2001:0:9d38:90d6:0:0:0:0/63", false, Ok(())),
            ("203.0.113.7", true, Err("not a valid IPv4")),
            ("203.0.113.7/33", true, Err("not a valid IPv4")),
            ("203.0.113/24", true, Err("not a valid IPv4")),
            ("2001:db8::/48", true, Err("not a valid IPv4")),
            ("203.0.113.7/32", false, Err("not a valid IPv6")),
            ("2001:db8::/129", false, Err("not a valid IPv6")),
            ("8.0.0.0/7", true, Err("too wide")),
            ("10.1.2.0/24", true, Err("private range")),
            ("fd00::/64", false, Err("private range")),
            ("203.0.113.7/ 32", true, Err("not a valid IPv4")),
        ];
        for (cidr, ipv4, expected) in cases {
            match (check_cidr(cidr, ipv4), expected) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(needle)) => assert!(e.status == 400 && e.message.contains(needle), "{cidr}: {e:?}"),
                (got, want) => panic!("{cidr}: got {got:?}, want {want:?}"),
            }
        }
    }
}

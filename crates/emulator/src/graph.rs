//! The Microsoft Graph endpoints: bearer-token check, Identity Protection riskyUsers (list, get,
//! history, dismiss / confirmCompromised / confirmSafe), riskDetections (list, get), the
//! workload-identity riskyServicePrincipals (list, get, history, dismiss / confirmCompromised),
//! servicePrincipalRiskDetections (list, get), the signIn actions confirmSafe / confirmCompromised
//! (`auditLogs/signIns/…`), the sign-in log (`auditLogs/signIns`, list and get), users'
//! `revokeSignInSessions`, Conditional Access named locations ([`super::named_locations`]) and
//! policies (read only), and Graph-shaped errors. Collections are paged by
//! [`super::listing`]. Beta also answers the legacy top-level `/beta/riskyUsers…` and
//! `/beta/riskDetections…` paths.

use serde_json::{Map, Value, json};

use super::actions::{self, Action};
use super::errors::{GraphError, graph_error_body};
use super::generate::BETA_ONLY;
use super::listing::{Listing, PageSizes, Paging};
use super::named_locations;
use super::request::RecordedRequest;
use super::sessions;
use super::signins;
use super::state::State;
use super::wire::{Reply, guid, now};

const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const USER_READ: [&str; 2] = ["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"];
const USER_WRITE: [&str; 1] = ["IdentityRiskyUser.ReadWrite.All"];
const EVENT_READ: [&str; 2] = ["IdentityRiskEvent.Read.All", "IdentityRiskEvent.ReadWrite.All"];
const PRINCIPAL_READ: [&str; 2] = [
    "IdentityRiskyServicePrincipal.Read.All",
    "IdentityRiskyServicePrincipal.ReadWrite.All",
];
const PRINCIPAL_WRITE: [&str; 1] = ["IdentityRiskyServicePrincipal.ReadWrite.All"];
/// The signIn actions: an application needs IdentityRiskEvent.ReadWrite.All, a signed-in user
/// IdentityRiskyUser.ReadWrite.All (Microsoft Learn, signIn: confirmSafe / confirmCompromised).
const SIGNIN_VERDICT_APP: [&str; 1] = ["IdentityRiskEvent.ReadWrite.All"];
const SIGNIN_VERDICT_DELEGATED: [&str; 1] = USER_WRITE;
/// Reading the sign-in log takes both ("List signIns": a known issue makes Directory.Read.All
/// necessary besides AuditLog.Read.All).
const SIGN_IN_LOG_READ: [&str; 2] = ["AuditLog.Read.All", "Directory.Read.All"];
/// revokeSignInSessions: the least privileged permission for both kinds of caller; a signed-in
/// user may hold one of the higher ones instead (an application may not).
const REVOKE_APP: [&str; 1] = ["User.RevokeSessions.All"];
const REVOKE_DELEGATED: [&str; 3] = [
    "User.RevokeSessions.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const POLICY_READ: [&str; 1] = ["Policy.Read.All"];

/// A successful Graph answer.
pub(crate) enum Answer {
    /// 200 with a body.
    Body(Value),
    /// 201 Created with the new entity.
    Created(Value),
    /// 204 No Content.
    NoContent,
}

/// The ids Graph puts in response headers and error bodies; `client-request-id` is echoed.
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    fn of(request: &RecordedRequest) -> Self {
        let client_request_id = request.header("client-request-id").map_or_else(guid, str::to_owned);
        RequestIds {
            request_id: guid(),
            client_request_id,
        }
    }

    /// The answer's status and body, or the Graph error body.
    fn reply(&self, outcome: Result<Answer, GraphError>) -> Reply {
        let (status, body) = match outcome {
            Ok(Answer::Body(body)) => (200, body.to_string()),
            Ok(Answer::Created(body)) => (201, body.to_string()),
            Ok(Answer::NoContent) => (204, String::new()),
            Err(error) => (error.status, self.error_body(&error).to_string()),
        };
        let reply = match status {
            204 => Reply::no_content(),
            _ => Reply::text(status, GRAPH_JSON, &body),
        };
        let reply = reply
            .with_header("request-id", &self.request_id)
            .with_header("client-request-id", &self.client_request_id);
        if status == 401 {
            return reply.with_header("WWW-Authenticate", "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"");
        }
        reply
    }

    fn error_body(&self, error: &GraphError) -> Value {
        graph_error_body(error.code, &error.message, &self.request_id, &self.client_request_id)
    }
}

/// Answers a request under `/beta` or `/v1.0`.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest, segments: &[&str]) -> Reply {
    let ids = RequestIds::of(request);
    let segments = canonical(segments);
    let outcome = authorize(state, request).and_then(|caller| dispatch(state, request, &segments, &caller));
    ids.reply(outcome)
}

/// `/beta/riskyUsers…` and `/beta/riskDetections…` are legacy aliases of `/beta/identityProtection/…`.
fn canonical<'a>(segments: &[&'a str]) -> Vec<&'a str> {
    let mut canonical = segments.to_vec();
    if let ["beta", "riskyUsers" | "riskDetections", ..] = segments {
        canonical.insert(1, "identityProtection");
    }
    canonical
}

/// The Graph-shaped 404 for a path nothing serves.
pub(crate) fn not_found(request: &RecordedRequest) -> Reply {
    RequestIds::of(request).reply(Err(unknown_segment(&request.path)))
}

pub(crate) fn unknown_segment(path: &str) -> GraphError {
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    GraphError::new(
        404,
        "ResourceNotFound",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// Who is calling: the token's permissions and the acting user (or app) id.
pub(crate) struct Caller {
    pub permissions: Vec<String>,
    /// The signed-in user's object id, or the app's client id for app-only tokens.
    pub subject: String,
    /// Whether the token is an application's own (no signed-in user).
    pub app_only: bool,
}

/// Validates the bearer token and returns the caller.
fn authorize(state: &State, request: &RecordedRequest) -> Result<Caller, GraphError> {
    let token = request
        .header("Authorization")
        .and_then(bearer_token)
        .ok_or_else(|| GraphError::unauthenticated("Access token is empty."))?;
    let grant = state
        .access_tokens
        .get(token)
        .ok_or_else(|| GraphError::unauthenticated("Access token validation failure. Invalid audience."))?;
    if grant.revoked || now() >= grant.expires_at {
        return Err(GraphError::unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok(Caller {
        permissions: grant.permissions.clone(),
        subject: grant.subject.clone(),
        app_only: grant.app_only,
    })
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

fn dispatch(
    state: &mut State,
    request: &RecordedRequest,
    segments: &[&str],
    caller: &Caller,
) -> Result<Answer, GraphError> {
    let version = segments.first().copied().unwrap_or("v1.0");
    let method = request.method.to_ascii_uppercase();
    let path = segments.get(1..).unwrap_or_default();
    match (method.as_str(), path) {
        ("POST", ["identityProtection", "riskyUsers", action]) if Action::from_segment(action).is_some() => {
            check_risky_user_access(state, caller, &USER_WRITE)?;
            let action = Action::from_segment(action).ok_or_else(|| unknown_segment(&request.path))?;
            actions::apply(state, request, action, &caller.subject).map(|()| Answer::NoContent)
        }
        ("GET", ["identityProtection", "riskyUsers", rest @ ..]) => {
            check_risky_user_access(state, caller, &USER_READ)?;
            risky_users_get(state, request, version, rest).map(Answer::Body)
        }
        ("GET", ["identityProtection", "riskDetections", rest @ ..]) => {
            check_permission(caller, &EVENT_READ)?;
            risk_detections_get(state, request, version, rest).map(Answer::Body)
        }
        ("POST", ["identityProtection", "riskyServicePrincipals", action]) if principal_action(action).is_some() => {
            check_workload_access(state, caller, &PRINCIPAL_WRITE)?;
            let action = principal_action(action).ok_or_else(|| unknown_segment(&request.path))?;
            actions::apply_to_principals(state, request, action, &caller.subject).map(|()| Answer::NoContent)
        }
        ("GET", ["identityProtection", "riskyServicePrincipals", rest @ ..]) => {
            check_workload_access(state, caller, &PRINCIPAL_READ)?;
            risky_principals_get(state, request, version, rest).map(Answer::Body)
        }
        ("GET", ["identityProtection", "servicePrincipalRiskDetections", rest @ ..]) => {
            check_workload_access(state, caller, &EVENT_READ)?;
            let detections = &state.config.service_principal_risk_detections;
            collection_get(
                state,
                request,
                version,
                "servicePrincipalRiskDetections",
                detections,
                rest,
            )
            .map(Answer::Body)
        }
        ("POST", ["auditLogs", "signIns", action]) if signins::Verdict::from_segment(action).is_some() => {
            check_signin_verdict_access(state, caller)?;
            let verdict = signins::Verdict::from_segment(action).ok_or_else(|| unknown_segment(&request.path))?;
            signins::apply(state, request, verdict, &caller.subject).map(|()| Answer::NoContent)
        }
        ("GET", ["auditLogs", "signIns", rest @ ..]) => {
            check_sign_in_log_access(state, caller)?;
            sign_ins_get(state, request, version, rest).map(Answer::Body)
        }
        ("POST", ["users", user, "revokeSignInSessions"]) => {
            check_permission(
                caller,
                if caller.app_only {
                    &REVOKE_APP
                } else {
                    &REVOKE_DELEGATED
                },
            )?;
            sessions::revoke(state, version, user).map(Answer::Body)
        }
        (_, ["identity", "conditionalAccess", "namedLocations", rest @ ..]) => {
            named_locations::handle(state, request, version, caller, rest)
        }
        ("GET", ["identity", "conditionalAccess", "policies", rest @ ..]) => {
            check_permission(caller, &POLICY_READ)?;
            let policies = &state.config.conditional_access_policies;
            let set = "identity/conditionalAccess/policies";
            collection_at(state, request, version, set, policies, rest).map(Answer::Body)
        }
        _ => Err(unknown_segment(&request.path)),
    }
}

/// Both sign-in log permissions, and Entra ID P1: "Neither tenant is B2C or tenant doesn't
/// have premium license" is Graph's 403 for a tenant without it.
fn check_sign_in_log_access(state: &State, caller: &Caller) -> Result<(), GraphError> {
    check_all_permissions(caller, &SIGN_IN_LOG_READ)?;
    if !state.config.p1_licence {
        let message = "Neither tenant is B2C or tenant doesn't have premium license";
        return Err(GraphError::new(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            message,
        ));
    }
    Ok(())
}

/// GETs under `auditLogs/signIns`: the log (up to 1,000 a page, newest first) or one sign-in,
/// without beta's own properties on v1.0.
fn sign_ins_get(state: &State, request: &RecordedRequest, version: &str, rest: &[&str]) -> Result<Value, GraphError> {
    let context = metadata(state, version, "auditLogs/signIns");
    let mut body = match rest {
        [] => Listing {
            sizes: PageSizes::SIGN_INS,
            ..listing(state, request, context)
        }
        .page(&state.config.sign_ins)?,
        [id] => entity_at(&context, &state.config.sign_ins, id)?,
        _ => return Err(unknown_segment(&request.path)),
    };
    if version == "v1.0" {
        strip_beta_properties(&mut body);
    }
    Ok(body)
}

/// Removes beta-only properties from an entity or from each item of a page.
fn strip_beta_properties(body: &mut Value) {
    let strip = |item: &mut Value| {
        if let Some(fields) = item.as_object_mut() {
            BETA_ONLY.iter().for_each(|key| {
                fields.shift_remove(*key);
            });
        }
    };
    match body.get_mut("value").and_then(Value::as_array_mut) {
        Some(items) => items.iter_mut().for_each(strip),
        None => strip(body),
    }
}

/// The permission the signIn actions take from this kind of caller, and Entra ID P2: the
/// verdict is Identity Protection's, whose risk data needs the licence.
fn check_signin_verdict_access(state: &State, caller: &Caller) -> Result<(), GraphError> {
    let accepted: &[&str] = match caller.app_only {
        true => &SIGNIN_VERDICT_APP,
        false => &SIGNIN_VERDICT_DELEGATED,
    };
    check_risky_user_access(state, caller, accepted)
}

/// GETs under `riskyUsers`: the list, one user, a user's history or one history item.
fn risky_users_get(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    rest: &[&str],
) -> Result<Value, GraphError> {
    let users = &state.config.risky_users;
    match rest {
        [] => listing(state, request, context(state, version, "riskyUsers")).page(users),
        [id] => entity(state, version, "riskyUsers", users, id),
        [id, "history", rest @ ..] => {
            let user = find(users, "id", id).ok_or_else(|| item_not_found(id))?;
            let user_id = user["id"].as_str().unwrap_or(id);
            history_get(state, request, version, user_id, rest)
        }
        _ => Err(unknown_segment(&request.path)),
    }
}

/// A user's history list, or one of its items.
fn history_get(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    user_id: &str,
    rest: &[&str],
) -> Result<Value, GraphError> {
    let items = history_of(state, user_id);
    let set = format!("riskyUsers('{user_id}')/history");
    collection_get(state, request, version, &set, &items, rest)
}

/// The history items of one user, in insertion order.
pub(crate) fn history_of(state: &State, user_id: &str) -> Vec<Value> {
    let of_user = |item: &&Value| item["userId"].as_str().is_some_and(|u| u.eq_ignore_ascii_case(user_id));
    state
        .config
        .risky_user_history
        .iter()
        .filter(of_user)
        .cloned()
        .collect()
}

/// The actions service principals have: `dismiss` and `confirmCompromised`.
fn principal_action(segment: &str) -> Option<Action> {
    Action::from_segment(segment).filter(|a| matches!(a, Action::Dismiss | Action::ConfirmCompromised))
}

/// GETs under `riskyServicePrincipals`: the list, one principal, its history or one history item.
fn risky_principals_get(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    rest: &[&str],
) -> Result<Value, GraphError> {
    let principals = &state.config.risky_service_principals;
    match rest {
        [id, "history", rest @ ..] => {
            let principal = find(principals, "id", id).ok_or_else(|| item_not_found(id))?;
            let principal_id = principal["id"].as_str().unwrap_or(id);
            let items: Vec<Value> = state
                .config
                .risky_service_principal_history
                .iter()
                .filter(|h| {
                    h["servicePrincipalId"]
                        .as_str()
                        .is_some_and(|p| p.eq_ignore_ascii_case(principal_id))
                })
                .cloned()
                .collect();
            let set = format!("riskyServicePrincipals('{principal_id}')/history");
            collection_get(state, request, version, &set, &items, rest)
        }
        _ => collection_get(state, request, version, "riskyServicePrincipals", principals, rest),
    }
}

/// An Identity Protection collection's list (no further segment) or one of its items (one
/// segment).
fn collection_get(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    set: &str,
    items: &[Value],
    rest: &[&str],
) -> Result<Value, GraphError> {
    collection_at(
        state,
        request,
        version,
        &format!("identityProtection/{set}"),
        items,
        rest,
    )
}

/// GETs under `riskDetections`: the list or one detection.
fn risk_detections_get(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    rest: &[&str],
) -> Result<Value, GraphError> {
    collection_get(
        state,
        request,
        version,
        "riskDetections",
        &state.config.risk_detections,
        rest,
    )
}

/// A listing of this request with the tenant's paging and Identity Protection's page sizes.
pub(crate) fn listing<'a>(state: &'a State, request: &'a RecordedRequest, context: String) -> Listing<'a> {
    let paging = Paging {
        page_cap: state.config.page_cap,
        shuffle_seed: state.config.shuffle_seed,
    };
    Listing {
        base_url: &state.base_url,
        context,
        request,
        paging,
        sizes: PageSizes::IDENTITY_PROTECTION,
    }
}

/// The first item whose `key` equals `id` (GUIDs compare case-insensitively).
pub(crate) fn find<'a>(items: &'a [Value], key: &str, id: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|item| item[key].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)))
}

/// One entity of the Identity Protection `set` with its `@odata.context`, or 404 `itemNotFound`.
fn entity(state: &State, version: &str, set: &str, items: &[Value], id: &str) -> Result<Value, GraphError> {
    entity_at(&context(state, version, set), items, id)
}

/// One entity of the collection whose context is `context`, or 404 `itemNotFound`.
fn entity_at(context: &str, items: &[Value], id: &str) -> Result<Value, GraphError> {
    let item = find(items, "id", id)
        .and_then(Value::as_object)
        .ok_or_else(|| item_not_found(id))?;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{context}/$entity")));
    body.extend(item.clone());
    Ok(Value::Object(body))
}

/// A collection outside Identity Protection (`set` is its path): its list or one item.
fn collection_at(
    state: &State,
    request: &RecordedRequest,
    version: &str,
    set: &str,
    items: &[Value],
    rest: &[&str],
) -> Result<Value, GraphError> {
    let context = metadata(state, version, set);
    match rest {
        [] => listing(state, request, context).page(items),
        [id] => entity_at(&context, items, id),
        _ => Err(unknown_segment(&request.path)),
    }
}

pub(crate) fn item_not_found(id: &str) -> GraphError {
    let message =
        format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present.");
    GraphError::new(404, "itemNotFound", &message)
}

/// `{base_url}/{version}/$metadata#identityProtection/{set}`.
fn context(state: &State, version: &str, set: &str) -> String {
    metadata(state, version, &format!("identityProtection/{set}"))
}

/// `{base_url}/{version}/$metadata#{path}`.
pub(crate) fn metadata(state: &State, version: &str, path: &str) -> String {
    format!("{}/{version}/$metadata#{path}", state.base_url)
}

/// The caller holds one of `accepted`, and the tenant has Entra ID P2.
fn check_risky_user_access(state: &State, caller: &Caller, accepted: &[&str]) -> Result<(), GraphError> {
    check_permission(caller, accepted)?;
    if !state.config.p2_licence {
        let message = "Your tenant is not licensed for this feature. Identity Protection risky users require a Microsoft Entra ID P2 licence.";
        return Err(GraphError::new(403, "Forbidden", message));
    }
    Ok(())
}

/// The caller holds one of `accepted`, and the tenant has Workload ID Premium.
fn check_workload_access(state: &State, caller: &Caller, accepted: &[&str]) -> Result<(), GraphError> {
    check_permission(caller, accepted)?;
    if !state.config.workload_id_premium {
        let message = "Your tenant is not licensed for this feature. Workload identity risk requires a Microsoft Entra Workload ID Premium licence.";
        return Err(GraphError::new(403, "Forbidden", message));
    }
    Ok(())
}

/// 403 `Authorization_RequestDenied` unless the caller holds one of `accepted`.
fn check_permission(caller: &Caller, accepted: &[&str]) -> Result<(), GraphError> {
    match accepted.iter().any(|a| holds(caller, a)) {
        true => Ok(()),
        false => Err(insufficient_privileges()),
    }
}

/// 403 `Authorization_RequestDenied` unless the caller holds every one of `required`.
pub(crate) fn check_all_permissions(caller: &Caller, required: &[&str]) -> Result<(), GraphError> {
    match required.iter().all(|r| holds(caller, r)) {
        true => Ok(()),
        false => Err(insufficient_privileges()),
    }
}

fn holds(caller: &Caller, permission: &str) -> bool {
    caller.permissions.iter().any(|p| p.eq_ignore_ascii_case(permission))
}

fn insufficient_privileges() -> GraphError {
    GraphError::new(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

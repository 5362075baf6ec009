//! The Microsoft Graph endpoints: bearer-token check, Identity Protection riskyUsers (list with
//! `$top` and `$skiptoken` paging, get by id) and Graph-shaped errors.

use serde_json::{Map, Value, json};

use super::filter::Filter;
use super::request::RecordedRequest;
use super::state::State;
use super::wire::{Reply, base64url, base64url_decode, graph_date, guid, now};

const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 500;
const READ_PERMISSIONS: [&str; 2] = ["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"];

/// A Graph error: the HTTP status, the `error.code` and the `error.message`.
#[derive(Debug, Clone, PartialEq)]
struct GraphError {
    status: u16,
    code: &'static str,
    message: String,
}

impl GraphError {
    fn new(status: u16, code: &'static str, message: &str) -> Self {
        GraphError {
            status,
            code,
            message: message.to_owned(),
        }
    }

    fn unauthenticated(message: &str) -> Self {
        GraphError::new(401, "InvalidAuthenticationToken", message)
    }

    fn invalid_request(message: &str) -> Self {
        GraphError::new(400, "invalidRequest", message)
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{date, request-id, client-request-id}}}`.
pub(crate) fn graph_error_body(code: &str, message: &str, request_id: &str, client_request_id: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": graph_date(now()),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    })
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

    fn reply(&self, outcome: Result<Value, GraphError>) -> Reply {
        let (status, body) = match outcome {
            Ok(body) => (200, body),
            Err(error) => (error.status, self.error_body(&error)),
        };
        let reply = Reply::text(status, GRAPH_JSON, &body.to_string())
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
    let outcome = authorize(state, request).and_then(|permissions| dispatch(state, request, segments, &permissions));
    ids.reply(outcome)
}

/// The Graph-shaped 404 for a path nothing serves.
pub(crate) fn not_found(request: &RecordedRequest) -> Reply {
    RequestIds::of(request).reply(Err(unknown_segment(&request.path)))
}

fn unknown_segment(path: &str) -> GraphError {
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    GraphError::new(
        404,
        "ResourceNotFound",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// Validates the bearer token and returns its permissions.
fn authorize(state: &State, request: &RecordedRequest) -> Result<Vec<String>, GraphError> {
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
    Ok(grant.permissions.clone())
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

fn dispatch(
    state: &State,
    request: &RecordedRequest,
    segments: &[&str],
    permissions: &[String],
) -> Result<Value, GraphError> {
    let version = segments.first().copied().unwrap_or("v1.0");
    let is_get = request.method.eq_ignore_ascii_case("GET");
    match segments.get(1..).unwrap_or_default() {
        ["identityProtection", "riskyUsers"] if is_get => {
            check_risky_user_access(state, permissions)?;
            list_risky_users(state, request, version)
        }
        ["identityProtection", "riskyUsers", id] if is_get => {
            check_risky_user_access(state, permissions)?;
            get_risky_user(state, version, id)
        }
        _ => Err(unknown_segment(&request.path)),
    }
}

fn check_risky_user_access(state: &State, permissions: &[String]) -> Result<(), GraphError> {
    let allowed = permissions
        .iter()
        .any(|p| READ_PERMISSIONS.iter().any(|r| r.eq_ignore_ascii_case(p)));
    if !allowed {
        return Err(GraphError::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    if !state.config.p2_licence {
        let message = "Your tenant is not licensed for this feature. Identity Protection risky users require a Microsoft Entra ID P2 licence.";
        return Err(GraphError::new(403, "Forbidden", message));
    }
    Ok(())
}

fn list_risky_users(state: &State, request: &RecordedRequest, version: &str) -> Result<Value, GraphError> {
    let top = page_size(request.query_value("$top"))?;
    let skip = request
        .query_value("$skiptoken")
        .map_or(Ok(0), |t| decode_skiptoken(&t))?;
    let users = filtered_risky_users(state, request.query_value("$filter"))?;
    let end = skip.saturating_add(top).min(users.len());
    let page = users.get(skip..end).unwrap_or_default();
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context_url(state, version, "")));
    if end < users.len() {
        body.insert("@odata.nextLink".into(), json!(next_link(state, request, end)));
    }
    body.insert("value".into(), Value::Array(page.to_vec()));
    Ok(Value::Object(body))
}

/// The risky users matching `$filter` (all of them without one).
fn filtered_risky_users(state: &State, filter: Option<String>) -> Result<Vec<Value>, GraphError> {
    let filter = filter.map_or_else(|| Ok(Filter::default()), |text| Filter::parse(&text));
    let filter = filter.map_err(|message| GraphError::invalid_request(&message))?;
    let users = state.config.risky_users.iter().filter(|user| filter.matches(user));
    Ok(users.cloned().collect())
}

fn get_risky_user(state: &State, version: &str, id: &str) -> Result<Value, GraphError> {
    let user = state
        .config
        .risky_users
        .iter()
        .find(|u| u["id"].as_str().is_some_and(|uid| uid.eq_ignore_ascii_case(id)))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            let message = format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            );
            GraphError::new(404, "itemNotFound", &message)
        })?;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context_url(state, version, "/$entity")));
    body.extend(user.clone());
    Ok(Value::Object(body))
}

fn context_url(state: &State, version: &str, suffix: &str) -> String {
    format!(
        "{}/{version}/$metadata#identityProtection/riskyUsers{suffix}",
        state.base_url
    )
}

/// `$top`: 1..=500, default 20.
fn page_size(top: Option<String>) -> Result<usize, GraphError> {
    let Some(text) = top else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Ok(n) if n > MAX_PAGE_SIZE => Err(GraphError::invalid_request(&format!(
            "The limit of '{MAX_PAGE_SIZE}' for Top query has been exceeded. The value from the incoming request is '{n}'."
        ))),
        _ => Err(GraphError::invalid_request(&format!(
            "Invalid value '{text}' for $top query option."
        ))),
    }
}

/// The next link: the same URL and query, with `$skiptoken` pointing past this page.
fn next_link(state: &State, request: &RecordedRequest, offset: usize) -> String {
    let mut query: Vec<&str> = request
        .query
        .split('&')
        .filter(|part| !part.is_empty() && !is_skiptoken(part))
        .collect();
    let token = format!("$skiptoken={}", encode_skiptoken(offset));
    query.push(&token);
    format!("{}{}?{}", state.base_url, request.path, query.join("&"))
}

fn is_skiptoken(part: &str) -> bool {
    let key = part.split('=').next().unwrap_or(part);
    key.eq_ignore_ascii_case("$skiptoken") || key.eq_ignore_ascii_case("%24skiptoken")
}

fn encode_skiptoken(offset: usize) -> String {
    base64url(format!("RiskyUsers:{offset}").as_bytes())
}

fn decode_skiptoken(token: &str) -> Result<usize, GraphError> {
    base64url_decode(token)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("RiskyUsers:")?.parse().ok())
        .ok_or_else(|| GraphError::invalid_request("The $skiptoken value is not valid."))
}

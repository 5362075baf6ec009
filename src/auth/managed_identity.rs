//! Managed identity: a Graph token from the engine's Azure host (IMDS on VMs and AKS, or the
//! App Service / Arc endpoint), with no secret configured anywhere.

use super::{MAX_TOKEN_LIFETIME_SECS, TokenResponse, arc, bounded_secs};
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, RetryPolicy};
use crate::secret::Secret;
use crate::session::Session;
use serde_json::{Map, Value};

pub use crate::config::managed_identity::{
    ARC_VARIABLE, ENDPOINT_VARIABLE, Endpoint, HEADER_VARIABLE, IMDS, IMDS_CONNECT_TIMEOUT, IMDS_VARIABLE,
    ManagedIdentity,
};

/// IMDS's documented transient answers (404 and 410 while it updates, back within 70 s; 429;
/// 5xx): five attempts 2, 4, 8 and 16 s apart, at most 70 s of waiting with Retry-After. The
/// XSOAR bridge's process timeout (`xsoar/AzureADIdentityProtection.py`) allows for this budget.
const IMDS_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    max_wait_secs: 70,
    base_delay_secs: 2.0,
    retry_status: |s| matches!(s, 404 | 410 | 429) || s >= 500,
};

/// Requests a Graph token from the managed-identity endpoint.
pub fn request_token(session: &Session) -> Result<TokenResponse, Error> {
    let identity = session
        .config
        .managed_identity
        .as_ref()
        .ok_or_else(|| Error::Internal("managed-identity sign-in without a managed identity".into()))?;
    match identity.endpoint {
        Endpoint::Arc(_) => arc_token(session, identity, &arc::token_folder()?),
        _ => {
            let request = identity
                .endpoint
                .request(&session.config.resource, identity.client_id.as_deref());
            let response = send(session, &identity.endpoint, &request)?;
            let secrets = match &identity.endpoint {
                Endpoint::AppService { header, .. } => vec![header.expose()],
                _ => Vec::new(),
            };
            token_from(session, identity, &request.url, &response, &secrets)
        }
    }
}

/// The first request is answered 401 with a challenge naming a key file; the same request
/// again with that file's content as Basic credentials gets the token. `folder` is the agent's
/// token folder ([`arc::token_folder`]); a parameter so a test can use its own.
fn arc_token(session: &Session, identity: &ManagedIdentity, folder: &std::path::Path) -> Result<TokenResponse, Error> {
    let first = identity
        .endpoint
        .request(&session.config.resource, identity.client_id.as_deref());
    let challenge = send(session, &identity.endpoint, &first)?;
    if challenge.status != 401 {
        return token_from(session, identity, &first.url, &challenge, &[]);
    }
    let key = arc::key(challenge.header("www-authenticate"), folder)?;
    let second = first
        .clone()
        .header("Authorization", &format!("Basic {}", key.expose()));
    let response = send(session, &identity.endpoint, &second)?;
    if response.status == 401 {
        return Err(Error::SignIn(
            "The Azure Arc agent refused the key of its own challenge (HTTP 401). Try again; if it persists, restart the Azure Connected Machine agent (himds) and check that IDENTITY_ENDPOINT is the agent's."
                .into(),
        ));
    }
    token_from(session, identity, &second.url, &response, &[key.expose()])
}

/// Sends with the endpoint's retry policy; a host that cannot be reached is no Azure host.
fn send(session: &Session, endpoint: &Endpoint, request: &HttpRequest) -> Result<HttpResponse, Error> {
    let policy = match endpoint {
        Endpoint::Imds(_) => IMDS_RETRY,
        _ => RetryPolicy::TOKEN,
    };
    match session.http.send(request, policy) {
        Err(Error::Network { host, reason }) => Err(unreachable(endpoint, &host, &reason)),
        Err(Error::TimedOut { host, .. }) => Err(unreachable(endpoint, &host, "no answer")),
        other => other,
    }
}

/// The token of a 200 answer, else the error the answer means. `secrets` were sent with the
/// request: never quoted back from the body.
fn token_from(
    session: &Session,
    identity: &ManagedIdentity,
    url: &str,
    response: &HttpResponse,
    secrets: &[&str],
) -> Result<TokenResponse, Error> {
    if response.status != 200 {
        return Err(failure(identity, url, response, secrets));
    }
    if let (Endpoint::Arc(_), Some(wanted)) = (&identity.endpoint, identity.client_id.as_deref()) {
        arc::confirm_identity(&response.body, wanted)?;
    }
    parse(&response.body, session.now())
        .ok_or_else(|| crate::http::unexpected_answer(url, response, "a token answer without a usable access_token"))
}

fn unreachable(endpoint: &Endpoint, host: &str, reason: &str) -> Error {
    let what = match endpoint {
        Endpoint::Imds(_) => "This engine has no managed identity endpoint (not an Azure VM/AKS/Arc?)",
        _ => "The managed identity endpoint this engine's environment names cannot be reached",
    };
    Error::SignIn(format!(
        "{what}: {host} could not be reached ({reason}). Run the engine on an Azure host with a managed identity (for App Service and Arc, check IDENTITY_ENDPOINT), or uncheck Use Azure Managed Identities and configure an app ID with a secret or certificate."
    ))
}

/// What an error answer means, in the words of what to check next, with a bounded, printable
/// part of the endpoint's own words (never a secret the request carried).
fn failure(identity: &ManagedIdentity, url: &str, response: &HttpResponse, secrets: &[&str]) -> Error {
    let Some(said) = EndpointError::read(&response.body) else {
        return crate::http::unexpected_answer(url, response, "an answer that is not a managed-identity token");
    };
    let kind = identity.endpoint.kind();
    let advice = advice(identity, response.status, &said);
    let correlation = said
        .correlation_id
        .map_or(String::new(), |id| format!(", correlation id {id}"));
    Error::SignIn(format!(
        "{advice} ({kind} answered HTTP {}: {}{correlation}.)",
        response.status,
        endpoint_words(&said.text, secrets)
    ))
}

/// A managed-identity endpoint's error body: IMDS and Arc write `error` and
/// `error_description`; App Service writes `statusCode`, `message` and `correlationId`.
struct EndpointError {
    code: Option<String>,
    text: String,
    correlation_id: Option<String>,
}

impl EndpointError {
    fn read(body: &str) -> Option<EndpointError> {
        let answer: Map<String, Value> = serde_json::from_str(body).ok()?;
        let field = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_string);
        let code =
            field("error").filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let text = field("error_description")
            .or_else(|| field("message"))
            .or_else(|| code.clone())?;
        let correlation_id = field("correlationId")
            .filter(|id| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
        Some(EndpointError {
            code,
            text,
            correlation_id,
        })
    }
}

/// What to check next, by what the endpoint said.
fn advice(identity: &ManagedIdentity, status: u16, said: &EndpointError) -> String {
    let text = said.text.to_ascii_lowercase();
    let kind = identity.endpoint.kind();
    let mut letters = kind.chars();
    let capital = letters.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
    let sentence_kind = format!("{capital}{}", letters.as_str());
    if text.contains("identity not found") || text.contains("unable to load the proper managed identity") {
        let which = identity
            .client_id
            .as_deref()
            .map_or("the system-assigned identity".to_string(), |id| {
                format!("client id {id}")
            });
        return format!(
            "No managed identity is assigned (or the client id is wrong): {kind} found no identity for {which}. Assign a managed identity to the engine's VM, scale set, cluster or app, or correct Managed Identities Client ID (with several user-assigned identities, name one)."
        );
    }
    if text.contains("metadata header") {
        return format!(
            "{sentence_kind} did not get the `Metadata: true` header this integration sends: something on the network in between (a transparent proxy, an appliance) removed it or forwarded the request, and IMDS answers only direct requests. This integration never sends managed-identity requests through the configured proxy; have the network let the engine reach the endpoint directly, exempt from any interception."
        );
    }
    if said.code.as_deref() == Some("invalid_resource") || text.contains("aadsts500011") {
        return "The managed identity's tenant does not know the resource asked for (the Microsoft Graph of the instance's cloud). Check the instance's Azure cloud and Microsoft Graph endpoint parameters.".into();
    }
    match (&identity.endpoint, status) {
        (Endpoint::AppService { .. }, 401 | 403) => format!(
            "{sentence_kind} refused the request's IDENTITY_HEADER: the engine's IDENTITY_ENDPOINT and IDENTITY_HEADER are stale or not this app's. Restart the engine so it gets the app's current values."
        ),
        (_, 401 | 403) => format!(
            "{sentence_kind} refused the request: it answers only requests made directly on the host it serves. Check that nothing on the network forwards the request (this integration never uses the proxy for it) and, on Arc, that IDENTITY_ENDPOINT is the agent's."
        ),
        _ => format!(
            "{sentence_kind} issued no token. Check the managed identity assigned to this host and Managed Identities Client ID."
        ),
    }
}

/// Longest part of an endpoint's message quoted in an error.
const MAX_QUOTED_CHARS: usize = 300;

/// The endpoint's words, cut, each secret the request carried replaced, quoted so they cannot
/// add markdown (a link, HTML) to the entry, and nothing when they look like they hold a token.
fn endpoint_words(text: &str, secrets: &[&str]) -> String {
    if text.contains("eyJ") {
        return "a message that is not shown because it may hold a token".into();
    }
    // Each secret becomes a control character (which quoting never keeps), then `[redacted]`.
    const MARK: char = '\u{1}';
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, &MARK.to_string());
    }
    let cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    let words: Vec<String> = cut.trim().split(MARK).map(crate::markdown::quoted).collect();
    format!("\"{}{more}\"", words.join("[redacted]"))
}

/// The IMDS shape: `access_token`, and `expires_in` or `expires_on` (strings), bounded.
fn parse(body: &str, now: u64) -> Option<TokenResponse> {
    let value: Map<String, Value> = serde_json::from_str(body).ok()?;
    let access_token = value.get("access_token")?.as_str().filter(|t| !t.is_empty())?;
    let expires_in = bounded_secs(value.get("expires_in"), 1, MAX_TOKEN_LIFETIME_SECS).or_else(|| {
        let on = super::lenient_u64(value.get("expires_on"))?;
        Some(on.saturating_sub(now).clamp(1, MAX_TOKEN_LIFETIME_SECS))
    });
    Some(TokenResponse {
        access_token: Secret::new(access_token),
        expires_in: expires_in.unwrap_or(600),
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::arc::tests::folder;

    #[test]
    fn imds_answers_are_bounded() {
        let cases = [
            (r#"{"access_token":"a","expires_in":"3599"}"#, Some(3_599)),
            (r#"{"access_token":"a","expires_on":"1000600"}"#, Some(600)),
            (r#"{"access_token":"a","expires_on":"5"}"#, Some(1)),
            (
                r#"{"access_token":"a","expires_in":"1e300"}"#,
                Some(MAX_TOKEN_LIFETIME_SECS),
            ),
            (r#"{"access_token":"a"}"#, Some(600)),
            (r#"{"access_token":""}"#, None),
            ("not json", None),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body, 1_000_000).map(|t| t.expires_in), expected, "{body}");
        }
    }

    use crate::config::{AuthMode, Config};
    use crate::http::TransportError;
    use crate::runtime::testing::Fake;
    use std::time::Duration;

    fn session<'a>(fake: &'a Fake, endpoint: Endpoint, client_id: Option<&str>) -> Session<'a> {
        let mut config = Config::from_params(&Map::new()).unwrap();
        config.mode = AuthMode::ManagedIdentity;
        config.managed_identity = Some(ManagedIdentity {
            endpoint,
            client_id: client_id.map(str::to_string),
        });
        Session::new(config, Map::new(), fake)
    }

    const ARC: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";

    fn error_of(outcome: Result<TokenResponse, Error>) -> String {
        match outcome {
            Ok(_) => panic!("a token, where an error was expected"),
            Err(error) => error.to_string(),
        }
    }
    const TOKEN: &str = r#"{"access_token":"at","expires_in":"3599"}"#;

    #[test]
    fn a_user_assigned_identity_on_arc_needs_the_agents_confirmation() {
        let cases = [
            (r#"{"access_token":"at","expires_in":"60","client_id":"C1"}"#, true),
            (r#"{"access_token":"at","expires_in":"60","client_id":"other"}"#, false),
            (r#"{"access_token":"at","expires_in":"60"}"#, false),
            (r#"{"access_token":"at","expires_in":"60","client_id":1}"#, false),
        ];
        for (body, used) in cases {
            let fake = Fake::at(1_000);
            fake.answer(200, body, &[]);
            let session = session(&fake, Endpoint::Arc(ARC.into()), Some("c1"));
            let outcome = request_token(&session);
            assert_eq!(outcome.is_ok(), used, "{body}");
            if let Err(error) = outcome {
                assert!(
                    error
                        .to_string()
                        .contains("did not confirm the user-assigned identity c1"),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn imds_retries_its_transient_answers_but_not_a_connection_that_never_opened() {
        let fake = Fake::at(1_000);
        fake.answer(410, "", &[]);
        fake.answer(404, "", &[]);
        fake.answer(200, TOKEN, &[]);
        let session = session(&fake, Endpoint::Imds(IMDS.into()), None);
        assert_eq!(request_token(&session).unwrap().access_token.expose(), "at");
        assert_eq!(*fake.slept.borrow(), [Duration::from_secs(2), Duration::from_secs(4)]);
        let fake = Fake::at(1_000);
        fake.fail(TransportError::Connect("no connection within 3 s".into()));
        let session = self::session(&fake, Endpoint::Imds(IMDS.into()), None);
        let message = error_of(request_token(&session));
        assert!(
            message.contains("no managed identity endpoint (not an Azure VM/AKS/Arc?)"),
            "{message}"
        );
        assert!(message.contains("no connection within 3 s"), "{message}");
        assert_eq!((fake.requests(), fake.slept.borrow().len()), (1, 0));
    }

    #[test]
    fn imds_gives_up_within_its_budget() {
        let fake = Fake::at(1_000);
        for _ in 0..6 {
            fake.answer(503, "", &[]);
        }
        let session = session(&fake, Endpoint::Imds(IMDS.into()), None);
        assert!(matches!(
            request_token(&session),
            Err(Error::Throttled { attempts: 5, .. })
        ));
        let waited: Duration = fake.slept.borrow().iter().sum();
        assert_eq!((fake.requests(), waited), (5, Duration::from_secs(30)));
    }

    #[test]
    fn error_answers_say_what_to_check() {
        let app_service = || Endpoint::AppService {
            url: "http://127.0.0.1:41/msi/token".into(),
            header: Secret::new("header-secret"),
        };
        let imds = || Endpoint::Imds(IMDS.into());
        let long = format!(r#"{{"error":"x","error_description":"{}"}}"#, "z".repeat(5_000));
        let cases: Vec<(Endpoint, u16, String, Vec<&str>)> = vec![
            (
                app_service(),
                400,
                r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"bf68136a-73f7-4ca4-9903-9ee8af3ab2ee"}"#.into(),
                vec!["No managed identity is assigned", "App Service", "correlation id bf68136a-73f7-4ca4-9903-9ee8af3ab2ee"],
            ),
            (
                imds(),
                400,
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#.into(),
                vec!["No managed identity is assigned", "the system-assigned identity", "IMDS answered HTTP 400"],
            ),
            (
                imds(),
                400,
                r#"{"error":"bad_request_102","error_description":"Required metadata header not specified"}"#.into(),
                vec!["`Metadata: true`", "never sends managed-identity requests through the configured proxy"],
            ),
            (
                imds(),
                400,
                r#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named https://graph.microsoft.com was not found"}"#.into(),
                vec!["does not know the resource", "Microsoft Graph endpoint"],
            ),
            (
                app_service(),
                401,
                r#"{"statusCode":401,"message":"Unauthorized: header-secret is wrong","correlationId":"not a guid!"}"#.into(),
                vec!["IDENTITY_HEADER", "Restart the engine", "[redacted] is wrong"],
            ),
            (imds(), 403, r#"{"error":"forbidden","error_description":"no"}"#.into(), vec!["directly on the host"]),
            (imds(), 400, long, vec!["issued no token", "…"]),
            (imds(), 400, r#"{"error":"x","error_description":"eyJhbGciOi.x.y"}"#.into(), vec!["not shown"]),
            (imds(), 502, "<html>bad gateway</html>".into(), vec!["HTTP 502", "not a managed-identity token"]),
            (
                imds(),
                400,
                r#"{"error":"x","error_description":"see [here](http://evil.example)\n# <b>"}"#.into(),
                vec![r"see \[here\]\(http://evil.example\) \# \<b\>"],
            ),
        ];
        for (endpoint, status, body, needles) in cases {
            let identity = ManagedIdentity {
                endpoint,
                client_id: None,
            };
            let response = HttpResponse {
                status,
                headers: Vec::new(),
                body: body.clone(),
            };
            let message = failure(
                &identity,
                "http://127.0.0.1:41/msi/token",
                &response,
                &["header-secret"],
            )
            .to_string();
            for needle in needles {
                assert!(message.contains(needle), "{needle} not in: {message}");
            }
            assert!(
                !message.contains("header-secret") && !message.contains("eyJ") && !message.contains("not a guid"),
                "{message}"
            );
            assert!(
                message.len() < 900 && !message.contains("](") && !message.contains('\n'),
                "{message}"
            );
        }
    }

    #[test]
    fn requests_carry_the_header_of_their_endpoint() {
        let imds = Endpoint::Imds(IMDS.into()).request("https://graph.microsoft.com", Some("c1"));
        assert_eq!(
            imds.url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com&client_id=c1"
        );
        assert_eq!(imds.headers, vec![("Metadata".to_string(), "true".to_string())]);
        let app = Endpoint::AppService {
            url: "http://127.0.0.1:41/msi/token".into(),
            header: Secret::new("h"),
        }
        .request("https://graph.microsoft.com", None);
        assert!(
            app.url
                .starts_with("http://127.0.0.1:41/msi/token?api-version=2019-08-01&resource=")
        );
        assert_eq!(app.headers, vec![("X-IDENTITY-HEADER".to_string(), "h".to_string())]);
        let arc = Endpoint::Arc(ARC.into()).request("https://graph.microsoft.com", None);
        assert!(arc.url.starts_with(&format!("{ARC}?api-version=2020-06-01&resource=")));
        assert_eq!(arc.headers, vec![("Metadata".to_string(), "true".to_string())]);
        // Only IMDS, which drops packets off Azure, gets the short connect timeout.
        let timeouts = (imds.connect_timeout, app.connect_timeout, arc.connect_timeout);
        assert_eq!(timeouts, (Some(IMDS_CONNECT_TIMEOUT), None, None));
    }

    #[test]
    fn arc_sends_the_key_of_its_challenge_once() {
        let dir = folder("flow");
        let key = dir.join("k.key");
        std::fs::write(&key, "arc-key").unwrap();
        let fake = Fake::at(1_000);
        let challenge = format!("Basic realm={}", key.display());
        fake.answer(401, "", &[("WWW-Authenticate", challenge.as_str())]);
        fake.answer(200, TOKEN, &[]);
        let first = session(&fake, Endpoint::Arc(ARC.into()), None);
        let identity = first.config.managed_identity.clone().unwrap();
        let answer = arc_token(&first, &identity, &dir).unwrap();
        assert_eq!((answer.access_token.expose(), fake.requests()), ("at", 2));
        assert!(fake.sent.borrow()[0].0.contains("api-version=2020-06-01"));
        assert_eq!(
            fake.header(0, "Authorization"),
            None,
            "the first request carries no key"
        );
        assert_eq!(fake.header(1, "Authorization").as_deref(), Some("Basic arc-key"));
        assert_eq!(fake.header(1, "Metadata").as_deref(), Some("true"));
        // A key the agent then refuses is said to be refused, and never quoted.
        let fake = Fake::at(1_000);
        fake.answer(401, "", &[("WWW-Authenticate", challenge.as_str())]);
        fake.answer(
            401,
            r#"{"error":"unauthorized","error_description":"bad key arc-key"}"#,
            &[],
        );
        let second = session(&fake, Endpoint::Arc(ARC.into()), None);
        let message = error_of(arc_token(&second, &identity, &dir));
        assert!(
            message.contains("refused the key") && !message.contains("arc-key"),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn arc_challenges_outside_the_folder_send_nothing_more() {
        let dir = folder("refused");
        let fake = Fake::at(1_000);
        fake.answer(401, "", &[("WWW-Authenticate", "Basic realm=/etc/shadow")]);
        let session = session(&fake, Endpoint::Arc(ARC.into()), None);
        let identity = session.config.managed_identity.clone().unwrap();
        let error = error_of(arc_token(&session, &identity, &dir));
        assert!(error.contains("Refused the Azure Arc challenge"), "{error}");
        assert_eq!(fake.requests(), 1);
    }
}

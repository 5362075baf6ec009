//! The only module that touches the network: requests and answers, the rule that each credential
//! goes only where it may ([`Audience`], [`Destinations`]), and the [`Client`] that sends with
//! retries. The transport itself is in `transport.rs`, the retry policies in `retry.rs`.

mod retry;
pub(crate) mod transport;
pub(crate) mod wire;

pub use retry::{RetryPolicy, parse_http_date, retry_after};
pub use transport::{ExtraRoots, NetSettings, SSL_CERT_FILE, UreqTransport, proxy_problem, ssl_cert_file};
pub use wire::{Audience, Body, HttpRequest, HttpResponse, Method, Transport, TransportError};

use crate::error::Error;
use crate::redact::Redactor;
use crate::runtime::Runtime;
use std::time::{Duration, Instant};
use url::Url;

/// The one base URL each [`Audience`] may be sent to, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    /// `{login}/{tenant}/oauth2/v2.0`; `None` if it does not parse, which admits nothing.
    login: Option<Url>,
    /// `{graph}/{api_version}`; likewise.
    graph: Option<Url>,
    /// The managed-identity endpoint, only in that mode; `None` admits nothing.
    managed_identity: Option<Url>,
}

impl Destinations {
    /// The login host's OAuth endpoints and the Graph root (config.rs checked both).
    pub fn new(login: &str, graph: &str) -> Destinations {
        Destinations {
            login: Url::parse(login).ok(),
            graph: Url::parse(graph).ok(),
            managed_identity: None,
        }
    }

    /// Admits the managed-identity endpoint `base` too (managed-identity mode only).
    pub fn with_managed_identity(mut self, base: &str) -> Destinations {
        self.managed_identity = Url::parse(base).ok();
        self
    }

    /// True when `url` lies under the base URL `audience` may receive.
    pub fn admit(&self, audience: Audience, url: &str) -> bool {
        let base = match audience {
            Audience::Login => &self.login,
            Audience::Graph => &self.graph,
            Audience::ManagedIdentity => &self.managed_identity,
        };
        base.as_ref()
            .zip(Url::parse(url).ok())
            .is_some_and(|(base, url)| under(&url, base))
    }
}

/// Sends requests through the transport, only to the configured hosts, with retries.
pub struct Client<'a> {
    /// Built on first use, one per kind of connection: a command that sends nothing (reset, a
    /// bad argument) builds neither, and one that speaks only plain http (the emulator, IMDS)
    /// never reads the CA certificates that only TLS needs.
    plain: std::cell::OnceCell<Box<dyn Transport>>,
    tls: std::cell::OnceCell<Box<dyn Transport>>,
    settings: NetSettings,
    destinations: Destinations,
    runtime: &'a dyn Runtime,
    /// Every credential this command knows: those it started with and every one a request
    /// carried (see [`Client::credentials`]).
    credentials: std::cell::RefCell<Vec<String>>,
    /// The redactor for `credentials`, rebuilt when one is added.
    redactor: std::cell::RefCell<Option<std::rc::Rc<Redactor>>>,
}

/// Form fields that carry a credential.
const CREDENTIAL_FIELDS: [&str; 5] = [
    "client_secret",
    "client_assertion",
    "refresh_token",
    "device_code",
    "code",
];
/// Headers that carry a credential (the scheme word of `Authorization` is dropped).
const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "x-identity-header"];

impl<'a> Client<'a> {
    /// A client that sends each request only under the base URL of its audience.
    pub fn new(runtime: &'a dyn Runtime, settings: &NetSettings, destinations: Destinations) -> Self {
        Client {
            plain: std::cell::OnceCell::new(),
            tls: std::cell::OnceCell::new(),
            settings: settings.clone(),
            destinations,
            runtime,
            credentials: std::cell::RefCell::new(Vec::new()),
            redactor: std::cell::RefCell::new(None),
        }
    }

    /// Every credential this command knows: those given with [`Client::add_credentials`] and
    /// every value a request sent so far carried (secret, client assertion, federated token,
    /// refresh token, device code, bearer token, managed-identity header or Arc key). Graph's
    /// answers, the log and the result are redacted of all of them.
    pub fn credentials(&self) -> Vec<String> {
        self.credentials.borrow().clone()
    }

    /// Adds credentials to redact (the client secret, the private key, the context's tokens).
    pub fn add_credentials<S: AsRef<str>>(&self, values: impl IntoIterator<Item = S>) {
        let mut known = self.credentials.borrow_mut();
        let mut added = false;
        for value in values {
            let value = value.as_ref();
            if value.len() >= crate::redact::MIN_CREDENTIAL && !known.iter().any(|k| k == value) {
                known.push(value.to_string());
                added = true;
            }
        }
        if added {
            self.redactor.borrow_mut().take();
        }
    }

    /// The redactor for every credential known now.
    pub fn redactor(&self) -> std::rc::Rc<Redactor> {
        let mut cached = self.redactor.borrow_mut();
        cached
            .get_or_insert_with(|| {
                let known = self.credentials.borrow();
                std::rc::Rc::new(Redactor::new(known.iter().map(String::as_str)))
            })
            .clone()
    }

    /// One line for stderr, with every known credential redacted (a next link's path could
    /// carry one).
    pub fn log(&self, line: &str) {
        self.runtime.log(&self.redactor().text(line));
    }

    fn remember_credentials(&self, request: &HttpRequest) {
        let mut credentials: Vec<&str> = Vec::new();
        if let wire::Body::Form(pairs) = &request.body {
            let values = pairs.iter().filter(|(k, _)| CREDENTIAL_FIELDS.contains(&k.as_str()));
            credentials.extend(values.map(|(_, v)| v.as_str()));
        }
        for (name, value) in &request.headers {
            let name = name.to_ascii_lowercase();
            if name == "authorization" {
                credentials.push(value.split_once(' ').map_or(value.as_str(), |(_, rest)| rest).trim());
            } else if CREDENTIAL_HEADERS.contains(&name.as_str()) {
                credentials.push(value.trim());
            }
        }
        // Each page of a listing carries the same bearer token: kept once.
        self.add_credentials(credentials);
    }

    /// The runtime (clock) this client sleeps with.
    pub fn runtime(&self) -> &'a dyn Runtime {
        self.runtime
    }

    /// True when a request for `audience` may be sent to `url`.
    pub fn admits(&self, audience: Audience, url: &str) -> bool {
        self.destinations.admit(audience, url)
    }

    /// Sends with retries. Returns every final response, whatever its status, except that a
    /// retryable status that never cleared becomes [`Error::Throttled`].
    pub fn send(&self, request: &HttpRequest, policy: RetryPolicy) -> Result<HttpResponse, Error> {
        let host = origin(&request.url);
        if !self.admits(request.audience, &request.url) {
            return Err(Error::Internal(format!(
                "refused to send a request to {host}, which is not where its credential may go"
            )));
        }
        let transport = self.transport(request)?;
        self.remember_credentials(request);
        let mut waited = 0.0;
        for attempt in 1..=policy.max_attempts {
            let outcome = self.attempt(transport, request, &host);
            let (wait, last) = match outcome {
                Ok(response) if !(policy.retry_status)(response.status) => {
                    return self.final_response(response, &host, request.audience);
                }
                Ok(response) => (retry_after(&response, self.runtime.now()), Some(response.status)),
                Err(TransportError::Timeout) => (None, None),
                Err(other) => return Err(network_error(&host, other)),
            };
            let wait = wait.unwrap_or_else(|| policy.backoff(attempt, self.runtime.jitter()));
            if attempt == policy.max_attempts || waited + wait > policy.max_wait_secs as f64 {
                return Err(self.gave_up(host, attempt, waited, last));
            }
            let last = last.map_or_else(
                || "no answer within the request timeout".into(),
                |s| format!("HTTP {s}"),
            );
            self.log(&format!("{last} from {host}; retrying in {wait:.1} s"));
            self.runtime.sleep(Duration::from_secs_f64(wait));
            waited += wait;
        }
        Err(Error::Internal("retry loop ended without an answer".into()))
    }

    /// The error after the last attempt: throttling when the last answer was a retryable
    /// status, a timeout when nothing answered (not throttling: the fix differs).
    fn gave_up(&self, host: String, attempts: u32, waited: f64, last_status: Option<u16>) -> Error {
        let waited_secs = waited.round() as u64;
        match last_status {
            Some(status) => Error::Throttled {
                host,
                attempts,
                waited_secs,
                status,
            },
            None => Error::TimedOut {
                host,
                attempts,
                timeout_secs: self.settings.timeout_secs,
            },
        }
    }

    /// The transport for `request`, built on first use. A plain http request that goes direct
    /// (no proxy, or the managed-identity endpoint) never makes a TLS connection, so its
    /// transport trusts only the built-in roots; every other request gets the one with
    /// `ca_file`'s and `SSL_CERT_FILE`'s certificates added (unless `insecure`). An unusable
    /// `SSL_CERT_FILE` is thus an error before the first request that could need it is sent.
    fn transport(&self, request: &HttpRequest) -> Result<&dyn Transport, Error> {
        let plain_http = request.url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        let direct = !self.settings.proxy || request.audience == Audience::ManagedIdentity;
        if plain_http && direct {
            let settings = NetSettings {
                timeout_secs: self.settings.timeout_secs,
                insecure: self.settings.insecure,
                extra_roots: ExtraRoots::default(),
                proxy: self.settings.proxy,
            };
            return Ok(self.plain.get_or_init(|| self.runtime.transport(&settings)).as_ref());
        }
        if let Some(transport) = self.tls.get() {
            return Ok(transport.as_ref());
        }
        let mut settings = self.settings.clone();
        if let Some(path) = ssl_cert_file().filter(|_| !settings.insecure) {
            settings.extra_roots.add_file(&path).map_err(|why| Error::Environment {
                variable: SSL_CERT_FILE.to_string(),
                reason: format!(
                    "names a CA file this integration cannot use: {why} (its certificates are added to the trusted roots, like ca_file's.)"
                ),
            })?;
        }
        Ok(self.tls.get_or_init(|| self.runtime.transport(&settings)).as_ref())
    }

    fn attempt(
        &self,
        transport: &dyn Transport,
        request: &HttpRequest,
        host: &str,
    ) -> Result<HttpResponse, TransportError> {
        let started = Instant::now();
        let outcome = transport.send(request);
        let status = outcome
            .as_ref()
            .map_or_else(ToString::to_string, |r| r.status.to_string());
        let method = request.method.as_str();
        self.log(&format!(
            "{method} {host}{} -> {status} ({} ms)",
            path_of(&request.url),
            started.elapsed().as_millis()
        ));
        outcome
    }

    /// A final answer: redirects refused; Graph's body redacted of every known credential
    /// before anything reads it (so no key, value, table header, incident or cursor made from it
    /// can carry one). Token answers are not: they hold the tokens this command needs.
    fn final_response(
        &self,
        mut response: HttpResponse,
        host: &str,
        audience: Audience,
    ) -> Result<HttpResponse, Error> {
        if audience == Audience::Graph {
            let redactor = self.redactor();
            if let std::borrow::Cow::Owned(body) = redactor.json_str(&response.body) {
                response.body = body;
            }
        }
        if (300..400).contains(&response.status) {
            return Err(Error::Unexpected {
                host: host.to_string(),
                status: response.status,
                detail: "a redirect, which is not followed so that no secret or token leaves the configured host"
                    .into(),
            });
        }
        Ok(response)
    }
}

fn network_error(host: &str, error: TransportError) -> Error {
    Error::Network {
        host: host.to_string(),
        reason: error.to_string(),
    }
}

/// An answer from `base`'s host that is not what the caller needed: quotes only the status,
/// the content type and the size, never the body (a cut-off token answer could hold a token).
pub fn unexpected_answer(base: &str, response: &HttpResponse, what: &str) -> Error {
    let kind = response
        .header("content-type")
        .map_or_else(|| "no content type".to_string(), crate::markdown::server_text);
    Error::Unexpected {
        host: origin(base),
        status: response.status,
        detail: format!("{what} ({kind}, {} bytes)", response.body.len()),
    }
}

/// `scheme://host[:port]` of a URL, for messages and logs (never its user info).
pub fn origin(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => "an unreadable URL".to_string(),
    }
}

/// The path of a URL without its query (queries may hold filter text; paths are safe to log),
/// cut from the text as sent: a URL parser would resolve dot-segments and log another path.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// True when `url` is `base` itself or below it: the same scheme, host and port, no user info,
/// and a path that starts with base's path segment by segment. Dot-segments (`..`, `%2e%2e`,
/// `\..`) are resolved first, as a server would, so none can climb out of `base`.
pub fn under_base(url: &str, base: &str) -> bool {
    let (Ok(url), Ok(base)) = (Url::parse(url), Url::parse(base)) else {
        return false;
    };
    under(&url, &base)
}

/// [`under_base`] on parsed URLs.
fn under(url: &Url, base: &Url) -> bool {
    let same_origin = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default();
    let no_user_info = url.username().is_empty() && url.password().is_none();
    same_origin && no_user_info && segments(url).starts_with(&segments(base))
}

/// The non-empty path segments of a (resolved) URL.
fn segments(url: &Url) -> Vec<&str> {
    url.path_segments()
        .map(|s| s.filter(|segment| !segment.is_empty()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_for_messages_never_carry_user_info() {
        let cases = [
            (
                "https://GRAPH.microsoft.com/beta/x?$top=1",
                "https://graph.microsoft.com",
            ),
            (
                "https://user:secret@graph.microsoft.com/beta",
                "https://graph.microsoft.com",
            ),
            ("http://127.0.0.1:8765/t/oauth2/v2.0/token", "http://127.0.0.1:8765"),
            ("https://graph.microsoft.com:443/beta", "https://graph.microsoft.com"),
            ("not a url", "an unreadable URL"),
        ];
        for (url, expected) in cases {
            assert_eq!(origin(url), expected, "{url}");
        }
    }

    #[test]
    fn base_urls() {
        let cases = [
            (
                "https://graph.microsoft.com/beta/x",
                "https://graph.microsoft.com",
                true,
            ),
            ("https://GRAPH.microsoft.com/beta", "https://graph.microsoft.com", true),
            (
                "https://graph.microsoft.com:443/beta/x",
                "https://graph.microsoft.com/beta",
                true,
            ),
            (
                "https://graph.microsoft.com/beta/x/../y",
                "https://graph.microsoft.com/beta",
                true,
            ),
            (
                "https://graph.microsoft.com/beta/../v1.0/x",
                "https://graph.microsoft.com/beta",
                false,
            ),
            (
                "https://graph.microsoft.com/beta/%2e%2e/x",
                "https://graph.microsoft.com/beta",
                false,
            ),
            (
                "https://graph.microsoft.com/beta/.%2E/x",
                "https://graph.microsoft.com/beta",
                false,
            ),
            (
                "https://graph.microsoft.com/beta\\..\\x",
                "https://graph.microsoft.com/beta",
                false,
            ),
            (
                "https://graph.microsoft.com/betaX/x",
                "https://graph.microsoft.com/beta",
                false,
            ),
            (
                "https://graph.microsoft.com/beta",
                "https://graph.microsoft.com/beta",
                true,
            ),
            ("not a url", "https://graph.microsoft.com/beta", false),
            (
                "https://graph.microsoft.com.evil.test/beta",
                "https://graph.microsoft.com",
                false,
            ),
            ("http://graph.microsoft.com/beta", "https://graph.microsoft.com", false),
            (
                "https://graph.microsoft.com:8443/beta",
                "https://graph.microsoft.com",
                false,
            ),
            ("http://127.0.0.1:9/emu/beta", "http://127.0.0.1:9/emu", true),
            ("http://127.0.0.1:9/emulator/beta", "http://127.0.0.1:9/emu", false),
            (
                "https://user@graph.microsoft.com/beta",
                "https://graph.microsoft.com",
                false,
            ),
        ];
        for (url, base, expected) in cases {
            assert_eq!(under_base(url, base), expected, "{url} under {base}");
        }
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use crate::runtime::testing::Fake;

    fn client(fake: &Fake) -> Client<'_> {
        let settings = NetSettings {
            timeout_secs: 5,
            insecure: false,
            extra_roots: ExtraRoots::default(),
            proxy: false,
        };
        let destinations = Destinations::new(
            "https://login.microsoftonline.com/t/oauth2/v2.0",
            "https://graph.microsoft.com/beta",
        );
        Client::new(fake, &settings, destinations)
    }

    fn get(fake: &Fake, policy: RetryPolicy) -> Result<HttpResponse, Error> {
        client(fake).send(&HttpRequest::get("https://graph.microsoft.com/beta/x"), policy)
    }

    #[test]
    fn every_credential_sent_is_remembered_once_and_nothing_else() {
        let fake = Fake::at(0);
        for _ in 0..3 {
            fake.answer(200, "{}", &[]);
        }
        let client = client(&fake);
        let pairs = [
            ("grant_type", "client_credentials"),
            ("client_id", "app-id-is-public"),
            ("client_assertion", "header.payload.signature"),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let form = HttpRequest::form(
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        );
        client.send(&form, RetryPolicy::TOKEN).unwrap();
        for _ in 0..2 {
            let page = HttpRequest::get("https://graph.microsoft.com/beta/x")
                .header("Authorization", "Bearer eyJ.bearer.token");
            client.send(&page, RetryPolicy::GRAPH).unwrap();
        }
        assert_eq!(client.credentials(), ["header.payload.signature", "eyJ.bearer.token"]);

        // The managed-identity headers: the App Service secret whole, the Arc key without "Basic".
        let endpoint = "http://127.0.0.1:41/msi/token";
        let settings = client.settings.clone();
        let destinations =
            Destinations::new("https://l/t/oauth2/v2.0", "https://g/beta").with_managed_identity(endpoint);
        let identity = Client::new(&fake, &settings, destinations);
        for (name, value) in [
            ("X-IDENTITY-HEADER", "app service secret"),
            ("Authorization", "Basic arc-key-0123"),
        ] {
            fake.answer(200, "{}", &[]);
            let request = HttpRequest::managed_identity(endpoint).header(name, value);
            identity.send(&request, RetryPolicy::TOKEN).unwrap();
        }
        assert_eq!(identity.credentials(), ["app service secret", "arc-key-0123"]);
    }

    #[test]
    fn backoff_without_retry_after_then_success() {
        let fake = Fake::at(0);
        fake.answer(503, "", &[]);
        fake.fail(TransportError::Timeout);
        fake.answer(200, "{}", &[]);
        assert_eq!(get(&fake, RetryPolicy::GRAPH).unwrap().status, 200);
        assert_eq!(*fake.slept.borrow(), [Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[test]
    fn retry_after_is_honoured_and_the_budget_bounds_the_wait() {
        let fake = Fake::at(0);
        fake.answer(429, "", &[("Retry-After", "20")]);
        fake.answer(429, "", &[("Retry-After", "20")]);
        let error = get(&fake, RetryPolicy::TOKEN).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Throttled {
                    attempts: 2,
                    waited_secs: 20,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(*fake.slept.borrow(), [Duration::from_secs(20)]);
        // The bridge reads the status here to tell XSOAR's mirroring about a rate limit.
        assert_eq!(error.contents()["http_status"], 429);
    }

    #[test]
    fn client_errors_and_connection_failures_are_not_retried() {
        let fake = Fake::at(0);
        fake.answer(400, "{}", &[]);
        assert_eq!(get(&fake, RetryPolicy::TOKEN).unwrap().status, 400);
        fake.fail(TransportError::Connect("connection refused".into()));
        assert!(matches!(get(&fake, RetryPolicy::TOKEN), Err(Error::Network { .. })));
        assert_eq!((fake.requests(), fake.slept.borrow().len()), (2, 0));
    }

    #[test]
    fn transport_errors_read_as_plain_words() {
        let cases = [
            (TransportError::Timeout, "no answer within the request timeout"),
            (
                TransportError::Connect("connection refused".into()),
                "connection refused",
            ),
            (
                TransportError::Tls("bad certificate".into()),
                "TLS failed: bad certificate",
            ),
            (TransportError::Proxy("407".into()), "the proxy failed: 407"),
            (TransportError::Other("closed".into()), "closed"),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words, "{error:?}");
        }
    }

    #[test]
    fn requests_to_unconfigured_hosts_are_refused_unsent() {
        let fake = Fake::at(0);
        let outcome = client(&fake).send(&HttpRequest::get("https://evil.example/x"), RetryPolicy::TOKEN);
        assert!(matches!(outcome, Err(Error::Internal(_))));
        assert_eq!(fake.requests(), 0);
    }

    #[test]
    fn each_credential_goes_only_to_its_own_destination() {
        let login = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let graph = "https://graph.microsoft.com/beta/identityProtection/riskyUsers";
        let cases = [
            (HttpRequest::get(graph), true),
            (HttpRequest::json(graph, "{}".into()), true),
            (HttpRequest::form(login, Vec::new()), true),
            // A bearer token to the login host (a next link pointing there), or a secret to Graph.
            (HttpRequest::get(login), false),
            (HttpRequest::get("https://login.microsoftonline.com/t/x"), false),
            (HttpRequest::form(graph, Vec::new()), false),
            // Graph's host outside the API root, and another tenant's token endpoint.
            (
                HttpRequest::get("https://graph.microsoft.com/v1.0/identityProtection/riskyUsers"),
                false,
            ),
            (
                HttpRequest::form("https://login.microsoftonline.com/other/oauth2/v2.0/token", Vec::new()),
                false,
            ),
        ];
        for (request, sent) in cases {
            let fake = Fake::at(0);
            fake.answer(200, "{}", &[]);
            let outcome = client(&fake).send(&request, RetryPolicy::TOKEN);
            assert_eq!(
                (outcome.is_ok(), fake.requests()),
                (sent, usize::from(sent)),
                "{} {:?}",
                request.url,
                request.audience
            );
        }
    }
}

//! What a request and an answer are, and what sends one: the types the client, the real
//! transport and the runtime share, with no dependency on any of them.

/// HTTP methods this integration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    /// As the request line spells it (for the log).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// A request body.
#[derive(Clone)]
pub enum Body {
    None,
    /// `application/x-www-form-urlencoded` pairs (may hold secrets).
    Form(Vec<(String, String)>),
    /// A JSON document.
    Json(String),
}

/// Who may receive a request, by the credential it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The login host's OAuth endpoints (`{login}/{tenant}/oauth2/v2.0/...`): client secrets,
    /// refresh tokens and device codes go there and nowhere else.
    Login,
    /// The Graph root (`{graph}/{api_version}/...`): bearer tokens go there and nowhere else.
    Graph,
    /// The managed-identity endpoint (IMDS or the App Service / Arc one): admitted only in
    /// managed-identity mode, and only under exactly that base.
    ManagedIdentity,
}

/// One HTTP request. Deliberately without `Debug`: headers and form may hold secrets.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Where it may go; [`Client::send`] refuses any other URL.
    pub audience: Audience,
    /// A connect timeout of its own (IMDS): a connection that does not open within it is a
    /// connection failure, [`TransportError::Connect`], which is not retried.
    pub connect_timeout: Option<std::time::Duration>,
}

impl HttpRequest {
    /// A Graph GET with no headers.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url.into(), Body::None, Audience::Graph)
    }

    /// A form POST to the login host's OAuth endpoints.
    pub fn form(url: impl Into<String>, pairs: Vec<(String, String)>) -> Self {
        Self::new(Method::Post, url.into(), Body::Form(pairs), Audience::Login)
    }

    /// A JSON POST to Graph.
    pub fn json(url: impl Into<String>, body: String) -> Self {
        Self::new(Method::Post, url.into(), Body::Json(body), Audience::Graph)
    }

    /// A POST to Graph without a body (an action that takes no parameters).
    pub fn post_empty(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url.into(), Body::None, Audience::Graph)
    }

    /// A JSON PATCH to Graph (an update of the members it names).
    pub fn patch_json(url: impl Into<String>, body: String) -> Self {
        Self::new(Method::Patch, url.into(), Body::Json(body), Audience::Graph)
    }

    /// A GET to the managed-identity endpoint.
    pub fn managed_identity(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url.into(), Body::None, Audience::ManagedIdentity)
    }

    fn new(method: Method, url: String, body: Body, audience: Audience) -> Self {
        HttpRequest {
            method,
            url,
            headers: Vec::new(),
            body,
            audience,
            connect_timeout: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Gives the request its own connect timeout (see [`HttpRequest::connect_timeout`]).
    pub fn connect_timeout(mut self, limit: std::time::Duration) -> Self {
        self.connect_timeout = Some(limit);
        self
    }
}

/// One HTTP response, body read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// A header value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the timeout.
    Timeout,
    /// Could not connect (refused, DNS, unreachable).
    Connect(String),
    /// TLS failed (certificate, handshake).
    Tls(String),
    /// The proxy refused or failed.
    Proxy(String),
    /// Anything else (connection closed mid-response, body too large).
    Other(String),
}

/// Plain words, for the stderr log line and the error entry alike (never the Debug form, which
/// would show `Connect("…")` to a person reading the engine's log).
impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout => f.write_str("no answer within the request timeout"),
            TransportError::Connect(why) | TransportError::Other(why) => f.write_str(why),
            TransportError::Tls(why) => write!(f, "TLS failed: {why}"),
            TransportError::Proxy(why) => write!(f, "the proxy failed: {why}"),
        }
    }
}

/// Sends one request. The real one is [`UreqTransport`]; tests pass fakes.
pub trait Transport {
    /// Sends the request and reads the whole response.
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F: Fn(&HttpRequest) -> Result<HttpResponse, TransportError>> Transport for F {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

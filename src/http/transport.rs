//! The real transport: a ureq agent with bounded timeouts and body size, no redirects, and the
//! proxy variables used only when they can be (never a silent direct connection).

use super::{Body, HttpRequest, HttpResponse, Method, NetSettings, Transport, TransportError};
use std::time::Duration;

/// Largest response body read, so a hostile or broken server cannot exhaust memory.
const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// The proxy variables, in the order ureq reads them.
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// Why the proxy variables cannot be used, if they cannot: ureq skips a value it cannot read and
/// would then connect directly. Never quotes the value, which may hold a password.
pub fn proxy_problem() -> Option<String> {
    PROXY_VARIABLES.iter().find_map(|name| {
        let value = std::env::var_os(name)?;
        let usable = value
            .to_str()
            .is_some_and(|v| v.trim().is_empty() || ureq::Proxy::new(v.trim()).is_ok());
        (!usable).then(|| {
            format!(
                "the environment variable {name} is not a proxy URL this integration can use (http://, https://, socks4://, socks4a://, socks5:// or socks5h://)."
            )
        })
    })
}

/// The real transport: one ureq agent per process.
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// Builds the agent: bounded connect and overall timeouts, no redirects (a redirect could
    /// carry a secret elsewhere), status codes returned rather than turned into errors.
    pub fn new(settings: &NetSettings) -> Self {
        let timeout = Duration::from_secs(settings.timeout_secs);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .timeout_global(Some(timeout))
            .user_agent(concat!("azure-ad-identity-protection/", env!("CARGO_PKG_VERSION")))
            .proxy(if settings.proxy {
                ureq::Proxy::try_from_env()
            } else {
                None
            });
        if settings.insecure {
            config = config.tls_config(ureq::tls::TlsConfig::builder().disable_verification(true).build());
        }
        UreqTransport {
            agent: config.build().into(),
        }
    }

    fn call(&self, request: &HttpRequest) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        match (&request.method, &request.body) {
            (Method::Get, _) => with_headers(self.agent.get(&request.url), &request.headers).call(),
            (Method::Post, Body::Form(pairs)) => with_headers(self.agent.post(&request.url), &request.headers)
                .send_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            (Method::Post, Body::Json(json)) => with_headers(self.agent.post(&request.url), &request.headers)
                .content_type("application/json")
                .send(json.as_str()),
            (Method::Post, Body::None) => with_headers(self.agent.post(&request.url), &request.headers).send_empty(),
        }
    }
}

fn with_headers<B>(mut builder: ureq::RequestBuilder<B>, headers: &[(String, String)]) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut response = self.call(request).map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(classify)?;
        Ok(HttpResponse { status, headers, body })
    }
}

fn classify(error: ureq::Error) -> TransportError {
    match error {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::HostNotFound => TransportError::Connect("host not found (DNS)".into()),
        ureq::Error::ConnectionFailed => TransportError::Connect("connection failed".into()),
        ureq::Error::ConnectProxyFailed(why) => TransportError::Proxy(why),
        ureq::Error::InvalidProxyUrl => TransportError::Proxy("the proxy variable is not a valid URL".into()),
        ureq::Error::BodyExceedsLimit(n) => TransportError::Other(format!("response body larger than {n} bytes")),
        ureq::Error::Io(e) => classify_io(&e),
        other => TransportError::Other(other.to_string()),
    }
}

fn classify_io(error: &std::io::Error) -> TransportError {
    use std::io::ErrorKind::*;
    let text = error.to_string();
    match error.kind() {
        TimedOut | WouldBlock => TransportError::Timeout,
        ConnectionRefused => TransportError::Connect("connection refused".into()),
        ConnectionReset | ConnectionAborted | UnexpectedEof => {
            TransportError::Other("connection closed before the response was complete".into())
        }
        InvalidData if text.contains("certificate") => {
            TransportError::Tls(format!("{text} (set insecure only for a test host)"))
        }
        _ => TransportError::Other(text),
    }
}

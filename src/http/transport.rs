//! The real transport: a ureq agent with bounded timeouts and body size, no redirects, and the
//! proxy variables used only when they can be (never a silent direct connection).

use super::wire::{Audience, Body, HttpRequest, HttpResponse, Method, Transport, TransportError};
use crate::files;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};
use std::path::Path;
use std::time::Duration;

/// Largest response body read, so a hostile or broken server cannot exhaust memory.
const MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
/// Each connection's input and output buffer, zero-filled when it opens (ureq's default is
/// 128 KiB each), and so the largest response head read: the head must fit the input buffer.
const BUFFER_BYTES: usize = 32 * 1024;

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

/// The most read of a CA bundle, a file or pasted text: Mozilla's whole bundle is about 220 KiB.
pub const MAX_CA_BYTES: u64 = 1024 * 1024;

/// The environment variable naming a CA file, as OpenSSL, curl, Python and Rust clients read it.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// CA certificates trusted in addition to the built-in (Mozilla) roots, each already checked as
/// a trust anchor. `Debug` shows only how many: never the certificates themselves.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraRoots(Vec<CertificateDer<'static>>);

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraRoots")
            .field("certificates", &self.0.len())
            .finish()
    }
}

impl ExtraRoots {
    /// How many certificates were added.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when only the built-in roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `ca_file`'s certificates: PEM text when it starts with `-----BEGIN`, else the path of a
    /// PEM file. The error says what is wrong in a sentence that never quotes the PEM.
    pub fn add_pem_or_file(&mut self, value: &str) -> Result<(), String> {
        let value = value.trim();
        if value.starts_with("-----BEGIN") {
            if value.len() as u64 > MAX_CA_BYTES {
                return Err(format!("the PEM text is larger than {}, the most read.", mib()));
            }
            if !value.contains('\n') {
                return Err("the PEM text is on one line: its line breaks were lost.".to_string());
            }
            return self.add_pem(value.as_bytes(), "the PEM text");
        }
        self.add_file(Path::new(value))
    }

    /// Adds the certificates of the PEM file at `path`, a regular file of at most [`MAX_CA_BYTES`].
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let shown = path_for_message(path);
        let pem = files::read(path, MAX_CA_BYTES).map_err(|problem| match problem {
            files::Problem::TooLarge(_) => format!(
                "cannot read {shown}: it is larger than {}, the most read for a CA bundle.",
                mib()
            ),
            other => format!("cannot read {shown}: {other}."),
        })?;
        self.add_pem(&pem, &shown)
    }

    fn add_pem(&mut self, pem: &[u8], source: &str) -> Result<(), String> {
        let certificates = match plain_bundle(pem) {
            Some(certificates) => certificates,
            None => careful_bundle(pem, source)?,
        };
        // Checked one by one even for SSL_CERT_FILE's system bundle: it is read only for a TLS
        // connection, where this costs about 4 % (144 certificates: 0.4 M instructions of a 10 M
        // list over TLS), and it names a certificate that ureq would silently skip.
        let mut check = rustls::RootCertStore::empty();
        for (n, certificate) in certificates.iter().enumerate() {
            check.add(certificate.clone()).map_err(|e| {
                format!(
                    "certificate {} in {source} is not a usable X.509 CA certificate ({e}).",
                    n + 1
                )
            })?;
        }
        self.0.extend(certificates);
        Ok(())
    }

    /// The roots ureq trusts: the built-in Mozilla ones, then these.
    fn with_builtin(&self) -> ureq::tls::RootCerts {
        let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()));
        let added = self
            .0
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned());
        builtin.chain(added).collect::<Vec<_>>().into()
    }
}

/// `SSL_CERT_FILE`, when it is set to something.
pub fn ssl_cert_file() -> Option<std::path::PathBuf> {
    std::env::var_os(SSL_CERT_FILE)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// The certificates of a plain PEM bundle (LF line ends, only CERTIFICATE blocks, canonical
/// base64), as the careful reader would return them; `None` for anything else, which
/// [`careful_bundle`] then reads or explains. Split by hand because pki-types' reader looks for
/// line ends and decodes base64 one byte at a time (about 40 instructions a byte): for a system
/// bundle of 144 certificates that cost twice the rest of a command.
fn plain_bundle(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    // A CR is a line break of its own to the careful reader: its rules then apply.
    if pem.contains(&b'\r') {
        return None;
    }
    let text = std::str::from_utf8(pem).ok()?;
    let (mut certificates, mut body, mut inside) = (Vec::new(), Vec::new(), false);
    for line in text.split('\n') {
        match (inside, line.starts_with('-')) {
            (false, false) => {}
            (false, true) if line == BEGIN => inside = true,
            (true, true) if line.starts_with(END) => {
                let der = base64::engine::general_purpose::STANDARD.decode(&body).ok()?;
                certificates.push(CertificateDer::from(der));
                body.clear();
                inside = false;
            }
            (true, false) => body.extend_from_slice(line.as_bytes()),
            (_, true) => return None,
        }
    }
    (!inside && !certificates.is_empty()).then_some(certificates)
}

/// The certificates of any PEM text, through pki-types' reader: its errors become sentences.
fn careful_bundle(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{source} is not valid PEM ({}).", pem_problem(&e)))?;
    if certificates.is_empty() {
        return Err(format!(
            "{source} holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)."
        ));
    }
    Ok(certificates)
}

/// `the file PATH`, without the path when it does not look like one (it may be text pasted
/// into the wrong place).
fn path_for_message(path: &Path) -> String {
    format!("the file {}", crate::params::shown_path(&path.to_string_lossy()))
}

/// What is wrong with the PEM, without the offending line (pki-types' messages quote it).
fn pem_problem(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a -----BEGIN line without its -----END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed -----BEGIN line; keep the line breaks",
        pem::Error::Base64Decode(_) => "a block whose base64 does not decode",
        pem::Error::SectionTooLarge => "a block too large",
        _ => "unreadable",
    }
}

fn mib() -> String {
    format!("{} MiB", MAX_CA_BYTES / (1024 * 1024))
}

/// Network settings from the instance parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSettings {
    /// Overall budget of one request, in seconds.
    pub timeout_secs: u64,
    /// Skip certificate checks (`insecure`).
    pub insecure: bool,
    /// CA certificates trusted besides the built-in roots (`ca_file`, `SSL_CERT_FILE`).
    pub extra_roots: ExtraRoots,
    /// Use the standard proxy variables (`proxy`); false means no proxy even if they are set.
    pub proxy: bool,
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
            .input_buffer_size(BUFFER_BYTES)
            .output_buffer_size(BUFFER_BYTES)
            .max_response_header_size(BUFFER_BYTES)
            .proxy(if settings.proxy {
                ureq::Proxy::try_from_env()
            } else {
                None
            });
        if settings.insecure {
            config = config.tls_config(ureq::tls::TlsConfig::builder().disable_verification(true).build());
        } else if !settings.extra_roots.is_empty() {
            let roots = settings.extra_roots.with_builtin();
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        UreqTransport {
            agent: config.build().into(),
        }
    }

    fn call(&self, request: &HttpRequest) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        match (&request.method, &request.body) {
            (Method::Get, _) => with_headers(self.agent.get(&request.url), request).call(),
            (Method::Post, Body::Form(pairs)) => with_headers(self.agent.post(&request.url), request)
                .send_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            (Method::Post, Body::Json(json)) => with_headers(self.agent.post(&request.url), request)
                .content_type("application/json")
                .send(json.as_str()),
            (Method::Post, Body::None) => with_headers(self.agent.post(&request.url), request).send_empty(),
            (Method::Patch, Body::Json(json)) => with_headers(self.agent.patch(&request.url), request)
                .content_type("application/json")
                .send(json.as_str()),
            (Method::Patch, Body::Form(_) | Body::None) => {
                with_headers(self.agent.patch(&request.url), request).send_empty()
            }
        }
    }
}

/// The request's headers, its own connect timeout when it has one, and no proxy for the
/// managed-identity endpoint: IMDS and the Arc agent answer only direct requests, and its header
/// secret or Arc key must not cross a proxy in plain http.
fn with_headers<B>(mut builder: ureq::RequestBuilder<B>, request: &HttpRequest) -> ureq::RequestBuilder<B> {
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let direct = request.audience == Audience::ManagedIdentity;
    if request.connect_timeout.is_none() && !direct {
        return builder;
    }
    let mut config = builder.config();
    if let Some(limit) = request.connect_timeout {
        config = config.timeout_connect(Some(limit));
    }
    if direct {
        config = config.proxy(None);
    }
    config.build()
}

impl Transport for UreqTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut response = self.call(request).map_err(|e| classify_for(request, e))?;
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
        let body = read_body(response.body_mut())?;
        Ok(HttpResponse { status, headers, body })
    }
}

/// The body, at most [`MAX_BODY_BYTES`], as text. With a Content-Length within the limit it is
/// read straight into one buffer of that size (ureq checks the length it announced; no growing
/// buffer is zeroed and copied through its doublings); otherwise up to the limit.
fn read_body(body: &mut ureq::Body) -> Result<String, TransportError> {
    use std::io::Read as _;
    let length = body.content_length().filter(|n| *n <= MAX_BODY_BYTES);
    let mut reader = body.with_config().limit(MAX_BODY_BYTES).reader();
    let mut bytes = Vec::new();
    let read = match length.and_then(|n| usize::try_from(n).ok()) {
        Some(n) => {
            bytes = vec![0; n];
            reader.read_exact(&mut bytes)
        }
        None => reader.read_to_end(&mut bytes).map(drop),
    };
    read.map_err(|e| classify(ureq::Error::from(e)))?;
    String::from_utf8(bytes).map_err(|_| TransportError::Other("the answer is not UTF-8 text".into()))
}

/// As [`classify`], except that a request with its own connect timeout that never connected
/// failed to connect: not a timeout, which the client would retry.
fn classify_for(request: &HttpRequest, error: ureq::Error) -> TransportError {
    match (request.connect_timeout, error) {
        (Some(limit), ureq::Error::Timeout(ureq::Timeout::Connect)) => {
            TransportError::Connect(format!("no connection within {} s", limit.as_secs_f64()))
        }
        (_, error) => classify(error),
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
        InvalidData if text.contains("certificate") => TransportError::Tls(format!(
            "{text} (trust the server's CA with ca_file; set insecure only for a test host)"
        )),
        _ => TransportError::Other(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The emulator's loopback CA: public, name-constrained to loopback names.
    const CA: &str = include_str!("../../crates/emulator/src/tls/ca.pem");

    fn added(value: &str) -> Result<usize, String> {
        let mut roots = ExtraRoots::default();
        roots.add_pem_or_file(value).map(|()| roots.len())
    }

    #[test]
    fn pem_text_is_read_and_checked() {
        let body = CA.lines().nth(1).unwrap_or_default();
        let private_key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let cases: [(String, Result<usize, &str>); 10] = [
            (CA.to_string(), Ok(1)),
            (format!("  {CA}\n"), Ok(1)),
            (format!("{CA}{CA}"), Ok(2)),
            (CA.replace('\n', "\r\n"), Ok(1)),
            (CA.replace('\n', " "), Err("line breaks were lost")),
            (
                CA.replace("-----END CERTIFICATE-----", ""),
                Err("without its -----END line"),
            ),
            (CA.replace(body, "!!!!"), Err("base64 does not decode")),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
                Err("certificate 1 in the PEM text is not a usable X.509"),
            ),
            (private_key.to_string(), Err("holds no PEM certificate")),
            (
                format!("{CA}{}", "x".repeat(MAX_CA_BYTES as usize)),
                Err("larger than 1 MiB"),
            ),
        ];
        for (value, expected) in cases {
            match (added(&value), expected) {
                (Ok(n), Ok(want)) => assert_eq!(n, want),
                (Err(message), Err(needle)) => {
                    assert!(message.contains(needle), "{message}");
                    assert!(!message.contains(body), "the PEM is never quoted: {message}");
                }
                (got, want) => panic!("{got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn the_fast_pem_reader_reads_plain_bundles_as_the_careful_one_and_leaves_the_rest_to_it() {
        let body = CA.lines().nth(1).unwrap_or_default();
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let plain = [
            CA.to_string(),
            format!("{CA}{CA}"),
            format!("# a label outside the blocks\n{CA}\n\n{CA}"),
            CA.trim_end().to_string(),
            system,
        ];
        for pem in plain.iter().filter(|p| !p.is_empty()) {
            let careful = careful_bundle(pem.as_bytes(), "x").unwrap();
            assert_eq!(plain_bundle(pem.as_bytes()), Some(careful), "{pem}");
        }
        let unusual = [
            CA.replace('\n', "\r\n"),
            CA.replace(body, &format!(" {body}")),
            CA.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE----- "),
            CA.replace("-----END CERTIFICATE-----", ""),
            CA.replace(body, "!!!!"),
            format!("{key}{CA}"),
            format!("-----BEGIN TRUSTED CERTIFICATE-----\n{body}\n-----END TRUSTED CERTIFICATE-----\n"),
            "-----BEGIN CERTIFICATE-----\nAAB=\n-----END CERTIFICATE-----\n".to_string(),
            String::new(),
            "no PEM here".to_string(),
        ];
        for pem in unusual {
            assert_eq!(plain_bundle(pem.as_bytes()), None, "{pem}");
        }
    }

    #[test]
    fn paths_are_read_with_a_bound() {
        let dir = std::env::temp_dir().join(format!("aadip-ca-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        };
        let cases = [
            (file("ca.pem", CA.as_bytes()), Ok(1)),
            (
                file("garbage.pem", b"not a certificate at all\n"),
                Err("holds no PEM certificate"),
            ),
            (file("huge.pem", &vec![b'A'; 2 * 1024 * 1024]), Err("larger than 1 MiB")),
            (dir.join("missing.pem").display().to_string(), Err("No such file")),
            (dir.display().to_string(), Err("cannot read the file")),
        ];
        for (path, expected) in cases {
            match (added(&path), expected) {
                (Ok(n), Ok(want)) => assert_eq!(n, want, "{path}"),
                (Err(message), Err(needle)) => {
                    assert!(message.contains(needle) && message.contains(&path), "{message}")
                }
                (got, want) => panic!("{path}: {got:?}, expected {want:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_a_request_with_its_own_connect_timeout_turns_it_into_a_connection_failure() {
        let imds = HttpRequest::managed_identity("http://169.254.169.254/x").connect_timeout(Duration::from_secs(3));
        let graph = HttpRequest::get("https://graph.microsoft.com/beta/x");
        let connect = || ureq::Error::Timeout(ureq::Timeout::Connect);
        let cases = [
            (
                &imds,
                connect(),
                TransportError::Connect("no connection within 3 s".into()),
            ),
            (&graph, connect(), TransportError::Timeout),
            (
                &imds,
                ureq::Error::Timeout(ureq::Timeout::Global),
                TransportError::Timeout,
            ),
            (
                &imds,
                ureq::Error::ConnectionFailed,
                TransportError::Connect("connection failed".into()),
            ),
        ];
        for (request, error, expected) in cases {
            assert_eq!(classify_for(request, error), expected, "{}", request.url);
        }
    }

    #[test]
    fn debug_shows_only_the_count_and_the_builtin_roots_stay() {
        let mut roots = ExtraRoots::default();
        roots.add_pem_or_file(CA).unwrap();
        assert_eq!(format!("{roots:?}"), "ExtraRoots { certificates: 1 }");
        let ureq::tls::RootCerts::Specific(all) = roots.with_builtin() else {
            panic!("a certificate list")
        };
        assert_eq!(all.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1);
    }
}

//! Serving under stress, over raw connections: an idle spell, dripping and silent clients,
//! oversized requests, the request log's bounds, the connection cap and the admin Host check.
//! Timeouts here are hang guards (a frozen emulator fails the test instead of blocking it);
//! how fast anything is belongs to the bench.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::*;

/// Longer than any timeout the old server had on an idle connection or listener (10 s).
const IDLE_SPELL: Duration = Duration::from_secs(15);
/// How long any one answer may take before the test calls the emulator frozen.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// One answer read off a raw connection.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `127.0.0.1:PORT` of an emulator.
fn address(emulator: &Emulator) -> String {
    emulator.base_url().rsplit("//").next().unwrap_or_default().to_owned()
}

/// A plain connection to the emulator with the hang guard on reads and writes.
fn connect(emulator: &Emulator) -> TcpStream {
    let stream = TcpStream::connect(address(emulator)).expect("connects");
    stream.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    stream.set_write_timeout(Some(HANG_GUARD)).expect("write timeout");
    stream
}

/// A TLS connection to an emulator serving `--tls`, trusting only its loopback CA.
fn connect_tls(emulator: &Emulator) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(crate::tls::CA_PEM.as_bytes()) {
        roots.add(certificate.expect("the CA reads")).expect("the CA is a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").expect("an IP address name");
    let client = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    rustls::StreamOwned::new(client, connect(emulator))
}

/// `GET path` for Host `host`, kept alive.
fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

/// Sends `request` and reads one answer.
fn exchange(stream: &mut (impl Read + Write), request: &str) -> io::Result<RawAnswer> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    read_answer(stream)
}

/// Reads one answer: its head through httparse, its body by Content-Length.
fn read_answer(stream: &mut impl Read) -> io::Result<RawAnswer> {
    let mut buffer = Vec::new();
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        if let httparse::Status::Complete(head) = response.parse(&buffer).map_err(io::Error::other)? {
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|f| (f.name.to_owned(), String::from_utf8_lossy(f.value).into_owned()))
                .collect();
            let mut answer = RawAnswer {
                status: response.code.unwrap_or_default(),
                headers,
                body: String::new(),
            };
            let length: usize = answer
                .header("Content-Length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            while buffer.len() < head + length {
                read_more(stream, &mut buffer)?;
            }
            answer.body = String::from_utf8_lossy(&buffer[head..head + length]).into_owned();
            return Ok(answer);
        }
        read_more(stream, &mut buffer)?;
    }
}

fn read_more(stream: &mut impl Read, buffer: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0_u8; 16 * 1024];
    match stream.read(&mut chunk)? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        n => {
            buffer.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

/// Serves, idles 15 s, then serves a new connection and the connection kept alive before the spell.
fn idle_then_serve<S: Read + Write>(emulator: &Emulator, open: impl Fn() -> S) {
    let request = get("/_emulator/faults", &address(emulator));
    let mut kept = open();
    let first = exchange(&mut kept, &request).expect("served before the idle spell");
    assert_eq!(first.status, 200, "{}", first.body);
    std::thread::sleep(IDLE_SPELL);
    let mut fresh = open();
    let answer = exchange(&mut fresh, &request).expect("a new connection is served after 15 s idle");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = exchange(&mut kept, &request).expect("a kept-alive connection is served after 15 s idle");
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// Issue 16: the listener's 10 s read timeout made accept fail after 10 s without a new
/// connection, and the accept thread then ended: the emulator served nothing more.
#[test]
fn after_15_s_idle_new_and_kept_alive_connections_are_served_plain_and_tls() {
    let plain = Emulator::start(TenantConfig::default()).expect("the emulator starts");
    let tls = Emulator::serve(ServeOptions {
        tls: true,
        ..ServeOptions::default()
    })
    .expect("the TLS emulator starts");
    std::thread::scope(|threads| {
        threads.spawn(|| idle_then_serve(&plain, || connect(&plain)));
        threads.spawn(|| idle_then_serve(&tls, || connect_tls(&tls)));
    });
}

/// Sends a request head announcing a 100-byte body, then one byte every 2 s; true once the
/// emulator closes the connection, false if it still reads after 40 s.
fn drip_until_dropped(emulator: &Emulator, tenant: &str) -> bool {
    let mut stream = connect(emulator);
    let head = format!(
        "POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
        address(emulator)
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let started = Instant::now();
    let mut sink = [0_u8; 1024];
    while started.elapsed() < Duration::from_secs(40) {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            // The emulator's 408 before it closes.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stream.write_all(b"a").is_err() {
                    return true;
                }
            }
            Err(_) => return true,
        }
    }
    false
}

/// Issue 16: eight clients dripping a declared body froze every request (tiny_http handed a
/// request to one of its eight workers after the head, and the worker waited for the body).
#[test]
fn sixteen_dripping_clients_and_a_silent_one_starve_no_one() {
    let h = Harness::new();
    let tenant = h.tenant();
    let silent = connect(&h.emulator);
    std::thread::scope(|threads| {
        let drippers: Vec<_> = (0..16)
            .map(|_| threads.spawn(|| drip_until_dropped(&h.emulator, &tenant)))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        for n in 0..8 {
            // Each answer within the agent's 10 s timeout, or the test fails.
            let answer = h.get(RISKY_USERS, None);
            assert_eq!(answer.status, 401, "request {n} while sixteen clients drip");
            std::thread::sleep(Duration::from_millis(250));
        }
        for dripper in drippers {
            assert!(
                dripper.join().unwrap_or(false),
                "a dripping client is dropped (its request never arrives whole)"
            );
        }
    });
    drop(silent);
    let logged: Vec<String> = h.emulator.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(logged, vec![RISKY_USERS; 8], "no dripped request reached the tenant");
}

/// Sends `request` from another thread (a refused client may still be sending) and reads the answer.
fn send_large(emulator: &Emulator, request: Vec<u8>) -> RawAnswer {
    let mut stream = connect(emulator);
    let mut writer = stream.try_clone().expect("a second handle");
    std::thread::scope(|threads| {
        threads.spawn(move || {
            let _ = writer.write_all(&request);
        });
        read_answer(&mut stream).expect("an answer")
    })
}

/// Issue 16: 16 MB of headers were read whole and kept in the request log (112 MB resident).
#[test]
fn oversized_heads_are_refused_and_never_logged() {
    let h = Harness::new();
    let host = address(&h.emulator);
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut headers = format!("GET {RISKY_USERS} HTTP/1.1\r\nHost: {host}\r\n");
    headers.push_str(&filler.repeat(16_000));
    headers.push_str("\r\n");
    let refused = send_large(&h.emulator, headers.into_bytes());
    assert_eq!(refused.status, 431, "{}", refused.body);
    assert_eq!(refused.header("Connection"), Some("close"));
    let url = format!("GET /v1.0/{} HTTP/1.1\r\nHost: {host}\r\n\r\n", "a".repeat(1_000_000));
    assert_eq!(send_large(&h.emulator, url.into_bytes()).status, 414);
    assert!(h.emulator.requests().is_empty(), "refused requests are not logged");
    let answer = h.get(RISKY_USERS, None);
    assert_eq!(answer.status, 401, "the emulator still serves");
}

/// The bounds README states: URL 8 KiB, headers 16 KiB in all, body 64 KiB, 32 MiB in all.
#[test]
fn the_request_log_cuts_each_request_and_keeps_to_its_budget() {
    const KIB: usize = 1024;
    let h = Harness::new();
    let url = format!("{}/v1.0/long?{}", h.emulator.base_url(), "q".repeat(12 * KIB));
    let mut request = h.agent.post(&url);
    for n in 0..40 {
        request = request.header(format!("X-Filler-{n}"), "h".repeat(KIB));
    }
    answer(request.send("b".repeat(200 * KIB)));
    let logged = &h.emulator.requests()[0];
    let url_bytes = logged.method.len() + logged.path.len() + logged.query.len();
    let header_bytes: usize = logged.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(url_bytes <= 8 * KIB, "{url_bytes} bytes of URL");
    assert!(header_bytes <= 16 * KIB, "{header_bytes} bytes of headers");
    assert_eq!(logged.body.len(), 64 * KIB);
    assert_eq!(logged.path, "/v1.0/long", "the path is kept whole");
    // 600 requests of which each keeps 64 KiB of body: 37.5 MiB without a total budget.
    let body = "b".repeat(70 * KIB);
    for n in 0..600 {
        let url = format!("{}/v1.0/bulk/{n}", h.emulator.base_url());
        answer(h.agent.post(&url).send(body.as_str()));
    }
    let log = h.emulator.requests();
    let total: usize = log.iter().map(|r| r.size()).sum();
    assert!(total <= 32 * KIB * KIB, "{total} bytes logged");
    assert!(log.len() < 600, "{} requests logged", log.len());
    assert_eq!(
        log.last().map(|r| r.path.as_str()),
        Some("/v1.0/bulk/599"),
        "the newest is kept"
    );
}

/// Past 256 open connections a new one is answered 503 and closed; when they close, new
/// connections are served again.
#[test]
fn past_the_connection_cap_a_client_gets_503_and_capacity_comes_back() {
    let h = Harness::new();
    let open: Vec<TcpStream> = (0..crate::server::MAX_CONNECTIONS)
        .map(|_| connect(&h.emulator))
        .collect();
    let mut extra = connect(&h.emulator);
    let busy = read_answer(&mut extra).expect("an answer past the cap");
    assert_eq!(
        (busy.status, busy.header("Connection")),
        (503, Some("close")),
        "{}",
        busy.body
    );
    drop(open);
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let served = exchange(&mut connect(&h.emulator), &get(RISKY_USERS, &address(&h.emulator)));
        if matches!(served, Ok(ref a) if a.status == 401) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after the others closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 16: admin GETs ignored Host, so a DNS-rebinding page could read the tenant and its secret.
#[test]
fn admin_routes_answer_only_loopback_host_names_with_this_port() {
    let h = Harness::new();
    let port: u32 = address(&h.emulator)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let secret = h.config.apps[1].client_secret.clone().expect("a secret");
    #[rustfmt::skip]
    let cases = [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("LocalHost:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        ("127.0.0.1".to_owned(), 200),
        (format!("evil.example:{port}"), 403),
        ("evil.example".to_owned(), 403),
        (format!("127.0.0.1.evil.example:{port}"), 403),
        (format!("localhost.evil.example:{port}"), 403),
        (format!("127.0.0.1:{}", port + 1), 403),
        (format!("127.0.0.1:{}", port + 65536), 403),
        (format!("user@127.0.0.1:{port}"), 403),
        ("127.0.0.1:".to_owned(), 403),
        (String::new(), 403),
    ];
    for (host, status) in &cases {
        let answer = exchange(&mut connect(&h.emulator), &get("/_emulator/tenant", host)).expect("an answer");
        assert_eq!(answer.status, *status, "Host: {host}: {}", answer.body);
        assert_eq!(answer.body.contains(&secret), *status == 200, "Host: {host}");
    }
    let no_host = exchange(&mut connect(&h.emulator), "GET /_emulator/tenant HTTP/1.0\r\n\r\n");
    assert_eq!(no_host.expect("an answer").status, 403, "no Host at all");
    let rebound_post = format!(
        "POST /_emulator/faults HTTP/1.1\r\nHost: evil.example:{port}\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{{\"latency_ms\": 1000}}"
    );
    let answer = exchange(&mut connect(&h.emulator), &rebound_post).expect("an answer");
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(h.emulator.faults().latency_ms, 0, "nothing changed");
}

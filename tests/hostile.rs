//! Servers that misbehave on purpose: every one must end in an error entry with the context
//! intact, never a hang (the run's hang guard fails it), a panic or unbounded memory.

use crate::util::*;
use azure_ad_identity_protection::emulator::Emulator;
use flate2::{Compression, write::GzEncoder};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// What the hostile server does after reading a request.
type Behaviour = fn(&mut TcpStream);

/// A hostile server: its base URL and how many requests it read before misbehaving.
struct Hostile {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl Hostile {
    /// Requests read so far: proof that the binary reached the misbehaviour.
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Serves `behaviour` to every connection until the test process ends.
fn hostile(behaviour: Behaviour) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            thread::spawn(move || serve(stream, behaviour, &counter));
        }
    });
    Hostile {
        base: format!("http://{address}"),
        requests,
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, requests: &AtomicUsize) {
    if read_request_head(&mut stream) {
        requests.fetch_add(1, Ordering::SeqCst);
        behaviour(&mut stream);
    }
}

/// Reads a request up to the end of its head (2 s at most); false if the client went away.
fn read_request_head(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buffer = [0u8; 8192];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 1 << 20 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    true
}

/// Writes `chunk` until the client goes away or `limit` bytes were sent.
fn flood(stream: &mut TcpStream, head: &[u8], chunk: &[u8], limit: usize) {
    let _ = stream.write_all(head);
    let mut sent = 0;
    while sent < limit && stream.write_all(chunk).is_ok() {
        sent += chunk.len();
    }
}

const BEHAVIOURS: [(&str, Behaviour); 7] = [
    ("garbage", |s| _ = s.write_all(b"\x00\x01\x02 this is not HTTP\r\n\r\n")),
    ("endless headers", |s| {
        flood(
            s,
            b"HTTP/1.1 200 OK\r\n",
            b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            1 << 30,
        )
    }),
    ("never-ending body", |s| {
        let chunk = [b"1000\r\n".as_slice(), &[b'['; 0x1000], b"\r\n"].concat();
        flood(
            s,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            &chunk,
            1 << 31,
        );
    }),
    ("10 GB content length", |s| {
        _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{\"access_token\":")
    }),
    ("closed mid-response", |s| {
        _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{\"token_type\":\"Bearer\",\"acc")
    }),
    ("gzip bomb", |s| {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..256 {
            let _ = encoder.write_all(&zeros);
        }
        let bomb = encoder.finish().unwrap_or_default();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        );
        let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(&bomb));
    }),
    ("slow drip", |s| {
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" {
            if s.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(300));
        }
    }),
];

#[test]
fn hostile_token_endpoints_end_in_bounded_errors() {
    let handles: Vec<_> = BEHAVIOURS
        .iter()
        .map(|(name, behaviour)| {
            let (name, behaviour) = (*name, *behaviour);
            thread::spawn(move || check(name, behaviour))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a hostile case failed");
    }
}

fn check(name: &str, behaviour: Behaviour) {
    let server = hostile(behaviour);
    let params = json!({
        "client_credentials": "true", "tenant_id": "t", "credentials": {"password": "hostile-secret-value"},
        "azure_ad_endpoint": server.base, "graph_endpoint": server.base, "request_timeout": "2",
    });
    let context = json!({"access_token": "kept-token-value", "valid_until": 1});
    // run() fails a run that outlives its hang guard; how long it takes is the bench's business.
    let run = run(&envelope("azure-ad-auth-test", json!({}), &params, context.clone()));
    assert_eq!(
        (run.exit, run.entry()["Type"].as_u64()),
        (1, Some(4)),
        "{name}: {:#}",
        run.result
    );
    assert_eq!(run.context(), &context, "{name}: the context is intact");
    assert!(server.requests() >= 1, "{name}: the server never got a request");
}

/// Peak RSS (KiB) and exit code of one run of the binary, from wait4 (which also reaps it).
#[allow(clippy::zombie_processes)]
fn peak_rss_kb(envelope: &serde_json::Value) -> (i64, Option<i32>) {
    let mut child = isolated()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(envelope.to_string().as_bytes());
    }
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills for the child spawned above, which it reaps.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let exit = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (usage.ru_maxrss, exit)
}

#[test]
fn hostile_answers_use_bounded_memory() {
    let quiet = json!({"command": "azure-ad-auth-reset", "params": {}});
    let (baseline, exit) = peak_rss_kb(&quiet);
    assert_eq!(exit, Some(0), "the baseline run");
    for (name, behaviour) in BEHAVIOURS
        .iter()
        .filter(|(name, _)| ["gzip bomb", "never-ending body", "endless headers"].contains(name))
    {
        let server = hostile(*behaviour);
        let base = &server.base;
        let params = json!({"client_credentials": "true", "tenant_id": "t", "credentials": {"password": "p"}, "azure_ad_endpoint": base, "graph_endpoint": base, "request_timeout": "10"});
        let (peak, exit) = peak_rss_kb(&envelope("azure-ad-auth-start", json!({}), &params, json!({})));
        assert_eq!(
            exit,
            Some(1),
            "{name}: the command fails with an error entry, not a crash"
        );
        assert!(server.requests() >= 1, "{name}: the server never got a request");
        // The body cap is 32 MiB after decoding; the bomb alone would be 256 MiB.
        assert!(
            peak - baseline < 96 * 1024,
            "{name}: peak RSS {peak} KiB against a baseline of {baseline} KiB"
        );
    }
}

/// A token and a device code whose lifetimes and interval are absurd (1e300 overflowed
/// `now + expires_in` before numbers were bounded), as every answer of a server.
fn absurd_numbers() -> String {
    answering(
        r#"{"access_token":"absurd-token","token_type":"Bearer","expires_in":1e300,"device_code":"absurd-code","user_code":"ABSURD","verification_uri":"https://microsoft.com/devicelogin","interval":1e300}"#.to_string(),
    )
}

#[test]
fn absurd_token_lifetimes_store_a_valid_until_in_the_near_future() {
    let base = absurd_numbers();
    let params = json!({
        "client_credentials": "true", "tenant_id": "t", "credentials": {"password": "p"},
        "azure_ad_endpoint": base, "graph_endpoint": base,
    });
    let before = now();
    let run = run(&envelope("azure-ad-auth-start", json!({}), &params, json!({})));
    run.expect(0, 1);
    let valid_until = run.context()["valid_until"].as_u64().expect("valid_until stored");
    // Bounded at two days of lifetime, less the 5-minute margin.
    assert!(valid_until > before, "valid_until {valid_until} is not after {before}");
    assert!(
        valid_until <= now() + 2 * 86_400 - 300,
        "valid_until {valid_until} is beyond two days"
    );
}

#[test]
fn absurd_device_code_numbers_are_bounded_in_the_context() {
    let base = absurd_numbers();
    let params = json!({"tenant_id": "t", "azure_ad_endpoint": base, "graph_endpoint": base});
    let before = now();
    let run = run(&envelope("azure-ad-auth-start", json!({}), &params, json!({})));
    run.expect(0, 1);
    let context = run.context();
    let expires_at = context["device_code_expires_at"].as_u64().expect("expiry stored");
    assert!(
        expires_at > before && expires_at <= now() + 3_600,
        "expires_at {expires_at}"
    );
    assert_eq!(context["device_code_interval"], json!(300));
}

/// A server that answers every request with `body` (status 200, JSON).
fn answering(body: String) -> String {
    answering_with(move |_, _| (200, body.clone()))
}

/// A server that answers request number `n` (from 1) with `answer(n, its own base URL)`: a
/// status and a JSON body.
fn answering_with(answer: impl Fn(usize, &str) -> (u16, String) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let base = format!("http://{address}");
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answer = std::sync::Arc::new(answer);
    let own = base.clone();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let (status, body) = answer(n, &own);
            thread::spawn(move || {
                if !read_request_head(&mut stream) {
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.write_all(body.as_bytes()));
            });
        }
    });
    base
}

#[test]
fn a_next_link_to_the_login_host_never_receives_the_graph_token() {
    let login = tenant();
    // A Graph whose next link points at the login host, on a path Graph itself would use.
    let lure = format!("{}/beta/identityProtection/riskyUsers?$skiptoken=x", login.base_url());
    let graph = answering(json!({"value": [{"id": "u1"}], "@odata.nextLink": lure}).to_string());
    let mut params = app_params(&login);
    params["graph_endpoint"] = json!(graph);
    let run = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": "5"}),
        &params,
        json!({}),
    ));
    run.expect(1, 4).says(&["next link"]);
    assert_eq!(
        requests_to(&login, "/token").len(),
        1,
        "the token came from the login host"
    );
    assert!(
        requests_to(&login, "/riskyUsers").is_empty(),
        "the login host received a Graph request"
    );
}

/// A Graph that never ends a listing: every page links to another, with `items` on each.
fn endless_graph(items: Value) -> String {
    answering_with(move |n, base| {
        let next = format!("{base}/beta/identityProtection/riskyUsers?$skiptoken={n}");
        (200, json!({"value": items, "@odata.nextLink": next}).to_string())
    })
}

fn list_from(graph: &str, login: &Emulator, limit: &str) -> Run {
    let mut params = app_params(login);
    params["graph_endpoint"] = json!(graph);
    run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": limit}),
        &params,
        json!({}),
    ))
}

fn next_link_of(run: &Run) -> String {
    let key = "AADIdentityProtection.NextLink(val.Description === \"RiskyUsers\")";
    run.result["entries"][0]["EntryContext"][key]["URL"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn huge_items_on_endless_pages_stop_at_16_mib_with_the_items_and_the_link() {
    let login = tenant();
    // Two MiB per page: the 16 MiB bound is reached on page 8, long before limit=40.
    let graph = endless_graph(json!([{"id": "big", "userDisplayName": "x".repeat(2 << 20)}]));
    let run = list_from(&graph, &login, "40");
    // Not run.expect: on failure it would print the whole 50 MB result.
    assert_eq!(run.exit, 1, "{}", run.stderr);
    let entries = run.result["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "the listing, then the error");
    assert_eq!(entries[1]["Type"], 4);
    let message = entries[1]["Contents"].as_str().unwrap_or_default();
    assert!(
        message.contains("16 MiB") && message.contains("8 of the 40"),
        "{message}"
    );
    assert_eq!(entries[0]["Contents"]["value"].as_array().map(Vec::len), Some(8));
    assert!(next_link_of(&run).contains("$skiptoken=8"), "{}", next_link_of(&run));
}

#[test]
fn endless_empty_pages_stop_after_limit_plus_ten_pages() {
    let login = tenant();
    let graph = endless_graph(json!([]));
    let run = list_from(&graph, &login, "5");
    run.expect(1, 1);
    let message = run.result["entries"][1]["Contents"].as_str().unwrap_or_default();
    assert!(
        message.contains("15 pages") && message.contains("0 of the 5"),
        "{message}"
    );
    assert!(next_link_of(&run).contains("$skiptoken=15"), "{}", next_link_of(&run));
}

#[test]
fn a_failing_later_page_keeps_the_items_so_far_with_a_warning_and_the_link() {
    let login = tenant();
    let graph = answering_with(|n, base| {
        match n {
        1 => (
            200,
            json!({"value": [{"id": "u1"}, {"id": "u2"}], "@odata.nextLink": format!("{base}/beta/identityProtection/riskyUsers?$skiptoken=2")}).to_string(),
        ),
        _ => (
            400,
            json!({"error": {"code": "BadRequest", "message": "Invalid skip token."}}).to_string(),
        ),
    }
    });
    let run = list_from(&graph, &login, "5");
    run.expect(0, 1);
    let entries = run.result["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "the listing, then the warning");
    assert_eq!(entries[1]["Type"], 11);
    let warning = entries[1]["Contents"].as_str().unwrap_or_default();
    assert!(
        warning.contains("Invalid skip token") && warning.contains("next_link"),
        "{warning}"
    );
    let ids: Vec<&str> = entries[0]["Contents"]["value"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, ["u1", "u2"]);
    assert!(next_link_of(&run).ends_with("$skiptoken=2"), "{}", next_link_of(&run));
}

#[test]
fn a_secret_echoed_by_the_server_never_reaches_the_war_room() {
    let secret = "echoed-client-secret-4711";
    let graph_and_login = answering_with(move |_, _| {
        let description = format!("AADSTS7000215: Invalid client secret provided: {secret}.");
        let body = json!({"error": "invalid_client", "error_description": description, "error_codes": [7000215]});
        (401, body.to_string())
    });
    let params = json!({
        "client_credentials": "true", "tenant_id": "t", "credentials": {"password": secret},
        "azure_ad_endpoint": graph_and_login, "graph_endpoint": graph_and_login,
    });
    let run = run(&envelope("azure-ad-auth-test", json!({}), &params, json!({})));
    run.expect(1, 4).says(&["AADSTS7000215", "[redacted]"]);
    let printed = run.result.to_string();
    assert!(!printed.contains(secret) && !run.stderr.contains(secret), "{printed}");
}

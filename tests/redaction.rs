//! Redaction where an outside attack found gaps (issue 16): a credential a hostile Graph echoes
//! in object keys (which become table headers), in detections (which become incidents and the
//! fetch cursor), percent-encoded or behind JSON escapes, or in the path of a next link (which
//! is logged); configuration errors that quoted whole values; server text that added markdown;
//! and a Graph that refuses every reused token.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A client secret with characters that JSON and URLs escape.
const SECRET: &str = "Sx8Q~a+b/c=d%e&f g\"h";

/// How the secret looks in each form a server could send it back in, written out by hand:
/// as it is, percent-encoded (upper and lower case), JSON-escaped, and the fragments that
/// survive a key being split into table-header words.
const SHOWN_FORMS: [&str; 7] = [
    SECRET,
    "Sx8Q%7Ea%2Bb%2Fc%3Dd%25e%26f%20g%22h",
    "Sx8Q%7ea%2bb%2fc%3dd%25e%26f%20g%22h",
    "Sx8Q~a+b/c=d%e&f g\\\"h",
    "Sx8Q~a+b%2Fc=d%25e&f%20g%22h",
    "~a+b",
    "=d%e&f",
];

/// A tenant whose confidential app has [`SECRET`], and its client-credentials parameters.
fn tenant_with_secret() -> (Emulator, Value) {
    let emu = tenant_with(|config| {
        if let Some(app) = config.apps.iter_mut().find(|a| a.client_secret.is_some()) {
            app.client_secret = Some(SECRET.to_string());
        }
    });
    let mut params = app_params(&emu);
    params["credentials"]["password"] = json!(SECRET);
    (emu, params)
}

/// Everything a run wrote: the whole result (context aside, which the host must get whole) and
/// stderr.
fn everything_shown(run: &Run) -> String {
    let mut result = run.result.clone();
    if let Some(map) = result.as_object_mut() {
        map.remove("context");
    }
    format!("{result}\n{}", run.stderr)
}

fn assert_secret_absent(run: &Run) {
    let shown = everything_shown(run);
    for form in SHOWN_FORMS {
        assert!(!shown.contains(form), "{form:?} leaked:\n{shown}");
    }
}

/// `text` with every character written as a `\u` escape, as JSON allows.
fn unicode_escaped(text: &str) -> String {
    text.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect()
}

/// A Graph page echoing the secret in keys and values, in every form.
fn echoing_page() -> String {
    let percent = SHOWN_FORMS[1];
    let json_escaped = serde_json::to_string(SECRET).unwrap();
    format!(
        r#"{{"value":[{{"id":"u1","userPrincipalName":"a@b",{json_escaped}:"in a key","riskDetail":{json_escaped},"note":"{percent}","hidden":"{}","{percent}":"key"}}]}}"#,
        unicode_escaped(SECRET)
    )
}

#[test]
fn a_credential_in_graph_keys_and_values_reaches_no_header_cell_or_context_path() {
    let (emu, params) = tenant_with_secret();
    emu.script(ScriptedAnswer::new(RISKY_USERS, 200, &echoing_page()));
    let run = run(&envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": "5"}),
        &params,
        json!({}),
    ));
    run.expect(0, 1);
    assert_secret_absent(&run);
    // The item is still there, with the secret's places marked.
    let item = &items(&run, "RiskyUsers")[0];
    assert_eq!(item["id"], "u1");
    assert_eq!(item["riskDetail"], "[redacted]");
    assert_eq!(item["hidden"], "[redacted]");
    // The table shows the marker too (escaped like any text in a cell).
    assert!(run.text().contains("\\[redacted\\]"), "{}", run.text());
}

#[test]
fn a_credential_in_a_detection_reaches_no_incident_and_no_cursor() {
    let (emu, mut params) = tenant_with_secret();
    params["first_fetch"] = json!("2020-01-01");
    let detection = json!({
        "id": format!("det-{SECRET}"),
        "detectedDateTime": "2024-05-01T10:00:00Z",
        "riskEventType": SECRET,
        "riskLevel": "high",
        "riskDetail": "none",
        "userPrincipalName": "a@b",
        "ipAddress": "203.0.113.9",
        SECRET: "in a key",
        "additionalInfo": json!([{"Key": "userAgent", "Value": SECRET}]).to_string(),
    });
    let page = json!({"value": [detection]}).to_string();
    // Two fetches, each reading the page twice (the keys, then the chosen detections whole).
    emu.script(ScriptedAnswer::new(DETECTIONS, 200, &page).times(4));
    let first = run(&envelope("fetch-incidents", json!({}), &params, json!({})));
    first.expect(0, 1);
    assert_secret_absent(&first);
    let incidents = first.result["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 1, "the detection is still one incident");
    let raw: Value = serde_json::from_str(incidents[0]["rawJSON"].as_str().expect("rawJSON")).expect("rawJSON is JSON");
    assert_eq!(
        (raw["id"].as_str(), raw["riskLevel"].as_str()),
        (Some("det-[redacted]"), Some("high"))
    );
    // The same detection again, with the cursor as it was stored: not a second incident.
    let mut again = envelope("fetch-incidents", json!({}), &params, json!({}));
    again["last_run"] = first.result["last_run"].clone();
    let second = run(&again);
    second.expect(0, 1);
    assert_eq!(second.result["incidents"], json!([]), "{}", second.result);
}

/// A Graph on loopback that answers riskyUsers pages with a next link, and answers 401 to a
/// bearer token it has seen before (as a Graph that refuses every reused token); it records the
/// paths it was asked for.
struct RefusingGraph {
    base: String,
    paths: Arc<Mutex<Vec<String>>>,
}

fn refusing_graph(next_path: &'static str) -> RefusingGraph {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (seen, record, own) = (Arc::new(Mutex::new(Vec::<String>::new())), paths.clone(), base.clone());
    let pages = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let head = read_head(&mut stream);
            let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
            let bearer = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Authorization: Bearer ")
                        .or(l.strip_prefix("authorization: Bearer "))
                })
                .unwrap_or_default()
                .to_string();
            record.lock().unwrap().push(path);
            let reused = {
                let mut seen = seen.lock().unwrap();
                let reused = seen.contains(&bearer);
                seen.push(bearer);
                reused
            };
            let (status, body) = if reused {
                (401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}).to_string())
            } else {
                let n = pages.fetch_add(1, Ordering::SeqCst);
                let next = format!("{own}/beta/identityProtection/riskyUsers{next_path}?$skiptoken={n}");
                (
                    200,
                    json!({"value": [{"id": format!("u{n}")}], "@odata.nextLink": next}).to_string(),
                )
            };
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    RefusingGraph { base, paths }
}

fn read_head(stream: &mut std::net::TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 1 << 16 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Lists 10 risky users with the secret's app, from a [`refusing_graph`] whose next links
/// carry `next_path`.
fn list_from_refusing_graph(next_path: &'static str) -> (Emulator, RefusingGraph, Run) {
    let (emu, mut params) = tenant_with_secret();
    let graph = refusing_graph(next_path);
    params["graph_endpoint"] = json!(graph.base);
    let list = envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({"limit": "10"}),
        &params,
        json!({}),
    );
    let run = run(&list);
    (emu, graph, run)
}

#[test]
fn a_graph_that_refuses_every_reused_token_gets_one_renewal_per_command() {
    let (emu, graph, run) = list_from_refusing_graph("");
    // Page 1 with the first token; page 2 refused, renewed once, served; page 3 refused again:
    // the listing ends there with what it has and says the token was refused.
    assert_eq!(requests_to(&emu, TOKEN).len(), 2, "one sign-in and one renewal");
    assert_eq!(
        graph.paths.lock().unwrap().len(),
        4,
        "{:?}",
        graph.paths.lock().unwrap()
    );
    assert_eq!(items(&run, "RiskyUsers").len(), 2);
    let said = run.result["entries"].to_string();
    assert!(said.contains("refused even after renewing it"), "{said}");
}

#[test]
fn a_next_link_whose_path_carries_the_secret_is_logged_redacted() {
    // The secret percent-encoded in the next link's path, as a server would put it there.
    let (_emu, _graph, run) = list_from_refusing_graph("/Sx8Q%7Ea%2Bb%2Fc%3Dd%25e%26f%20g%22h");
    assert!(
        run.stderr.contains("/beta/identityProtection/riskyUsers"),
        "{}",
        run.stderr
    );
    assert_secret_absent(&run);
}

#[test]
fn configuration_errors_never_quote_a_pasted_key_or_secret() {
    let key = include_str!("../crates/emulator/src/certs/app-key.pem");
    let key_line = key.lines().nth(1).expect("a base64 line");
    let emu = tenant();
    let cases = [
        (json!({"azure_cloud": key}), "azure_cloud", "several lines"),
        (
            json!({"azure_cloud": SECRET, "credentials": {"password": SECRET}}),
            "azure_cloud",
            "looks like a credential",
        ),
        (json!({"azure_cloud": "x".repeat(5000)}), "azure_cloud", "…"),
        (
            json!({"federated_token_file": key}),
            "federated_token_file",
            "no file path (not shown)",
        ),
        (json!({"ca_file": SECRET}), "ca_file", "no file path (not shown)"),
    ];
    for (extra, parameter, says) in cases {
        let mut params = app_params(&emu);
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let run = run(&envelope(
            "azure-ad-identity-protection-risky-user-list",
            json!({}),
            &params,
            json!({}),
        ));
        run.expect(2, 4).says(&[parameter, says]);
        let shown = everything_shown(&run);
        assert!(!shown.contains(key_line) && !shown.contains("~a+b"), "{shown}");
        assert!(run.text().len() < 1000, "a short message: {}", run.text());
    }
}

const MARKDOWN: &str =
    "x\n# Title ![img](http://t.example/p.png) <img src=x onerror=alert(1)> [a](javascript:alert(1))";

/// No image, link, HTML tag or heading: each opening character is escaped, and no line starts
/// with the server's `#`.
fn assert_markdown_inert(text: &str) {
    for active in ["![", "<img", "](", "[a]"] {
        let unescaped = text.match_indices(active).any(|(at, _)| !text[..at].ends_with('\\'));
        assert!(!unescaped, "{active:?} in:\n{text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("# Title")), "a heading in:\n{text}");
}

#[test]
fn graph_and_entra_error_text_cannot_add_markdown() {
    let emu = tenant();
    emu.script(ScriptedAnswer::graph_error(RISKY_USERS, 400, "Bad![x](y)", MARKDOWN));
    let graph = command(&emu, "azure-ad-identity-protection-risky-user-list", json!({}));
    graph.expect(1, 4);
    assert_markdown_inert(graph.text());
    assert!(graph.text().contains("Title"), "the words stay: {}", graph.text());

    let emu = tenant();
    emu.script(ScriptedAnswer::entra_error(
        TOKEN,
        400,
        "invalid_request",
        900_144,
        MARKDOWN,
    ));
    let entra = command(&emu, "azure-ad-identity-protection-risky-user-list", json!({}));
    entra.expect(1, 4);
    assert_markdown_inert(entra.text());
}

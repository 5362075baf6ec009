use crate::util::*;
use azure_ad_identity_protection::emulator::ScriptedAnswer;
use serde_json::{Value, json};
use std::time::Duration;

fn cc_start(params: &Value) -> Run {
    run(&envelope(
        "azure-ad-auth-start",
        json!({}),
        params,
        json!({"keep": "me"}),
    ))
}

#[test]
fn token_429_and_5xx_are_retried_honouring_retry_after() {
    let emu = tenant();
    emu.script(ScriptedAnswer::throttled(TOKEN, Some("0")));
    emu.script(ScriptedAnswer::new(TOKEN, 503, "{}").header("Retry-After", "0"));
    cc_start(&app_params(&emu)).expect(0, 1);
    assert_eq!(requests_to(&emu, TOKEN).len(), 3);
}

#[test]
fn token_5xx_without_retry_after_backs_off_then_succeeds() {
    let emu = tenant();
    emu.script(ScriptedAnswer::html_error(TOKEN, 500));
    cc_start(&app_params(&emu)).expect(0, 1);
    assert_eq!(requests_to(&emu, TOKEN).len(), 2);
}

#[test]
fn oauth_400_errors_are_never_retried() {
    let emu = tenant();
    emu.script(
        ScriptedAnswer::entra_error(
            TOKEN,
            400,
            "invalid_request",
            900_144,
            "The request body must contain the following parameter: 'grant_type'.",
        )
        .times(3),
    );
    cc_start(&app_params(&emu)).expect(1, 4).says(&["AADSTS900144"]);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
}

#[test]
fn persistent_throttling_gives_up_with_a_clear_error() {
    let emu = tenant();
    emu.script(ScriptedAnswer::throttled(TOKEN, Some("0")).times(10));
    let run = cc_start(&app_params(&emu));
    run.expect(1, 4).says(&["throttling", "HTTP 429", "3 attempts"]);
    assert_eq!(run.context(), &json!({"keep": "me"}));
}

/// A Retry-After of an hour is beyond the 30 s budget: the binary gives up at once, without the
/// retry it would announce on stderr (and a wait would outlive run()'s hang guard).
#[test]
fn retry_after_beyond_the_budget_is_not_waited_for() {
    let emu = tenant();
    emu.script(ScriptedAnswer::throttled(TOKEN, Some("3600")));
    let run = cc_start(&app_params(&emu));
    run.expect(1, 4).says(&["throttling"]);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
    assert!(!run.stderr.contains("retrying in"), "{}", run.stderr);
}

#[test]
fn html_and_truncated_token_answers_are_errors_not_panics() {
    let cases = [
        (ScriptedAnswer::html_error(TOKEN, 400), "HTTP 400", "text/html"),
        (
            ScriptedAnswer::truncated_json(TOKEN),
            "HTTP 200",
            "without a usable access_token",
        ),
    ];
    for (answer, status, detail) in cases {
        let emu = tenant();
        emu.script(answer);
        let run = cc_start(&app_params(&emu));
        run.expect(1, 4).says(&[status, detail]);
        assert!(!run.text().contains("access_token\""), "no token body is quoted");
    }
}

#[test]
fn graph_429_without_retry_after_is_retried() {
    let emu = tenant();
    let params = app_params(&emu);
    emu.script(ScriptedAnswer::throttled(RISKY_USERS, None));
    run(&envelope("azure-ad-auth-test", json!({}), &params, json!({}))).expect(0, 1);
    assert_eq!(requests_to(&emu, RISKY_USERS).len(), 2);
}

#[test]
fn graph_html_and_truncated_answers_quote_the_status() {
    let cases = [
        (ScriptedAnswer::html_error(RISKY_USERS, 502), "HTTP 502"),
        (ScriptedAnswer::truncated_json(RISKY_USERS), "not complete JSON"),
    ];
    for (answer, needle) in cases {
        let emu = tenant();
        emu.script(answer);
        run(&envelope("azure-ad-auth-test", json!({}), &app_params(&emu), json!({})))
            .expect(1, 4)
            .says(&[needle]);
    }
}

#[test]
fn network_down_is_an_error_with_the_context_intact() {
    let emu = tenant();
    let mut params = app_params(&emu);
    drop(emu);
    let dead = "http://127.0.0.1:9";
    params["azure_ad_endpoint"] = json!(dead);
    params["graph_endpoint"] = json!(dead);
    let run = cc_start(&params);
    run.expect(1, 4)
        .says(&["The request to http://127.0.0.1:9 failed", "connection"]);
    assert_eq!(run.context(), &json!({"keep": "me"}));
}

#[test]
fn timeouts_are_retried_then_reported() {
    let emu = tenant();
    let mut params = app_params(&emu);
    params["request_timeout"] = json!("1");
    emu.script(
        ScriptedAnswer::new(TOKEN, 200, "{}")
            .delay(Duration::from_millis(2500))
            .times(3),
    );
    let run = cc_start(&params);
    run.expect(1, 4).says(&[
        "did not answer within the request timeout (1 s)",
        "3 attempts",
        "request_timeout",
    ]);
    assert!(
        !run.text().contains("throttling"),
        "a timeout is not throttling: {}",
        run.text()
    );
}

#[test]
fn redirects_are_not_followed() {
    let emu = tenant();
    let elsewhere = tenant();
    let location = format!("{}/stolen", elsewhere.base_url());
    emu.script(ScriptedAnswer::new(TOKEN, 307, "").header("Location", &location));
    cc_start(&app_params(&emu))
        .expect(1, 4)
        .says(&["redirect", "not followed"]);
    assert!(
        elsewhere.requests().is_empty(),
        "the secret must not reach another host"
    );
}

#[test]
fn stderr_has_one_line_per_request_and_no_query() {
    let emu = tenant();
    let run = run(&envelope("azure-ad-auth-test", json!({}), &app_params(&emu), json!({})));
    run.expect(0, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(lines[0].contains("POST") && lines[0].contains("/oauth2/v2.0/token -> 200"));
    assert!(lines[1].contains("GET") && !lines[1].contains("$top"));
}

#[test]
fn the_proxy_parameter_decides_whether_proxy_variables_apply() {
    let emu = tenant();
    let dead_proxy = "http://127.0.0.1:9";
    let vars = [
        ("HTTP_PROXY", dead_proxy),
        ("HTTPS_PROXY", dead_proxy),
        ("ALL_PROXY", dead_proxy),
    ];
    let mut params = app_params(&emu);
    params["proxy"] = json!("false");
    run_env(&envelope("azure-ad-auth-start", json!({}), &params, json!({})), &vars).expect(0, 1);
    params["proxy"] = json!(true);
    run_env(&envelope("azure-ad-auth-start", json!({}), &params, json!({})), &vars)
        .expect(1, 4)
        .says(&["proxy"]);
    assert_eq!(
        requests_to(&emu, TOKEN).len(),
        1,
        "with proxy=true the request went to the (dead) proxy"
    );
}

#[test]
fn an_unusable_proxy_variable_is_a_parameter_error_not_a_direct_connection() {
    let emu = tenant();
    let mut params = app_params(&emu);
    params["proxy"] = json!(true);
    for value in [
        "ftp://proxy.example:21",
        "http://[::1",
        "http://user:pa ss@proxy.example:3128",
    ] {
        let run = run_env(
            &envelope("azure-ad-auth-start", json!({}), &params, json!({})),
            &[("HTTPS_PROXY", value)],
        );
        run.expect(2, 4)
            .says(&["Use system proxy settings (proxy)", "HTTPS_PROXY"]);
        assert!(
            !run.text().contains("pa ss"),
            "the value is never quoted: {}",
            run.text()
        );
    }
    assert!(emu.requests().is_empty(), "nothing was sent directly");
}

#[test]
fn a_socks5_proxy_variable_is_used() {
    let emu = tenant();
    let mut params = app_params(&emu);
    params["proxy"] = json!(true);
    let run = run_env(
        &envelope("azure-ad-auth-start", json!({}), &params, json!({})),
        &[("ALL_PROXY", "socks5://127.0.0.1:9")],
    );
    run.expect(1, 4).says(&["proxy"]);
    assert!(
        emu.requests().is_empty(),
        "the request went to the (dead) SOCKS proxy, not directly"
    );
}

#[test]
fn the_tls_ca_file_is_private_exclusive_and_removed_or_where_the_user_chose() {
    use azure_ad_identity_protection::emulator::{Emulator, ServeOptions};
    use std::os::unix::fs::PermissionsExt;
    let emu = Emulator::serve(ServeOptions {
        tls: true,
        ..ServeOptions::default()
    })
    .expect("TLS emulator");
    let file = emu.ca_file().expect("a CA file");
    let dir = file.parent().expect("its folder").to_path_buf();
    let mode = |path: &std::path::Path| std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
    assert!(std::fs::read_to_string(&file).unwrap().contains("BEGIN CERTIFICATE"));
    drop(emu);
    assert!(!file.exists() && !dir.exists(), "removed when the emulator stops");

    let chosen = std::env::temp_dir().join(format!("aadip-ca-out-test-{}.pem", std::process::id()));
    let emu = Emulator::serve(ServeOptions {
        tls: true,
        ca_out: Some(chosen.clone()),
        ..ServeOptions::default()
    })
    .expect("TLS emulator");
    assert_eq!(emu.ca_file().as_deref(), Some(chosen.as_path()));
    drop(emu);
    assert!(chosen.exists(), "a chosen path is kept");
    let _ = std::fs::remove_file(chosen);
}

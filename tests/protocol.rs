use crate::util::*;
use serde_json::json;

#[test]
fn unusable_stdin_gives_one_result_and_exit_2() {
    let huge = format!(
        "{{\"command\":\"test-module\",\"params\":{{}},\"pad\":\"{}\"}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty"),
        (b"not json".to_vec(), "not valid JSON"),
        (
            b"{\"command\": \"test-module\", \"params\": {".to_vec(),
            "ends too early",
        ),
        (b"\xff\xfe\x00".to_vec(), "UTF-8"),
        (b"[1,2]".to_vec(), "schema"),
        (b"\"azure-ad-auth-reset\"".to_vec(), "schema"),
        (huge.into_bytes(), "limit"),
        (deep.into_bytes(), "nested too deeply"),
    ];
    for (stdin, needle) in cases {
        let run = run_raw(stdin);
        run.expect(2, 4).says(&[needle]);
        assert!(run.result.get("context").is_none());
    }
}

#[test]
fn schema_violations_name_the_field_and_keep_the_context() {
    let cases = [
        (json!({"params": {}}), "command"),
        (json!({"command": "azure-ad-auth-reset"}), "params"),
        (json!({"command": 5, "params": {}}), "`command`"),
        (
            json!({"command": "azure-ad-auth-reset", "params": [], "context": {"k": "v"}}),
            "`params`",
        ),
        (
            json!({"command": "azure-ad-auth-reset", "params": {}, "args": "polling=true"}),
            "`args`",
        ),
        (
            json!({"command": "azure-ad-auth-reset", "params": {}, "args": {"x": {"y": 1}}}),
            "`args.x`",
        ),
    ];
    for (envelope, needle) in cases {
        let run = run_raw(envelope.to_string());
        run.expect(2, 4).says(&[needle]);
        assert_eq!(run.result.get("context"), envelope.get("context"));
    }
}

#[test]
fn schema_errors_never_echo_secret_values() {
    let envelope = json!({"command": "test-module", "params": {"credentials": {"password": ["s3cr3t-value-123"]}}});
    let run = run_raw(envelope.to_string());
    run.expect(2, 4).says(&["`params.credentials.password`"]);
    assert!(!run.result.to_string().contains("s3cr3t-value-123"));
}

#[test]
fn unknown_command_keeps_context_and_version() {
    let envelope = json!({"command": "azure-ad-nope", "params": {}, "context": {"access_token": "tok-123456"}, "context_version": {"v": 7}});
    let run = run(&envelope);
    run.expect(2, 4).says(&["azure-ad-nope", "not implemented"]);
    assert_eq!(run.context(), &json!({"access_token": "tok-123456"}));
    assert_eq!(run.result["context_changed"], false);
}

#[test]
fn bad_arguments_are_exit_2_before_any_request() {
    let emu = tenant();
    let params = device_params(&emu);
    for value in [json!("maybe"), json!({"a": 1}), json!([true])] {
        let run = run(&envelope(
            "azure-ad-auth-complete",
            json!({"polling": value}),
            &params,
            json!({"device_code": "dc-123456"}),
        ));
        run.expect(2, 4).says(&["polling"]);
    }
    assert!(emu.requests().is_empty());
}

#[test]
fn bad_parameters_are_exit_2_before_any_request() {
    let emu = tenant();
    let base = emu.base_url();
    let cases = [
        (json!({"azure_ad_endpoint": base}), "graph_endpoint"),
        (
            json!({"azure_ad_endpoint": "http://login.example.com", "graph_endpoint": base}),
            "https://",
        ),
        (json!({"azure_cloud": "Atlantis"}), "not a cloud"),
        (
            json!({"client_credentials": "true", "credentials": {"password": "pw-123456"}, "azure_ad_endpoint": base, "graph_endpoint": base}),
            "tenant_id",
        ),
        (
            json!({"client_credentials": true, "tenant_id": "t", "azure_ad_endpoint": base, "graph_endpoint": base}),
            "credentials",
        ),
        (
            json!({"api_version": "v2", "azure_ad_endpoint": base, "graph_endpoint": base}),
            "api_version",
        ),
    ];
    for (params, needle) in cases {
        run(&envelope("azure-ad-auth-test", json!({}), &params, json!({})))
            .expect(2, 4)
            .says(&[needle]);
    }
    assert!(emu.requests().is_empty());
}

#[test]
fn reset_empties_the_context() {
    let envelope = json!({"command": "azure-ad-auth-reset", "params": {}, "context": {"access_token": "tok-123456", "device_code": "dc-123456"}, "context_version": "42"});
    let run = run(&envelope);
    run.expect(0, 1).says(&["reset successfully", "!azure-ad-auth-start"]);
    assert_eq!(
        (run.context(), &run.result["context_changed"]),
        (&json!({}), &json!(true))
    );
    let again = run_raw(json!({"command": "azure-ad-auth-reset", "params": {}}).to_string());
    assert_eq!(again.result["context_changed"], false);
}

#[test]
fn extra_keys_and_native_types_are_accepted() {
    let envelope = json!({"command": "azure-ad-auth-reset", "params": {"insecure": true, "max_fetch": 50}, "args": {"ignored": ["a", 1]}, "last_run": null, "host_extra": 1});
    run(&envelope).expect(0, 1);
}

#[test]
fn flags() {
    let help = binary().arg("--help").output().expect("runs");
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--pretty"));
    let version = binary().arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("azure-ad-identity-protection "));
    let pretty = binary()
        .arg("--pretty")
        .write_stdin(json!({"command": "azure-ad-auth-reset", "params": {}}).to_string())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&pretty.stdout);
    assert!(text.contains("\n  \"entries\"") && serde_json::from_str::<serde_json::Value>(&text).is_ok());
    let unknown = binary().arg("--frobnicate").output().expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(serde_json::from_slice::<serde_json::Value>(&unknown.stdout).is_ok());
}

/// Issue 19: `azure-ad-identity-protection emulater` answered "Invalid envelope: unknown flag
/// emulater" as JSON on stdout. A word that is no subcommand is a person's typo: stderr, exit 2.
#[test]
fn a_mistyped_subcommand_gets_the_closest_one_on_stderr_and_nothing_on_stdout() {
    let others = "the subcommands are demo, emulator, help, version; an envelope goes on stdin (see --help)";
    #[rustfmt::skip]
    let cases = [
        ("emulater", "did you mean `emulator`?"),
        ("dmeo", "did you mean `demo`?"),
        ("versoin", "did you mean `version`?"),
        ("frobnicate", others),
        ("test", others),
    ];
    for (word, hint) in cases {
        // With an envelope on stdin too: the word alone decides, nothing is read or run.
        let output = binary()
            .arg(word)
            .write_stdin(json!({"command": "azure-ad-auth-reset", "params": {}}).to_string())
            .timeout(HANG_GUARD)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{word}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{word}: stdout");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("azure-ad-identity-protection: unknown subcommand `{word}`; {hint}\n")
        );
    }
}

/// The known words still do what they did, and an unknown flag is still a JSON result (a host
/// may pass flags; only a bare word is taken for a subcommand).
#[test]
fn subcommands_and_flags_are_not_taken_for_typos() {
    let version = binary().arg("version").output().expect("runs");
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("azure-ad-identity-protection "));
    let flag = binary().args(["--pretty", "emulater"]).output().expect("runs");
    assert_eq!(flag.status.code(), Some(2));
    let result: serde_json::Value = serde_json::from_slice(&flag.stdout).expect("one JSON result");
    let text = result["entries"][0]["Contents"].as_str().unwrap_or_default();
    assert!(text.contains("unknown flag emulater"), "{text}");
}

/// A runtime whose clock panics: a stand-in for any bug inside a command.
struct PanickingClock;

impl azure_ad_identity_protection::runtime::Runtime for PanickingClock {
    fn now(&self) -> u64 {
        panic!("the clock broke")
    }
    fn sleep(&self, _: std::time::Duration) {}
    fn jitter(&self) -> f64 {
        0.0
    }
    fn transport(
        &self,
        settings: &azure_ad_identity_protection::http::NetSettings,
    ) -> Box<dyn azure_ad_identity_protection::http::Transport> {
        azure_ad_identity_protection::runtime::System.transport(settings)
    }
    fn log(&self, _: &str) {}
}

#[test]
fn a_panic_inside_a_command_is_one_schema_valid_result_with_exit_1_and_the_context_intact() {
    let context = json!({"access_token": "cached-token-value", "valid_until": 4102444800u64, "other": "kept"});
    let envelope = json!({
        "command": "azure-ad-auth-test",
        "params": {"tenant_id": "t"},
        "context": context,
        "context_version": {"version": 7},
    });
    let outcome = azure_ad_identity_protection::run_guarded(envelope.to_string().as_bytes(), &PanickingClock);
    assert_eq!(outcome.exit_code, 1);
    let result = serde_json::to_value(&outcome.result).expect("serialisable");
    assert!(RESULT_SCHEMA.is_valid(&result), "{result:#}");
    assert_eq!(result["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(result["entries"][0]["Type"], 4);
    assert!(
        result["entries"][0]["Contents"]
            .as_str()
            .unwrap_or_default()
            .contains("Internal error")
    );
    assert_eq!(
        (&result["context"], &result["context_version"]),
        (&context, &json!({"version": 7}))
    );
}

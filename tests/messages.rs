//! What a person reads when something is off: a mistyped command, arguments outside `args`, the
//! binary waiting on a terminal, `help`, and stderr lines in plain words.

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ServeOptions};
use serde_json::{Value, json};
use yaml_rust2::YamlLoader;

const LIST: &str = "azure-ad-identity-protection-risky-user-list";
const HISTORY: &str = "azure-ad-identity-protection-risky-user-history-list";

/// The commands as integration.yml declares them, plus the two XSOAR calls without declaring
/// them (test-module, fetch-incidents): read from the YAML, not from the code under test.
fn commands_of_integration_yml() -> Vec<String> {
    let text = include_str!("../integration.yml");
    let documents = YamlLoader::load_from_str(text).expect("integration.yml is YAML");
    let declared = documents[0]["script"]["commands"].as_vec().expect("script.commands");
    declared
        .iter()
        .filter_map(|command| command["name"].as_str().map(str::to_string))
        .chain(["test-module".to_string(), "fetch-incidents".to_string()])
        .collect()
}

fn stdout_of(args: &[&str]) -> String {
    let output = binary().args(args).output().expect("runs");
    assert!(output.status.success(), "{args:?} exits 0");
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn a_mistyped_command_gets_the_closest_one_and_a_far_off_name_gets_none() {
    let cases = [
        (
            "azure-ad-identity-protection-risky-users-list",
            Some("azure-ad-identity-protection-risky-user-list"),
        ),
        ("!azure-ad-auth-start", Some("azure-ad-auth-start")),
        ("test-modul", Some("test-module")),
        ("foo", None),
        ("azure-ad-nope", None),
    ];
    for (typed, closest) in cases {
        let run = run(&json!({"command": typed, "params": {}}));
        run.expect(2, 4).says(&[
            &format!("Command `{typed}` is not implemented by this integration."),
            "The commands are listed by `--help` and in integration.yml.",
        ]);
        let suggestion = closest.map(|name| format!("Did you mean `{name}`?"));
        let suggested = run.text().contains("Did you mean");
        assert_eq!(suggested, suggestion.is_some(), "{typed}: {}", run.text());
        run.says(&[suggestion.as_deref().unwrap_or_default()]);
    }
}

#[test]
fn help_lists_every_command_of_integration_yml() {
    let help = stdout_of(&["--help"]);
    let listed: Vec<&str> = help
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .collect();
    for command in commands_of_integration_yml() {
        assert!(
            listed.contains(&command.as_str()),
            "--help does not list {command}:\n{help}"
        );
    }
    assert!(help.contains("user_id*"), "required arguments are marked:\n{help}");
}

#[test]
fn the_word_help_and_h_print_the_same_text_as_the_flag() {
    let help = stdout_of(&["--help"]);
    assert_eq!(stdout_of(&["help"]), help);
    assert_eq!(stdout_of(&["-h"]), help);
    let version = stdout_of(&["--version"]);
    assert_eq!(stdout_of(&["version"]), version);
    assert!(version.starts_with("azure-ad-identity-protection "));
}

#[test]
fn a_required_argument_at_the_top_level_is_named_in_the_error_without_its_value() {
    let planted = "planted-user-id-5c1b";
    let envelope = json!({"command": HISTORY, "params": {}, "user_id": planted});
    let run = run(&envelope);
    run.expect(2, 4).says(&[
        "Invalid argument `user_id`: is required.",
        "`user_id` was given at the top level of the envelope; put it under `args`.",
    ]);
    assert!(!run.result.to_string().contains(planted), "the value is never echoed");
}

#[test]
fn optional_arguments_at_the_top_level_get_a_warning_without_their_values() {
    let emu = tenant();
    let planted = "planted-upn@example.com";
    let mut envelope = envelope(LIST, json!({}), &app_params(&emu), json!({}));
    envelope["user_principal_name"] = json!(planted);
    envelope["limit"] = json!("1");
    envelope["host_extra"] = json!("a key of the host's own");
    let run = run(&envelope);
    assert_eq!(run.exit, 0, "{:#}", run.result);
    let entries = run.result["entries"].as_array().expect("entries");
    let warnings: Vec<&Value> = entries.iter().filter(|e| e["Type"] == 11).collect();
    assert_eq!(warnings.len(), 1, "{:#}", run.result);
    assert_eq!(
        warnings[0]["HumanReadable"],
        "`user_principal_name`, `limit` were given at the top level of the envelope and ignored; put them under `args`."
    );
    assert_eq!(
        entries.last().map(|e| &e["Type"]),
        Some(&json!(1)),
        "the listing stays last"
    );
    assert!(!run.result.to_string().contains(planted), "the value is never echoed");
}

#[test]
fn a_terminal_on_stdin_gets_a_one_line_hint_and_a_pipe_does_not() {
    let hint = "reading one JSON envelope from stdin (Ctrl-D to end; see --help; try `";
    let piped = run_raw(json!({"command": "azure-ad-auth-reset", "params": {}}).to_string());
    assert!(!piped.stderr.contains(hint), "no hint in a pipe: {}", piped.stderr);
    let Some(script) = which_script() else {
        assert!(
            !in_ci(),
            "CI=true: `script` is not installed (Debian package bsdutils, util-linux elsewhere), so no terminal \
             can be given to the binary; .ci/run installs it"
        );
        println!("skipped: `script` (util-linux) is not installed, so no terminal can be given to the binary");
        return;
    };
    // `script` gives the binary a pseudo-terminal as stdin; its own stdin is empty, so the
    // terminal reports end of input and the binary finishes with an empty-stdin error.
    let output = assert_cmd::Command::new(script)
        .args(["-qec", PROGRAM, "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env(IMDS_VARIABLE, REFUSING_IMDS)
        .write_stdin(Vec::new())
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .expect("script runs");
    let terminal = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = terminal.lines().filter(|line| line.contains(hint)).collect();
    assert_eq!(lines.len(), 1, "one hint line on a terminal:\n{terminal}");
    assert!(lines[0].trim_end().ends_with(" demo`)"), "{}", lines[0]);
}

fn which_script() -> Option<std::path::PathBuf> {
    ["/usr/bin/script", "/bin/script"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.exists())
}

/// Debug forms of the transport error that once reached stderr (`-> Connect("connection refused")`).
const DEBUG_TEXT: [&str; 6] = ["Connect(", "Tls(", "Other(", "Proxy(", "Timeout", "\""];

fn assert_plain_stderr(run: &Run, expected: &str) {
    assert!(
        run.stderr.contains(expected),
        "missing {expected:?} in:\n{}",
        run.stderr
    );
    for debug in DEBUG_TEXT {
        assert!(!run.stderr.contains(debug), "{debug:?} on stderr:\n{}", run.stderr);
    }
}

#[test]
fn stderr_says_a_closed_port_and_a_tls_failure_in_plain_words() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("its address").port()
        )
    };
    let emu = tenant();
    let mut params = app_params(&emu);
    params["azure_ad_endpoint"] = json!(closed);
    params["graph_endpoint"] = json!(closed);
    let refused = run(&envelope(LIST, json!({}), &params, json!({})));
    refused.expect(1, 4);
    assert_plain_stderr(&refused, &format!("POST {closed}/"));
    assert_plain_stderr(&refused, "-> connection refused (");

    let tls = Emulator::serve(ServeOptions {
        tls: true,
        ..ServeOptions::default()
    })
    .expect("TLS emulator");
    let mut params = tls.instance_params();
    params.as_object_mut().and_then(|p| p.remove("ca_file"));
    let untrusted = run(&envelope(LIST, json!({}), &params, json!({})));
    untrusted.expect(1, 4);
    assert_plain_stderr(&untrusted, "-> TLS failed: ");
}

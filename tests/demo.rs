use crate::util::{HANG_GUARD, binary, isolated};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// One run of `demo`, shared by the tests that read its output (each run spawns the binary nine times).
static DEMO: LazyLock<Output> = LazyLock::new(|| binary().arg("demo").output().expect("demo runs"));

fn demo_stdout() -> String {
    String::from_utf8_lossy(&DEMO.stdout).into_owned()
}

#[test]
fn the_demo_walks_the_whole_chain() {
    let output = &*DEMO;
    let stdout = demo_stdout();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "!azure-ad-auth-start",
        "!azure-ad-auth-complete",
        "!azure-ad-auth-test",
        "risky-user-list",
        "risks-list",
        "history-list",
        "dismiss",
        "fetch-incidents",
        // Mirroring both ways: the closed incident dismisses in Entra; the remediation closes.
        "!update-remote-system",
        "dismissed the risk of user",
        "!get-modified-remote-data",
        "!get-remote-data",
        "The incident is closed as Resolved.",
        "risky-service-principal-list",
        "service-principal-risks-list",
        "All steps succeeded.",
    ] {
        // Words, as prose is wrapped to the terminal's width.
        let words = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(step), "missing {step} in:\n{stdout}");
    }
    // The emulator's token values have Microsoft's shapes: access and ID tokens are JWTs
    // ("eyJ..."), refresh tokens start "1.AQEA", device codes "DAQABIQEAAAD". None may be printed.
    let stderr = String::from_utf8_lossy(&output.stderr);
    for shape in ["eyJ", "1.AQEA", "DAQABIQEAAAD"] {
        assert!(
            !stdout.contains(shape) && !stderr.contains(shape),
            "a token value ({shape}...) was printed"
        );
    }
    assert!(
        stdout.contains("access_token"),
        "the demo names the context keys that changed"
    );
}

/// Issue 10: list steps printed only their titles.
#[test]
fn list_steps_show_their_first_rows() {
    let stdout = demo_stdout();
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("| ") && l.contains("@contoso.onmicrosoft.com"))
        .collect();
    assert!(
        rows.len() >= 3,
        "no table rows with a user principal name in:\n{stdout}"
    );
    assert!(
        stdout.contains("… and 47 more rows"),
        "50 high-risk users, 3 shown:\n{stdout}"
    );
}

/// Issue 10: "40 incident(s): A; B; C" did not say how many were left out.
#[test]
fn the_incidents_line_says_how_many_more() {
    // Lines may wrap: read the output as one run of words.
    let words = demo_stdout().split_whitespace().collect::<Vec<_>>().join(" ");
    let count: usize = words
        .split(" incident(s):")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no incident count in:\n{words}"));
    assert!(
        count > 3,
        "the first fetch finds more than three incidents, not {count}"
    );
    assert!(
        words.contains(&format!("… and {} more", count - 3)),
        "{count} incidents, 3 named:\n{words}"
    );
}

#[test]
fn the_demo_fits_a_100_column_terminal() {
    let stdout = demo_stdout();
    for line in stdout.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
}

/// Issue 10: the printed /devicelogin link pointed at an emulator that had stopped, unannounced.
#[test]
fn the_device_login_link_says_the_emulator_stops() {
    let words = demo_stdout().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("the emulator stops when the demo ends") && words.contains("`demo --keep`"),
        "{words}"
    );
}

#[test]
fn help_prints_usage_without_starting_anything() {
    for flag in ["--help", "-h", "help"] {
        let output = binary()
            .args(["demo", flag])
            .timeout(HANG_GUARD)
            .output()
            .expect("demo --help runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{flag}: {:?}", output.status);
        assert!(
            stdout.starts_with("usage: azure-ad-identity-protection demo [--keep]"),
            "{flag}: {stdout}"
        );
        for needle in ["--keep", "Exit status: 0"] {
            assert!(stdout.contains(needle), "{flag}: missing {needle} in {stdout}");
        }
        assert!(!stdout.contains("Emulator at"), "{flag} started the demo: {stdout}");
    }
}

/// Issue 10: `demo --bogus` ran the demo.
#[test]
fn unknown_flags_are_refused_before_anything_runs() {
    let output = binary()
        .args(["demo", "--bogus"])
        .timeout(HANG_GUARD)
        .output()
        .expect("demo --bogus runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "demo: unknown flag --bogus; see `demo --help`\n"
    );
}

/// `demo` as a child process with stdout and stderr piped, killed on drop.
struct Running(Child);

impl Running {
    fn start(flags: &[&str]) -> Running {
        let child = isolated()
            .arg("demo")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("demo starts");
        Running(child)
    }

    /// The exit code and stderr, failing if it does not end within `limit`.
    fn finish_within(&mut self, limit: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.0.try_wait().expect("wait for demo") {
                break status;
            }
            assert!(Instant::now() < deadline, "demo still runs after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status.code(), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 10: `demo | head -1` panicked with "failed printing to stdout: Broken pipe" (exit 101).
/// A closed stdout now ends the demo quietly with exit 0.
#[test]
fn demo_into_head_exits_quietly() {
    let mut demo = Running::start(&[]);
    let stdout = demo.0.stdout.take().expect("stdout piped");
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("a first line");
    assert!(first.starts_with("Emulator at"), "{first}");
    // The reader is dropped here, as `head -1` exits: the demo's next line meets a closed pipe.
    let (code, stderr) = demo.finish_within(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{stderr}");
    for text in ["panicked", "Broken pipe", "demo failed"] {
        assert!(!stderr.contains(text), "{text} on stderr: {stderr}");
    }
}

/// `demo --keep` and the base URL it prints once its steps are done.
fn kept_demo() -> (Running, String) {
    let (demo, lines) = kept_demo_lines();
    let base = lines
        .iter()
        .find_map(|line| line.trim_start().strip_prefix("base URL:"))
        .map(|url| url.trim().to_string())
        .expect("a base URL line");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    (demo, base)
}

/// `demo --keep` and what it prints after "All steps succeeded.", up to its JSON line.
fn kept_demo_lines() -> (Running, Vec<String>) {
    let mut demo = Running::start(&["--keep"]);
    let stdout = demo.0.stdout.take().expect("stdout piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    // Reads to the end even when nobody listens any more: a closed stdout would end the demo
    // (as `demo | head -1` should), and with it the emulator the test is about to ask.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + HANG_GUARD;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = receiver
            .recv_timeout(left)
            .expect("the JSON line of --keep before the hang guard");
        if line == "All steps succeeded." {
            lines.clear();
        }
        let last = line.starts_with('{');
        lines.push(line);
        if last {
            return (demo, lines);
        }
    }
}

/// Issue 19: `demo --keep` printed params, device_code_params, ca_file and admin, and said what
/// none of them was for; certificate_params, which the demo itself used, was missing.
#[test]
fn keep_prints_the_emulators_json_line_and_says_what_each_key_is() {
    let (_demo, lines) = kept_demo_lines();
    let (json, prose) = lines.split_last().expect("lines");
    let startup: serde_json::Value = serde_json::from_str(json).expect("the last line is JSON");
    let keys: Vec<&String> = startup.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        [
            "params",
            "device_code_params",
            "certificate_params",
            "managed_identity_params",
            "managed_identity_environment",
            "ca_file",
            "admin"
        ]
    );
    let help = stdout_of_help();
    for key in keys {
        let documented = |line: &str| line.trim_start().starts_with(&format!("{key} "));
        assert!(prose.iter().any(|l| documented(l)), "--keep does not say what {key} is");
        assert!(help.lines().any(documented), "--help does not say what {key} is");
    }
    let words = prose.join(" ");
    assert!(
        words.contains("public test material") && words.contains("never a secret"),
        "{words}"
    );
    for line in prose {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
}

fn stdout_of_help() -> String {
    let output = binary().args(["demo", "--help"]).output().expect("demo --help runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Issue 19: `demo --help` named some steps only. Every command the demo runs is named there
/// (without the integration's prefix), read from the demo's own output.
#[test]
fn help_names_every_command_the_demo_runs() {
    let help = stdout_of_help();
    let run: Vec<String> = demo_stdout()
        .lines()
        .filter_map(|line| line.trim_start().split_once(". !"))
        .filter(|(number, _)| number.parse::<usize>().is_ok())
        .filter_map(|(_, command)| command.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(run.len() >= 20, "{run:?}");
    for command in run {
        let short = command.trim_start_matches("azure-ad-identity-protection-");
        assert!(help.contains(short), "--help does not name {short}:\n{help}");
    }
    for line in help.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
}

/// The status of `GET {base}/devicelogin` on a new connection.
fn device_login_status(base: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(format!("{base}/devicelogin"))
        .call()
        .expect("the page answers");
    response.status().as_u16()
}

/// Issue 10: `--keep` keeps the emulator, and its /devicelogin page, up after the steps.
#[test]
fn keep_serves_the_device_login_page_after_the_steps() {
    let (mut demo, base) = kept_demo();
    assert_eq!(device_login_status(&base), 200);
    assert_eq!(demo.0.try_wait().expect("poll demo"), None, "demo --keep keeps running");
}

/// Issue 16: the kept emulator stopped serving after 10 s without a new connection, so a person
/// who read the README for a minute found it dead. It serves after 15 idle seconds.
#[test]
fn keep_serves_after_15_idle_seconds() {
    let (mut demo, base) = kept_demo();
    assert_eq!(device_login_status(&base), 200);
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(device_login_status(&base), 200, "after 15 idle seconds");
    assert_eq!(demo.0.try_wait().expect("poll demo"), None, "demo --keep keeps running");
}

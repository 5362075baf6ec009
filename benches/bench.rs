//! `cargo bench --bench bench`: whole invocations of the release binary against the
//! in-process emulator, as a SOAR engine pays for them. Prints a table and writes BENCHMARKS.md.
//!
//! Each row runs the binary many times with an envelope on stdin and reports median and p95 wall
//! time, median CPU (user + system) and peak RSS of the child (from wait4's rusage), and the
//! median as a ratio to the floor (a do-nothing process). This is a benchmark, never a test:
//! nothing here asserts a timing.
//!
//! When `valgrind` is on PATH, a second table counts each target row's instructions once under
//! `valgrind --tool=callgrind` (deterministic, unlike time). Options after `--`:
//! `--baseline PATH` measures a second binary (an older build) in the same run, side by side;
//! `--instructions` writes only that second table, skipping the long time table.

use azure_ad_identity_protection::emulator::{Emulator, TenantConfig};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured invocation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
}

/// A row of the table.
struct Row {
    name: String,
    samples: Vec<Sample>,
}

impl Row {
    fn median(&self) -> Duration {
        percentile(self.samples.iter().map(|s| s.wall).collect(), 50)
    }
    fn p95(&self) -> Duration {
        percentile(self.samples.iter().map(|s| s.wall).collect(), 95)
    }
    fn cpu(&self) -> Duration {
        percentile(self.samples.iter().map(|s| s.cpu).collect(), 50)
    }
    fn peak_rss_mb(&self) -> f64 {
        self.samples.iter().map(|s| s.max_rss_kb).max().unwrap_or(0) as f64 / 1024.0
    }
}

fn percentile(mut values: Vec<Duration>, p: usize) -> Duration {
    values.sort();
    values
        .get((values.len().saturating_sub(1)) * p / 100)
        .copied()
        .unwrap_or_default()
}

/// Runs `program args` with `stdin` once, from a small runner process: a child forked from this
/// large process (it holds the emulator's tenant) would report this process's RSS as its own.
fn measure(program: &Path, args: &[&str], stdin: &[u8]) -> Sample {
    measure_with_ca(program, args, stdin, None)
}

/// [`measure`], with `SSL_CERT_FILE` set to `ca` for the program, or unset: the rows measure
/// an engine without the variable (as XSOAR's images run), whatever this machine's shell holds.
fn measure_with_ca(program: &Path, args: &[&str], stdin: &[u8], ca: Option<&Path>) -> Sample {
    let input = std::env::temp_dir().join(format!("bench-stdin-{}", std::process::id()));
    std::fs::write(&input, stdin).expect("temp file");
    let mut runner = Command::new(std::env::current_exe().expect("current exe"));
    match ca {
        Some(ca) => runner.env(CHILD_CA, ca),
        None => runner.env_remove(CHILD_CA),
    };
    let output = runner
        .arg("--measure")
        .arg(&input)
        .arg(program)
        .args(args)
        .output()
        .expect("the runner starts");
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = text.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    match fields.as_slice() {
        [wall, cpu, rss] => Sample {
            wall: Duration::from_micros(*wall),
            cpu: Duration::from_micros(*cpu),
            max_rss_kb: *rss as i64,
        },
        _ => panic!("the runner failed: {text}"),
    }
}

/// How the bench tells its runner which `SSL_CERT_FILE` the program gets.
const CHILD_CA: &str = "BENCH_CHILD_SSL_CERT_FILE";

/// The system's CA bundle (Debian's path), when this machine has one.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The runner: `bench --measure STDIN_FILE PROGRAM ARGS...` prints `wall_us cpu_us max_rss_kb`.
fn runner(args: &[String]) {
    let [input, program, rest @ ..] = args else {
        panic!("usage: bench --measure STDIN_FILE PROGRAM ARGS...")
    };
    let stdin = std::fs::read(input).expect("stdin file");
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let sample = spawn_and_wait(Path::new(program), &rest, &stdin);
    println!(
        "{} {} {}",
        sample.wall.as_micros(),
        sample.cpu.as_micros(),
        sample.max_rss_kb
    );
}

/// Spawns the program, feeds stdin, and waits with wait4 for its rusage (which reaps it).
#[allow(clippy::zombie_processes)]
fn spawn_and_wait(program: &Path, args: &[&str], stdin: &[u8]) -> Sample {
    let started = Instant::now();
    let ca = std::env::var_os(CHILD_CA).map(PathBuf::from);
    let mut command = program_command(program, ca.as_deref());
    command.args(args).stderr(Stdio::null());
    let mut child = command.spawn().expect("the program starts");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let (cpu, max_rss_kb) = wait4(child.id() as libc::pid_t);
    Sample {
        wall: started.elapsed(),
        cpu,
        max_rss_kb,
    }
}

/// `program` with stdin piped, stdout dropped, no proxy variables and `SSL_CERT_FILE` set to `ca`
/// or unset: the environment every measured run gets.
fn program_command(program: &Path, ca: Option<&Path>) -> Command {
    let mut command = Command::new(program);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("SSL_CERT_FILE");
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    command
}

/// Reaps the child and returns its CPU time and peak RSS (KiB).
fn wait4(pid: libc::pid_t) -> (Duration, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned and own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    (time(usage.ru_utime) + time(usage.ru_stime), usage.ru_maxrss)
}

fn row(name: &str, runs: usize, mut sample: impl FnMut() -> Sample) -> Row {
    let _ = sample(); // warm-up
    let samples = (0..runs).map(|_| sample()).collect();
    let row = Row {
        name: name.to_string(),
        samples,
    };
    eprintln!("{name}: median {:.2} ms", row.median().as_secs_f64() * 1000.0);
    row
}

/// The envelope for `command` against the emulator with `context`.
fn envelope(command: &str, args: Value, params: &Value, context: &Map<String, Value>) -> Vec<u8> {
    json!({"command": command, "args": args, "params": params, "context": context})
        .to_string()
        .into_bytes()
}

/// Runs one envelope for real and returns the result (to prepare contexts).
fn invoke(binary: &Path, stdin: &[u8]) -> Value {
    let mut child = Command::new(binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write");
    serde_json::from_slice(&child.wait_with_output().expect("wait").stdout).expect("a result")
}

/// A signed-in context: auth-start, approve, auth-complete.
fn sign_in(binary: &Path, emulator: &Emulator, params: &Value) -> Map<String, Value> {
    let started = invoke(binary, &envelope("azure-ad-auth-start", json!({}), params, &Map::new()));
    let context = started["context"].as_object().cloned().expect("context");
    emulator.approve(&emulator.last_user_code().expect("a code"));
    let done = invoke(binary, &envelope("azure-ad-auth-complete", json!({}), params, &context));
    done["context"].as_object().cloned().expect("signed-in context")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return runner(&args[1..]);
    }
    let options = Options::parse(&args);
    let binary = sibling("azure-ad-identity-protection");
    let emulator = Emulator::start(TenantConfig::generated(7, 5_000, 10_000)).expect("the emulator starts");
    let setup = Setup::new(&binary, &emulator);
    if !options.instructions_only {
        let mut rows = floor_rows(&binary);
        rows.extend(setup.small_rows());
        rows.extend(setup.large_rows());
        write_report(&rows, &binary);
    }
    let valgrind = on_path("valgrind");
    if valgrind.is_none() && options.instructions_only {
        panic!("--instructions needs valgrind on PATH");
    }
    if valgrind.is_some() || options.baseline.is_some() {
        let baseline = options.baseline.as_deref().map(|b| Setup::new(b, &emulator));
        let rows = compared_rows(baseline.as_ref(), &setup, valgrind.as_deref());
        let table = comparison_report(&rows, options.baseline.as_deref(), valgrind.is_some());
        write_section(&table, COMPARE_START, COMPARE_END);
    }
}

/// What follows `--` on the command line (cargo adds `--bench` itself; it is ignored).
#[derive(Default)]
struct Options {
    /// `--instructions`: only the side-by-side table.
    instructions_only: bool,
    /// `--baseline PATH`: a second binary measured with the same envelopes.
    baseline: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--instructions" => options.instructions_only = true,
                "--baseline" => {
                    let path = args.next().expect("--baseline needs the path of a binary");
                    let path = std::fs::canonicalize(path).expect("the baseline binary exists");
                    options.baseline = Some(path);
                }
                _ => {}
            }
        }
        options
    }
}

/// The file `name` in the first PATH folder that has it.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What the rows share: the binary, the emulator, and envelopes' parameters and contexts.
struct Setup<'a> {
    binary: &'a Path,
    emulator: &'a Emulator,
    params: Value,
    signed_in: Map<String, Value>,
}

impl<'a> Setup<'a> {
    fn new(binary: &'a Path, emulator: &'a Emulator) -> Self {
        let params = emulator.device_code_params();
        let signed_in = sign_in(binary, emulator, &params);
        Setup {
            binary,
            emulator,
            params,
            signed_in,
        }
    }

    fn run(&self, stdin: &[u8]) -> Sample {
        measure(self.binary, &[], stdin)
    }

    fn list(&self, limit: &str, context: &Map<String, Value>) -> Vec<u8> {
        envelope(
            "azure-ad-identity-protection-risky-user-list",
            json!({"limit": limit}),
            &self.params,
            context,
        )
    }

    /// Rows 2–4 and 6: what every command pays.
    fn small_rows(&self) -> Vec<Row> {
        let mut expired = self.signed_in.clone();
        expired.insert("valid_until".into(), json!(1));
        let reset = envelope("azure-ad-auth-reset", json!({}), &self.params, &self.signed_in);
        vec![
            row("2. auth-reset (parse, schema, output)", 100, || self.run(&reset)),
            row("emulator alone: one Graph page of 50", 100, || {
                graph_page(self.emulator, &self.signed_in)
            }),
            row("3. risky-user-list 50, cached token", 50, || {
                self.run(&self.list("50", &self.signed_in))
            }),
            row("3b. the same, SSL_CERT_FILE = the system CA bundle", 50, || {
                let bundle = Path::new(SYSTEM_BUNDLE);
                let list = self.list("50", &self.signed_in);
                measure_with_ca(self.binary, &[], &list, bundle.exists().then_some(bundle))
            }),
            row("4. risky-user-list 50, expired token (refresh + Graph)", 50, || {
                self.run(&self.list("50", &expired))
            }),
            row("6. auth-complete on a pending code (one token request)", 50, || {
                self.pending_complete()
            }),
        ]
    }

    /// Row 5: many pages.
    fn large_rows(&self) -> Vec<Row> {
        let fetch = self.fetch();
        // The sign-in commands ask for their permissions once, with the refresh token: that
        // first run is left out, so the row measures a listing with a token that has them.
        let sign_ins = |limit: &str, context: &Map<String, Value>| {
            envelope(
                "azure-ad-identity-protection-sign-ins-list",
                json!({"limit": limit}),
                &self.params,
                context,
            )
        };
        let first = invoke(self.binary, &sign_ins("1", &self.signed_in));
        let with_sign_ins = first["context"].as_object().cloned().unwrap_or_default();
        vec![
            row(
                "5a. fetch-incidents over 10,000 detections (20 pages of 500)",
                10,
                || self.run(&fetch),
            ),
            row("5b. risky-user-list limit 5,000 (10 pages of 500)", 10, || {
                self.run(&self.list("5000", &self.signed_in))
            }),
            row("5c. sign-ins-list limit 1,000 (2 pages of 500)", 10, || {
                self.run(&sign_ins("1000", &with_sign_ins))
            }),
            row(
                "5d. risky-user-list limit 1,000 (2 pages of 500), to compare with 5c",
                10,
                || self.run(&self.list("1000", &self.signed_in)),
            ),
        ]
    }

    /// fetch-incidents from the start of the generated tenant's detections, 1,000 at most.
    fn fetch(&self) -> Vec<u8> {
        let mut fetch_params = self.emulator.instance_params();
        fetch_params["first_fetch"] = json!("2020-01-01");
        fetch_params["max_fetch"] = json!("1000");
        envelope("fetch-incidents", json!({}), &fetch_params, &Map::new())
    }

    fn pending_complete(&self) -> Sample {
        let started = invoke(
            self.binary,
            &envelope("azure-ad-auth-start", json!({}), &self.params, &Map::new()),
        );
        let context = started["context"].as_object().cloned().unwrap_or_default();
        self.run(&envelope("azure-ad-auth-complete", json!({}), &self.params, &context))
    }
}

/// Row 1: a do-nothing process and the binary's `--version`.
fn floor_rows(binary: &Path) -> Vec<Row> {
    vec![
        row("floor: /bin/true", 100, || measure(Path::new("/bin/true"), &[], b"")),
        row("floor: --version", 100, || measure(binary, &["--version"], b"")),
    ]
}

fn write_report(rows: &[Row], binary: &Path) {
    write_section(&report(rows, binary), START, END);
}

/// Prints `report` and puts it into BENCHMARKS.md between the markers `start` and `end`.
fn write_section(report: &str, start: &str, end: &str) {
    println!("{report}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    let written = replace_between_markers(&previous, report, start, end);
    std::fs::write(&path, written).expect("BENCHMARKS.md is writable");
    eprintln!("written to {}", path.display());
}

/// The emulator's own time for one request like row 3's, measured in-process with ureq.
fn graph_page(emulator: &Emulator, context: &Map<String, Value>) -> Sample {
    let token = context["access_token"].as_str().unwrap_or_default();
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let url = format!("{}/beta/identityProtection/riskyUsers?$top=50", emulator.base_url());
    let started = Instant::now();
    let _ = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|mut r| r.body_mut().read_to_string());
    Sample {
        wall: started.elapsed(),
        cpu: Duration::ZERO,
        max_rss_kb: 0,
    }
}

/// The release binary built with this bench (cargo puts the bench in `target/release/deps/`).
fn sibling(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("current exe");
    let dir = me.parent().expect("the bench's folder");
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "build it first: cargo build --release ({} is missing)",
        path.display()
    );
    path
}

const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";
const COMPARE_START: &str = "<!-- bench:compare:start -->";
const COMPARE_END: &str = "<!-- bench:compare:end -->";

/// Puts the new table between the markers, keeping the hand-written text around them; without
/// the markers, appends them with the table.
fn replace_between_markers(previous: &str, report: &str, start: &str, end: &str) -> String {
    match (previous.find(start), previous.find(end)) {
        (Some(at), Some(until)) if at < until => {
            format!("{}{start}\n{report}{}", &previous[..at], &previous[until..])
        }
        _ if previous.is_empty() => format!("# Benchmarks\n\n{start}\n{report}{end}\n"),
        _ => format!("{previous}\n{start}\n{report}{end}\n"),
    }
}

fn report(rows: &[Row], binary: &Path) -> String {
    let floor = rows.first().map(Row::median).unwrap_or_default().as_secs_f64();
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
    let mut out = String::new();
    out.push_str(&machine(binary));
    out.push_str("\n| row | runs | median ms | p95 ms | CPU ms (median) | peak RSS MB | median / floor |\n|---|---|---|---|---|---|---|\n");
    for row in rows {
        let ratio = row.median().as_secs_f64() / floor.max(f64::EPSILON);
        let rss = if row.peak_rss_mb() > 0.0 {
            format!("{:.1}", row.peak_rss_mb())
        } else {
            "–".into()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {rss} | {ratio:.1}× |\n",
            row.name,
            row.samples.len(),
            ms(row.median()),
            ms(row.p95()),
            ms(row.cpu())
        ));
    }
    out
}

fn machine(binary: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024)
        })
        .unwrap_or(0);
    let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    format!(
        "Machine: {cpu}, {cores} cores, {memory} GiB. Release binary: {:.2} MB ({size} bytes).\n",
        size as f64 / 1_000_000.0
    )
}

/// A target row of issue 16, measured for each binary: instructions and median wall time.
struct Case {
    name: &'static str,
    /// The most instructions the row may cost, in millions; `None` for the floor.
    target: Option<f64>,
    runs: usize,
    envelope: fn(&Setup) -> Vec<u8>,
}

/// The rows whose instructions are counted, all with `SSL_CERT_FILE` set to the system bundle
/// (as many engines set it).
const CASES: [Case; 5] = [
    Case {
        name: "auth-reset (the floor: parse, schema, output)",
        target: None,
        runs: 50,
        envelope: |s| envelope("azure-ad-auth-reset", json!({}), &s.params, &s.signed_in),
    },
    Case {
        name: "risky-user-list 50, cached token",
        target: Some(3.0),
        runs: 50,
        envelope: |s| s.list("50", &s.signed_in),
    },
    Case {
        name: "risks-list 500, cached token",
        target: Some(55.0),
        runs: 20,
        envelope: |s| {
            let args = json!({"limit": "500"});
            envelope("azure-ad-identity-protection-risks-list", args, &s.params, &s.signed_in)
        },
    },
    Case {
        name: "fetch-incidents over 10,000 detections",
        target: Some(150.0),
        runs: 10,
        envelope: |s| s.fetch(),
    },
    Case {
        name: "risky-user-list 5,000",
        target: Some(150.0),
        runs: 10,
        envelope: |s| s.list("5000", &s.signed_in),
    },
];

/// One binary's result on one [`Case`].
struct Measured {
    instructions: Option<u64>,
    median: Duration,
}

/// Each case for the baseline (when given) and this build: instructions once each, and the
/// median of the case's runs.
fn compared_rows(baseline: Option<&Setup>, current: &Setup, valgrind: Option<&Path>) -> Vec<Vec<Measured>> {
    let subjects: Vec<&Setup> = baseline.into_iter().chain([current]).collect();
    let bundle = Path::new(SYSTEM_BUNDLE);
    let ca = bundle.exists().then_some(bundle);
    let mut rows = Vec::new();
    for case in &CASES {
        let runs: Vec<(&Path, Vec<u8>)> = subjects.iter().map(|s| (s.binary, (case.envelope)(s))).collect();
        let medians = interleaved_medians(&runs, case.runs, ca);
        let measured: Vec<Measured> = runs
            .iter()
            .zip(medians)
            .map(|((binary, input), median)| Measured {
                instructions: valgrind.and_then(|v| instructions(v, binary, input, ca)),
                median,
            })
            .collect();
        let counts: Vec<Option<u64>> = measured.iter().map(|m| m.instructions).collect();
        eprintln!("{}: instructions {counts:?}", case.name);
        rows.push(measured);
    }
    rows
}

/// The median wall time of each (binary, stdin) over `runs` runs after a warm-up, the runs of
/// all binaries interleaved so that a slower minute of this shared machine weighs on each alike.
fn interleaved_medians(subjects: &[(&Path, Vec<u8>)], runs: usize, ca: Option<&Path>) -> Vec<Duration> {
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); subjects.len()];
    for run in 0..=runs {
        for ((binary, input), walls) in subjects.iter().zip(&mut walls) {
            let sample = measure_with_ca(binary, &[], input, ca);
            if run > 0 {
                walls.push(sample.wall);
            }
        }
    }
    walls.into_iter().map(|w| percentile(w, 50)).collect()
}

/// The instructions one run of `program` on `stdin` executes, as callgrind counts them
/// (process start included); `None` when valgrind fails.
fn instructions(valgrind: &Path, program: &Path, stdin: &[u8], ca: Option<&Path>) -> Option<u64> {
    let profile = std::env::temp_dir().join(format!("bench-callgrind-{}.out", std::process::id()));
    let mut command = program_command(valgrind, ca);
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(program)
        .stderr(Stdio::piped());
    let mut child = command.spawn().ok()?;
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let output = child.wait_with_output().ok()?;
    let _ = std::fs::remove_file(&profile);
    let log = String::from_utf8_lossy(&output.stderr);
    let collected = log.lines().find_map(|line| line.split_once("Collected :"))?.1;
    collected.trim().parse().ok()
}

/// The side-by-side table: instructions and median wall time, before → after.
fn comparison_report(rows: &[Vec<Measured>], baseline: Option<&Path>, counted: bool) -> String {
    let ca = if Path::new(SYSTEM_BUNDLE).exists() {
        format!("`SSL_CERT_FILE={SYSTEM_BUNDLE}`")
    } else {
        "`SSL_CERT_FILE` unset (this machine has no system bundle)".to_string()
    };
    let mut out = format!("Every row with {ca}; instructions from one run under `valgrind --tool=callgrind`");
    if !counted {
        out.push_str(" (not counted: valgrind is not on PATH)");
    }
    match baseline {
        // The file name only: where a baseline was built is this machine's business.
        Some(path) => out.push_str(&format!(
            "; before: the `--baseline` binary (`{}`), after: this build.\n",
            path.file_name()
                .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
        )),
        None => out.push_str("; no `--baseline` given, so only this build.\n"),
    }
    out.push_str("\n| row | target | instructions before | after | change | median ms before | after |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (case, measured) in CASES.iter().zip(rows) {
        match measured.as_slice() {
            [before, after] => out.push_str(&comparison_row(case, Some(before), after)),
            [after] => out.push_str(&comparison_row(case, None, after)),
            _ => {}
        }
    }
    out
}

fn comparison_row(case: &Case, before: Option<&Measured>, after: &Measured) -> String {
    let millions = |m: Option<&Measured>| match m.and_then(|m| m.instructions) {
        Some(n) => format!("{:.2} M", n as f64 / 1e6),
        None => "–".to_string(),
    };
    let change = match (before.and_then(|b| b.instructions), after.instructions) {
        (Some(b), Some(a)) if b > 0 => format!("{:+.0} %", (a as f64 / b as f64 - 1.0) * 100.0),
        _ => "–".to_string(),
    };
    let ms = |m: Option<&Measured>| m.map_or("–".to_string(), |m| format!("{:.2}", m.median.as_secs_f64() * 1000.0));
    let target = case.target.map_or("–".to_string(), |t| format!("≤ {t:.1} M"));
    format!(
        "| {} | {target} | {} | {} | {change} | {} | {} |\n",
        case.name,
        millions(before),
        millions(Some(after)),
        ms(before),
        ms(Some(after)),
    )
}

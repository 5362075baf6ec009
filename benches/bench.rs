//! `cargo bench --bench bench`: whole invocations of the release binary against the
//! in-process emulator, as a SOAR engine pays for them. Prints a table and writes BENCHMARKS.md.
//!
//! Each row runs the binary many times with an envelope on stdin and reports median and p95 wall
//! time, median CPU (user + system) and peak RSS of the child (from wait4's rusage), and the
//! median as a ratio to the floor (a do-nothing process). This is a benchmark, never a test:
//! nothing here asserts a timing.

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
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("SSL_CERT_FILE");
    if let Some(ca) = std::env::var_os(CHILD_CA) {
        command.env("SSL_CERT_FILE", ca);
    }
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
    let binary = sibling("azure-ad-identity-protection");
    let emulator = Emulator::start(TenantConfig::generated(7, 5_000, 10_000)).expect("the emulator starts");
    let setup = Setup::new(&binary, &emulator);
    let mut rows = floor_rows(&binary);
    rows.extend(setup.small_rows());
    rows.extend(setup.large_rows());
    write_report(&rows, &binary);
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
        let mut fetch_params = self.emulator.instance_params();
        fetch_params["first_fetch"] = json!("2020-01-01");
        fetch_params["max_fetch"] = json!("1000");
        let fetch = envelope("fetch-incidents", json!({}), &fetch_params, &Map::new());
        vec![
            row(
                "5a. fetch-incidents over 10,000 detections (20 pages of 500)",
                10,
                || self.run(&fetch),
            ),
            row("5b. risky-user-list limit 5,000 (10 pages of 500)", 10, || {
                self.run(&self.list("5000", &self.signed_in))
            }),
        ]
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
    let report = report(rows, binary);
    println!("{report}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, replace_between_markers(&previous, &report)).expect("BENCHMARKS.md is writable");
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

/// Puts the new table between the markers, keeping the hand-written text around them.
fn replace_between_markers(previous: &str, report: &str) -> String {
    match (previous.find(START), previous.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{START}\n{report}{}", &previous[..start], &previous[end..])
        }
        _ => format!("# Benchmarks\n\n{START}\n{report}{END}\n"),
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

//! The shell examples of README.md and fixtures/README.md, run as written, so they cannot rot
//! (issue 10: the README's chaining example lacked its approval and wrote into the checkout).
//!
//! **The tagging rule.** The line before every ```` ```sh ```` block (or `bash`, `shell`,
//! `console`) is an HTML comment saying how it runs; an untagged block fails the test:
//!
//! - `<!-- example: needs-emulator -->`: the block runs with `bash -euo pipefail` while the
//!   standalone emulator listens on 127.0.0.1:8765, started as the text around such blocks says
//!   (`azure-ad-identity-protection emulator`, no flags), a fresh one for each block;
//! - `<!-- example: serves -->`: each line starts a server that runs until stopped; each runs on its
//!   own until its first line on stdout, which must be the emulator's start-up object, then stops;
//! - `<!-- example: skip (reason) -->`: not run; the reason says why (Docker, PyPI, this suite).
//!
//! **How a block runs as written** (no `target/release` needed): its working folder is a fresh
//! temporary stand-in for the repository root holding a copy of `fixtures/` and
//! `target/release/azure-ad-identity-protection`, a link to the binary cargo built for these tests;
//! `cargo` on `PATH` is a shim that runs `cargo run --release -- ARGS` as that binary and refuses
//! anything else. The environment is cleared but for `PATH`; `HOME` and `TMPDIR` are temporary
//! folders, so `mktemp -d` lands there; `AZURE_POD_IDENTITY_AUTHORITY_HOST` is a loopback port that
//! refuses (as every test's, tests/util.rs), so an example that forgets to point the
//! managed-identity fixture at the emulator fails instead of asking 169.254.169.254, and every
//! request the binary logs in a block must go to loopback. After a block its working folder must be as before:
//! examples write their results under `mktemp -d`, never into the checkout.
//!
//! One test runs every block in turn, so nothing in this crate competes for port 8765; when
//! something else holds it (an emulator started by hand), the test fails saying so. Without
//! `jq` or `curl` on `PATH` it fails too, asking for them, rather than skipping.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_azure-ad-identity-protection");
const REPOSITORY: &str = env!("CARGO_MANIFEST_DIR");
/// The standalone emulator's default port, which the examples name.
const EXAMPLE_PORT: u16 = 8765;
const DOCUMENTS: [&str; 2] = ["README.md", "fixtures/README.md"];
const SHELLS: [&str; 4] = ["sh", "bash", "shell", "console"];
const TOOLS: [&str; 3] = ["bash", "jq", "curl"];
/// A block, or a server's first line, that takes longer has hung.
const BLOCK_LIMIT: Duration = Duration::from_secs(180);
const START_LIMIT: Duration = Duration::from_secs(60);

/// How a block runs, from the comment before it.
#[derive(Debug, Clone, PartialEq)]
enum Tag {
    NeedsEmulator,
    Serves,
    Skip(String),
}

/// One shell block of a document.
#[derive(Debug, Clone, PartialEq)]
struct Example {
    /// `README.md:427`, the line of its opening fence.
    at: String,
    tag: Tag,
    script: String,
}

/// `<!-- example: ... -->` as a tag; anything else is none.
fn tag(line: &str) -> Option<Tag> {
    let inner = line.trim().strip_prefix("<!-- example:")?.strip_suffix("-->")?.trim();
    match inner {
        "needs-emulator" => Some(Tag::NeedsEmulator),
        "serves" => Some(Tag::Serves),
        _ => {
            let reason = inner.strip_prefix("skip (")?.strip_suffix(')')?.trim();
            (!reason.is_empty()).then(|| Tag::Skip(reason.to_string()))
        }
    }
}

/// A fence line's indentation and info string.
fn fence(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let info = trimmed.strip_prefix("```")?;
    Some((line.len() - trimmed.len(), info.trim()))
}

/// `line` without up to `indent` leading spaces (a block inside a list item).
fn dedented(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// Every shell block of `markdown`: an example, or the reason it has no usable tag.
fn examples(file: &str, markdown: &str) -> Vec<Result<Example, String>> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(line) = lines.get(at) {
        let Some((indent, info)) = fence(line) else {
            at += 1;
            continue;
        };
        let is_end = |l: &&str| fence(l).is_some_and(|(_, info)| info.is_empty());
        let end = lines[at + 1..]
            .iter()
            .position(is_end)
            .map_or(lines.len(), |n| at + 1 + n);
        if SHELLS.contains(&info) {
            let previous = lines[..at].iter().rev().find(|l| !l.trim().is_empty());
            let body: Vec<&str> = lines[at + 1..end].iter().map(|l| dedented(l, indent)).collect();
            let place = format!("{file}:{}", at + 1);
            found.push(match previous.and_then(|l| tag(l)) {
                Some(tag) => Ok(Example {
                    at: place,
                    tag,
                    script: body.join("\n") + "\n",
                }),
                None => Err(format!(
                    "{place}: a shell block without `<!-- example: needs-emulator | serves | skip (reason) -->` on the line before it"
                )),
            });
        }
        at = end + 1;
    }
    found
}

#[test]
fn tags_come_from_the_comment_right_before_a_shell_block() {
    let markdown = "text\n\n<!-- example: needs-emulator -->\n```sh\na\n```\n\n```json\n{}\n```\n\n\
                    1. item\n\n   <!-- example: skip (needs Docker) -->\n   ```sh\n   b\n     c\n   ```\n\n\
                    <!-- example: skip () -->\n```bash\nd\n```\n```sh\ne\n```\n";
    let found = examples("doc.md", markdown);
    let example = |at: &str, tag: Tag, script: &str| {
        Ok(Example {
            at: at.into(),
            tag,
            script: script.into(),
        })
    };
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(found[0], example("doc.md:4", Tag::NeedsEmulator, "a\n"));
    assert_eq!(
        found[1],
        example("doc.md:15", Tag::Skip("needs Docker".into()), "b\n  c\n")
    );
    assert!(
        found[2].as_ref().is_err_and(|e| e.starts_with("doc.md:21:")),
        "empty reason"
    );
    assert!(
        found[3].as_ref().is_err_and(|e| e.starts_with("doc.md:24:")),
        "untagged"
    );
}

#[test]
fn every_shell_example_in_the_readmes_runs_as_written() {
    require_tools();
    let mut all = Vec::new();
    for file in DOCUMENTS {
        let text = std::fs::read_to_string(Path::new(REPOSITORY).join(file)).expect("the document");
        all.extend(examples(file, &text));
    }
    let untagged: Vec<&String> = all.iter().filter_map(|e| e.as_ref().err()).collect();
    assert!(
        untagged.is_empty(),
        "tag every shell block (tests/examples.rs):\n{untagged:#?}"
    );
    for example in all.iter().flatten() {
        match &example.tag {
            Tag::NeedsEmulator => run_against_the_emulator(example),
            Tag::Serves => run_servers(example),
            Tag::Skip(reason) => eprintln!("{}: skipped ({reason})", example.at),
        }
    }
}

/// Fails, asking for them, when a tool the examples use is not on PATH.
fn require_tools() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |tool: &str| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(tool)));
    let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
    assert!(
        missing.is_empty(),
        "the README's examples need {missing:?}, which are not on PATH: install them (e.g. `apt-get install jq curl`)"
    );
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn require_free_port() {
    if let Err(error) = std::net::TcpListener::bind(("127.0.0.1", EXAMPLE_PORT)) {
        panic!(
            "127.0.0.1:{EXAMPLE_PORT} is busy ({error}): the examples use the standalone emulator's default port; \
             stop what listens there (an emulator started by hand?) and run the tests again"
        );
    }
}

/// A `needs-emulator` block against a fresh `azure-ad-identity-protection emulator` on 8765.
fn run_against_the_emulator(example: &Example) {
    let sandbox = Sandbox::new();
    require_free_port();
    let mut emulator = Command::new(BINARY);
    emulator.arg("emulator").current_dir(&sandbox.root);
    let (emulator, first) = sandbox.start(emulator, "emulator");
    assert!(first.is_some(), "the emulator did not start:\n{}", emulator.stderr());
    let before = listing(&sandbox.work());
    let script = sandbox.root.join("example.sh");
    std::fs::write(&script, &example.script).expect("write the script");
    let mut bash = sandbox.shell();
    bash.arg("-euo").arg("pipefail").arg(&script);
    let mut block = sandbox.spawn(bash, "block", Stdio::from(sandbox.log_file("block.out")));
    let status = block.wait_within(BLOCK_LIMIT);
    let stdout = tail(&std::fs::read_to_string(sandbox.root.join("block.out")).unwrap_or_default());
    assert!(
        status.is_some_and(|s| s.success()),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- emulator\n{}",
        example.at,
        status.map_or(format!("still running after {BLOCK_LIMIT:?}"), |s| s.to_string()),
        block.stderr(),
        emulator.stderr()
    );
    assert_same_listing(&before, &listing(&sandbox.work()), &example.at);
    crate::util::assert_loopback_only(&std::fs::read_to_string(&block.stderr).unwrap_or_default());
    eprintln!("{}: ran against the emulator", example.at);
}

/// A block's working folder stands for the checkout: it must not gain or lose a file.
fn assert_same_listing(before: &[PathBuf], after: &[PathBuf], at: &str) {
    let added = after.iter().filter(|p| !before.contains(p));
    let changed: Vec<&PathBuf> = added.chain(before.iter().filter(|p| !after.contains(p))).collect();
    assert!(
        changed.is_empty(),
        "{at} changed its working folder (the checkout, for a reader): {changed:?}; write results under $(mktemp -d)"
    );
}

/// A `serves` block: each line must start an emulator that prints its start-up object.
fn run_servers(example: &Example) {
    let commands = example
        .script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for command in commands {
        let sandbox = Sandbox::new();
        require_free_port();
        let mut bash = sandbox.shell();
        bash.arg("-euo").arg("pipefail").arg("-c").arg(command);
        let (server, first) = sandbox.start(bash, "server");
        let start_up: serde_json::Value =
            serde_json::from_str(first.as_deref().unwrap_or_default()).unwrap_or_else(|e| {
                panic!(
                    "{}: `{command}` printed no start-up object ({e}):\n{}",
                    example.at,
                    server.stderr()
                )
            });
        assert!(
            start_up["params"]["azure_ad_endpoint"]
                .as_str()
                .is_some_and(|url| url.starts_with("http")),
            "{}: `{command}` started with {start_up}",
            example.at
        );
        eprintln!("{}: `{command}` serves", example.at);
    }
}

/// The last few thousand characters of a long output.
fn tail(text: &str) -> String {
    let mut start = text.len().saturating_sub(4000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// Every path under `dir` (links not followed), relative to it: what a block may not change.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list a folder").flatten() {
        let name = PathBuf::from(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(listing(&entry.path()).into_iter().map(|inner| name.join(inner)));
        }
        found.push(name);
    }
    found
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(from).expect("list a folder").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// A temporary folder for one block: `work/` (the stand-in for the repository root), `home/`,
/// `tmp/`, `bin/cargo` (the shim) and the logs. Removed when dropped.
struct Sandbox {
    root: PathBuf,
}

static SANDBOXES: AtomicUsize = AtomicUsize::new(0);

/// `cargo run --release -- ARGS`, as the README writes it, runs the binary built for the tests.
const CARGO_SHIM: &str = "#!/bin/sh
if [ \"$1\" = run ] && [ \"$2\" = --release ] && [ \"$3\" = -- ]; then shift 3; exec \"$BINARY\" \"$@\"; fi
echo \"tests/examples.rs: the cargo shim runs only 'cargo run --release -- ...', not: cargo $*\" >&2
exit 127
";

impl Sandbox {
    fn new() -> Sandbox {
        let n = SANDBOXES.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("aadip-examples-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for folder in ["work/target/release", "home", "tmp", "bin"] {
            std::fs::create_dir_all(root.join(folder)).expect("create the sandbox");
        }
        copy_folder(&Path::new(REPOSITORY).join("fixtures"), &root.join("work/fixtures"));
        std::os::unix::fs::symlink(BINARY, root.join("work/target/release/azure-ad-identity-protection"))
            .expect("link the binary");
        let shim = root.join("bin/cargo");
        std::fs::write(&shim, CARGO_SHIM).expect("write the cargo shim");
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod the shim");
        Sandbox { root }
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.root.join(name)).expect("create a log file")
    }

    /// bash in the working folder (its environment is set by [`Sandbox::spawn`]).
    fn shell(&self) -> Command {
        let mut bash = Command::new("bash");
        bash.current_dir(self.work());
        bash
    }

    /// Spawns `command` in its own process group, stderr to `{name}.err`, with a cleared
    /// environment but for `PATH` (the cargo shim first), `HOME`, `TMPDIR`, the shim's `BINARY`
    /// and IMDS on loopback.
    fn spawn(&self, mut command: Command, name: &str, stdout: Stdio) -> Started {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.root.join("bin")];
        dirs.extend(std::env::split_paths(&path));
        let stderr = self.root.join(format!("{name}.err"));
        command
            .env_clear()
            .env("PATH", std::env::join_paths(dirs).expect("a PATH"))
            .env("HOME", self.root.join("home"))
            .env("TMPDIR", self.root.join("tmp"))
            .env("BINARY", BINARY)
            .env("RUST_BACKTRACE", "0")
            .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", crate::util::REFUSING_IMDS)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(std::fs::File::create(&stderr).expect("create a log file")))
            .process_group(0);
        let child = command.spawn().expect("spawn");
        Started { child, stderr }
    }

    /// Spawns a server and waits for its first line on stdout.
    fn start(&self, command: Command, name: &str) -> (Started, Option<String>) {
        let mut started = self.spawn(command, name, Stdio::piped());
        let first = started.first_line(START_LIMIT);
        (started, first)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A process group the test started; the whole group is killed when dropped.
struct Started {
    child: Child,
    stderr: PathBuf,
}

impl Started {
    /// The first line on stdout within `limit`, or `None` (nothing, or the process ended).
    fn first_line(&mut self, limit: Duration) -> Option<String> {
        let stdout = self.child.stdout.take()?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        receiver.recv_timeout(limit).ok().filter(|line| !line.is_empty())
    }

    /// The exit status within `limit`, or `None` if it was still running.
    fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for a child") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&self) -> String {
        tail(&std::fs::read_to_string(&self.stderr).unwrap_or_default())
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signals the process group this test created (process_group(0) above).
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

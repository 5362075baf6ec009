//! The emulator as people run it, from the compiled binary: `emulator`, `emulator --tls` and
//! `demo --keep` still serve after an idle spell longer than any timeout they once had, an
//! accept error (no file descriptor left) does not end the accept loop, and Ctrl-C or SIGTERM
//! removes the private CA folder of `emulator --tls`.

use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Longer than the 10 s the listener's read timeout once allowed between connections.
const IDLE_SPELL: Duration = Duration::from_secs(15);
/// How long one answer may take before the test calls the emulator frozen.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// The binary as a child process with stdout and stderr piped, killed on drop.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    /// Starts `azure-ad-identity-protection ARGS` through `sh -c 'SETUP; exec "$0" "$@"'`.
    fn start(setup: &str, args: &[&str]) -> Running {
        let program = assert_cmd::cargo::cargo_bin("azure-ad-identity-protection");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{setup} exec \"$0\" \"$@\""))
            .arg(program)
            .args(args)
            .env_clear()
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The first stdout line that `pick` maps to a value, within 120 s.
    fn wait_for<T>(&self, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).expect("the expected line within 120 s");
            if let Some(value) = pick(&line) {
                return value;
            }
        }
    }

    /// Sends `signal` and waits (at most [`HANG_GUARD`]) for the process to end: its exit code.
    fn signal_and_wait(&mut self, signal: libc::c_int) -> Option<i32> {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid, which `self.child` has not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "the signal is sent");
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the emulator") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running {HANG_GUARD:?} after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, so that `emulator --tls` leaves no CA folder behind; SIGKILL after 5 s.
    fn terminate(&mut self) {
        // Only a child not reaped yet: its pid cannot have been given to another process.
        if let (Ok(None), Ok(pid)) = (self.child.try_wait(), libc::pid_t::try_from(self.child.id())) {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process and returns what it wrote on stderr.
    fn stop(mut self) -> String {
        self.terminate();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = ChildStderr::read_to_string(&mut pipe, &mut stderr);
        }
        stderr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The `emulator` subcommand's first line, as JSON.
fn startup_line(line: &str) -> Option<Value> {
    serde_json::from_str(line).ok()
}

/// `127.0.0.1:PORT` of a base URL.
fn address(base_url: &str) -> String {
    base_url.rsplit("//").next().unwrap_or_default().to_owned()
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(HANG_GUARD)).expect("read timeout");
    stream.set_write_timeout(Some(HANG_GUARD)).expect("write timeout");
    stream
}

/// A TLS connection trusting only the CA file the emulator wrote.
fn connect_tls(address: &str, ca_file: &str) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).expect("the CA file opens") {
        roots.add(certificate.expect("the CA reads")).expect("the CA is a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP address name");
    let client = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    rustls::StreamOwned::new(client, connect(address))
}

/// Sends `GET /_emulator/faults` and returns the answer's status. The answer is read by hand
/// (status line, then Content-Length) because the test must hold one connection open across the
/// idle spell, which an HTTP client's pool would hide.
fn status_of_get(stream: &mut (impl Read + Write), address: &str) -> io::Result<u16> {
    let request = format!("GET /_emulator/faults HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, &mut received)?;
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while received.len() < head_end + length {
        read_more(stream, &mut received)?;
    }
    Ok(status)
}

fn read_more(stream: &mut impl Read, received: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0_u8; 16 * 1024];
    match stream.read(&mut chunk)? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        n => {
            received.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

/// Serves, idles 15 s, then serves a new connection and the connection kept alive before the spell.
fn idle_then_serve<S: Read + Write>(what: &str, address: &str, open: impl Fn() -> S) {
    let mut kept = open();
    let first = status_of_get(&mut kept, address);
    assert_eq!(first.ok(), Some(200), "{what}: served before the idle spell");
    std::thread::sleep(IDLE_SPELL);
    let fresh = status_of_get(&mut open(), address);
    assert_eq!(fresh.ok(), Some(200), "{what}: a new connection after 15 s idle");
    let again = status_of_get(&mut kept, address);
    assert_eq!(
        again.ok(),
        Some(200),
        "{what}: the kept-alive connection after 15 s idle"
    );
}

/// Issue 16: after 10 s without a new connection, `emulator`, `emulator --tls` and `demo --keep`
/// refused every connection while the process lived on.
#[test]
fn emulator_tls_emulator_and_demo_keep_serve_after_15_s_idle() {
    let plain = Running::start("", &["emulator", "--port", "0"]);
    let tls = Running::start("", &["emulator", "--tls", "--port", "0"]);
    let demo = Running::start("", &["demo", "--keep"]);
    let plain_line = plain.wait_for(startup_line);
    let tls_line = tls.wait_for(startup_line);
    let demo_base = demo.wait_for(|line| {
        line.trim_start()
            .strip_prefix("base URL:")
            .map(|url| url.trim().to_owned())
    });
    let plain_address = address(plain_line["params"]["azure_ad_endpoint"].as_str().expect("an endpoint"));
    let tls_address = address(tls_line["params"]["azure_ad_endpoint"].as_str().expect("an endpoint"));
    let ca_file = tls_line["ca_file"].as_str().expect("a CA file").to_owned();
    let demo_address = address(&demo_base);
    std::thread::scope(|threads| {
        threads.spawn(|| idle_then_serve("emulator", &plain_address, || connect(&plain_address)));
        threads.spawn(|| idle_then_serve("emulator --tls", &tls_address, || connect_tls(&tls_address, &ca_file)));
        threads.spawn(|| idle_then_serve("demo --keep", &demo_address, || connect(&demo_address)));
    });
}

/// An accept error does not end the accept loop: with 40 file descriptors, 80 connections leave
/// the emulator none to accept with (EMFILE); once they close, new connections are served.
#[test]
fn running_out_of_file_descriptors_does_not_stop_the_emulator() {
    let emulator = Running::start("ulimit -n 40 &&", &["emulator", "--port", "0"]);
    let line = emulator.wait_for(startup_line);
    let address = address(line["params"]["azure_ad_endpoint"].as_str().expect("an endpoint"));
    let flood: Vec<TcpStream> = (0..80).map(|_| connect(&address)).collect();
    // Long enough for the accept thread to meet EMFILE and log it.
    std::thread::sleep(Duration::from_millis(500));
    drop(flood);
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if status_of_get(&mut connect(&address), &address).ok() == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "no connection served after the flood ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = emulator.stop();
    assert!(
        stderr.contains("cannot accept a connection") && stderr.contains("still listening"),
        "the accept error was met and logged: {stderr}"
    );
}

/// `emulator --tls` until its first line, then `signal`: the CA file it named, and the exit code.
fn tls_emulator_stopped_by(signal: libc::c_int, flags: &[&str]) -> (std::path::PathBuf, Option<i32>) {
    let args = [&["emulator", "--tls", "--port", "0"], flags].concat();
    let mut emulator = Running::start("", &args);
    let line = emulator.wait_for(startup_line);
    let ca_file = std::path::PathBuf::from(line["ca_file"].as_str().expect("a CA file"));
    assert!(ca_file.is_file(), "{} is written", ca_file.display());
    (ca_file, emulator.signal_and_wait(signal))
}

/// The private folder the CA file is in, which the emulator made.
fn private_folder(ca_file: &std::path::Path) -> &std::path::Path {
    let folder = ca_file.parent().expect("a folder");
    let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(
        name.starts_with("azure-ad-identity-protection-emulator-"),
        "{}",
        folder.display()
    );
    folder
}

/// Issue 19: Ctrl-C left `emulator --tls`'s CA folder in the temporary directory, though the
/// README says it is removed when the emulator stops. Exit 130, as a shell reports SIGINT.
#[test]
fn ctrl_c_removes_the_ca_folder_and_exits_130() {
    let (ca_file, code) = tls_emulator_stopped_by(libc::SIGINT, &[]);
    let folder = private_folder(&ca_file);
    assert!(!folder.exists(), "{} is left behind", folder.display());
    assert_eq!(code, Some(130));
}

/// Issue 19: SIGTERM (`kill`'s default) too. Exit 143.
#[test]
fn sigterm_removes_the_ca_folder_and_exits_143() {
    let (ca_file, code) = tls_emulator_stopped_by(libc::SIGTERM, &[]);
    let folder = private_folder(&ca_file);
    assert!(!folder.exists(), "{} is left behind", folder.display());
    assert_eq!(code, Some(143));
}

/// `--ca-out PATH` is documented as kept: a signal does not remove it.
#[test]
fn a_ca_out_file_is_kept_after_ctrl_c() {
    let path = std::env::temp_dir().join(format!("emulator-ca-out-{}.pem", std::process::id()));
    let (ca_file, code) = tls_emulator_stopped_by(libc::SIGINT, &["--ca-out", &path.display().to_string()]);
    let kept = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!((ca_file, code), (path, Some(130)));
    assert!(
        kept.is_ok_and(|pem| pem.starts_with("-----BEGIN CERTIFICATE-----")),
        "the CA is kept"
    );
}

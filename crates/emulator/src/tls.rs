//! The `--tls` front: accepts TCP on the public loopback port, completes a rustls handshake with
//! the embedded loopback certificate (see `tls/README.md`), and relays bytes both ways to the
//! plain tiny_http server on another loopback port, one thread per direction. A failed or
//! finished direction closes both sockets, which ends the other direction too.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

/// The loopback CA clients trust (public; see `tls/README.md`).
pub(crate) const CA_PEM: &str = include_str!("tls/ca.pem");
const SERVER_CERT_PEM: &[u8] = include_bytes!("tls/server.pem");
const SERVER_KEY_PEM: &[u8] = include_bytes!("tls/server-key.pem");
/// Connections served at once; more wait in the listen backlog's place (they are refused).
const MAX_CONNECTIONS: usize = 64;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A client silent this long is dropped, so idle kept-alive connections cannot hold all of
/// [`MAX_CONNECTIONS`] for ever; above the longest latency fault (60 s), which a client waits
/// out in silence.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const BUFFER: usize = 16 * 1024;

/// A running TLS front. Dropping it stops accepting and deletes the CA file it made.
pub(crate) struct Front {
    port: u16,
    ca_file: PathBuf,
    /// The private folder holding `ca_file`, removed on drop; `None` for a user's `--ca-out`.
    private_dir: Option<PathBuf>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    /// Listens on `127.0.0.1:port` (0: a free port) and relays to `backend`.
    pub fn start(port: u16, backend: SocketAddr, ca_out: Option<PathBuf>) -> io::Result<Front> {
        let config = server_config()?;
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let (ca_file, private_dir) = match ca_out {
            Some(path) => {
                std::fs::write(&path, CA_PEM)?;
                (path, None)
            }
            None => {
                let (file, dir) = write_private_ca_file()?;
                (file, Some(dir))
            }
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("entra-graph-emulator-tls".to_owned())
            .spawn(move || accept_loop(&listener, &config, backend, &flag))?;
        Ok(Front {
            port,
            ca_file,
            private_dir,
            stopping,
            thread: Some(thread),
        })
    }

    /// The public port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary file holding [`CA_PEM`].
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the loop sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = &self.private_dir {
            let _ = std::fs::remove_file(&self.ca_file);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The server configuration: ring, TLS 1.2 and 1.3, the embedded loopback certificate.
fn server_config() -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(SERVER_CERT_PEM)
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM).map_err(io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// Writes the CA into a new folder of the temporary directory with an unpredictable name, made
/// only for this user (0700), as a new file (0600): nothing planted in the shared temporary
/// directory (a symlink, a file of the same name) can be followed or overwritten.
fn write_private_ca_file() -> io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = std::env::temp_dir().join(format!("azure-ad-identity-protection-emulator-{}", super::wire::guid()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let file = dir.join("ca.pem");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)?;
    out.write_all(CA_PEM.as_bytes())?;
    Ok((file, dir))
}

fn accept_loop(listener: &TcpListener, config: &Arc<ServerConfig>, backend: SocketAddr, stopping: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let loopback = stream.peer_addr().is_ok_and(|peer| peer.ip().is_loopback());
        if !loopback || active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (config, counter) = (config.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("entra-graph-emulator-tls-conn".to_owned())
            .spawn(move || {
                // A broken connection concerns only its client.
                let _ = relay(stream, config, backend);
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Completes the handshake, then relays until either side closes.
fn relay(mut client: TcpStream, config: Arc<ServerConfig>, backend: SocketAddr) -> io::Result<()> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    client.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    client.set_write_timeout(Some(WRITE_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut client)?;
    }
    client.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let server = TcpStream::connect(backend)?;
    // Both hops without Nagle: TLS records and tiny_http's segmented answers go out at once.
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let tls = Arc::new(Mutex::new(conn));
    let up = {
        let (tls, client, server) = (tls.clone(), client.try_clone()?, server.try_clone()?);
        std::thread::Builder::new()
            .spawn(move || close_after(client_to_backend(&tls, &client, &server), &client, &server))?
    };
    close_after(backend_to_client(&tls, &server, &client), &client, &server);
    let _ = up.join();
    Ok(())
}

/// Closes both sockets once a direction is done (the other direction's reads then end).
fn close_after(_outcome: io::Result<()>, client: &TcpStream, server: &TcpStream) {
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

fn lock(tls: &Mutex<ServerConnection>) -> MutexGuard<'_, ServerConnection> {
    tls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Client ciphertext in, plaintext out to tiny_http, until the client closes.
fn client_to_backend(tls: &Mutex<ServerConnection>, client: &TcpStream, server: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0_u8; BUFFER];
    let mut received: &[u8] = &[];
    loop {
        let (plain, closed) = {
            let mut conn = lock(tls);
            let outcome = absorb(&mut conn, received)?;
            flush_tls(&mut conn, client)?;
            outcome
        };
        (&*server).write_all(&plain)?;
        if closed {
            return Ok(());
        }
        let n = (&*client).read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        received = &buf[..n];
    }
}

/// Feeds `data` to rustls and returns the plaintext it yields, and whether the client said
/// `close_notify`. Plaintext already buffered (e.g. sent with the handshake) comes out too.
fn absorb(conn: &mut ServerConnection, mut data: &[u8]) -> io::Result<(Vec<u8>, bool)> {
    let mut plain = Vec::new();
    loop {
        let closed = drain_plaintext(conn, &mut plain)?;
        if closed || data.is_empty() {
            return Ok((plain, closed));
        }
        conn.read_tls(&mut data)?;
        conn.process_new_packets().map_err(io::Error::other)?;
    }
}

/// Moves every buffered plaintext byte to `out`; true once the peer has closed cleanly.
fn drain_plaintext(conn: &mut ServerConnection, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0_u8; 4096];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// tiny_http's plaintext in, ciphertext out to the client, until tiny_http closes.
fn backend_to_client(tls: &Mutex<ServerConnection>, server: &TcpStream, client: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0_u8; BUFFER];
    loop {
        let n = (&*server).read(&mut buf)?;
        let mut conn = lock(tls);
        if n == 0 {
            conn.send_close_notify();
            return flush_tls(&mut conn, client);
        }
        conn.writer().write_all(&buf[..n])?;
        flush_tls(&mut conn, client)?;
    }
}

/// Writes every pending TLS record to the client.
fn flush_tls(conn: &mut ServerConnection, client: &TcpStream) -> io::Result<()> {
    let mut client = client;
    while conn.wants_write() {
        conn.write_tls(&mut client)?;
    }
    Ok(())
}

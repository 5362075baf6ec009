//! The emulator's HTTP server on `std::net`: one accept thread that no accept error ends, and one
//! thread per connection (at most [`MAX_CONNECTIONS`]) that reads each request whole before the
//! emulator sees it, so a slow or silent client holds its own thread and nothing else.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::connection::{Connection, Incoming, Refusal, Request, Socket, Transport};
use super::request::RecordedRequest;
use super::wire::Reply;

/// Connections served at once; past it, a new one is answered 503 and closed.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// A TLS handshake must complete within this.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// Accept errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// What serves the requests: the emulated tenant.
pub(crate) trait App: Send + Sync + 'static {
    /// The reply to one complete request; `loopback` says whether the peer is a loopback address.
    fn reply(&self, request: RecordedRequest, loopback: bool) -> Reply;
    /// A reply went out (or a request was refused): `what` is the method and path, printable.
    fn served(&self, what: &str, status: u16, took: Duration);
}

/// A running server. Dropping it stops accepting and closes every open connection.
pub(crate) struct Server {
    port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// What the accept thread and the connection threads share.
struct Shared {
    app: Arc<dyn App>,
    tls: Option<Arc<ServerConfig>>,
    stopping: AtomicBool,
    /// A handle on each open connection's socket, so dropping the server can close them.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// Listens on `127.0.0.1:port` (0: a free port).
pub(crate) fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
}

impl Server {
    /// Serves `app` on `listener`, over TLS with `tls` if given.
    pub fn start(listener: TcpListener, tls: Option<Arc<ServerConfig>>, app: Arc<dyn App>) -> io::Result<Server> {
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            app,
            tls,
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let accept_thread = std::thread::Builder::new()
            .name("entra-graph-emulator-accept".to_owned())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(Server {
            port,
            shared,
            accept_thread: Some(accept_thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the loop sees the flag.
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let _ = TcpStream::connect_timeout(&address, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        for stream in self.shared.connections().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn connections(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a connection; `None` when [`MAX_CONNECTIONS`] are open already.
    fn register(&self, handle: TcpStream) -> Option<u64> {
        let mut open = self.connections();
        if open.len() >= MAX_CONNECTIONS {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, handle);
        Some(id)
    }

    fn unregister(&self, id: u64) {
        self.connections().remove(&id);
    }
}

/// Accepts until the server is dropped. An error taking a connection (no file descriptor or
/// thread left, a connection reset before it was accepted) is logged at most once a second, and
/// the loop goes on.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut last_logged: Option<Instant> = None;
    for accepted in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        if let Err(error) = accepted.and_then(|stream| admit(stream, shared)) {
            if last_logged.is_none_or(|at| at.elapsed() >= ERROR_LOG_EVERY) {
                eprintln!("emulator: cannot accept a connection ({error}); still listening");
                last_logged = Some(Instant::now());
            }
            std::thread::sleep(back_off(&error));
        }
    }
}

/// How long to wait after an accept error: out of descriptors or memory, long enough for
/// connections to end instead of spinning; otherwise barely.
fn back_off(error: &io::Error) -> Duration {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    match error.raw_os_error() {
        Some(EMFILE | ENFILE | ENOBUFS | ENOMEM) => Duration::from_millis(100),
        _ => Duration::from_millis(1),
    }
}

/// Gives a new connection its own thread, or refuses it when the server is full; an error when
/// the connection could not be taken (it is closed).
fn admit(stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let loopback = stream.peer_addr().is_ok_and(|peer| peer.ip().is_loopback());
    // The TLS certificate names loopback only; the admin routes check `loopback` themselves.
    if !loopback && shared.tls.is_some() {
        return Ok(());
    }
    // Without Nagle, a reply leaves at once instead of waiting for the client's delayed ACK.
    stream.set_nodelay(true)?;
    let Some(id) = shared.register(stream.try_clone()?) else {
        refuse_busy(stream, shared.tls.is_some());
        return Ok(());
    };
    let connection = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("entra-graph-emulator-connection".to_owned())
        .spawn(move || {
            serve_connection(Socket::new(stream), &connection, loopback);
            connection.unregister(id);
        });
    if spawned.is_err() {
        shared.unregister(id);
    }
    spawned.map(drop)
}

/// 503 with `Connection: close` on a plain connection past the cap; a TLS one is closed, since
/// answering it would need a handshake on the accept thread.
fn refuse_busy(stream: TcpStream, tls: bool) {
    if !tls {
        use std::io::Write;
        let body = format!(
            r#"{{"error":"the emulator serves {MAX_CONNECTIONS} connections at once; try again when one closes"}}"#
        );
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{body}",
            body.len()
        );
        // A fresh socket's send buffer takes this at once; the timeout only guards the accept thread.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = (&stream).write_all(answer.as_bytes());
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// Serves one connection (after the TLS handshake, if any) until it closes.
fn serve_connection(mut socket: Socket, shared: &Shared, loopback: bool) {
    match &shared.tls {
        None => serve(Connection::new(socket), shared, loopback),
        Some(config) => {
            let Ok(conn) = ServerConnection::new(config.clone()) else {
                return;
            };
            socket.read_by(Instant::now() + HANDSHAKE_TIME);
            socket.write_by(Instant::now() + HANDSHAKE_TIME);
            let mut tls = StreamOwned::new(conn, socket);
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return;
                }
            }
            serve(Connection::new(tls), shared, loopback);
        }
    }
}

/// Answers requests one after another until the client or the server ends the connection.
fn serve<T: Transport>(mut connection: Connection<T>, shared: &Shared, loopback: bool) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let keep_going = match connection.next_request() {
            Incoming::Request(request) => answer(&mut connection, request, shared, loopback),
            Incoming::Refused(refusal) => return refuse(connection, shared, refusal),
            Incoming::Closed => false,
        };
        if !keep_going {
            break;
        }
    }
    connection.close();
}

/// Answers one request (after its latency fault, on this connection's own thread); false when
/// the connection ends after it.
fn answer<T: Transport>(connection: &mut Connection<T>, request: Request, shared: &Shared, loopback: bool) -> bool {
    let started = Instant::now();
    let keep_alive = request.keep_alive;
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let what = summary(&request.method, &request.target);
    let reply = shared.app.reply(request.into_recorded(), loopback);
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    let sent = connection.send(&reply, head_only, !keep_alive);
    shared.app.served(&what, reply.status, started.elapsed());
    sent.is_ok() && keep_alive
}

fn refuse<T: Transport>(mut connection: Connection<T>, shared: &Shared, refusal: Refusal) {
    let _ = connection.send(&refusal.reply(), false, true);
    shared.app.served("(refused)", refusal.status, Duration::ZERO);
    connection.close_after_refusal();
}

/// `METHOD path` for the log line, without the query (which may carry codes or tokens).
fn summary(method: &str, target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    format!("{} {}", formats::printable(method), formats::printable(path))
}

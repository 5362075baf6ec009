//! One HTTP/1.1 connection: reads a whole request (its head through httparse, its body by
//! `Content-Length`) within a deadline before anything else happens, and writes replies with
//! `Content-Length`, kept alive unless the client asks otherwise.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use super::request::RecordedRequest;
use super::wire::Reply;

/// Largest request head (request line and headers); past it, 414 or 431.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest request target; past it, 414.
pub(crate) const MAX_TARGET: usize = 16 * 1024;
/// Largest request body; past it, 413.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Most header fields a request may have; past it, 431.
const MAX_FIELDS: usize = 128;
/// A request must arrive whole this long after its first byte, so a client that drips it is dropped.
pub(crate) const REQUEST_TIME: Duration = Duration::from_secs(10);
/// How long a kept-alive connection waits for its next request: above the longest latency fault
/// (60 s), which a client waits out in silence, and what `--tls` always promised.
pub(crate) const IDLE_TIME: Duration = Duration::from_secs(120);
/// How long writing one reply may take, so a client that stops reading is dropped.
pub(crate) const WRITE_TIME: Duration = Duration::from_secs(30);
/// After a refusal, how long unread input is drained, so the client reads the refusal instead of
/// a reset (closing a socket with unread data sends RST).
const LINGER_TIME: Duration = Duration::from_secs(2);
const READ_CHUNK: usize = 16 * 1024;

/// A TCP connection whose reads and writes end at deadlines: the socket's timeout is set to the
/// time left before each call, so a peer that sends a byte now and then cannot stretch it.
pub(crate) struct Socket {
    stream: TcpStream,
    read_by: Option<Instant>,
    write_by: Option<Instant>,
}

impl Socket {
    pub fn new(stream: TcpStream) -> Socket {
        Socket {
            stream,
            read_by: None,
            write_by: None,
        }
    }

    /// Reads from now on end at `deadline`.
    pub fn read_by(&mut self, deadline: Instant) {
        self.read_by = Some(deadline);
    }

    /// Writes from now on end at `deadline`.
    pub fn write_by(&mut self, deadline: Instant) {
        self.write_by = Some(deadline);
    }

    /// Stops sending, then reads and drops what the client still sends for at most
    /// [`LINGER_TIME`], so the last reply reaches it before the connection closes.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.read_by(Instant::now() + LINGER_TIME);
        let mut sink = [0_u8; READ_CHUNK];
        while matches!(self.read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// Time left before `deadline`, or `TimedOut` once it has passed.
fn time_left(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    let Some(deadline) = deadline else { return Ok(None) };
    let left = deadline.saturating_duration_since(Instant::now());
    match left.is_zero() {
        true => Err(io::ErrorKind::TimedOut.into()),
        false => Ok(Some(left)),
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(time_left(self.read_by)?)?;
        self.stream.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(time_left(self.write_by)?)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A byte stream over a [`Socket`]: the socket itself, or TLS over it.
pub(crate) trait Transport: Read + Write {
    /// The socket underneath, to set its deadlines.
    fn socket(&mut self) -> &mut Socket;
    /// Ends the stream cleanly on the way out (TLS: `close_notify`).
    fn finish(&mut self) {}
}

impl Transport for Socket {
    fn socket(&mut self) -> &mut Socket {
        self
    }
}

impl Transport for rustls::StreamOwned<rustls::ServerConnection, Socket> {
    fn socket(&mut self) -> &mut Socket {
        &mut self.sock
    }

    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// One complete request, as read off the connection (no `Debug`: it may carry secrets).
pub(crate) struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client wants the connection kept open after the answer.
    pub keep_alive: bool,
}

impl Request {
    /// The request as the emulator records and answers it (body text with invalid UTF-8 replaced).
    pub fn into_recorded(self) -> RecordedRequest {
        let body = String::from_utf8_lossy(&self.body).into_owned();
        RecordedRequest::new(&self.method, &self.target, self.headers, body)
    }
}

/// A request refused before the emulator sees it: the status and a one-line reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

impl Refusal {
    /// The refusal as a JSON reply.
    pub fn reply(&self) -> Reply {
        Reply::json(self.status, &serde_json::json!({"error": self.reason}))
    }
}

/// What came next on a connection.
pub(crate) enum Incoming {
    Request(Request),
    Refused(Refusal),
    /// The client closed the connection, or stayed silent past [`IDLE_TIME`].
    Closed,
}

const TIMED_OUT: Refusal = Refusal {
    status: 408,
    reason: "the request did not arrive whole within 10 s of its first byte",
};
const BAD_REQUEST: Refusal = Refusal {
    status: 400,
    reason: "the request head is not HTTP/1.1",
};
const HEAD_TOO_LARGE: Refusal = Refusal {
    status: 431,
    reason: "the request head is larger than 64 KiB or has more than 128 header fields",
};
const TARGET_TOO_LONG: Refusal = Refusal {
    status: 414,
    reason: "the request target is longer than 16 KiB",
};
const CHUNKED: Refusal = Refusal {
    status: 411,
    reason: "the emulator reads bodies by Content-Length only (every client it serves sends one), not Transfer-Encoding",
};
const BAD_LENGTH: Refusal = Refusal {
    status: 400,
    reason: "Content-Length is not one whole number",
};
const BODY_TOO_LARGE: Refusal = Refusal {
    status: 413,
    reason: "the request body is larger than 1 MiB",
};

/// The parts of a request head the connection needs, owned.
struct Head {
    len: usize,
    method: String,
    target: String,
    http_1_1: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The values of every field named `name` (case-insensitive).
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
    }

    /// Whether a comma-separated field named `name` lists `token` (case-insensitive).
    fn lists(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }

    fn keep_alive(&self) -> bool {
        match self.http_1_1 {
            true => !self.lists("Connection", "close"),
            false => self.lists("Connection", "keep-alive"),
        }
    }

    /// The body length `Content-Length` declares (0 without one); every copy must agree.
    fn body_length(&self) -> Result<usize, Refusal> {
        if self.values("Transfer-Encoding").next().is_some() {
            return Err(CHUNKED);
        }
        let mut lengths = self.values("Content-Length").map(|value| {
            let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| value.parse::<u64>().ok()).flatten()
        });
        let Some(first) = lengths.next() else { return Ok(0) };
        let length = first
            .filter(|n| lengths.all(|other| other == Some(*n)))
            .ok_or(BAD_LENGTH)?;
        usize::try_from(length)
            .ok()
            .filter(|n| *n <= MAX_BODY)
            .ok_or(BODY_TOO_LARGE)
    }
}

/// One client connection: the transport and the bytes read past the current request.
pub(crate) struct Connection<T: Transport> {
    transport: T,
    buffer: Vec<u8>,
}

impl<T: Transport> Connection<T> {
    pub fn new(transport: T) -> Self {
        Connection {
            transport,
            buffer: Vec::new(),
        }
    }

    /// Waits up to [`IDLE_TIME`] for a request to start, then reads it whole within [`REQUEST_TIME`].
    pub fn next_request(&mut self) -> Incoming {
        if self.buffer.is_empty() {
            self.transport.socket().read_by(Instant::now() + IDLE_TIME);
            if !matches!(self.fill(), Ok(n) if n > 0) {
                return Incoming::Closed;
            }
        }
        self.transport.socket().read_by(Instant::now() + REQUEST_TIME);
        match self.read_request() {
            Ok(incoming) => incoming,
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                Incoming::Refused(TIMED_OUT)
            }
            Err(_) => Incoming::Closed,
        }
    }

    fn read_request(&mut self) -> io::Result<Incoming> {
        let head = match self.read_head()? {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(Incoming::Closed),
            Err(refusal) => return Ok(Incoming::Refused(refusal)),
        };
        if head.target.len() > MAX_TARGET {
            return Ok(Incoming::Refused(TARGET_TOO_LONG));
        }
        let length = match head.body_length() {
            Ok(length) => length,
            Err(refusal) => return Ok(Incoming::Refused(refusal)),
        };
        if length > 0 && head.http_1_1 && head.lists("Expect", "100-continue") {
            self.write_all_now(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let end = head.len.saturating_add(length);
        while self.buffer.len() < end {
            if self.fill()? == 0 {
                return Ok(Incoming::Closed);
            }
        }
        let rest = self.buffer.split_off(end);
        let body = self.buffer.split_off(head.len);
        self.buffer = rest;
        Ok(Incoming::Request(Request {
            keep_alive: head.keep_alive(),
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
        }))
    }

    /// Reads until the head is complete: `Ok(None)` if the client closed first.
    fn read_head(&mut self) -> io::Result<Result<Option<Head>, Refusal>> {
        let mut scanned = 0;
        loop {
            if ends_head(&self.buffer, scanned) {
                match parse_head(&self.buffer) {
                    Ok(Some(head)) => return Ok(Ok(Some(head))),
                    Ok(None) => {}
                    Err(refusal) => return Ok(Err(refusal)),
                }
            }
            if self.buffer.len() > MAX_HEAD {
                return Ok(Err(too_large(&self.buffer)));
            }
            scanned = self.buffer.len();
            if self.fill()? == 0 {
                return Ok(Ok(None));
            }
        }
    }

    /// Appends what the transport has to the buffer; 0 when the client closed.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0_u8; READ_CHUNK];
        let n = match self.transport.read(&mut chunk) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            other => other?,
        };
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Writes `reply` within [`WRITE_TIME`]; `close` announces that the connection ends after it.
    pub fn send(&mut self, reply: &Reply, head_only: bool, close: bool) -> io::Result<()> {
        let bytes = serialize(reply, head_only, close);
        self.write_all_now(&bytes)
    }

    fn write_all_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.transport.socket().write_by(Instant::now() + WRITE_TIME);
        self.transport.write_all(bytes)?;
        self.transport.flush()
    }

    /// Ends the connection after a refusal: the refusal must reach a client still sending.
    pub fn close_after_refusal(mut self) {
        self.transport.finish();
        self.transport.socket().linger();
    }

    /// Ends the connection after its last reply.
    pub fn close(mut self) {
        self.transport.finish();
    }
}

/// Whether the bytes from `from` on (with the three before it) hold the blank line that ends a
/// head; scanning only new bytes keeps a head sent one byte at a time linear.
fn ends_head(buffer: &[u8], from: usize) -> bool {
    let tail = &buffer[from.saturating_sub(3)..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

/// The head, `Ok(None)` if incomplete, or why it is refused.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, Refusal> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HEAD_TOO_LARGE),
        Err(_) => return Err(BAD_REQUEST),
    };
    if len > MAX_HEAD {
        return Err(too_large(buffer));
    }
    let headers = request
        .headers
        .iter()
        .map(|field| (field.name.to_owned(), String::from_utf8_lossy(field.value).into_owned()))
        .collect();
    Ok(Some(Head {
        len,
        method: request.method.unwrap_or_default().to_owned(),
        target: request.path.unwrap_or_default().to_owned(),
        http_1_1: request.version == Some(1),
        headers,
    }))
}

/// 414 when the request line alone fills the allowed head, 431 otherwise.
fn too_large(buffer: &[u8]) -> Refusal {
    let line_ends = buffer.iter().take(MAX_HEAD).any(|b| *b == b'\n');
    if line_ends { HEAD_TOO_LARGE } else { TARGET_TOO_LONG }
}

/// The reply on the wire: status line, `Date`, `Content-Length` (none for 1xx, 204 and 304, which
/// have no body), `Connection: close` when closing, the reply's own valid headers, the body.
fn serialize(reply: &Reply, head_only: bool, close: bool) -> Vec<u8> {
    let status = http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let bodiless = status.is_informational() || matches!(status.as_u16(), 204 | 304);
    let mut out = Vec::with_capacity(512 + reply.body.len());
    let reason = status.canonical_reason().unwrap_or("");
    let date = httpdate::fmt_http_date(SystemTime::now());
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\nDate: {date}\r\n", status.as_u16()).as_bytes());
    if !bodiless {
        out.extend_from_slice(format!("Content-Length: {}\r\n", reply.body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    for (name, value) in reply.headers.iter().filter(|(name, value)| sendable(name, value)) {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless && !head_only {
        out.extend_from_slice(&reply.body);
    }
    out
}

/// A reply header the connection may send: a valid name and value (no line breaks), and not one
/// of the framing fields the connection writes itself.
fn sendable(name: &str, value: &str) -> bool {
    const FRAMING: [&str; 4] = ["Content-Length", "Transfer-Encoding", "Connection", "Date"];
    let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok() && http::HeaderValue::from_str(value).is_ok();
    valid && !FRAMING.iter().any(|framing| framing.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request `bytes` parse to, read through a loopback socket pair.
    fn incoming(bytes: &[u8]) -> Incoming {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(bytes).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        Connection::new(Socket::new(server)).next_request()
    }

    fn refusal(bytes: &[u8]) -> Option<u16> {
        match incoming(bytes) {
            Incoming::Refused(refusal) => Some(refusal.status),
            _ => None,
        }
    }

    #[test]
    fn whole_requests_are_read() {
        let Incoming::Request(request) =
            incoming(b"POST /t/oauth2/v2.0/token?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcEXTRA")
        else {
            panic!("a request")
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/t/oauth2/v2.0/token?x=1");
        assert_eq!(
            request.headers,
            vec![
                ("Host".to_owned(), "a".to_owned()),
                ("Content-Length".to_owned(), "3".to_owned())
            ]
        );
        assert_eq!(request.body, b"abc");
        assert!(request.keep_alive);
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        #[rustfmt::skip]
        let cases: [(&[u8], bool); 4] = [
            (b"GET / HTTP/1.1\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ];
        for (bytes, expected) in cases {
            let keep = matches!(incoming(bytes), Incoming::Request(r) if r.keep_alive);
            assert_eq!(keep, expected, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn bad_framing_is_refused_with_its_status() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET));
        let many_fields = format!("GET / HTTP/1.1\r\n{}\r\n", "X: 1\r\n".repeat(MAX_FIELDS + 1));
        let large_fields = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            format!("X: {}\r\n", "a".repeat(1000)).repeat(70)
        );
        #[rustfmt::skip]
        let cases: [(&[u8], Option<u16>); 11] = [
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Some(411)),
            (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", Some(413)),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Some(400)),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", Some(400)),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", Some(400)),
            (b"NOT HTTP\r\n\r\n", Some(400)),
            (long_line.as_bytes(), Some(414)),
            (long_target.as_bytes(), Some(414)),
            (many_fields.as_bytes(), Some(431)),
            (large_fields.as_bytes(), Some(431)),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", None),
        ];
        for (bytes, expected) in cases {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
            assert_eq!(refusal(bytes), expected, "{shown}");
        }
    }

    #[test]
    fn a_client_that_closes_mid_request_is_gone() {
        for bytes in [&b""[..], b"GET / HT", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"] {
            assert!(
                matches!(incoming(bytes), Incoming::Closed),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn replies_carry_their_length_and_only_valid_headers() {
        let reply = Reply::text(200, "text/plain", "hello")
            .with_header("X-Ok", "1")
            .with_header("X-Split", "a\r\nInjected: yes")
            .with_header("Content-Length", "999")
            .with_header("Connection", "keep-alive");
        let text = String::from_utf8(serialize(&reply, false, true)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.lines().filter(|l| !l.starts_with("Date: ")).collect();
        assert_eq!(
            lines,
            [
                "HTTP/1.1 200 OK",
                "Content-Length: 5",
                "Connection: close",
                "Content-Type: text/plain",
                "X-Ok: 1"
            ]
        );
        assert_eq!(body, "hello");
        let empty = String::from_utf8(serialize(&Reply::no_content(), false, false)).unwrap();
        assert!(
            empty.starts_with("HTTP/1.1 204 No Content\r\n") && !empty.contains("Content-Length"),
            "{empty}"
        );
        let head_only = String::from_utf8(serialize(&reply, true, false)).unwrap();
        assert!(
            head_only.ends_with("\r\n\r\n") && head_only.contains("Content-Length: 5"),
            "{head_only}"
        );
    }
}

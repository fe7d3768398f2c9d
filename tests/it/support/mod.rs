//! Local SIEM mocks for `detc deploy` tests: no network, no real SIEM.
//!
//! Include from an integration test (`tests/<name>.rs`) with
//!
//! ```ignore
//! mod support;
//! use support::{Fault, kibana::Kibana, sentinel::Sentinel, splunk::Splunk};
//! ```
//!
//! Layout: this file is the generic server core ([`Mock`], [`Request`], [`Response`],
//! [`Fault`]); `splunk.rs`, `sentinel.rs` and `kibana.rs` hold one small vendor mock each.
//! Each vendor mock derefs to [`Mock`], so `splunk.url()`, `splunk.requests()` and
//! `splunk.fail_next(..)` work directly.
//!
//! The server is std-only: one thread accepting on 127.0.0.1:0 and one thread per
//! connection, HTTP/1.1 with `Content-Length` (or chunked) request bodies, and every
//! response closes the connection (`Connection: close`). Every request is logged before
//! any fault or handler runs, so retries are visible in `requests()`.
#![allow(dead_code)]

pub mod kibana;
pub mod repo;
pub mod sentinel;
pub mod splunk;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path exactly as sent (still percent-encoded), without the query.
    pub path: String,
    /// Decoded query pairs, in order (`+` is a space, `%XX` decoded).
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    /// First query value by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Path segments, percent-decoded (`/a/b%20c` -> `["a", "b c"]`).
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| decode(s, false))
            .collect()
    }
    /// The body decoded as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_pairs(&String::from_utf8_lossy(&self.body))
    }
    /// The body parsed as JSON (`Value::Null` when empty or invalid).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A response a handler returns.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
        }
    }
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: vec![],
            body: vec![],
        }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An injected failure, used once.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status instead of the handler; `Retry-After: <secs>` when set.
    /// `body` is sent as-is (JSON content type when it starts with `{`).
    Status {
        code: u16,
        retry_after: Option<u64>,
        body: String,
    },
    /// Sleep this long, then run the handler as usual (to trigger client timeouts).
    Delay(Duration),
    /// Read the request, then close the connection without writing a byte.
    Drop,
}

impl Fault {
    /// `Status` shorthand with an empty body.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            retry_after: None,
            body: String::new(),
        }
    }
    /// 429 with `Retry-After: secs`.
    pub fn throttled(secs: u64) -> Fault {
        Fault::Status {
            code: 429,
            retry_after: Some(secs),
            body: String::new(),
        }
    }
}

/// What goes back on the wire for one request.
pub enum Wire {
    /// Written as usual, framed by `Content-Length`.
    Response(Response),
    /// These bytes exactly (a broken status line, lying headers, a truncated body), then
    /// the connection closes.
    Raw(Vec<u8>),
}

type Handler = Box<dyn Fn(&Request) -> Response + Send + Sync>;
type Predicate = Box<dyn Fn(&Request) -> bool + Send>;
type Mutator = Box<dyn FnMut(&Request, Response) -> Wire + Send>;

struct Inner {
    log: Mutex<Vec<Request>>,
    next: Mutex<VecDeque<Fault>>,
    when: Mutex<Vec<(Predicate, Fault)>>,
    mutator: Mutex<Option<Mutator>>,
    stop: AtomicBool,
}

/// A running HTTP server on 127.0.0.1 with a request log and fault injection.
/// Stops accepting when dropped.
pub struct Mock {
    url: String,
    inner: Arc<Inner>,
}

impl Mock {
    /// Binds an ephemeral port, then builds the handler from the base URL (vendors put
    /// absolute URLs in bodies, e.g. ARM's `nextLink`) and serves it.
    pub fn serve(make: impl FnOnce(&str) -> Handler) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handler: Arc<Handler> = Arc::new(make(&url));
        let inner = Arc::new(Inner {
            log: Mutex::new(vec![]),
            next: Mutex::new(VecDeque::new()),
            when: Mutex::new(vec![]),
            mutator: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let acc = inner.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if acc.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (inner, handler) = (acc.clone(), handler.clone());
                thread::spawn(move || {
                    let _ = serve_one(stream, &inner, &handler);
                });
            }
        });
        Mock { url, inner }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }
    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.log.lock().unwrap().clone()
    }
    /// Requests with this method whose path (as sent) ends with `suffix`.
    pub fn requests_to(&self, method: &str, suffix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .collect()
    }
    pub fn clear_requests(&self) {
        self.inner.log.lock().unwrap().clear();
    }
    /// Queue a fault for the next request(s), FIFO, whatever they are.
    pub fn fail_next(&self, fault: Fault) {
        self.inner.next.lock().unwrap().push_back(fault);
    }
    /// A fault for the first request matching `pred`, used once. Checked before the
    /// `fail_next` queue; several may be registered (first match wins).
    pub fn fail_when(&self, pred: impl Fn(&Request) -> bool + Send + 'static, fault: Fault) {
        self.inner
            .when
            .lock()
            .unwrap()
            .push((Box::new(pred), fault));
    }
    /// Pass every response through `f` (after faults and the handler) until
    /// [`Mock::stop_mutating`]: a hostile server, for the fuzzer.
    pub fn mutate_responses(&self, f: impl FnMut(&Request, Response) -> Wire + Send + 'static) {
        *self.inner.mutator.lock().unwrap() = Some(Box::new(f));
    }
    pub fn stop_mutating(&self) {
        *self.inner.mutator.lock().unwrap() = None;
    }
    /// Faults not yet used (both kinds).
    pub fn pending_faults(&self) -> usize {
        self.inner.next.lock().unwrap().len() + self.inner.when.lock().unwrap().len()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve_one(stream: TcpStream, inner: &Inner, handler: &Handler) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut rd = BufReader::new(stream);
    let Some(req) = read_request(&mut rd, &mut out)? else {
        return Ok(());
    };
    inner.log.lock().unwrap().push(req.clone());
    let fault = {
        let mut when = inner.when.lock().unwrap();
        match when.iter().position(|(p, _)| p(&req)) {
            Some(i) => Some(when.remove(i).1),
            None => inner.next.lock().unwrap().pop_front(),
        }
    };
    let resp = match fault {
        Some(Fault::Drop) => return Ok(()), // dropping both halves closes the socket
        Some(Fault::Status {
            code,
            retry_after,
            body,
        }) => {
            let ctype = if body.starts_with('{') {
                "application/json"
            } else {
                "text/plain"
            };
            let mut r = Response {
                status: code,
                headers: vec![("Content-Type".into(), ctype.into())],
                body: body.into_bytes(),
            };
            if let Some(s) = retry_after {
                r = r.with_header("Retry-After", &s.to_string());
            }
            r
        }
        Some(Fault::Delay(d)) => {
            thread::sleep(d);
            handler(&req)
        }
        None => handler(&req),
    };
    let resp = match inner.mutator.lock().unwrap().as_mut() {
        None => resp,
        Some(mutate) => match mutate(&req, resp) {
            Wire::Response(r) => r,
            Wire::Raw(bytes) => {
                out.write_all(&bytes)?;
                return out.flush();
            }
        },
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    out.write_all(head.as_bytes())?;
    out.write_all(&resp.body)?;
    out.flush()
}

fn read_request(
    rd: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if rd.read_line(&mut line)? == 0 {
        return Ok(None); // e.g. the wake-up connect in Drop
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("/").to_string(),
    );
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if get("expect").as_deref() == Some("100-continue") {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![];
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            rd.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2]; // data + CRLF
            rd.read_exact(&mut chunk)?;
            if n == 0 {
                break; // (trailers are not supported)
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        rd.read_exact(&mut body)?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_pairs(q)),
        None => (target, vec![]),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}

/// Percent-decode; `plus` turns `+` into a space (query strings and forms).
pub fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode everything but unreserved characters (RFC 3986).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// `a=1&b=x+y` -> `[("a","1"),("b","x y")]`.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Deterministic server-side clock and ids, so tests can compare whole bodies.
pub(crate) struct Clock(u64);

impl Clock {
    pub fn new() -> Clock {
        Clock(0)
    }
    /// Next tick as RFC 3339 UTC, starting at 2024-01-01T00:00:00.000Z, one second apart.
    pub fn now(&mut self) -> String {
        self.0 += 1;
        let secs = 1_704_067_200 + self.0 - 1;
        let rem = secs % 86_400;
        format!(
            "{}T{:02}:{:02}:{:02}.000Z",
            detc::eval::date_of(secs as i64),
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
    /// A UUID-shaped id unique per mock (`00000000-0000-4000-8000-00000000000N`).
    pub fn uuid(&mut self) -> String {
        self.0 += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.0)
    }
}

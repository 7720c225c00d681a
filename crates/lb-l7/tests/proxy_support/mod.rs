//! Shared helpers of the HTTP proxy loopback tests: a scriptable HTTP/1.1 test backend (on
//! lb-l7's own codec), a proxy launcher, a raw HTTP client, a `curl` wrapper and a streaming
//! checksum. Everything listens on 127.0.0.1 port 0 and every wait is bounded.
//!
//! # The test backend
//!
//! One server whose behaviour is chosen by the request path, so a single backend serves every
//! scenario whatever the route prefix in front of it (the keyword may be any segment):
//!
//! | path contains      | response                                                         |
//! |--------------------|------------------------------------------------------------------|
//! | (nothing special)  | 200, body = the request head as received (echo)                  |
//! | `bytes/N`          | 200, `Content-Length: N`, N pattern bytes                        |
//! | `chunked/N`        | 200, chunked, N pattern bytes in chunks of varied sizes          |
//! | `upload`           | 200, body = `len=N fnv=H` of the request body                     |
//! | `ws`               | 101 (with `Upgrade`), a greeting, then echoes bytes until EOF    |
//! | `hang`             | never answers (until the backend is killed)                      |
//! | `cut`              | head with `Content-Length: 1000`, 10 bytes, then closes          |
//! | `slow`             | waits for [`TestBackend::release`], then echoes                  |
//! | `evil`             | a response with both Content-Length and Transfer-Encoding        |
//! | `untilclose/N`     | 200 without framing fields: N bytes, then close                  |
//! | `early`            | 401 with `Connection: close` before reading the body, then closes |
//! | `stray`            | `Content-Length: 5` and 10 bytes, then silence (out of step)     |
//!
//! Every response carries `X-Backend: <name>` and `X-Body-Sum: len=N fnv=H` (the request body's
//! checksum). The backend counts the connections it accepted and the requests it served, and
//! records every request target it received.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use lb_core::{Backend, Balancer, Policy};
use lb_l4::server::DrainReport;
use lb_l7::Limits;
use lb_l7::body::BodyReader;
use lb_l7::chunked::Decoded;
use lb_l7::head::{Framing, Method, Parsed, parse_request, parse_response};
use lb_l7::proxy::{HttpProxy, HttpProxyConfig};
use lb_l7::route::{Cluster, RouteAction, RouteSpec, RouteTable};
use lb_l7::router::{PathMatch, RouteMatch, Router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

/// The bound on any single wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `f` for at most [`LIMIT`]; panics naming `what` otherwise.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Checksums and the pattern bodies.
// ---------------------------------------------------------------------------------------------

/// Length and FNV-1a 64 of a byte stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sum {
    pub len: u64,
    pub fnv: u64,
}

impl fmt::Display for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "len={} fnv={:016x}", self.len, self.fnv)
    }
}

impl fmt::Debug for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// FNV-1a 64 over a stream of pieces.
#[derive(Clone, Copy, Debug)]
pub struct Hasher {
    len: u64,
    fnv: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Self {
            len: 0,
            fnv: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        let mut h = self.fnv;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.fnv = h;
        self.len += data.len() as u64;
    }

    pub fn sum(&self) -> Sum {
        Sum {
            len: self.len,
            fnv: self.fnv,
        }
    }
}

pub fn sum_of(data: &[u8]) -> Sum {
    let mut h = Hasher::default();
    h.update(data);
    h.sum()
}

/// Fills `out` with the pattern bytes at stream positions `offset..`: not periodic, so a
/// reordered, repeated or dropped block changes the checksum.
pub fn pattern_fill(offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let x = (offset + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        *b = (x >> 56) as u8;
    }
}

/// The checksum of the first `n` pattern bytes.
pub fn pattern_sum(n: u64) -> Sum {
    let mut h = Hasher::default();
    let mut block = vec![0_u8; 64 * 1024];
    let mut off = 0;
    while off < n {
        let len = (n - off).min(block.len() as u64) as usize;
        pattern_fill(off, &mut block[..len]);
        h.update(&block[..len]);
        off += len as u64;
    }
    h.sum()
}

/// A fresh path under the cargo test temp dir.
pub fn tmp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lb-l7-proxy-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}-{name}", std::process::id()))
}

/// Writes `n` pattern bytes to a new file and returns its path and checksum.
pub fn pattern_file(name: &str, n: u64) -> (PathBuf, Sum) {
    use std::io::Write;
    let path = tmp_path(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut h = Hasher::default();
    let mut block = vec![0_u8; 64 * 1024];
    let mut off = 0;
    while off < n {
        let len = (n - off).min(block.len() as u64) as usize;
        pattern_fill(off, &mut block[..len]);
        h.update(&block[..len]);
        f.write_all(&block[..len]).expect("write");
        off += len as u64;
    }
    f.flush().expect("flush");
    (path, h.sum())
}

/// The checksum of a file's content.
pub fn file_sum(path: &std::path::Path) -> Sum {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = Hasher::default();
    let mut block = vec![0_u8; 256 * 1024];
    loop {
        let n = f.read(&mut block).expect("read");
        if n == 0 {
            return h.sum();
        }
        h.update(&block[..n]);
    }
}

// ---------------------------------------------------------------------------------------------
// The test backend.
// ---------------------------------------------------------------------------------------------

/// Per-backend behaviour on top of the per-path actions.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendOptions {
    /// Close every connection right after its first response, although that response said
    /// `Connection: keep-alive` (a backend whose keep-alive timeout just fired).
    pub close_after_response: bool,
    /// Serve one request per connection; on a connection's second request, read it and close
    /// without answering (the keep-alive race: the backend closes as a reused connection's
    /// request arrives).
    pub drop_second_request: bool,
    /// Answer every request with this status (and an empty body), whatever its path.
    pub always_status: Option<u16>,
}

struct Shared {
    name: String,
    options: BackendOptions,
    accepted: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
    targets: Mutex<Vec<String>>,
    /// Every request head read, answered or not (`drop_second_request` drops some unanswered).
    received: Mutex<Vec<String>>,
    /// Request bodies read to their end: (target, checksum).
    bodies: Mutex<Vec<(String, Sum)>>,
    arrivals: watch::Sender<usize>,
    /// Connections ended (closed by either side).
    closed: watch::Sender<usize>,
    gate: Semaphore,
}

/// A scriptable HTTP/1.1 backend on 127.0.0.1 (see the module documentation).
pub struct TestBackend {
    pub name: String,
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Responses completed.
    pub served: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    kill: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl TestBackend {
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, BackendOptions::default()).await
    }

    pub async fn start_with(name: &str, options: BackendOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            options,
            accepted: Arc::new(AtomicUsize::new(0)),
            served: Arc::new(AtomicUsize::new(0)),
            targets: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            bodies: Mutex::new(Vec::new()),
            arrivals: watch::Sender::new(0),
            closed: watch::Sender::new(0),
            gate: Semaphore::new(0),
        });
        let (kill, mut killed) = oneshot::channel::<()>();
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut killed => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            s.accepted.fetch_add(1, Ordering::SeqCst);
                            let _ = stream.set_nodelay(true);
                            let s = Arc::clone(&s);
                            conns.spawn(async move {
                                serve_conn(stream, Arc::clone(&s)).await;
                                s.closed.send_modify(|n| *n += 1);
                            });
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            // Stop listening first (connects are refused from here), then close every
            // connection (aborted tasks drop their streams).
            drop(listener);
            conns.shutdown().await;
        });
        Self {
            name: name.to_owned(),
            addr,
            accepted: Arc::clone(&shared.accepted),
            served: Arc::clone(&shared.served),
            shared,
            kill: Some(kill),
            task: Some(task),
        }
    }

    /// This backend as lb-core sees it: named, so its id is stable across proxies.
    pub fn backend(&self) -> Backend {
        Backend::named(&self.name, self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// The served count once it reaches `n`, or as it is after 5 s: the backend counts a
    /// request after writing its response, so a client can read the response first.
    pub async fn served_reaching(&self, n: usize) -> usize {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while self.served() < n && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.served()
    }

    /// Every request target received, in order.
    pub fn targets(&self) -> Vec<String> {
        self.shared.targets.lock().expect("lock").clone()
    }

    /// Every request target read, including those read and dropped unanswered
    /// (`drop_second_request`).
    pub fn received(&self) -> Vec<String> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Request bodies read to their end, with their target (bodiless requests included).
    pub fn bodies(&self) -> Vec<(String, Sum)> {
        self.shared.bodies.lock().expect("lock").clone()
    }

    /// Request heads received so far (answered or not).
    pub fn arrivals(&self) -> usize {
        *self.shared.arrivals.borrow()
    }

    /// Waits until at least `n` request heads have arrived.
    pub async fn wait_arrivals(&self, n: usize) {
        let mut rx = self.shared.arrivals.subscribe();
        within("backend arrivals", rx.wait_for(|&a| a >= n))
            .await
            .expect("backend alive");
    }

    /// Waits until at least `n` of its connections have ended.
    pub async fn wait_closed(&self, n: usize) {
        let mut rx = self.shared.closed.subscribe();
        within("backend connections to close", rx.wait_for(|&c| c >= n))
            .await
            .expect("backend alive");
    }

    /// Lets `n` held `slow` requests answer.
    pub fn release(&self, n: usize) {
        self.shared.gate.add_permits(n);
    }

    /// Stops listening (connects are refused from now on) and closes every open connection;
    /// returns once both are done.
    pub async fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(task) = self.task.take() {
            within("backend kill", task).await.expect("backend task");
        }
    }
}

/// What a parsed request told the backend.
struct Received {
    target: String,
    head: Vec<u8>,
    framing: Framing,
    keep_alive: bool,
    upgrade: bool,
    /// A HEAD request: the response has no body.
    head_only: bool,
}

enum Action {
    Echo,
    Bytes(u64),
    Chunked(u64),
    Upload,
    Ws,
    Hang,
    Cut,
    Slow,
    Evil,
    UntilClose(u64),
    Stray,
    Early,
}

fn action(path: &str) -> Action {
    let segs: Vec<&str> = path.split('/').collect();
    let arg = |i: usize| {
        segs.get(i + 1)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (i, s) in segs.iter().enumerate() {
        match *s {
            "bytes" => return Action::Bytes(arg(i)),
            "chunked" => return Action::Chunked(arg(i)),
            "upload" => return Action::Upload,
            "ws" => return Action::Ws,
            "hang" => return Action::Hang,
            "cut" => return Action::Cut,
            "slow" => return Action::Slow,
            "evil" => return Action::Evil,
            "untilclose" => return Action::UntilClose(arg(i)),
            "stray" => return Action::Stray,
            "early" => return Action::Early,
            _ => {}
        }
    }
    Action::Echo
}

async fn serve_conn(mut s: TcpStream, shared: Arc<Shared>) {
    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut count = 0_usize;
    loop {
        // A request head.
        let (len, req) = loop {
            if !buf.is_empty() {
                match parse_request(&buf, &limits) {
                    Ok(Parsed::Complete(head, len)) => {
                        let req = Received {
                            target: String::from_utf8_lossy(head.target()).into_owned(),
                            head: buf[..len].to_vec(),
                            framing: head.framing(),
                            keep_alive: head.keep_alive(),
                            upgrade: head.upgrade().is_some(),
                            head_only: head.method() == Method::Head,
                        };
                        break (len, req);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => {
                        let body = format!("backend {}: bad request: {e}\n", shared.name);
                        let _ = s
                            .write_all(
                                format!(
                                    "HTTP/1.1 400 Bad Request\r\nX-Backend: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                    shared.name,
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .await;
                        return;
                    }
                }
            }
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        buf.advance(len);
        shared
            .received
            .lock()
            .expect("lock")
            .push(req.target.clone());
        if shared.options.drop_second_request && count >= 1 {
            // Read it, then close without a word.
            return;
        }
        count += 1;
        shared
            .targets
            .lock()
            .expect("lock")
            .push(req.target.clone());
        shared.arrivals.send_modify(|n| *n += 1);

        let path = req.target.split('?').next().unwrap_or("").to_owned();
        let action = action(&path);
        if matches!(action, Action::Ws) && req.upgrade {
            tunnel_echo(s, buf, &shared).await;
            return;
        }
        if matches!(action, Action::Early) {
            // A final response before the body (an upload refused at its head), then close
            // without reading the body.
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nX-Backend: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        shared.name
                    )
                    .as_bytes(),
                )
                .await;
            shared.served.fetch_add(1, Ordering::SeqCst);
            return;
        }
        // The request body, whatever its framing, checksummed.
        let Some(body) = read_body(&mut s, &mut buf, req.framing, &limits).await else {
            return;
        };
        shared
            .bodies
            .lock()
            .expect("lock")
            .push((req.target.clone(), body));
        let keep = req.keep_alive && !shared.options.close_after_response;
        let conn_field = if shared.options.close_after_response {
            // It says keep-alive, and closes anyway.
            "Connection: keep-alive\r\n"
        } else if req.keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let common = format!(
            "X-Backend: {}\r\nX-Body-Sum: {body}\r\n{conn_field}",
            shared.name
        );
        if let Some(status) = shared.options.always_status {
            let ok = s
                .write_all(
                    format!("HTTP/1.1 {status} Status\r\n{common}Content-Length: 0\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .is_ok();
            if !ok {
                return;
            }
            shared.served.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let ok = match action {
            Action::Echo | Action::Ws => {
                send_fixed(&mut s, &common, &req.head, req.head_only).await
            }
            Action::Upload => {
                send_fixed(&mut s, &common, body.to_string().as_bytes(), req.head_only).await
            }
            Action::Bytes(n) => send_pattern(&mut s, &common, n, false, req.head_only).await,
            Action::Chunked(n) => send_pattern(&mut s, &common, n, true, req.head_only).await,
            Action::UntilClose(n) => {
                // No Content-Length, no Transfer-Encoding: the body ends when the connection
                // does.
                let head = format!("HTTP/1.1 200 OK\r\nX-Backend: {}\r\n\r\n", shared.name);
                let mut out = head.into_bytes();
                let start = out.len();
                out.resize(start + n as usize, 0);
                pattern_fill(0, &mut out[start..]);
                let _ = s.write_all(&out).await;
                shared.served.fetch_add(1, Ordering::SeqCst);
                let _ = s.shutdown().await;
                return;
            }
            Action::Stray => {
                // Five bytes announced, ten sent: the connection is out of step afterwards.
                let ok = s
                    .write_all(
                        format!("HTTP/1.1 200 OK\r\n{common}Content-Length: 5\r\n\r\nhelloEXTRA")
                            .as_bytes(),
                    )
                    .await
                    .is_ok();
                if ok {
                    shared.served.fetch_add(1, Ordering::SeqCst);
                }
                // Stays open (keep-alive), out of step.
                std::future::pending::<()>().await;
                return;
            }
            Action::Early => unreachable!("answered above"),
            Action::Hang => {
                std::future::pending::<()>().await;
                false
            }
            Action::Cut => {
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\n{common}Content-Length: 1000\r\n\r\n0123456789"
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = s.flush().await;
                return;
            }
            Action::Evil => {
                // Content-Length and Transfer-Encoding together: response smuggling.
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\n{common}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nevil!\n"
                        )
                        .as_bytes(),
                    )
                    .await;
                return;
            }
            Action::Slow => {
                match shared.gate.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
                send_fixed(&mut s, &common, &req.head, req.head_only).await
            }
        };
        if !ok {
            return;
        }
        shared.served.fetch_add(1, Ordering::SeqCst);
        if !keep {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// Reads a request body of `framing` (from `buf`, then the socket), returning its checksum
/// (of the decoded data for chunked), or `None` if the connection ended first.
async fn read_body(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    framing: Framing,
    limits: &Limits,
) -> Option<Sum> {
    let mut reader = BodyReader::new(framing, limits);
    let mut h = Hasher::default();
    loop {
        loop {
            match reader.decode(buf) {
                Ok((n, Decoded::Data(d))) => {
                    h.update(d);
                    buf.advance(n);
                }
                Ok((n, Decoded::Trailers(_))) => buf.advance(n),
                Ok((n, Decoded::NeedMore)) => {
                    buf.advance(n);
                    break;
                }
                Ok((n, Decoded::Done)) => {
                    buf.advance(n);
                    return Some(h.sum());
                }
                Err(_) => return None,
            }
        }
        match s.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send_fixed(s: &mut TcpStream, common: &str, body: &[u8], head_only: bool) -> bool {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    s.write_all(&out).await.is_ok()
}

/// Chunk sizes cycled through for chunked bodies: tiny, odd and large, so chunk boundaries land
/// everywhere relative to the proxy's buffers.
const CHUNK_SIZES: [usize; 6] = [1, 7, 4096, 65_536, 12_345, 30_000];

async fn send_pattern(
    s: &mut TcpStream,
    common: &str,
    n: u64,
    chunked: bool,
    head_only: bool,
) -> bool {
    let head = if chunked {
        format!("HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n")
    } else {
        format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {n}\r\n\r\n")
    };
    if s.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    if head_only {
        return true;
    }
    let mut block = vec![0_u8; 65_536];
    let mut out = Vec::with_capacity(65_536 + 32);
    let mut off = 0_u64;
    let mut k = 0;
    while off < n {
        let size = if chunked {
            CHUNK_SIZES[k % CHUNK_SIZES.len()]
        } else {
            block.len()
        };
        k += 1;
        let len = (n - off).min(size as u64) as usize;
        pattern_fill(off, &mut block[..len]);
        out.clear();
        if chunked {
            out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
            out.extend_from_slice(&block[..len]);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(&block[..len]);
        }
        if s.write_all(&out).await.is_err() {
            return false;
        }
        off += len as u64;
    }
    if chunked && s.write_all(b"0\r\n\r\n").await.is_err() {
        return false;
    }
    true
}

/// `101`, a greeting in the same write, then an echo of everything until EOF.
async fn tunnel_echo(mut s: TcpStream, mut buf: BytesMut, shared: &Shared) {
    let greeting = format!("hello from {}\n", shared.name);
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Backend: {}\r\n\r\n{greeting}",
        shared.name
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    shared.served.fetch_add(1, Ordering::SeqCst);
    // Bytes that came with the request head belong to the new protocol.
    if !buf.is_empty() && s.write_all(&buf).await.is_err() {
        return;
    }
    buf.clear();
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown().await;
}

/// An address on 127.0.0.1 where nothing listens (bound, then closed): connects are refused.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

// ---------------------------------------------------------------------------------------------
// The proxy.
// ---------------------------------------------------------------------------------------------

/// A proxy serving on 127.0.0.1:0 in its own task.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub proxy: Arc<HttpProxy>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<DrainReport>>,
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(task) = &self.served {
            task.abort();
        }
    }
}

impl RunningProxy {
    /// Completes the shutdown future given to `serve`: the drain starts.
    pub fn start_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `serve` to return its drain report.
    pub async fn join(&mut self) -> DrainReport {
        let task = self.served.take().expect("joined once");
        within("serve to return", task).await.expect("serve task")
    }

    /// Starts the drain and waits for it.
    pub async fn shutdown(mut self) -> DrainReport {
        self.start_shutdown();
        self.join().await
    }
}

/// Starts `HttpProxy::new(router, config)` on a fresh port.
pub async fn start_proxy(router: Router<RouteAction>, config: HttpProxyConfig) -> RunningProxy {
    let proxy = Arc::new(HttpProxy::new(router, config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(Arc::clone(&proxy).serve(listener, async move {
        let _ = stopped.await;
    }));
    RunningProxy {
        addr,
        proxy,
        stop: Some(stop),
        served: Some(served),
    }
}

/// A cluster over `backends` (named) with the `policy` algorithm.
pub fn cluster(name: &str, backends: Vec<Backend>, policy: &str) -> Cluster {
    Cluster::new(
        name,
        Balancer::new(policy.parse::<Policy>().expect("policy"), backends).expect("balancer"),
    )
}

/// A segment-prefix path match.
pub fn prefix(p: &str) -> RouteMatch {
    RouteMatch::new().with_path(PathMatch::prefix(p))
}

/// A router whose default route sends everything to one round-robin cluster, with the route
/// spec adjusted by `tweak`.
pub fn default_router(
    backends: Vec<Backend>,
    tweak: impl FnOnce(RouteSpec) -> RouteSpec,
) -> Router<RouteAction> {
    RouteTable::new()
        .cluster(cluster("c", backends, "round-robin"))
        .default_route(tweak(RouteSpec::new("default", RouteMatch::new(), "c")))
        .build()
        .expect("valid route table")
}

/// A proxy in front of `backends` (default route, round robin, default settings).
pub async fn proxy_for(backends: &[&TestBackend]) -> RunningProxy {
    let router = default_router(backends.iter().map(|b| b.backend()).collect(), |s| s);
    start_proxy(router, HttpProxyConfig::default()).await
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.
// ---------------------------------------------------------------------------------------------

/// A response as the client read it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The head as received (status line and fields).
    pub head: String,
    pub headers: Vec<(String, String)>,
    /// Statuses of interim (1xx other than 101) responses read before this one.
    pub interim: Vec<u16>,
    /// The (de-chunked) body, up to [`KEEP_BODY`] bytes.
    pub body: Vec<u8>,
    /// Length and checksum of the whole (de-chunked) body.
    pub sum: Sum,
}

/// Bodies longer than this are only checksummed.
pub const KEEP_BODY: usize = 1 << 20;

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `X-Backend`.
    pub fn backend(&self) -> &str {
        self.header("x-backend").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the response says `Connection: close`.
    pub fn says_close(&self) -> bool {
        self.headers_named("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Why no complete response could be read.
#[derive(Debug)]
pub struct Cut {
    /// The status, if the head was read.
    pub status: Option<u16>,
    /// Body bytes read before the end.
    pub body_len: u64,
    /// The error that ended the read (`None`: a clean EOF).
    pub error: Option<io::ErrorKind>,
    pub raw_head: String,
}

/// The end of a [`Client::read_to_end`]: every byte, and how it ended.
#[derive(Debug)]
pub struct Tail {
    pub bytes: Vec<u8>,
    pub error: Option<io::ErrorKind>,
}

pub struct Client {
    pub stream: TcpStream,
    pub buf: BytesMut,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect to the proxy");
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        within("write", self.stream.write_all(bytes))
            .await
            .expect("write to the proxy");
    }

    /// Writes, reporting failure instead of panicking.
    pub async fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        within("write", self.stream.write_all(bytes)).await
    }

    /// A GET on a keep-alive connection, and its response.
    pub async fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test.local\r\n\r\n").as_bytes())
            .await;
        self.response().await
    }

    /// The next response (to a GET); panics if the connection ends first.
    pub async fn response(&mut self) -> Response {
        self.response_to(Method::Get).await
    }

    pub async fn response_to(&mut self, method: Method) -> Response {
        match self.try_response_to(method).await {
            Ok(r) => r,
            Err(cut) => panic!("no complete response: {cut:?}"),
        }
    }

    pub async fn try_response(&mut self) -> Result<Response, Cut> {
        self.try_response_to(Method::Get).await
    }

    /// The next response, or how the connection ended before one was complete (bounded by
    /// [`LIMIT`]; a timeout panics).
    pub async fn try_response_to(&mut self, method: Method) -> Result<Response, Cut> {
        within("a response", self.read_response(method)).await
    }

    /// The next response, allowing `limit` for all of it (large bodies).
    pub async fn response_within(&mut self, method: Method, limit: Duration) -> Response {
        match timeout(limit, self.read_response(method)).await {
            Ok(Ok(r)) => r,
            Ok(Err(cut)) => panic!("no complete response: {cut:?}"),
            Err(_) => panic!("no complete response within {limit:?}"),
        }
    }

    async fn fill(&mut self) -> Result<(), Option<io::ErrorKind>> {
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(None),
            Ok(_) => Ok(()),
            Err(e) => Err(Some(e.kind())),
        }
    }

    async fn read_response(&mut self, method: Method) -> Result<Response, Cut> {
        let limits = Limits::default();
        let mut interim = Vec::new();
        loop {
            let parsed = if self.buf.is_empty() {
                None
            } else {
                match parse_response(&self.buf, method, &limits) {
                    Ok(Parsed::Complete(head, len)) => {
                        let headers = head
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    String::from_utf8_lossy(h.name).into_owned(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect::<Vec<_>>();
                        Some((
                            head.status(),
                            head.framing(),
                            head.is_informational(),
                            headers,
                            String::from_utf8_lossy(&self.buf[..len]).into_owned(),
                            len,
                        ))
                    }
                    Ok(Parsed::Partial) => None,
                    Err(e) => panic!(
                        "invalid response ({e}): {:?}",
                        String::from_utf8_lossy(&self.buf[..self.buf.len().min(512)])
                    ),
                }
            };
            let Some((status, framing, informational, headers, raw_head, len)) = parsed else {
                if let Err(error) = self.fill().await {
                    return Err(Cut {
                        status: None,
                        body_len: 0,
                        error,
                        raw_head: String::from_utf8_lossy(&self.buf).into_owned(),
                    });
                }
                continue;
            };
            self.buf.advance(len);
            if informational && status != 101 {
                interim.push(status);
                continue;
            }
            let mut body = Vec::new();
            let mut h = Hasher::default();
            if status != 101 {
                let mut reader = BodyReader::new(framing, &limits);
                'body: loop {
                    loop {
                        match reader.decode(&self.buf) {
                            Ok((n, Decoded::Data(d))) => {
                                h.update(d);
                                if body.len() < KEEP_BODY {
                                    let room = KEEP_BODY - body.len();
                                    body.extend_from_slice(&d[..d.len().min(room)]);
                                }
                                self.buf.advance(n);
                            }
                            Ok((n, Decoded::Trailers(_))) => self.buf.advance(n),
                            Ok((n, Decoded::NeedMore)) => {
                                self.buf.advance(n);
                                break;
                            }
                            Ok((n, Decoded::Done)) => {
                                self.buf.advance(n);
                                break 'body;
                            }
                            Err(e) => panic!("invalid response body: {e}"),
                        }
                    }
                    if let Err(error) = self.fill().await {
                        if error.is_none() && reader.finish().is_ok() {
                            break 'body;
                        }
                        return Err(Cut {
                            status: Some(status),
                            body_len: h.sum().len,
                            error,
                            raw_head,
                        });
                    }
                }
            }
            return Ok(Response {
                status,
                head: raw_head,
                headers,
                interim,
                body,
                sum: h.sum(),
            });
        }
    }

    /// Reads until EOF or an error (bounded by [`LIMIT`]).
    pub async fn read_to_end(&mut self) -> Tail {
        let mut bytes = self.buf.split().to_vec();
        let mut chunk = vec![0_u8; 64 * 1024];
        let error = within("EOF", async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) => return None,
                    Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                    Err(e) => return Some(e.kind()),
                }
            }
        })
        .await;
        Tail { bytes, error }
    }

    /// Asserts that the proxy closed the connection with nothing more to say.
    pub async fn assert_closed(&mut self, context: &str) {
        let tail = self.read_to_end().await;
        assert!(
            tail.bytes.is_empty(),
            "{context}: expected the connection closed, got {} more bytes: {:?}",
            tail.bytes.len(),
            String::from_utf8_lossy(&tail.bytes[..tail.bytes.len().min(300)])
        );
    }

    /// Reads exactly `n` bytes (after any buffered ones).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        within("read_exact", async {
            while self.buf.len() < n {
                if let Err(e) = self.fill().await {
                    panic!(
                        "connection ended ({e:?}) after {} of {n} bytes",
                        self.buf.len()
                    );
                }
            }
        })
        .await;
        self.buf.split_to(n).to_vec()
    }
}

/// One request on a fresh connection: `raw` written at once, the response read.
pub async fn one_shot(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut c = Client::connect(addr).await;
    c.send(raw).await;
    c.response().await
}

// ---------------------------------------------------------------------------------------------
// curl.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct CurlOut {
    /// `%{http_code}` (0 when there was no response).
    pub status: u16,
    /// curl's exit code.
    pub exit: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl CurlOut {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `curl -sS --noproxy '*' --max-time 30 ARGS` on a blocking thread; the status comes
/// from `-w '%{http_code}'` written to stderr, so stdout is the body alone.
pub async fn curl<I, S>(args: I) -> CurlOut
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let shown = args.join(" ");
    let out = tokio::time::timeout(
        Duration::from_secs(40),
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-sS", "--noproxy", "*", "--max-time", "30"])
                .args(["-w", "%{stderr}\nCURL_HTTP_CODE=%{http_code}\n"])
                .args(&args)
                .env_remove("CURL_HOME")
                .output()
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("curl {shown}: timed out"))
    .expect("curl thread")
    .unwrap_or_else(|e| panic!("curl {shown}: cannot run curl: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("CURL_HTTP_CODE="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    CurlOut {
        status,
        exit: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr,
    }
}

/// `http://ADDR{path}`.
pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

//! Upstream TLS (re-encryption): a plain HTTP client → lb-l7's proxy → TLS → an HTTPS backend
//! (lb-tls's terminator), with the CA bundle and server name from [`UpstreamTls`]; and the
//! upstream pool's view of TLS connections (reuse, stale detection).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lb_core::{Backend, BackendId, Balancer, Policy};
use lb_l7::proxy::{HttpProxy, HttpProxyConfig, Pool, PoolConfig, PoolKey, Upstream};
use lb_l7::route::{Cluster, RouteSpec, RouteTable, UpstreamTlsConfig};
use lb_l7::router::{PathMatch, RouteMatch};
use lb_tls::{CertStore, TlsTerminator, UpstreamTls};
use support::{Ca, store, terminator};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// The bound on every wait: a hang fails the test instead of blocking the suite.
const BOUND: Duration = Duration::from_secs(10);

/// The backend certificate's name.
const NAME: &str = "backend.test";

/// A deterministic body of `n` bytes.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` in `head` (case-insensitive name).
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// An HTTPS backend answering HTTP/1.1 with keep-alive: `GET /big` → 1 MiB of [`pattern`], a
/// request with a body → the body, an upgrade → `101` then an echo of every byte, anything
/// else → `NAME PATH\n`; with the SNI of the connection in `X-Sni`.
struct TlsBackend {
    addr: SocketAddr,
    tls: Arc<TlsTerminator>,
    /// TCP connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Connections it closed (close_notify, then FIN) for being idle.
    idle_closed: Arc<AtomicUsize>,
}

impl TlsBackend {
    /// A backend serving `store`; with `idle_close`, it closes connections that have had no
    /// request for that long (as nginx's `keepalive_timeout` does).
    async fn start(name: &'static str, store: CertStore, idle_close: Option<Duration>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = terminator(store);
        let accepted = Arc::new(AtomicUsize::new(0));
        let idle_closed = Arc::new(AtomicUsize::new(0));
        let (t, a, c) = (
            Arc::clone(&tls),
            Arc::clone(&accepted),
            Arc::clone(&idle_closed),
        );
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let (t, c) = (Arc::clone(&t), Arc::clone(&c));
                tokio::spawn(async move {
                    if let Ok((stream, info)) = t.accept(tcp).await {
                        let sni = info.sni.unwrap_or_default();
                        serve(name, &sni, stream, idle_close, &c).await;
                    }
                });
            }
        });
        Self {
            addr,
            tls,
            accepted,
            idle_closed,
        }
    }

    fn backend(&self) -> Backend {
        Backend::new(self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn handshakes(&self) -> u64 {
        self.tls.stats().handshakes()
    }
}

/// One backend connection: requests until the peer closes, fails, or idles past `idle_close`.
async fn serve<S>(
    name: &str,
    sni: &str,
    mut s: S,
    idle_close: Option<Duration>,
    idle_closed: &AtomicUsize,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end + 4;
            }
            let wait = match idle_close {
                Some(idle) if buf.is_empty() => idle,
                _ => BOUND,
            };
            match timeout(wait, s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                Ok(_) => return,
                Err(_) => {
                    if buf.is_empty() && idle_close.is_some() {
                        // close_notify, then FIN.
                        let _ = s.shutdown().await;
                        idle_closed.fetch_add(1, Ordering::SeqCst);
                        // Keep the socket until the proxy closes its end.
                        let _ = timeout(BOUND, s.read(&mut chunk)).await;
                    }
                    return;
                }
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let length: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
        while buf.len() < length {
            match timeout(BOUND, s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        if let Some(protocol) = header(&head, "upgrade") {
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n\r\n"
            );
            if s.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            // Echo: what came with the head first, then everything until the end.
            let mut pending = std::mem::take(&mut buf);
            loop {
                if !pending.is_empty() {
                    if s.write_all(&pending).await.is_err() || s.flush().await.is_err() {
                        return;
                    }
                    pending.clear();
                } else if s.flush().await.is_err() {
                    return;
                }
                match timeout(BOUND, s.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => pending.extend_from_slice(&chunk[..n]),
                    _ => {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            }
        }
        let answer = if path == "/big" {
            pattern(1 << 20)
        } else if length > 0 {
            body
        } else {
            format!("{name} {path}\n").into_bytes()
        };
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Sni: {sni}\r\n\r\n",
            answer.len()
        )
        .into_bytes();
        response.extend_from_slice(&answer);
        if s.write_all(&response).await.is_err() || s.flush().await.is_err() {
            return;
        }
    }
}

/// Client settings trusting `ca`, checking `server_name` (`None`: the backend's IP address).
fn upstream_tls(ca: &Ca, server_name: Option<&str>) -> UpstreamTlsConfig {
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    let config = UpstreamTlsConfig::new(client.client_config());
    match server_name {
        Some(name) => config.with_server_name(name),
        None => config,
    }
}

/// A proxy on a loopback port routing everything to `backends` (round robin) over TLS.
async fn proxy(backends: Vec<Backend>, tls: UpstreamTlsConfig) -> (Arc<HttpProxy>, SocketAddr) {
    let balancer = Balancer::new("round-robin".parse::<Policy>().unwrap(), backends).unwrap();
    let router = RouteTable::new()
        .cluster(Cluster::new("app", balancer).with_upstream_tls(tls))
        .route(RouteSpec::new("all", RouteMatch::new(), "app"))
        .build()
        .unwrap();
    let proxy = Arc::new(HttpProxy::new(router, HttpProxyConfig::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Arc::clone(&proxy).serve(listener, std::future::pending()));
    (proxy, addr)
}

/// A response as the client got it.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// A plain HTTP/1.1 client connection.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = timeout(BOUND, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0_u8; 16 * 1024];
        match timeout(BOUND, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(_) => false,
            Err(_) => panic!("no response in time"),
        }
    }

    /// The next response head (for a `101`, without a body).
    async fn head(&mut self) -> (u16, String) {
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            assert!(self.fill().await, "closed before a response head");
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head)
    }

    /// Sends `request` (head and body) and reads the response.
    async fn send(&mut self, request: &[u8]) -> Response {
        timeout(BOUND, self.stream.write_all(request))
            .await
            .unwrap()
            .unwrap();
        let (status, head) = self.head().await;
        let body = match header(&head, "content-length") {
            Some(length) => {
                let length: usize = length.parse().unwrap();
                while self.buf.len() < length {
                    assert!(self.fill().await, "closed in the body");
                }
                self.buf.drain(..length).collect()
            }
            None => {
                while self.fill().await {}
                std::mem::take(&mut self.buf)
            }
        };
        Response { status, head, body }
    }

    async fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: app\r\n\r\n").as_bytes())
            .await
    }
}

#[tokio::test]
async fn a_plain_client_reaches_a_tls_backend_intact() {
    let ca = Ca::new();
    let backend = TlsBackend::start("b1", store(&ca.leaf(&[NAME]), &[]), None).await;
    let (_proxy, addr) = proxy(vec![backend.backend()], upstream_tls(&ca, Some(NAME))).await;
    let mut client = Client::connect(addr).await;
    let small = client.get("/hello").await;
    assert_eq!(small.status, 200, "{}", small.head);
    assert_eq!(small.body, b"b1 /hello\n");
    // 1 MiB down, through TLS records and the proxy's buffers.
    let big = client.get("/big").await;
    assert_eq!(big.status, 200, "{}", big.head);
    assert!(
        big.body == pattern(1 << 20),
        "the large body arrives intact"
    );
    // 256 KiB up, echoed back.
    let upload = pattern(256 * 1024);
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    )
    .into_bytes();
    request.extend_from_slice(&upload);
    let echoed = client.send(&request).await;
    assert_eq!(echoed.status, 200, "{}", echoed.head);
    assert!(echoed.body == upload, "the uploaded body arrives intact");
    assert_eq!(backend.handshakes(), 1);
}

#[tokio::test]
async fn keep_alive_reuses_one_upstream_tls_connection() {
    let ca = Ca::new();
    let backend = TlsBackend::start("b1", store(&ca.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(vec![backend.backend()], upstream_tls(&ca, Some(NAME))).await;
    let mut client = Client::connect(addr).await;
    for n in 0..5 {
        let response = client.get(&format!("/r{n}")).await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(response.body, format!("b1 /r{n}\n").into_bytes());
    }
    assert_eq!(
        backend.handshakes(),
        1,
        "one TLS handshake for five requests"
    );
    assert_eq!(backend.accepted(), 1, "one upstream connection");
    let pool = proxy.pool().stats();
    assert_eq!((pool.hits, pool.stale), (4, 0));
    let id = backend.backend().id();
    assert_eq!(proxy.stats().backend(id).unwrap().reused(), 4);
    assert_eq!(proxy.pool().idle_for(id), 1);
}

#[tokio::test]
async fn tls_connections_are_pooled_per_cluster() {
    let ca = Ca::new();
    // One backend, two names: two clusters reach it with different server names.
    let backend = TlsBackend::start("b1", store(&ca.leaf(&["a.test", "b.test"]), &[]), None).await;
    let balancer = || {
        Balancer::new(
            "round-robin".parse::<Policy>().unwrap(),
            vec![backend.backend()],
        )
        .unwrap()
    };
    let on = |prefix: &str| RouteMatch::new().with_path(PathMatch::prefix(prefix));
    let router = RouteTable::new()
        .cluster(Cluster::new("a", balancer()).with_upstream_tls(upstream_tls(&ca, Some("a.test"))))
        .cluster(Cluster::new("b", balancer()).with_upstream_tls(upstream_tls(&ca, Some("b.test"))))
        .route(RouteSpec::new("a", on("/a"), "a"))
        .route(RouteSpec::new("b", on("/b"), "b"))
        .build()
        .unwrap();
    let proxy = Arc::new(HttpProxy::new(router, HttpProxyConfig::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Arc::clone(&proxy).serve(listener, std::future::pending()));
    let mut client = Client::connect(addr).await;
    for path in ["/a/1", "/b/1", "/a/2", "/b/2"] {
        let response = client.get(path).await;
        assert_eq!(response.status, 200, "{}", response.head);
        let name = if path.starts_with("/a") {
            "a.test"
        } else {
            "b.test"
        };
        assert_eq!(header(&response.head, "x-sni"), Some(name), "{path}");
    }
    assert_eq!(backend.handshakes(), 2, "one connection per cluster");
    assert_eq!(proxy.pool().stats().hits, 2);
    assert_eq!(proxy.pool().idle_for(backend.backend().id()), 2);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_502() {
    let (trusted, other) = (Ca::new(), Ca::new());
    let backend = TlsBackend::start("b1", store(&other.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(vec![backend.backend()], upstream_tls(&trusted, Some(NAME))).await;
    let response = Client::connect(addr).await.get("/").await;
    assert_eq!(response.status, 502, "{}", response.head);
    assert_eq!(proxy.stats().totals().connect_failures(), 1);
    let stats = proxy.stats().backend(backend.backend().id()).unwrap();
    assert_eq!((stats.requests(), stats.failures()), (1, 1));
    assert_eq!(backend.handshakes(), 0);
    assert_eq!(
        proxy.pool().idle(),
        0,
        "nothing pooled from a failed handshake"
    );
}

#[tokio::test]
async fn a_server_name_mismatch_is_a_502() {
    let ca = Ca::new();
    let backend = TlsBackend::start("b1", store(&ca.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(
        vec![backend.backend()],
        upstream_tls(&ca, Some("other.test")),
    )
    .await;
    let response = Client::connect(addr).await.get("/").await;
    assert_eq!(response.status, 502, "{}", response.head);
    assert_eq!(proxy.stats().totals().connect_failures(), 1);
    assert_eq!(backend.handshakes(), 0);
}

#[tokio::test]
async fn without_a_server_name_the_backend_ip_is_verified() {
    let ca = Ca::new();
    // A certificate for the address, as for backends known by IP only.
    let by_ip = TlsBackend::start("ip", store(&ca.leaf(&["127.0.0.1"]), &[]), None).await;
    let (_proxy, addr) = proxy(vec![by_ip.backend()], upstream_tls(&ca, None)).await;
    let response = Client::connect(addr).await.get("/x").await;
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, b"ip /x\n");
    // A certificate for a DNS name only does not cover the address.
    let by_name = TlsBackend::start("name", store(&ca.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(vec![by_name.backend()], upstream_tls(&ca, None)).await;
    let response = Client::connect(addr).await.get("/x").await;
    assert_eq!(response.status, 502, "{}", response.head);
    assert_eq!(proxy.stats().totals().connect_failures(), 1);
}

#[tokio::test]
async fn a_failed_handshake_is_retried_on_another_backend() {
    let (trusted, other) = (Ca::new(), Ca::new());
    let bad = TlsBackend::start("bad", store(&other.leaf(&[NAME]), &[]), None).await;
    let good = TlsBackend::start("good", store(&trusted.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(
        vec![bad.backend(), good.backend()],
        upstream_tls(&trusted, Some(NAME)),
    )
    .await;
    // Round robin: one of the first two requests is sent to the bad backend first.
    for n in 0..2 {
        let response = Client::connect(addr).await.get(&format!("/{n}")).await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(response.body, format!("good /{n}\n").into_bytes());
    }
    let totals = proxy.stats().totals();
    assert!(totals.connect_failures() >= 1);
    assert_eq!(totals.retries(), totals.connect_failures());
    let bad_stats = proxy.stats().backend(bad.backend().id()).unwrap();
    assert_eq!(bad_stats.failures(), totals.connect_failures());
    assert_eq!(bad.handshakes(), 0);
}

#[tokio::test]
async fn a_tls_connection_the_backend_closed_while_idle_is_not_reused() {
    let ca = Ca::new();
    let backend = TlsBackend::start(
        "b1",
        store(&ca.leaf(&[NAME]), &[]),
        Some(Duration::from_millis(100)),
    )
    .await;
    let (proxy, addr) = proxy(vec![backend.backend()], upstream_tls(&ca, Some(NAME))).await;
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/1").await.status, 200);
    assert_eq!(proxy.pool().idle(), 1);
    // The backend closes the idle connection (close_notify, FIN); the proxy's runtime sees it.
    timeout(BOUND, async {
        while backend.idle_closed.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = client.get("/2").await;
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, b"b1 /2\n");
    let pool = proxy.pool().stats();
    assert_eq!((pool.stale, pool.hits), (1, 0), "found stale, not reused");
    assert_eq!(
        backend.handshakes(),
        2,
        "the second request on a new connection"
    );
    assert_eq!(
        proxy.stats().totals().connect_failures(),
        0,
        "no failure counted"
    );
}

#[tokio::test]
async fn an_upgrade_tunnels_over_tls() {
    let ca = Ca::new();
    let backend = TlsBackend::start("b1", store(&ca.leaf(&[NAME]), &[]), None).await;
    let (proxy, addr) = proxy(vec![backend.backend()], upstream_tls(&ca, Some(NAME))).await;
    let mut client = Client::connect(addr).await;
    // A request first, so the upgrade goes over a pooled TLS connection.
    assert_eq!(client.get("/before").await.status, 200);
    client
        .stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = client.head().await;
    assert_eq!(status, 101, "{head}");
    let sent = pattern(200 * 1024);
    let mut stream = client.stream;
    let mut echoed = std::mem::take(&mut client.buf);
    let (mut read, mut write) = stream.split();
    let writer = async {
        write.write_all(&sent).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let reader = async {
        let mut chunk = [0_u8; 16 * 1024];
        while echoed.len() < sent.len() {
            let n = read.read(&mut chunk).await.unwrap();
            assert!(n > 0, "tunnel closed after {} bytes", echoed.len());
            echoed.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(BOUND, async { tokio::join!(writer, reader) })
        .await
        .unwrap();
    assert!(echoed == sent, "200 KiB echoed intact through the tunnel");
    assert_eq!(backend.handshakes(), 1);
    assert_eq!(proxy.stats().totals().upgrades(), 1);
}

/// A TLS connection to a fresh backend connection, and the backend's end.
async fn tls_pair(
    ca: &Ca,
) -> (
    Upstream,
    tokio_rustls::server::TlsStream<TcpStream>,
    SocketAddr,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = terminator(store(&ca.leaf(&[NAME]), &[]));
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    let (connected, accepted) = timeout(BOUND, async {
        tokio::join!(
            async {
                client
                    .connect(NAME, TcpStream::connect(addr).await.unwrap())
                    .await
            },
            async { tls.accept(listener.accept().await.unwrap().0).await },
        )
    })
    .await
    .unwrap();
    let (server, _) = accepted.unwrap();
    (Upstream::from(connected.unwrap()), server, addr)
}

fn pool() -> Pool {
    Pool::new(PoolConfig::default())
}

fn key(addr: SocketAddr) -> PoolKey {
    PoolKey {
        backend: BackendId::from_addr(addr),
        class: 1,
    }
}

#[tokio::test]
async fn the_pool_returns_a_live_tls_connection() {
    let ca = Ca::new();
    let (mut upstream, mut server, addr) = tls_pair(&ca).await;
    assert!(upstream.is_tls());
    let pool = pool();
    pool.put(key(addr), upstream, Instant::now());
    upstream = pool.take(key(addr), Instant::now()).expect("alive");
    // Still a working TLS connection.
    upstream.write_all(b"ping").await.unwrap();
    upstream.flush().await.unwrap();
    let mut got = [0_u8; 4];
    timeout(BOUND, server.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"ping");
    // Plain TCP to the same backend is another class.
    assert!(
        pool.take(BackendId::from_addr(addr), Instant::now())
            .is_none()
    );
    assert_eq!((pool.stats().hits, pool.stats().stale), (1, 0));
}

#[tokio::test]
async fn the_pool_finds_a_close_notify_on_an_idle_tls_connection_stale() {
    let ca = Ca::new();
    let (upstream, mut server, addr) = tls_pair(&ca).await;
    // close_notify alone, the TCP connection left open: only the record says it is closed.
    server.get_mut().1.send_close_notify();
    server.flush().await.unwrap();
    timeout(BOUND, upstream.tcp().readable())
        .await
        .unwrap()
        .unwrap();
    let pool = pool();
    pool.put(key(addr), upstream, Instant::now());
    assert!(pool.take(key(addr), Instant::now()).is_none());
    assert_eq!((pool.stats().stale, pool.stats().hits), (1, 0));
    assert_eq!(pool.idle(), 0);
    drop(server);
}

#[tokio::test]
async fn the_pool_finds_a_close_notify_already_read_by_rustls_stale() {
    let ca = Ca::new();
    let (mut upstream, mut server, addr) = tls_pair(&ca).await;
    // A response and close_notify together: reading the response takes both off the socket,
    // so the socket looks quiet, but rustls knows the backend has closed.
    server.write_all(b"done").await.unwrap();
    server.get_mut().1.send_close_notify();
    server.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut got = [0_u8; 4];
    timeout(BOUND, upstream.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"done");
    let pool = pool();
    pool.put(key(addr), upstream, Instant::now());
    assert!(pool.take(key(addr), Instant::now()).is_none());
    assert_eq!(pool.stats().stale, 1);
    drop(server);
}

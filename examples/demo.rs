//! The lb demonstration: the same three backends reached directly, through lb-l4, through lb-l7
//! (path routing), through lb-l7 with sticky sessions, and through TLS + lb-l7, each driven by a
//! built-in load generator with keep-alive and with a new connection per request; then a backend
//! killed under load and ejected without a failed request.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! No arguments, no files, loopback only, under a minute. Everything runs in this one process
//! (two worker threads), so CPU per request is the whole process's: client, proxy and backends.
//! The difference from `direct` is what the proxy layer costs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lb::core::{Backend, Balancer, LeastConn, Policy};
use lb::l4::tcp::{TcpProxy, TcpProxyConfig};
use lb::l7::Limits;
use lb::l7::body::BodyReader;
use lb::l7::chunked::Scanned;
use lb::l7::head::{Method, Parsed, parse_response};
use lb::l7::proxy::{HttpProxy, HttpProxyConfig};
use lb::l7::route::{Cluster, RouteSpec, RouteTable};
use lb::l7::router::{PathMatch, RouteMatch};
use lb::l7::sticky::{CookieInsert, StickyPolicy, TokenCodec};
use lb::tls::{CertStore, HttpsOptions, TlsSettings, TlsTerminator, certified_key, serve_https};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Concurrent client connections per run.
const CONNECTIONS: usize = 32;
/// Length of each measured run.
const RUN: Duration = Duration::from_millis(2000);
/// The slow backend's extra latency.
const SLOW: Duration = Duration::from_millis(2);

/// One demo backend: answers every request with its name, `delay` late.
struct DemoBackend {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
    alive: Arc<AtomicBool>,
}

async fn start_backend(name: &'static str, delay: Duration) -> DemoBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(AtomicU64::new(0));
    let alive = Arc::new(AtomicBool::new(true));
    let (count, up) = (Arc::clone(&served), Arc::clone(&alive));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            if !up.load(Ordering::Relaxed) {
                return; // killed: the listener closes with this task
            }
            let _ = conn.set_nodelay(true);
            let (count, up) = (Arc::clone(&count), Arc::clone(&up));
            tokio::spawn(async move {
                let body = format!("hello from {name}\n");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0_u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 || !up.load(Ordering::Relaxed) {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        if conn.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    DemoBackend {
        addr,
        served,
        alive,
    }
}

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses): utime is the 14th, stime 15th.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let hz = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / hz)
}

/// How a client reaches the service.
#[derive(Clone)]
enum Dial {
    Plain(SocketAddr),
    Tls(SocketAddr, tokio_rustls::TlsConnector),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Dial {
    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        match self {
            Dial::Plain(addr) => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
            Dial::Tls(addr, connector) => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let name = ServerName::try_from("localhost").expect("name");
                Ok(Box::new(connector.connect(name, s).await?))
            }
        }
    }
}

/// What a load run measured.
struct Measured {
    requests: u64,
    failed: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
    cpu: Duration,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

/// Sends one request on `conn` and reads the whole response; returns the Set-Cookie, if any.
async fn exchange(
    conn: &mut Box<dyn Stream>,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Option<Option<String>> {
    conn.write_all(request).await.ok()?;
    buf.clear();
    let mut chunk = [0_u8; 4096];
    loop {
        if let Ok(Parsed::Complete(head, len)) =
            parse_response(buf, Method::Get, &Limits::default())
        {
            let cookie = head
                .headers()
                .get("set-cookie")
                .map(|c| String::from_utf8_lossy(c).into_owned());
            let mut body = BodyReader::new(head.framing(), &Limits::default());
            let mut at = len;
            loop {
                match body.scan(&buf[at..]).ok()? {
                    (_, Scanned::Done) => return Some(cookie),
                    (n, Scanned::NeedMore) => at += n,
                }
                let n = conn.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `CONNECTIONS` clients for `RUN`, keep-alive or a new connection per request.
async fn load(dial: &Dial, path: &str, keepalive: bool, sticky: bool) -> Measured {
    let deadline = Instant::now() + RUN;
    let cpu_before = cpu_time();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let dial = dial.clone();
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut latencies) = (0_u64, 0_u64, Vec::new());
            let mut cookie: Option<String> = None;
            let mut conn: Option<Box<dyn Stream>> = None;
            let mut buf = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                if conn.is_none() {
                    match dial.connect().await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            failed += 1;
                            continue;
                        }
                    }
                }
                let cookie_line = cookie
                    .as_ref()
                    .map(|c| format!("Cookie: {c}\r\n"))
                    .unwrap_or_default();
                let close = if keepalive {
                    ""
                } else {
                    "Connection: close\r\n"
                };
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{cookie_line}{close}\r\n");
                let Some(stream) = conn.as_mut() else {
                    continue;
                };
                match exchange(stream, request.as_bytes(), &mut buf).await {
                    Some(set) => {
                        ok += 1;
                        latencies.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        if let (true, Some(set)) = (sticky, set) {
                            cookie = set.split(';').next().map(str::to_owned);
                        }
                        if !keepalive {
                            conn = None;
                        }
                    }
                    None => {
                        failed += 1;
                        conn = None;
                    }
                }
            }
            (ok, failed, latencies)
        }));
    }
    let mut m = Measured {
        requests: 0,
        failed: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
        cpu: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((ok, failed, lat)) = t.await {
            m.requests += ok;
            m.failed += failed;
            m.latencies_us.extend(lat);
        }
    }
    m.elapsed = started.elapsed();
    m.cpu = cpu_time().saturating_sub(cpu_before);
    m.latencies_us.sort_unstable();
    m
}

fn shares(backends: &[DemoBackend], before: &[u64]) -> String {
    let now: Vec<u64> = backends
        .iter()
        .map(|b| b.served.load(Ordering::Relaxed))
        .collect();
    let deltas: Vec<u64> = now.iter().zip(before).map(|(n, b)| n - b).collect();
    let total: u64 = deltas.iter().sum::<u64>().max(1);
    deltas
        .iter()
        .map(|d| format!("{:>3.0}%", *d as f64 * 100.0 / total as f64))
        .collect::<Vec<_>>()
        .join(" ")
}

fn counts(backends: &[DemoBackend]) -> Vec<u64> {
    backends
        .iter()
        .map(|b| b.served.load(Ordering::Relaxed))
        .collect()
}

fn l7_proxy(backends: &[Backend], sticky: StickyPolicy, algorithm: &str) -> Arc<HttpProxy> {
    let balancer = Balancer::new(
        algorithm.parse::<Policy>().expect("policy"),
        backends.to_vec(),
    )
    .expect("balancer");
    let router = RouteTable::new()
        .cluster(Cluster::new("app", balancer))
        .route(RouteSpec {
            sticky,
            ..RouteSpec::new(
                "api",
                RouteMatch::new().with_path(PathMatch::prefix("/api")),
                "app",
            )
        })
        .build()
        .expect("routes");
    let config = HttpProxyConfig {
        max_requests_per_connection: u32::MAX,
        ..HttpProxyConfig::default()
    };
    Arc::new(HttpProxy::new(router, config))
}

async fn listen() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    println!(
        "lb demo: three backends (one {} ms slower), {CONNECTIONS} client connections, {} s per run\n",
        SLOW.as_millis(),
        RUN.as_secs_f64()
    );
    let backends = vec![
        start_backend("b1", Duration::ZERO).await,
        start_backend("b2", Duration::ZERO).await,
        start_backend("b3-slow", SLOW).await,
    ];
    let members: Vec<Backend> = backends
        .iter()
        .enumerate()
        .map(|(i, b)| Backend::named(&format!("b{}", i + 1), b.addr))
        .collect();

    // L4: least connections over the three.
    let l4 = Arc::new(TcpProxy::new(
        Arc::new(Balancer::new(LeastConn::default(), members.clone()).expect("l4")),
        TcpProxyConfig::default(),
    ));
    let (l4_listener, l4_addr) = listen().await;
    tokio::spawn(l4.serve(l4_listener, std::future::pending()));
    // L7: path routing, least connections; L7 + sticky: signed cookie insert.
    let (l7_listener, l7_addr) = listen().await;
    tokio::spawn(
        l7_proxy(&members, StickyPolicy::None, "least-conn")
            .serve(l7_listener, std::future::pending()),
    );
    let codec = TokenCodec::signed(b"demo-cookie-key-0123456789").expect("key");
    let sticky = StickyPolicy::CookieInsert(CookieInsert::new("lbsrv", codec).expect("cookie"));
    let (sticky_listener, sticky_addr) = listen().await;
    tokio::spawn(
        l7_proxy(&members, sticky, "least-conn").serve(sticky_listener, std::future::pending()),
    );
    // TLS + L7: a self-signed certificate made now.
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let mut store = CertStore::new();
    store.set_default(
        certified_key(
            generated.cert.pem().as_bytes(),
            generated.signing_key.serialize_pem().as_bytes(),
            "localhost",
        )
        .expect("key"),
    );
    let tls = Arc::new(TlsTerminator::new(store, TlsSettings::default()).expect("tls"));
    let (tls_listener, tls_addr) = listen().await;
    let tls_proxy = l7_proxy(&members, StickyPolicy::None, "least-conn");
    tokio::spawn(serve_https(
        tls_listener,
        std::future::pending(),
        tls,
        tls_proxy,
        HttpsOptions { accept_proxy: None },
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

    let scenarios: Vec<(&str, Dial)> = vec![
        ("direct (b1)", Dial::Plain(backends[0].addr)),
        ("L4  lb-l4", Dial::Plain(l4_addr)),
        ("L7  lb-l7", Dial::Plain(l7_addr)),
        ("L7  + sticky", Dial::Plain(sticky_addr)),
        ("TLS + lb-l7", Dial::Tls(tls_addr, connector)),
    ];
    let mut rows = Vec::new();
    for keepalive in [true, false] {
        for (name, dial) in &scenarios {
            let mode = if keepalive {
                "keep-alive"
            } else {
                "new conn/request"
            };
            eprint!("\r  running {name:<14} {mode:<17}");
            let before = counts(&backends);
            let m = load(dial, "/api/users/1", keepalive, name.contains("sticky")).await;
            rows.push((*name, mode, m, shares(&backends, &before)));
        }
    }
    eprint!("\r{:60}\r", "");
    println!(
        "| scenario | mode | req/s | p50 ms | p99 ms | CPU µs/req | failed | shares b1 b2 b3-slow |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for (name, mode, m, share) in &rows {
        println!(
            "| {name} | {mode} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {share} |",
            m.rps(),
            m.percentile(0.5),
            m.percentile(0.99),
            m.cpu_us(),
            m.failed
        );
    }
    let find = |n: &str, ka: bool| {
        rows.iter()
            .find(|r| r.0.starts_with(n) && (r.1 == "keep-alive") == ka)
            .map(|r| &r.2)
    };
    if let (Some(d), Some(l4k), Some(l7k), Some(l4c), Some(l7c), Some(tk)) = (
        find("direct", true),
        find("L4", true),
        find("L7  lb", true),
        find("L4", false),
        find("L7  lb", false),
        find("TLS", true),
    ) {
        println!();
        println!(
            "- Keep-alive: L4 added {:.1} µs of CPU per request over direct, L7 {:.1} µs (parsing, routing, \
             rewriting both heads); L7 served {:.2}× L4's requests/s.",
            l4k.cpu_us() - d.cpu_us(),
            l7k.cpu_us() - d.cpu_us(),
            l7k.rps() / l4k.rps().max(1.0)
        );
        let ratio = l7c.rps() / l4c.rps().max(1.0);
        if ratio > 1.0 {
            println!(
                "- New connection per request: L7 served {ratio:.2}× L4's requests/s — L4 must open a \
                 backend connection for every client connection, L7 reuses its pool. \"L7 is always \
                 slower\" is not what this machine says."
            );
        } else {
            println!(
                "- New connection per request: L7 served {ratio:.2}× L4's requests/s here, even though \
                 it reuses its upstream pool while L4 opens a backend connection per client connection."
            );
        }
        println!(
            "- TLS at the L7 tier cost {:.1} µs of CPU per keep-alive request over plain L7; the slow \
             backend got the smallest share under least-conn.",
            tk.cpu_us() - l7k.cpu_us()
        );
    }

    // A backend killed under load: retries and passive health keep every request succeeding.
    println!("\nKilling b2 under load through lb-l7 (least-conn, retries, outlier ejection)...");
    let killer = {
        let alive = Arc::clone(&backends[1].alive);
        let addr = backends[1].addr;
        tokio::spawn(async move {
            tokio::time::sleep(RUN / 3).await;
            alive.store(false, Ordering::Relaxed);
            // Wake the accept loop so it exits and the port closes.
            let _ = TcpStream::connect(addr).await;
        })
    };
    let before = counts(&backends);
    let m = load(&Dial::Plain(l7_addr), "/api/users/1", false, false).await;
    let _ = killer.await;
    println!(
        "  {} requests, {} failed; shares after the kill (b1 b2 b3-slow): {}",
        m.requests,
        m.failed,
        shares(&backends, &before)
    );
}

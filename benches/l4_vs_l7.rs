//! L4 vs L7 performance, in process on loopback: the same backend reached directly, through
//! lb-l4, through lb-l7 (one route), through lb-l7 with 100 routes and cookie stickiness, and
//! through TLS + lb-l7.
//!
//! Run: `cargo bench --bench l4_vs_l7` (add `-- --quick` for a fast pass).
//!
//! Groups (each row a path to the backend):
//! - `L4 vs L7: latency, 1 client, keep-alive`: one request on an open connection.
//! - `L4 vs L7: latency, 1 client, new connection`: connect (and handshake for TLS), one request.
//! - `L4 vs L7: throughput, 64 clients, keep-alive`: one request on each of 64 open connections,
//!   concurrently (throughput in requests).
//! - `L4 vs L7: throughput, 64 clients, new connection`: 64 concurrent new-connection requests.
//!
//! Client, proxies and backend share one 2-worker runtime on the 2-core machine: compare rows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use support::{BODY, backend, proxy, serve_on};

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lb::core::{Backend, Balancer, LeastConn};
use lb::l4::tcp::{TcpProxy, TcpProxyConfig};
use lb::tls::{CertStore, HttpsOptions, TlsSettings, TlsTerminator, certified_key, serve_https};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How the client reaches one path.
#[derive(Clone)]
struct Path {
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
    /// A request line + headers (without the final blank line), e.g. with a sticky cookie.
    request: &'static str,
}

impl Path {
    async fn connect(&self) -> Box<dyn Stream> {
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        match &self.tls {
            None => Box::new(tcp),
            Some(connector) => Box::new(
                connector
                    .connect(ServerName::try_from("localhost").expect("name"), tcp)
                    .await
                    .expect("handshake"),
            ),
        }
    }
}

/// One request; reads until the body ends (Content-Length 13 from every path).
async fn exchange(conn: &mut Box<dyn Stream>, request: &str, close: bool) {
    let tail = if close {
        "Connection: close\r\n\r\n"
    } else {
        "\r\n"
    };
    conn.write_all(format!("{request}{tail}").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0_u8; 512];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
            && buf.len() >= end + 4 + BODY.len()
        {
            return;
        }
    }
}

fn l4_vs_l7(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let plain = "GET /api/users/42 HTTP/1.1\r\nHost: localhost\r\n";
    let paths: Vec<(&str, Path)> = rt.block_on(async {
        let backend = backend().await;
        let l4 = Arc::new(TcpProxy::new(
            Arc::new(
                Balancer::new(LeastConn::default(), vec![Backend::named("b1", backend)])
                    .expect("l4"),
            ),
            TcpProxyConfig::default(),
        ));
        let l4_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let l4_addr = l4_listener.local_addr().expect("addr");
        tokio::spawn(l4.serve(l4_listener, std::future::pending()));
        let l7 = serve_on(proxy(backend, 1, false)).await;
        let l7_100 = serve_on(proxy(backend, 100, true)).await;
        // A cookie for the sticky path: the first response carries it.
        let mut probe = Path {
            addr: l7_100,
            tls: None,
            request: plain,
        }
        .connect()
        .await;
        probe
            .write_all(format!("{plain}\r\n").as_bytes())
            .await
            .expect("write");
        let mut first = vec![0_u8; 1024];
        let n = probe.read(&mut first).await.expect("read");
        let head = String::from_utf8_lossy(&first[..n]).into_owned();
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("sticky cookie")
            .to_owned();
        let sticky_request: &'static str = Box::leak(
            format!("GET /api/users/42 HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n")
                .into_boxed_str(),
        );
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
        let tls_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tls_addr = tls_listener.local_addr().expect("addr");
        tokio::spawn(serve_https(
            tls_listener,
            std::future::pending(),
            tls,
            proxy(backend, 1, false),
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
        vec![
            (
                "direct",
                Path {
                    addr: backend,
                    tls: None,
                    request: plain,
                },
            ),
            (
                "L4 (lb-l4)",
                Path {
                    addr: l4_addr,
                    tls: None,
                    request: plain,
                },
            ),
            (
                "L7 (lb-l7, 1 route)",
                Path {
                    addr: l7,
                    tls: None,
                    request: plain,
                },
            ),
            (
                "L7 (100 routes, sticky cookie)",
                Path {
                    addr: l7_100,
                    tls: None,
                    request: sticky_request,
                },
            ),
            (
                "TLS + L7",
                Path {
                    addr: tls_addr,
                    tls: Some(connector),
                    request: plain,
                },
            ),
        ]
    });

    let mut group = c.benchmark_group("L4 vs L7: latency, 1 client, keep-alive");
    group.measurement_time(Duration::from_secs(3));
    for (name, path) in &paths {
        let mut conn = rt.block_on(path.connect());
        group.bench_function(*name, |b| {
            b.iter(|| rt.block_on(exchange(&mut conn, path.request, false)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("L4 vs L7: latency, 1 client, new connection");
    group.measurement_time(Duration::from_secs(3));
    for (name, path) in &paths {
        group.bench_function(*name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut conn = path.connect().await;
                    exchange(&mut conn, path.request, true).await;
                });
            });
        });
    }
    group.finish();

    const CLIENTS: usize = 64;
    let mut group = c.benchmark_group("L4 vs L7: throughput, 64 clients, keep-alive");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(CLIENTS as u64));
    for (name, path) in &paths {
        let mut conns: Vec<Box<dyn Stream>> =
            rt.block_on(async { futures_connect(path, CLIENTS).await });
        group.bench_function(*name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tasks = Vec::with_capacity(CLIENTS);
                    for mut conn in conns.drain(..) {
                        let request = path.request;
                        tasks.push(tokio::spawn(async move {
                            exchange(&mut conn, request, false).await;
                            conn
                        }));
                    }
                    for t in tasks {
                        conns.push(t.await.expect("task"));
                    }
                });
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("L4 vs L7: throughput, 64 clients, new connection");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(CLIENTS as u64));
    for (name, path) in &paths {
        group.bench_function(*name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..CLIENTS)
                        .map(|_| {
                            let path = path.clone();
                            tokio::spawn(async move {
                                let mut conn = path.connect().await;
                                exchange(&mut conn, path.request, true).await;
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("task");
                    }
                });
            });
        });
    }
    group.finish();
}

/// `n` open connections to `path`.
async fn futures_connect(path: &Path, n: usize) -> Vec<Box<dyn Stream>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(path.connect().await);
    }
    conns
}

criterion_group!(benches, l4_vs_l7);
criterion_main!(benches);

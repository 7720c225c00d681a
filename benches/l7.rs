//! L7 overhead: one HTTP/1.1 request through `HttpProxy` against the same request sent straight
//! to the backend, on loopback.
//!
//! Run: `cargo bench --bench l7`.
//!
//! - `l7/keepalive/{direct,proxy}`: one GET and its 13-byte response on an open keep-alive
//!   connection: the per-request cost of parsing, routing, picking, rewriting both heads and
//!   the extra hop (the proxy reuses its upstream connection from the pool).
//! - `l7/close/{direct,proxy}`: a new connection per request (`Connection: close`): adds the
//!   client's connect and the proxy's accept; the proxy still reuses upstream connections.
//!
//! Client, proxy and backend share one multi-thread runtime (2 workers) on the 2-core machine;
//! compare the rows of a group, not runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lb::core::{Backend, Balancer, Policy};
use lb::l7::proxy::{HttpProxy, HttpProxyConfig};
use lb::l7::route::{Cluster, RouteSpec, RouteTable};
use lb::l7::router::RouteMatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n";

/// A keep-alive backend answering every request head with `RESPONSE` (requests have no body).
async fn backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0_u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // One response per complete head.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if conn.write_all(RESPONSE).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn proxy_to(backend: SocketAddr) -> SocketAddr {
    let balancer = Balancer::new(
        "round-robin".parse::<Policy>().expect("policy"),
        vec![Backend::new(backend)],
    )
    .expect("valid");
    let router = RouteTable::new()
        .cluster(Cluster::new("app", balancer))
        .route(RouteSpec::new("all", RouteMatch::new(), "app"))
        .build()
        .expect("routes");
    // Criterion sends far more than nginx's 1000 requests per connection.
    let config = HttpProxyConfig {
        max_requests_per_connection: u32::MAX,
        ..HttpProxyConfig::default()
    };
    let proxy = Arc::new(HttpProxy::new(router, config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(proxy.serve(listener, std::future::pending()));
    addr
}

/// Sends `request` and reads one `RESPONSE`.
async fn exchange(conn: &mut TcpStream, request: &[u8], back: &mut [u8]) {
    conn.write_all(request).await.expect("write");
    let mut read = 0;
    while read < back.len() {
        let n = conn.read(&mut back[read..]).await.expect("read");
        assert!(n > 0, "closed after {read} bytes");
        read += n;
    }
}

fn l7(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (direct, proxied) = rt.block_on(async {
        let backend = backend().await;
        (backend, proxy_to(backend).await)
    });
    let keepalive = b"GET /api/users/42 HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n";
    let close =
        b"GET /api/users/42 HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    let mut group = c.benchmark_group("l7");
    group.measurement_time(Duration::from_secs(3));
    for (name, addr) in [("direct", direct), ("proxy", proxied)] {
        let mut conn = rt.block_on(async {
            let c = TcpStream::connect(addr).await.expect("connect");
            c.set_nodelay(true).expect("nodelay");
            c
        });
        // The proxy's response carries no extra fields for this request: same length.
        let mut back = vec![0_u8; RESPONSE.len()];
        group.bench_function(format!("keepalive/{name}"), |b| {
            b.iter(|| rt.block_on(exchange(&mut conn, keepalive, &mut back)));
        });
    }
    for (name, addr) in [("direct", direct), ("proxy", proxied)] {
        let mut back = vec![0_u8; RESPONSE.len()];
        group.bench_function(format!("close/{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut conn = TcpStream::connect(addr).await.expect("connect");
                    conn.set_nodelay(true).expect("nodelay");
                    exchange(&mut conn, close, &mut back).await;
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, l7);
criterion_main!(benches);

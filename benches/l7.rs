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

use std::time::Duration;

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n";

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
        let backend = support::backend().await;
        (
            backend,
            support::serve_on(support::proxy(backend, 1, false)).await,
        )
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

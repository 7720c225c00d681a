//! L4 overhead: the TCP proxy against a direct connection, on loopback.
//!
//! Run: `cargo bench --bench l4`.
//!
//! - `l4/connection/{direct,proxy}`: connect, send 1 byte, read the 1-byte
//!   echo, close: the per-connection cost (the proxy adds an accept, a pick,
//!   a backend connect and a lease).
//! - `l4/transfer/{direct,proxy,proxy-splice}`: 1 MiB written and read back
//!   over one open connection: the per-byte cost of the extra hop, with the
//!   userspace copy and with `splice(2)`.
//!
//! Client, proxy and echo backend share one multi-thread runtime (2 workers)
//! on this 2-core machine, so absolute numbers include their contention;
//! compare the two rows of a group.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lb::core::{Backend, Balancer, RoundRobin};
use lb::l4::tcp::{TcpProxy, TcpProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const MIB: usize = 1 << 20;

async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn proxy_to(backend: SocketAddr, splice: bool) -> SocketAddr {
    let balancer = Arc::new(Balancer::new(RoundRobin, vec![Backend::new(backend)]).expect("valid"));
    let proxy = Arc::new(TcpProxy::new(
        balancer,
        TcpProxyConfig::default().splice(splice),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(proxy.serve(listener, std::future::pending()));
    addr
}

async fn one_connection(addr: SocketAddr) {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    conn.write_all(b"x").await.expect("write");
    let mut byte = [0_u8; 1];
    conn.read_exact(&mut byte).await.expect("echo");
}

async fn transfer(conn: &mut TcpStream, data: &[u8], back: &mut [u8]) {
    let (mut r, mut w) = conn.split();
    let write = async { w.write_all(data).await.expect("write") };
    let read = async { r.read_exact(back).await.expect("read") };
    tokio::join!(write, read);
}

fn l4(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (direct, proxied, spliced) = rt.block_on(async {
        let backend = echo_backend().await;
        (
            backend,
            proxy_to(backend, false).await,
            proxy_to(backend, true).await,
        )
    });
    let mut group = c.benchmark_group("l4");
    group.measurement_time(Duration::from_secs(3));
    for (name, addr) in [("direct", direct), ("proxy", proxied)] {
        group.bench_function(format!("connection/{name}"), |b| {
            b.iter(|| rt.block_on(one_connection(addr)));
        });
    }
    group.throughput(Throughput::Bytes(MIB as u64));
    let data = vec![7_u8; MIB];
    for (name, addr) in [
        ("direct", direct),
        ("proxy", proxied),
        ("proxy-splice", spliced),
    ] {
        let mut conn = rt.block_on(async {
            let c = TcpStream::connect(addr).await.expect("connect");
            c.set_nodelay(true).expect("nodelay");
            c
        });
        let mut back = vec![0_u8; MIB];
        group.bench_function(format!("transfer/{name}"), |b| {
            b.iter(|| rt.block_on(transfer(&mut conn, &data, &mut back)));
        });
    }
    group.finish();
}

criterion_group!(benches, l4);
criterion_main!(benches);

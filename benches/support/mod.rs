//! What the loopback benches share: a keep-alive backend and an lb-l7 proxy in front of it.
//! (A module of the benches, not a bench: `benches/support/mod.rs`.) Each bench uses some of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use lb::core::{Backend, Balancer, Policy};
use lb::l7::proxy::{HttpProxy, HttpProxyConfig};
use lb::l7::route::{Cluster, RouteSpec, RouteTable};
use lb::l7::router::{PathMatch, RouteMatch};
use lb::l7::sticky::{CookieInsert, StickyPolicy, TokenCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub(crate) const BODY: &[u8] = b"hello, world\n";

/// A keep-alive backend answering every request head with a 13-byte body.
pub(crate) async fn backend() -> SocketAddr {
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
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let close = buf[..end]
                            .windows(17)
                            .any(|w| w.eq_ignore_ascii_case(b"connection: close"));
                        buf.drain(..end + 4);
                        let head: &[u8] = if close {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
                        } else {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n"
                        };
                        if conn.write_all(&[head, BODY].concat()).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

pub(crate) fn proxy(backend: SocketAddr, routes: usize, sticky: bool) -> Arc<HttpProxy> {
    let balancer = Balancer::new(
        "least-conn".parse::<Policy>().expect("policy"),
        vec![Backend::named("b1", backend)],
    )
    .expect("balancer");
    let mut table = RouteTable::new().cluster(Cluster::new("app", balancer));
    // routes - 1 routes that do not match, then the one that does.
    for i in 1..routes {
        table = table.route(RouteSpec::new(
            format!("r{i}"),
            RouteMatch::new().with_path(PathMatch::prefix(format!("/svc{i}/api"))),
            "app",
        ));
    }
    let sticky = if sticky {
        let codec = TokenCodec::signed(b"bench-cookie-key-0123456789").expect("key");
        StickyPolicy::CookieInsert(CookieInsert::new("srv", codec).expect("cookie"))
    } else {
        StickyPolicy::None
    };
    table = table.route(RouteSpec {
        sticky,
        ..RouteSpec::new(
            "users",
            RouteMatch::new().with_path(PathMatch::prefix("/api/users")),
            "app",
        )
    });
    let config = HttpProxyConfig {
        max_requests_per_connection: u32::MAX,
        ..HttpProxyConfig::default()
    };
    Arc::new(HttpProxy::new(table.build().expect("routes"), config))
}

pub(crate) async fn serve_on(proxy: Arc<HttpProxy>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(proxy.serve(listener, std::future::pending()));
    addr
}

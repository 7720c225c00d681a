//! HTTPS through the whole stack: curl → TLS → lb-l7 → a plain HTTP backend; and the two-tier
//! design, where an L4 tier's PROXY header carries the client address through TLS to the backend.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_core::{Backend, Balancer, LeastConn, Policy};
use lb_l4::proxy_protocol::Version;
use lb_l4::tcp::{TcpProxy, TcpProxyConfig};
use lb_l7::proxy::{HttpProxy, HttpProxyConfig};
use lb_l7::route::{Cluster, RouteSpec, RouteTable};
use lb_l7::router::RouteMatch;
use lb_tls::{HttpsOptions, UpstreamTls, serve_https};
use support::{Ca, TempDir, curl, have, store, terminator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

/// A backend answering each request with the forwarding headers it received.
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
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
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let body: String = head
                            .lines()
                            .filter(|l| l.starts_with("X-"))
                            .map(|l| format!("{l}\n"))
                            .collect();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if conn.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn proxy_to(backend: SocketAddr) -> Arc<HttpProxy> {
    let balancer = Balancer::new(
        "round-robin".parse::<Policy>().unwrap(),
        vec![Backend::new(backend)],
    )
    .unwrap();
    let router = RouteTable::new()
        .cluster(Cluster::new("app", balancer))
        .route(RouteSpec::new("all", RouteMatch::new(), "app"))
        .build()
        .unwrap();
    Arc::new(HttpProxy::new(
        router,
        HttpProxyConfig {
            tls: true,
            ..HttpProxyConfig::default()
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_tls_and_the_router() {
    if !have("curl") {
        return;
    }
    let ca = Ca::new();
    let cert = ca.leaf(&["a.example"]);
    let backend = echo_backend().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = terminator(store(&cert, &[]));
    tokio::spawn(serve_https(
        listener,
        std::future::pending(),
        tls,
        proxy_to(backend),
        HttpsOptions { accept_proxy: None },
    ));
    let dir = TempDir::new("https");
    let ca_path = dir.write("ca.pem", &ca.pem());
    let (ok, out) = curl(addr, "a.example", "/x", &ca_path, &["-i"]).await;
    assert!(ok, "{out}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("X-Forwarded-Proto: https"), "{out}");
    assert!(out.contains("X-Forwarded-For: 127.0.0.1"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tier_backends_see_the_original_client() {
    let ca = Ca::new();
    let cert = ca.leaf(&["a.example"]);
    let backend = echo_backend().await;
    // Two L7 instances: PROXY header in, TLS off, routing.
    let mut l7 = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l7.push(Backend::new(listener.local_addr().unwrap()));
        let options = HttpsOptions {
            accept_proxy: Some(Duration::from_secs(2)),
        };
        tokio::spawn(serve_https(
            listener,
            std::future::pending(),
            terminator(store(&cert, &[])),
            proxy_to(backend),
            options,
        ));
    }
    // The L4 tier: PROXY v2 out.
    let l4 = Arc::new(TcpProxy::new(
        Arc::new(Balancer::new(LeastConn::default(), l7).unwrap()),
        TcpProxyConfig::default().send_proxy(Some(Version::V2)),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l4_addr = listener.local_addr().unwrap();
    tokio::spawn(l4.serve(listener, std::future::pending()));
    // A client on another loopback address: the backends must see it, not the L4 tier.
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    for _ in 0..4 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let tcp = tokio::time::timeout(Duration::from_secs(5), socket.connect(l4_addr))
            .await
            .unwrap()
            .unwrap();
        let mut tls = client.connect("a.example", tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), tls.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.contains("X-Forwarded-For: 127.0.0.2\n"), "{answer}");
        assert!(answer.contains("X-Real-IP: 127.0.0.2\n"), "{answer}");
        assert!(answer.contains("X-Forwarded-Proto: https\n"), "{answer}");
    }
}

#[tokio::test]
async fn a_bad_proxy_header_closes_only_that_connection() {
    let ca = Ca::new();
    let cert = ca.leaf(&["a.example"]);
    let backend = echo_backend().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = HttpsOptions {
        accept_proxy: Some(Duration::from_millis(300)),
    };
    tokio::spawn(serve_https(
        listener,
        std::future::pending(),
        terminator(store(&cert, &[])),
        proxy_to(backend),
        options,
    ));
    let mut bad = tokio::net::TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"PROXY NONSENSE\r\n").await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), bad.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a malformed PROXY header must close the connection"
    );
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // With TCP_DEFER_ACCEPT (the default) the kernel holds a silent connection back for about
    // a second before the PROXY header timeout starts.
    let closed = tokio::time::timeout(Duration::from_secs(6), silent.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "no PROXY header in time must close the connection"
    );
}

/// A backend answering every request with `size` bytes, keeping the connection open.
async fn large_backend(size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 4096];
                let body = vec![b'x'; size];
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
                        if conn.write_all(head.as_bytes()).await.is_err()
                            || conn.write_all(&body).await.is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_https_client_gets_the_whole_keep_alive_response_at_once() {
    // A client that reads slowly keeps the proxy's TLS socket full: the response's last bytes
    // must still be sent when it has been relayed, not when the connection next moves.
    const SIZE: usize = 8 << 20;
    let ca = Ca::new();
    let cert = ca.leaf(&["a.example"]);
    // Small socket buffers (accepted sockets inherit the listener's), so the proxy's writes
    // find the socket full.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(8 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_https(
        listener,
        std::future::pending(),
        terminator(store(&cert, &[])),
        proxy_to(large_backend(SIZE).await),
        HttpsOptions { accept_proxy: None },
    ));
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    // A small receive window, so the proxy's socket stays full until the end.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let mut tls = client.connect("a.example", tcp).await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await
        .unwrap();
    let read = async {
        let mut got = Vec::new();
        let mut chunk = vec![0_u8; 32 * 1024];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
                && got.len() >= end + 4 + SIZE
            {
                return got.len() - end - 4;
            }
            let n = tls.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the whole response, without waiting for the keep-alive timeout");
    assert_eq!(body, SIZE);
}

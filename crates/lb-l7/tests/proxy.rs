//! The HTTP/1.1 proxy on loopback, end to end: routing (curl and raw clients), forwarding
//! headers and hop-by-hop removal, `Expect: 100-continue`, upgrades, keep-alive and pipelining
//! with the upstream pool, drain, and the responses the proxy generates itself.
//!
//! Large transfers are in `proxy_transfer.rs`, faults, smuggling and slowloris in
//! `proxy_faults.rs`, sticky sessions in `proxy_sticky.rs`. Every wait is bounded.

mod proxy_support;

use std::time::{Duration, Instant};

use lb_l7::Limits;
use lb_l7::head::{Method, Parsed, parse_request};
use lb_l7::proxy::HttpProxyConfig;
use lb_l7::route::{RouteSpec, RouteTable, Timeouts};
use lb_l7::router::{HostMatch, RouteMatch};
use proxy_support::*;
use tokio::net::TcpStream;

/// The fields of a request head the backend echoed, as (lowercase name, value).
fn echoed_fields(body: &[u8]) -> (String, Vec<(String, String)>) {
    let Ok(Parsed::Complete(head, _)) = parse_request(body, &Limits::default()) else {
        panic!(
            "the backend echoed an unparsable head: {:?}",
            String::from_utf8_lossy(body)
        );
    };
    let line = String::from_utf8_lossy(body)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let fields = head
        .headers()
        .iter()
        .map(|h| {
            (
                String::from_utf8_lossy(h.name).to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    (line, fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Parses `curl -D - -o /dev/null` output: the status and the fields of the last head.
fn curl_head(out: &CurlOut) -> Vec<(String, String)> {
    let text = out.stdout_text();
    let last = text
        .split("\r\n\r\n")
        .filter(|h| h.starts_with("HTTP/"))
        .last()
        .unwrap_or_default()
        .to_owned();
    last.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Routing and forwarding headers, with curl.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_requests_are_routed_by_path_and_by_host() {
    let users = TestBackend::start("users").await;
    let orders = TestBackend::start("orders").await;
    let fallback = TestBackend::start("fallback").await;
    let host_a = TestBackend::start("host-a").await;
    let router = RouteTable::new()
        .cluster(cluster("users", vec![users.backend()], "round-robin"))
        .cluster(cluster("orders", vec![orders.backend()], "round-robin"))
        .cluster(cluster("fallback", vec![fallback.backend()], "round-robin"))
        .cluster(cluster("host-a", vec![host_a.backend()], "round-robin"))
        .route(RouteSpec::new("users", prefix("/api/users"), "users"))
        .route(RouteSpec::new("orders", prefix("/api/orders"), "orders"))
        .route(RouteSpec::new(
            "host-a",
            RouteMatch::new().with_host(HostMatch::exact("a.example")),
            "host-a",
        ))
        .default_route(RouteSpec::new("default", RouteMatch::new(), "fallback"))
        .build()
        .expect("valid");
    let p = start_proxy(router, HttpProxyConfig::default()).await;

    let cases: [(&str, Option<&str>, &str); 11] = [
        ("/api/users", None, "users"),
        ("/api/users/42?page=2", None, "users"),
        ("/api/orders", None, "orders"),
        ("/api/orders/7/items", None, "orders"),
        ("/", None, "fallback"),
        ("/api/usersx", None, "fallback"),
        ("/other/path", None, "fallback"),
        ("/", Some("a.example"), "host-a"),
        // The host is more specific than any path: nginx's server block before location.
        ("/api/users", Some("a.example"), "host-a"),
        ("/api/orders", Some("A.Example:8080"), "host-a"),
        ("/api/orders", Some("b.example"), "orders"),
    ];
    for (path, host, expected) in cases {
        let mut args = vec!["-D".to_owned(), "-".to_owned()];
        if let Some(h) = host {
            args.push("-H".into());
            args.push(format!("Host: {h}"));
        }
        args.push(url(p.addr, path));
        let out = curl(args).await;
        assert_eq!(out.exit, 0, "curl {path} {host:?}: {}", out.stderr);
        assert_eq!(out.status, 200, "curl {path} {host:?}: {}", out.stderr);
        let text = out.stdout_text();
        let head_end = text.find("\r\n\r\n").expect("a head");
        let fields = curl_head(&CurlOut {
            stdout: text.as_bytes()[..head_end + 4].to_vec(),
            ..out
        });
        assert_eq!(
            field(&fields, "x-backend"),
            [expected],
            "{path} with host {host:?}"
        );
        // The backend got the target as sent.
        let body = &text[head_end + 4..];
        assert!(
            body.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{path}: the backend saw {:?}",
            body.lines().next()
        );
    }
    assert_eq!(users.served_reaching(2).await, 2);
    assert_eq!(orders.served_reaching(3).await, 3);
    assert_eq!(fallback.served_reaching(3).await, 3);
    assert_eq!(host_a.served_reaching(3).await, 3);
    let stats = p.proxy.stats();
    assert_eq!(stats.totals().requests(), 11);
    assert_eq!(stats.route(0).expect("users").requests(), 2);
    assert_eq!(stats.route(1).expect("orders").requests(), 3);
    assert_eq!(stats.route(2).expect("host-a").requests(), 3);
    assert_eq!(stats.route(3).expect("default").requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_backend_sees_forwarding_headers_and_no_hop_by_hop_fields() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    for host in [None, Some("shop.example")] {
        let mut args: Vec<String> = [
            "-H",
            "Connection: keep-alive, X-Hop",
            "-H",
            "X-Hop: secret",
            "-H",
            "Keep-Alive: timeout=5, max=100",
            "-H",
            "Proxy-Connection: keep-alive",
            "-H",
            "TE: trailers",
            "-H",
            "X-Forwarded-For: 6.6.6.6",
            "-H",
            "X-Real-IP: 6.6.6.6",
            "-H",
            "X-Forwarded-Proto: https",
            "-H",
            "X-End-To-End: kept",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        if let Some(h) = host {
            args.push("-H".into());
            args.push(format!("Host: {h}"));
        }
        args.push(url(p.addr, "/headers"));
        let out = curl(args).await;
        assert_eq!(out.status, 200, "{}", out.stderr);
        let (line, fields) = echoed_fields(&out.stdout);
        assert_eq!(line, "GET /headers HTTP/1.1");
        let expected_host = host.map_or_else(|| p.addr.to_string(), str::to_owned);
        assert_eq!(field(&fields, "host"), [expected_host.as_str()]);
        assert_eq!(
            field(&fields, "x-forwarded-for"),
            ["127.0.0.1"],
            "forged XFF replaced"
        );
        assert_eq!(field(&fields, "x-real-ip"), ["127.0.0.1"]);
        assert_eq!(field(&fields, "x-forwarded-proto"), ["http"]);
        assert_eq!(field(&fields, "x-forwarded-host"), [expected_host.as_str()]);
        assert_eq!(field(&fields, "x-end-to-end"), ["kept"]);
        for hop in [
            "connection",
            "x-hop",
            "keep-alive",
            "proxy-connection",
            "te",
        ] {
            assert!(
                field(&fields, hop).is_empty(),
                "{hop} reached the backend: {fields:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_named_by_several_connection_headers_are_all_removed() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(
        b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: X-A\r\nX-A: 1\r\nconnection: x-b , X-C\r\n\
          X-B: 2\r\nx-c: 3\r\nX-D: 4\r\nUpgrade: h2c\r\n\r\n",
    )
    .await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    let (_, fields) = echoed_fields(&r.body);
    for hop in ["connection", "x-a", "x-b", "x-c", "upgrade"] {
        assert!(field(&fields, hop).is_empty(), "{hop} reached the backend");
    }
    assert_eq!(field(&fields, "x-d"), ["4"]);
    // The connection goes on.
    assert_eq!(c.get("/again").await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// 3. Expect: 100-continue.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_expect_100_continue_upload_succeeds_after_a_100_from_the_proxy() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let (file, sum) = pattern_file("expect-upload", 3 << 20);
    let out = curl([
        "-v".to_owned(),
        "-H".into(),
        "Expect: 100-continue".into(),
        "--expect100-timeout".into(),
        "10".into(),
        "--data-binary".into(),
        format!("@{}", file.display()),
        url(p.addr, "/upload"),
    ])
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(
        out.stderr.contains("< HTTP/1.1 100 Continue"),
        "curl got no 100 Continue:\n{}",
        out.stderr
    );
    assert_eq!(out.stdout_text(), sum.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_before_the_body_is_sent_and_not_passed_on() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    let body = vec![b'x'; 100_000];
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    // The client waits for the go-ahead before sending a byte of the body.
    let interim = c.read_exact(b"HTTP/1.1 100 Continue\r\n\r\n".len()).await;
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(&body).await;
    let r = c.response_to(Method::Post).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-body-sum"),
        Some(sum_of(&body).to_string().as_str())
    );
    let (_, fields) = echoed_fields(&r.body);
    assert!(
        field(&fields, "expect").is_empty(),
        "Expect reached the backend"
    );
    assert_eq!(field(&fields, "content-length"), ["100000"]);
}

// ---------------------------------------------------------------------------------------------
// 4. Upgrade.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_gets_101_then_tunnels_bytes_both_ways() {
    let b = TestBackend::start("ws").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    let r = c.response().await;
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert!(
        r.headers_named("connection")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("upgrade")),
        "{}",
        r.head
    );
    // The backend's greeting came in the same segment as its 101.
    assert_eq!(c.read_exact(14).await, b"hello from ws\n");
    // Client to backend and back.
    for msg in [
        &b"ping"[..],
        b"\x81\x05hello",
        b"\r\n\r\nGET /not-http HTTP/1.1\r\n\r\n",
    ] {
        c.send(msg).await;
        assert_eq!(c.read_exact(msg.len()).await, msg);
    }
    // A large message both ways, while reading (it does not fit in the socket buffers).
    let big: Vec<u8> = (0..2_000_000_u32).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = c.stream.into_split();
    let sent = big.clone();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        wr.write_all(&sent).await.expect("write");
        wr.shutdown().await.expect("half-close");
        wr
    });
    let mut got = c.buf.split().to_vec();
    within("the echo and EOF", async {
        use tokio::io::AsyncReadExt;
        rd.read_to_end(&mut got).await.expect("read");
    })
    .await;
    assert_eq!(
        got.len(),
        big.len(),
        "every byte echoed, then EOF after the half-close"
    );
    assert!(got == big, "the echo differs");
    let _ = within("writer", writer).await;
    assert_eq!(p.proxy.stats().totals().upgrades(), 1);
    assert_eq!(b.accepted(), 1);
}

// ---------------------------------------------------------------------------------------------
// 5. Keep-alive, pipelining, the upstream pool.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_on_one_client_connection_reuse_one_upstream_connection() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..50 {
        let r = c.get(&format!("/ka/{i}")).await;
        assert_eq!(r.status, 200);
        assert!(!r.says_close());
        assert!(r.text().starts_with(&format!("GET /ka/{i} HTTP/1.1\r\n")));
    }
    assert_eq!(b.served_reaching(50).await, 50);
    assert_eq!(
        b.accepted(),
        1,
        "the upstream connection is pooled and reused"
    );
    assert_eq!(p.proxy.stats().connections().accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    // Three requests in one write, a POST with a body in the middle.
    c.send(
        b"GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /p/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\nGET /p/x HTTP/\
          GET /p/3 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let r1 = c.response().await;
    let r2 = c.response_to(Method::Post).await;
    let r3 = c.response().await;
    for (r, line) in [
        (&r1, "GET /p/1 HTTP/1.1"),
        (&r2, "POST /p/2 HTTP/1.1"),
        (&r3, "GET /p/3 HTTP/1.1"),
    ] {
        assert_eq!(r.status, 200);
        assert!(
            r.text().starts_with(line),
            "expected {line}, got {:?}",
            r.text()
        );
    }
    assert_eq!(
        r2.header("x-body-sum"),
        Some(sum_of(b"GET /p/x HTTP/").to_string().as_str())
    );
    assert_eq!(b.targets(), ["/p/1", "/p/2", "/p/3"]);
    // Pipelined again, many at once.
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend_from_slice(format!("GET /q/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    c.send(&batch).await;
    for i in 0..20 {
        let r = c.response().await;
        assert!(r.text().starts_with(&format!("GET /q/{i} HTTP/1.1\r\n")));
    }
    assert_eq!(b.accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_pool_is_shared_across_client_connections() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    for i in 0..10 {
        let mut c = Client::connect(p.addr).await;
        c.send(format!("GET /c/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await;
        let r = c.response().await;
        assert_eq!(r.status, 200);
        assert!(r.says_close(), "the client asked to close: {}", r.head);
        c.assert_closed("after Connection: close").await;
    }
    assert_eq!(b.served_reaching(10).await, 10);
    assert!(
        b.accepted() <= 2,
        "10 sequential client connections opened {} upstream connections",
        b.accepted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_request_allowed_on_a_connection_is_answered_with_connection_close() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        max_requests_per_connection: 3,
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut c = Client::connect(p.addr).await;
    assert!(!c.get("/1").await.says_close());
    assert!(!c.get("/2").await.says_close());
    let last = c.get("/3").await;
    assert_eq!(last.status, 200);
    // The proxy closes after this one: it must say so (RFC 9112 §9.6), or a client sends its
    // next request into a closing connection.
    c.assert_closed("after max_requests_per_connection").await;
    assert!(
        last.says_close(),
        "the last response allowed on the connection lacks Connection: close:\n{}",
        last.head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        keepalive_timeout: Duration::from_millis(300),
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut c = Client::connect(p.addr).await;
    assert_eq!(c.get("/").await.status, 200);
    let idle = Instant::now();
    c.assert_closed("idle past the keep-alive timeout").await;
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Drain.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_in_flight_requests_refuses_new_ones_and_closes_idle_connections() {
    let b = TestBackend::start("b").await;
    let mut p = proxy_for(&[&b]).await;
    // An idle keep-alive connection.
    let mut idle = Client::connect(p.addr).await;
    assert_eq!(idle.get("/idle").await.status, 200);
    // A request in flight: the backend holds its answer until released.
    let mut busy = Client::connect(p.addr).await;
    busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    b.wait_arrivals(2).await;

    p.start_shutdown();
    // The idle connection is closed at once, while the other request is still in flight.
    idle.assert_closed("an idle connection during a drain")
        .await;
    assert_eq!(b.served(), 1, "the slow request is still in flight");
    // New connections are not served (refused, or reset once the listener is gone).
    match TcpStream::connect(p.addr).await {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Ok(stream) => {
            let mut late = Client {
                stream,
                buf: bytes::BytesMut::new(),
            };
            let _ = late.try_send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            let tail = late.read_to_end().await;
            assert!(
                tail.bytes.is_empty(),
                "a connection made during the drain was served"
            );
        }
    }
    // The in-flight request completes.
    b.release(1);
    let r = busy.response().await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("GET /slow HTTP/1.1\r\n"));
    busy.assert_closed("the busy connection after its request, during the drain")
        .await;
    let report = p.join().await;
    assert_eq!(report.cut, 0, "{report:?}");
    assert!(report.finished >= 1, "{report:?}");
    assert_eq!(p.proxy.pool().idle(), 0, "the upstream pool is emptied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_finished_during_a_drain_says_connection_close() {
    let b = TestBackend::start("b").await;
    let mut p = proxy_for(&[&b]).await;
    let mut busy = Client::connect(p.addr).await;
    busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
    b.wait_arrivals(1).await;
    p.start_shutdown();
    // Let the proxy see the drain before the response comes back.
    let mut probe_rx = tokio::time::interval(Duration::from_millis(5));
    within("the listener to close", async {
        loop {
            probe_rx.tick().await;
            if TcpStream::connect(p.addr).await.is_err() {
                break;
            }
        }
    })
    .await;
    b.release(1);
    let r = busy.response().await;
    assert_eq!(r.status, 200);
    busy.assert_closed("after the in-flight response").await;
    assert!(
        r.says_close(),
        "the proxy closes after this response (draining) without saying Connection: close:\n{}",
        r.head
    );
    let _ = p.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_cuts_a_request_still_running_at_the_drain_timeout() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        drain_timeout: Duration::from_millis(300),
        ..HttpProxyConfig::default()
    };
    let mut p = start_proxy(router, config).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await;
    b.wait_arrivals(1).await;
    let started = Instant::now();
    p.start_shutdown();
    let report = p.join().await;
    let took = started.elapsed();
    assert_eq!(report.cut, 1, "{report:?}");
    assert_eq!(report.finished, 0, "{report:?}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "drain took {took:?}"
    );
    let tail = c.read_to_end().await;
    assert!(tail.bytes.is_empty(), "no response: the request was cut");
}

// ---------------------------------------------------------------------------------------------
// 11. Generated errors.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_is_a_404_and_the_connection_goes_on() {
    let b = TestBackend::start("b").await;
    let router = RouteTable::new()
        .cluster(cluster("api", vec![b.backend()], "round-robin"))
        .route(RouteSpec::new("api", prefix("/api"), "api"))
        .build()
        .expect("valid");
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let mut c = Client::connect(p.addr).await;
    let r = c.get("/nowhere").await;
    assert_eq!(r.status, 404);
    assert!(
        !r.says_close(),
        "a 404 for a whole request keeps the connection"
    );
    let r = c.get("/api/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(b.targets(), ["/api/x"]);
    assert_eq!(p.proxy.stats().totals().unrouted(), 1);
    // curl sees the same.
    let out = curl([url(p.addr, "/elsewhere")]).await;
    assert_eq!(out.status, 404);
}

/// Sends `raw` on a fresh connection; expects `status` with `Connection: close`, then EOF.
async fn expect_refused(addr: std::net::SocketAddr, raw: &[u8], status: u16, what: &str) {
    let c = Client::connect(addr).await;
    // The proxy may answer before reading everything: write in the background.
    let (mut rd, mut wr) = c.stream.into_split();
    let raw = raw.to_vec();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = wr.write_all(&raw).await;
        wr
    });
    let started = Instant::now();
    let mut got = Vec::new();
    let end = within(what, async {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0_u8; 4096];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) => return None,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return Some(e.kind()),
            }
        }
    })
    .await;
    let _ = writer.await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: expected {status}, got {text:?} (ended with {end:?})"
    );
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("connection: close")),
        "{what}: no Connection: close in {head:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{what}: took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_get_the_right_status_and_connection_close() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "HTTP/1.1 without Host",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
            "two Hosts",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n".to_vec(),
            400,
            "a space in a name",
        ),
        (long_uri.into_bytes(), 414, "a 9000-byte URI"),
        (many.into_bytes(), 431, "120 header fields"),
        (big_field.into_bytes(), 431, "a 20 KB field"),
        (
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
            505,
            "HTTP/2.0",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n".to_vec(),
            501,
            "an unknown transfer coding",
        ),
    ];
    for (raw, status, what) in cases {
        expect_refused(p.addr, &raw, status, what).await;
    }
    // CONNECT: this is a reverse proxy (a whole request, so the connection may go on).
    let r = one_shot(p.addr, b"CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n").await;
    assert_eq!(r.status, 405);
    assert_eq!(b.arrivals(), 0, "no invalid request reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_head_is_answered_431_or_414_before_the_connection_closes() {
    // The proxy refuses the head long before the client has finished sending it: the response
    // must still reach the client (no reset over unread data).
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let huge_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(1 << 20));
    expect_refused(p.addr, huge_uri.as_bytes(), 414, "a 1 MiB URI").await;
    let huge_field = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "f".repeat(1 << 20)
    );
    expect_refused(p.addr, huge_field.as_bytes(), 431, "a 1 MiB field").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sees_generated_errors_too() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        max_request_body: Some(1000),
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    // Over max_request_body: 413 before anything is forwarded.
    let out = curl([
        "--data-binary".to_owned(),
        "x".repeat(5000),
        "-H".into(),
        "Expect:".into(),
        url(p.addr, "/upload"),
    ])
    .await;
    assert_eq!(out.status, 413, "{}", out.stderr);
    // A 414 from a long URI.
    let out = curl([url(p.addr, &format!("/{}", "z".repeat(9000)))]).await;
    assert_eq!(out.status, 414, "{}", out.stderr);
    assert_eq!(b.arrivals(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_timeout_is_a_504_within_the_route_timeout() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| RouteSpec {
        timeouts: Timeouts {
            response_head: Duration::from_millis(300),
            ..Timeouts::default()
        },
        ..s
    });
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let out = curl([url(p.addr, "/hang")]).await;
    assert_eq!(out.status, 504, "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Message framing across the proxy.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_response_has_no_body_and_the_connection_stays_in_step() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    for path in ["/bytes/5000", "/chunked/5000", "/echo"] {
        c.send(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await;
        let r = c.response_to(Method::Head).await;
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty());
        // The next response starts where the HEAD response ended.
        let r = c.get("/next").await;
        assert!(
            r.text().starts_with("GET /next HTTP/1.1\r\n"),
            "after HEAD {path}"
        );
    }
    let out = curl(["-I".to_owned(), url(p.addr, "/bytes/123")]).await;
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(
        out.stdout_text()
            .to_ascii_lowercase()
            .contains("content-length: 123")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_delimited_by_close_is_relayed_whole_then_the_client_connection_closes() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /untilclose/300000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.sum, pattern_sum(300_000));
    assert!(r.says_close(), "{}", r.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_client_gets_a_chunked_response_dechunked_until_close() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /chunked/200000 HTTP/1.0\r\nHost: x\r\n\r\n")
        .await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    assert!(r.header("transfer-encoding").is_none(), "{}", r.head);
    assert!(r.says_close(), "{}", r.head);
    assert_eq!(r.sum, pattern_sum(200_000));
    // An HTTP/1.0 keep-alive client keeps its connection with a Content-Length response.
    let mut c = Client::connect(p.addr).await;
    for i in 0..3 {
        c.send(format!("GET /ten/{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .await;
        let r = c.response().await;
        assert_eq!(r.status, 200);
        assert!(
            r.headers_named("connection")
                .iter()
                .any(|v| v.eq_ignore_ascii_case("keep-alive")),
            "{}",
            r.head
        );
        assert!(r.text().starts_with(&format!("GET /ten/{i} HTTP/1.1\r\n")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_with_trailers_is_forwarded_and_the_next_request_follows() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Digest: abc\r\n\r\n\
          GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let r = c.response_to(Method::Post).await;
    assert_eq!(
        r.header("x-body-sum"),
        Some(sum_of(b"hello world").to_string().as_str())
    );
    assert!(
        c.response()
            .await
            .text()
            .starts_with("GET /after HTTP/1.1\r\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_target_is_routed_by_its_authority_and_sent_in_origin_form() {
    let any = TestBackend::start("any").await;
    let host_a = TestBackend::start("host-a").await;
    let router = RouteTable::new()
        .cluster(cluster("any", vec![any.backend()], "round-robin"))
        .cluster(cluster("host-a", vec![host_a.backend()], "round-robin"))
        .route(RouteSpec::new(
            "host-a",
            RouteMatch::new().with_host(HostMatch::exact("a.example")),
            "host-a",
        ))
        .default_route(RouteSpec::new("default", RouteMatch::new(), "any"))
        .build()
        .expect("valid");
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let r = one_shot(
        p.addr,
        b"GET http://a.example/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
    )
    .await;
    assert_eq!(r.backend(), "host-a");
    let (line, fields) = echoed_fields(&r.body);
    assert_eq!(line, "GET /abs?q=1 HTTP/1.1");
    assert_eq!(field(&fields, "host"), ["a.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_reset_at_once() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        max_connections: 2,
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut c1 = Client::connect(p.addr).await;
    let mut c2 = Client::connect(p.addr).await;
    assert_eq!(c1.get("/1").await.status, 200);
    assert_eq!(c2.get("/2").await.status, 200);
    // The third is reset: at connect already, or at the first read.
    if let Ok(stream) = TcpStream::connect(p.addr).await {
        let mut c3 = Client {
            stream,
            buf: bytes::BytesMut::new(),
        };
        let _ = c3.try_send(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let tail = c3.read_to_end().await;
        assert!(tail.bytes.is_empty(), "the third connection was served");
    }
    assert_eq!(p.proxy.stats().connections().rejected(), 1);
    assert_eq!(c1.get("/1b").await.status, 200, "the admitted ones go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_each_get_their_own_responses() {
    let mut backends = Vec::new();
    for name in ["b1", "b2", "b3"] {
        backends.push(TestBackend::start(name).await);
    }
    let router = default_router(backends.iter().map(TestBackend::backend).collect(), |s| s);
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let addr = p.addr;
    let clients: Vec<_> = (0..24)
        .map(|k| {
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                for i in 0..40 {
                    if i % 3 == 0 {
                        let body = format!("client {k} request {i} {}", "z".repeat(i * 37));
                        c.send(
                            format!(
                                "POST /cc/{k}/{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                        let r = c.response_to(Method::Post).await;
                        assert!(r.text().starts_with(&format!("POST /cc/{k}/{i} HTTP/1.1\r\n")));
                        assert_eq!(
                            r.header("x-body-sum"),
                            Some(sum_of(body.as_bytes()).to_string().as_str())
                        );
                    } else {
                        let r = c.get(&format!("/cc/{k}/{i}")).await;
                        assert!(
                            r.text().starts_with(&format!("GET /cc/{k}/{i} HTTP/1.1\r\n")),
                            "client {k} request {i} got the response to {:?}",
                            r.text().lines().next()
                        );
                    }
                }
            })
        })
        .collect();
    for c in clients {
        within("a client", c).await.expect("client task");
    }
    // A backend counts a request once its response is written, which the client may have
    // read before the backend task got to count it: wait (bounded) for the last counts.
    let served = || backends.iter().map(TestBackend::served).sum::<usize>();
    let until = Instant::now() + Duration::from_secs(5);
    while served() < 24 * 40 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(served(), 24 * 40);
    let accepted: usize = backends.iter().map(TestBackend::accepted).sum();
    // 24 x 3 is the most round robin over 3 backends can need without discarding a pooled
    // connection; the pool's counters say why, if it is ever exceeded.
    assert!(
        accepted <= 24 * 3,
        "{accepted} upstream connections for 24 clients; pool {:?}",
        p.proxy.pool().stats()
    );
}

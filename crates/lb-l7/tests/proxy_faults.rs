//! The HTTP/1.1 proxy against failing backends and hostile clients, on loopback: a backend
//! dying mid-response, hanging, refusing connections; every backend down; stale pooled
//! connections; request smuggling; slowloris. Every wait is bounded.

mod proxy_support;

use std::time::{Duration, Instant};

use lb_core::Backend;
use lb_l7::head::Method;
use lb_l7::proxy::HttpProxyConfig;
use lb_l7::route::{RetryPolicy, RouteSpec, Timeouts};
use proxy_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn response_timeout(ms: u64) -> impl FnOnce(RouteSpec) -> RouteSpec {
    move |s| RouteSpec {
        timeouts: Timeouts {
            response_head: Duration::from_millis(ms),
            ..Timeouts::default()
        },
        ..s
    }
}

// ---------------------------------------------------------------------------------------------
// A backend dying, hanging, refusing.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_dying_mid_response_cuts_the_client_connection() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n").await;
    match c.try_response().await {
        Ok(r) => panic!(
            "a truncated response was relayed as complete: {} with {} body bytes",
            r.status, r.sum.len
        ),
        Err(cut) => {
            assert_eq!(cut.status, Some(200), "the head was relayed: {cut:?}");
            assert_eq!(cut.body_len, 10, "{cut:?}");
        }
    }
    // curl agrees: a partial transfer (exit 18), not a success.
    let out = curl([url(p.addr, "/cut")]).await;
    assert_eq!(out.exit, 18, "curl: {}", out.stderr);
    assert_eq!(out.stdout, b"0123456789");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_is_a_504_at_the_response_timeout() {
    let b1 = TestBackend::start("b1").await;
    let b2 = TestBackend::start("b2").await;
    let router = default_router(vec![b1.backend(), b2.backend()], response_timeout(300));
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    for i in 0..2 {
        let mut c = Client::connect(p.addr).await;
        let started = Instant::now();
        c.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let r = c.response().await;
        let took = started.elapsed();
        assert_eq!(r.status, 504, "request {i}");
        assert!(r.says_close());
        assert!(
            took >= Duration::from_millis(280) && took < Duration::from_millis(1500),
            "504 after {took:?} (timeout 300 ms, not retried)"
        );
        c.assert_closed("after a 504").await;
    }
    assert_eq!(p.proxy.stats().totals().response_timeouts(), 2);
    assert_eq!(
        p.proxy.stats().totals().retries(),
        0,
        "a timeout is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_backend_is_retried_on_a_working_one() {
    let dead = closed_port().await;
    let live = TestBackend::start("live").await;
    let router = default_router(vec![Backend::named("dead", dead), live.backend()], |s| s);
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..6 {
        let r = c.get(&format!("/r/{i}")).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.backend(), "live");
    }
    for i in 0..4 {
        let out = curl([url(p.addr, &format!("/curl/{i}"))]).await;
        assert_eq!(out.status, 200, "{}", out.stderr);
    }
    let totals = p.proxy.stats().totals();
    assert!(totals.retries() >= 1, "retries: {}", totals.retries());
    assert!(totals.connect_failures() >= 1);
    assert_eq!(totals.retries(), totals.connect_failures());
    assert_eq!(live.served_reaching(10).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_down_is_a_quick_5xx_and_a_close() {
    let (d1, d2) = (closed_port().await, closed_port().await);
    let router = default_router(
        vec![Backend::named("d1", d1), Backend::named("d2", d2)],
        |s| s,
    );
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    for i in 0..8 {
        let mut c = Client::connect(p.addr).await;
        let started = Instant::now();
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let r = c.response().await;
        let took = started.elapsed();
        assert!(
            r.status == 502 || r.status == 503,
            "request {i}: {}",
            r.status
        );
        assert!(r.says_close(), "request {i}: {}", r.head);
        assert!(took < Duration::from_secs(1), "request {i}: {took:?}");
        c.assert_closed("after a 5xx").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_timeout_bounds_the_whole_exchange() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| RouteSpec {
        timeouts: Timeouts {
            total: Some(Duration::from_millis(300)),
            ..Timeouts::default()
        },
        ..s
    });
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(3), c.try_response()).await;
    let took = started.elapsed();
    match r {
        Ok(Ok(r)) => assert_eq!(r.status, 504),
        Ok(Err(cut)) => panic!("cut without a response after {took:?}: {cut:?}"),
        Err(_) => {
            panic!("Timeouts::total = 300 ms, yet no answer after {took:?} (response_head is 30 s)")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_response_is_a_502_never_relayed() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.response().await;
    assert_eq!(r.status, 502);
    assert!(r.says_close());
    c.assert_closed("after a 502").await;
    assert_eq!(p.proxy.stats().totals().bad_responses(), 1);
}

// ---------------------------------------------------------------------------------------------
// Stale pooled connections.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_closing_after_each_keep_alive_response_is_transparent() {
    let b = TestBackend::start_with(
        "b",
        BackendOptions {
            close_after_response: true,
            ..BackendOptions::default()
        },
    )
    .await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..10 {
        let r = c.get(&format!("/s/{i}")).await;
        assert_eq!(r.status, 200, "request {i}");
        assert!(!r.says_close(), "the client connection goes on");
    }
    assert_eq!(b.served_reaching(10).await, 10);
    assert_eq!(b.accepted(), 10, "a new upstream connection each time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_closed_as_the_request_arrives_is_retried_transparently() {
    let b = TestBackend::start_with(
        "b",
        BackendOptions {
            drop_second_request: true,
            ..BackendOptions::default()
        },
    )
    .await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..10 {
        let r = c.get(&format!("/s/{i}")).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    assert_eq!(b.served_reaching(10).await, 10);
    // Requests 2..10 each went first to the pooled connection (dropped), then to a new one.
    assert_eq!(b.received().len(), 19, "{:?}", b.received());
    assert_eq!(b.accepted(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_idempotent_request_is_not_resent_after_a_reused_connection_fails() {
    // RetryPolicy::on_stale_connection: "Retry an idempotent request (or any request before a
    // byte of it was sent)". A POST that was sent whole and got no answer may have been
    // processed: resending it risks doing it twice (nginx's non_idempotent rule).
    let b = TestBackend::start_with(
        "b",
        BackendOptions {
            drop_second_request: true,
            ..BackendOptions::default()
        },
    )
    .await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    assert_eq!(c.get("/warm").await.status, 200); // leaves a pooled connection
    c.send(b"POST /charge-card HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let r = c.try_response_to(Method::Post).await;
    let deliveries = b
        .received()
        .iter()
        .filter(|t| t.as_str() == "/charge-card")
        .count();
    assert_eq!(
        deliveries,
        1,
        "a POST was delivered {deliveries} times (response: {:?})",
        r.map(|r| r.status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_retries_can_be_turned_off() {
    let b = TestBackend::start_with(
        "b",
        BackendOptions {
            drop_second_request: true,
            ..BackendOptions::default()
        },
    )
    .await;
    let router = default_router(vec![b.backend()], |s| RouteSpec {
        retry: RetryPolicy {
            on_stale_connection: false,
            ..RetryPolicy::default()
        },
        ..s
    });
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let mut c = Client::connect(p.addr).await;
    assert_eq!(c.get("/warm").await.status, 200);
    c.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.try_response().await;
    assert_eq!(
        b.received()
            .iter()
            .filter(|t| t.as_str() == "/second")
            .count(),
        1,
        "on_stale_connection = false, yet the request was resent (response {:?})",
        r.map(|r| r.status)
    );
}

// ---------------------------------------------------------------------------------------------
// Retries and Host.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_on_another_backend_when_on_5xx_is_set() {
    // RetryPolicy::on_5xx: "Retry an idempotent request that got a 502, 503 or 504 before any
    // of it was relayed."
    let failing = TestBackend::start_with(
        "failing",
        BackendOptions {
            always_status: Some(503),
            ..BackendOptions::default()
        },
    )
    .await;
    let ok = TestBackend::start("ok").await;
    let router = default_router(vec![failing.backend(), ok.backend()], |s| RouteSpec {
        retry: RetryPolicy {
            on_5xx: true,
            ..RetryPolicy::default()
        },
        ..s
    });
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..4 {
        let r = c.get(&format!("/five/{i}")).await;
        assert_eq!(
            (r.status, r.backend()),
            (200, "ok"),
            "request {i} (on_5xx = true)"
        );
    }
    assert!(failing.served() >= 1, "the failing backend was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_host_retried_elsewhere_is_not_sent_the_dead_backends_name() {
    // An HTTP/1.0 request without Host is sent the cluster's name as Host (as nginx sends
    // $proxy_host, the upstream's name): the same whichever backend a retry reaches, and never
    // the address of a backend it did not reach.
    let dead = closed_port().await;
    let live = TestBackend::start("live").await;
    let router = default_router(vec![Backend::named("dead", dead), live.backend()], |s| s);
    let p = start_proxy(router, HttpProxyConfig::default()).await;
    for i in 0..4 {
        let r = one_shot(p.addr, format!("GET /h10/{i} HTTP/1.0\r\n\r\n").as_bytes()).await;
        assert_eq!(r.status, 200);
        let host = r
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("Host: ").map(str::to_owned))
            .unwrap_or_default();
        assert_eq!(
            host, "c",
            "request {i} reached {} with Host {host} (dead backend: {dead})",
            live.addr
        );
    }
    assert!(p.proxy.stats().totals().retries() >= 1);
}

// ---------------------------------------------------------------------------------------------
// Request bodies over the limit.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_max_request_body_is_a_413_and_never_reaches_the_backend_whole() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        max_request_body: Some(1000),
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut c = Client::connect(p.addr).await;
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"1f4\r\n");
        req.extend_from_slice(&[b'y'; 500]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.send(&req).await;
    let r = c.response_to(Method::Post).await;
    assert_eq!(r.status, 413);
    assert!(r.says_close());
    // Whatever reached the backend, it must not be the whole refused request: wait for the
    // proxy to drop that upstream connection, then look.
    if b.accepted() > 0 {
        b.wait_closed(1).await;
    }
    assert_eq!(
        b.bodies(),
        [],
        "the backend received the whole body the client was told was refused (413)"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Request smuggling.
// ---------------------------------------------------------------------------------------------

/// Sends `raw` on a fresh connection and returns the status of the one response and whether
/// the connection was closed after it.
async fn refused_status(addr: std::net::SocketAddr, raw: &[u8]) -> (u16, bool, String) {
    let mut c = Client::connect(addr).await;
    c.send(raw).await;
    let r = c
        .try_response_to(Method::Post)
        .await
        .unwrap_or_else(|cut| panic!("no response to {:?}: {cut:?}", String::from_utf8_lossy(raw)));
    let tail = c.read_to_end().await;
    (
        r.status,
        r.says_close() && tail.bytes.is_empty(),
        r.head.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_payloads_are_refused_and_never_reach_the_backend() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let admin = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let cl_te = format!(
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{admin}"
    );
    let te_cl = format!(
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{admin}\r\n0\r\n\r\n",
        admin.len()
    );
    for (what, raw) in [("CL.TE", &cl_te), ("TE.CL", &te_cl)] {
        let (status, closed, head) = refused_status(p.addr, raw.as_bytes()).await;
        assert_eq!(status, 400, "{what}: {head}");
        assert!(
            closed,
            "{what}: the connection must close after the 400: {head}"
        );
    }
    // Obfuscated variants: refused one way or another (400, or 501 for an unknown coding).
    let variants = [
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 6\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \x0bchunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nContent-Length: 40\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6, 40\r\n\r\n0\r\n\r\n{admin}"),
        format!("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +6\r\n\r\n0\r\n\r\n{admin}"),
        format!(
            "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{admin}"
        ),
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{admin}"
        ),
    ];
    for raw in &variants {
        let (status, closed, head) = refused_status(p.addr, raw.as_bytes()).await;
        assert!(
            status == 400 || status == 501,
            "{raw:?} got {status}: {head}"
        );
        assert!(closed, "{raw:?}: not closed after {status}");
    }
    // A request that smuggles nothing: /admin inside a valid chunked body stays data, and the
    // request after the body is read where the body ends.
    let inner = format!("{:x}\r\n{admin}\r\n0\r\n\r\n", admin.len());
    let mut c = Client::connect(p.addr).await;
    c.send(
        format!(
            "POST /carrier HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{inner}GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let r1 = c.response_to(Method::Post).await;
    assert_eq!(
        r1.header("x-body-sum"),
        Some(sum_of(admin.as_bytes()).to_string().as_str())
    );
    let r2 = c.response().await;
    assert!(r2.text().starts_with("GET /after HTTP/1.1\r\n"));
    assert_eq!(
        b.received(),
        ["/carrier", "/after"],
        "the backend saw only these"
    );
    assert!(!b.received().iter().any(|t| t.contains("admin")));
}

// ---------------------------------------------------------------------------------------------
// 8. Slowloris.
// ---------------------------------------------------------------------------------------------

/// A client sending one byte of an endless head every 100 ms; returns what it read (if
/// anything) and when, counted from its first byte.
async fn slowloris(addr: std::net::SocketAddr) -> (Vec<u8>, Duration) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /loris HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(1000)
    );
    let mut bytes = head.bytes();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut got = Vec::new();
    let mut chunk = [0_u8; 1024];
    within("slowloris to be cut", async {
        loop {
            tokio::select! {
                read = s.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                },
                _ = tick.tick() => {
                    let b = bytes.next().expect("head bytes left");
                    if s.write_all(&[b]).await.is_err() {
                        // Reset: read what came before it.
                        while let Ok(n) = s.read(&mut chunk).await {
                            if n == 0 { break; }
                            got.extend_from_slice(&chunk[..n]);
                        }
                        break;
                    }
                }
            }
        }
    })
    .await;
    (got, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_at_the_header_timeout_while_others_are_served() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        header_timeout: Duration::from_millis(1000),
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let addr = p.addr;
    let lorises: Vec<_> = (0..3).map(|_| tokio::spawn(slowloris(addr))).collect();
    // Meanwhile, others are served promptly, on new and on kept-alive connections.
    let mut served = 0;
    let mut kept = Client::connect(addr).await;
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    while !lorises.iter().all(|l| l.is_finished()) {
        let started = Instant::now();
        let r = one_shot(addr, b"GET /fresh HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(r.status, 200);
        assert_eq!(kept.get("/kept").await.status, 200);
        assert!(
            // Well inside the header timeout (margin for a busy 2-core CI machine).
            started.elapsed() < Duration::from_millis(800),
            "a request took {:?} during the slowloris",
            started.elapsed()
        );
        served += 2;
        assert!(served < 1000, "the slowloris clients were never cut");
        // The client's own rhythm (not a wait for an event).
        pace.tick().await;
    }
    assert!(
        served >= 6,
        "only {served} requests while the slowloris ran"
    );
    for l in lorises {
        let (got, after) = within("slowloris", l).await.expect("task");
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408 "),
            "the slowloris got {text:?}"
        );
        assert!(
            after >= Duration::from_millis(950) && after < Duration::from_millis(2500),
            "the slowloris was cut after {after:?} (header timeout 1 s)"
        );
    }
    assert!(!b.received().iter().any(|t| t == "/loris"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_header_timeout() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        header_timeout: Duration::from_millis(300),
        // The proxy's own timeout, not the kernel holding a silent connection back.
        defer_accept: false,
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut c = Client::connect(p.addr).await;
    let started = Instant::now();
    let tail = c.read_to_end().await;
    let took = started.elapsed();
    assert!(
        tail.bytes.is_empty() || String::from_utf8_lossy(&tail.bytes).starts_with("HTTP/1.1 408 "),
        "{tail:?}"
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_deferred_accept_a_silent_connection_is_closed_too_and_others_are_served() {
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        header_timeout: Duration::from_millis(300),
        defer_accept: true,
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let mut silent = Client::connect(p.addr).await;
    let started = Instant::now();
    // Meanwhile, clients that send are served at once, one request per connection.
    for i in 0..20 {
        let mut c = Client::connect(p.addr).await;
        let r = c.get(&format!("/deferred/{i}")).await;
        assert_eq!(r.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served while one stays silent"
    );
    // The kernel hands the silent one over after about a second, then the header timeout.
    let tail = silent.read_to_end().await;
    let took = started.elapsed();
    assert!(
        tail.bytes.is_empty() || String::from_utf8_lossy(&tail.bytes).starts_with("HTTP/1.1 408 "),
        "{tail:?}"
    );
    assert!(took < Duration::from_secs(8), "closed after {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Connections left out of step are not reused.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_aborting_an_upload_leaves_no_half_used_upstream_connection_in_the_pool() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
        .await;
    b.wait_arrivals(1).await;
    drop(c);
    // The proxy closes that upstream connection (the backend sees it end mid-body).
    b.wait_closed(1).await;
    let mut c = Client::connect(p.addr).await;
    for i in 0..3 {
        let r = c.get(&format!("/after/{i}")).await;
        assert_eq!(r.status, 200);
        assert!(
            r.text()
                .starts_with(&format!("GET /after/{i} HTTP/1.1\r\n"))
        );
    }
    assert_eq!(b.accepted(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_longer_than_announced_completes_but_its_connection_is_not_reused() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    let r = c.get("/stray").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    for i in 0..3 {
        let r = c.get(&format!("/after/{i}")).await;
        assert_eq!(r.status, 200, "request {i} after the stray bytes");
        assert!(
            r.text()
                .starts_with(&format!("GET /after/{i} HTTP/1.1\r\n"))
        );
    }
    assert_eq!(
        b.accepted(),
        2,
        "the out-of-step connection was dropped, the next one pooled"
    );
}

// ---------------------------------------------------------------------------------------------
// Responses that come before the request body is done.
// ---------------------------------------------------------------------------------------------

/// Sends `head` then `body_len` bytes in the background, reads whatever the proxy says until
/// it closes, and returns the status of the first response in it (`None`: nothing came) with
/// that response's head.
async fn upload_and_read(
    addr: std::net::SocketAddr,
    head: String,
    body_len: usize,
) -> (Option<u16>, String) {
    let c = Client::connect(addr).await;
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let block = vec![b'u'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(block.len());
            if wr.write_all(&block[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
        wr
    });
    let mut got = Vec::new();
    within("the proxy to answer and close", async {
        let mut chunk = vec![0_u8; 64 * 1024];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    writer.abort();
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|c| c.parse().ok());
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    (status, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_final_response_to_an_upload_reaches_the_client() {
    // RFC 9112 §9.5: a client sending a body should watch for an error response meanwhile and
    // stop sending; the proxy is that client towards the backend.
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let len = 8 << 20;
    let head = format!("PUT /early HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n");
    let (status, head) = upload_and_read(p.addr, head, len).await;
    assert_eq!(status, Some(401), "the backend's 401 became: {head:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_over_max_request_body_still_gets_its_413() {
    // The proxy refuses at the head and closes without reading the 8 MiB body: the 413 must
    // still reach the client (not be lost to a reset over unread data).
    let b = TestBackend::start("b").await;
    let router = default_router(vec![b.backend()], |s| s);
    let config = HttpProxyConfig {
        max_request_body: Some(1 << 20),
        ..HttpProxyConfig::default()
    };
    let p = start_proxy(router, config).await;
    let len = 8 << 20;
    for i in 0..3 {
        let head = format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n");
        let (status, head) = upload_and_read(p.addr, head, len).await;
        assert_eq!(status, Some(413), "attempt {i}: {head:?}");
    }
    let (file, _) = pattern_file("over-limit", len as u64);
    let out = curl([
        "-H".to_owned(),
        "Expect:".into(),
        "--data-binary".into(),
        format!("@{}", file.display()),
        url(p.addr, "/upload"),
    ])
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status, 413, "curl: {}", out.stderr);
    assert_eq!(b.arrivals(), 0);
}

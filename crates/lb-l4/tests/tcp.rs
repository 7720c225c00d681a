//! The TCP proxy on loopback: proportions, retries and ejection, half-close,
//! a large transfer, the connection cap, drain. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_core::health::{HealthConfig, OutlierDetection};
use lb_core::{Backend, Balancer, Policy};
use lb_l4::tcp::{DrainReport, TcpProxy, TcpProxyConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// A backend that greets each connection with its name and a newline, echoes
/// everything until the client half-closes, then says "bye" and closes.
async fn backend(name: &'static str, listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = conn.write_all(format!("{name}\n").as_bytes()).await;
                let mut buf = vec![0_u8; 64 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = conn.write_all(b"bye").await;
            });
        }
    })
}

async fn listen() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

struct Proxy {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<DrainReport>,
    proxy: Arc<TcpProxy<Policy>>,
}

async fn proxy(
    backends: Vec<Backend>,
    policy: &str,
    health: HealthConfig,
    config: TcpProxyConfig,
) -> Proxy {
    let balancer = Balancer::builder(policy.parse::<Policy>().expect("known"), backends)
        .health(health)
        .build()
        .expect("valid");
    let proxy = Arc::new(TcpProxy::new(Arc::new(balancer), config));
    let (listener, addr) = listen().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(Arc::clone(&proxy).serve(listener, async move {
        let _ = stopped.await;
    }));
    Proxy {
        addr,
        stop,
        served,
        proxy,
    }
}

/// A round-robin proxy in front of one greeting/echo backend named "a".
async fn one_backend(config: TcpProxyConfig) -> Proxy {
    let (l, a) = listen().await;
    backend("a", l).await;
    proxy(
        vec![Backend::new(a)],
        "round-robin",
        HealthConfig::default(),
        config,
    )
    .await
}

/// Connects through the proxy and returns the greeting's backend name.
async fn greet(addr: SocketAddr) -> String {
    let conn = timeout(LIMIT, TcpStream::connect(addr))
        .await
        .expect("in time")
        .expect("connect");
    let mut lines = BufReader::new(conn);
    let mut name = String::new();
    timeout(LIMIT, lines.read_line(&mut name))
        .await
        .expect("in time")
        .expect("read");
    name.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_follows_the_algorithm() {
    let mut backends = Vec::new();
    for (name, weight) in [("a", 3), ("b", 1)] {
        let (l, a) = listen().await;
        backend(name, l).await;
        backends.push(Backend::named(name, a).with_weight(weight).expect("weight"));
    }
    let p = proxy(
        backends,
        "weighted-round-robin",
        HealthConfig::default(),
        TcpProxyConfig::default(),
    )
    .await;
    let mut names = String::new();
    for _ in 0..8 {
        names += &greet(p.addr).await;
    }
    assert_eq!(names, "aabaaaba"); // smooth WRR, 3:1
    assert_eq!(p.proxy.stats().accepted(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_is_retried_around_ejected_and_returns() {
    let (la, aa) = listen().await;
    let (lb, ab) = listen().await;
    backend("a", la).await;
    let b_task = backend("b", lb).await;
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(2)
        .with_ejection_times(Duration::from_millis(300), Duration::from_millis(300))
        .expect("valid")
        .with_max_ejection_percent(50)
        .expect("valid");
    let p = proxy(
        vec![Backend::named("a", aa), Backend::named("b", ab)],
        "round-robin",
        HealthConfig::default().with_outlier(outlier),
        TcpProxyConfig::default().connect_timeout(Duration::from_secs(2)),
    )
    .await;
    assert_eq!(greet(p.addr).await, "a");
    assert_eq!(greet(p.addr).await, "b");
    b_task.abort(); // b's listener closes: connects are refused
    let _ = b_task.await;
    for _ in 0..6 {
        assert_eq!(greet(p.addr).await, "a", "every connection still succeeds");
    }
    let status = p.proxy.balancer().health_status();
    assert_eq!(status.ejected, 1);
    assert!(p.proxy.stats().connect_failures() >= 2);
    // b comes back on the same port; after the ejection it takes traffic.
    let lb = TcpListener::bind(ab).await.expect("rebind");
    backend("b", lb).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut seen_b = false;
    for _ in 0..4 {
        seen_b |= greet(p.addr).await == "b";
    }
    assert!(seen_b, "b returned through the health model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_still_gets_the_whole_response() {
    for splice in [false, true] {
        let p = one_backend(TcpProxyConfig::default().splice(splice)).await;
        let mut conn = TcpStream::connect(p.addr).await.expect("connect");
        conn.write_all(b"request").await.expect("write");
        conn.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        timeout(LIMIT, conn.read_to_end(&mut got))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(got, b"a\nrequestbye", "splice {splice}");
        assert_eq!(p.proxy.stats().spliced(), u64::from(splice));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_arrives_intact_both_ways() {
    large_transfer(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_transfer_arrives_intact_with_splice() {
    large_transfer(true).await;
}

async fn large_transfer(splice: bool) {
    const SIZE: usize = 256 << 20;
    let p = one_backend(TcpProxyConfig::default().splice(splice)).await;
    let conn = TcpStream::connect(p.addr).await.expect("connect");
    let (mut read, mut write) = conn.into_split();
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let writer = tokio::spawn(async move {
        let mut chunk = vec![0_u8; 1 << 20];
        for c in 0..SIZE / chunk.len() {
            for (j, byte) in chunk.iter_mut().enumerate() {
                *byte = pattern(c * (1 << 20) + j);
            }
            write.write_all(&chunk).await.expect("write");
        }
        write.shutdown().await.expect("half-close");
    });
    let mut greeting = [0_u8; 2];
    read.read_exact(&mut greeting).await.expect("greeting");
    let mut buf = vec![0_u8; 1 << 16];
    let mut at = 0_usize;
    let mut mismatches = 0_usize;
    let mut tail = Vec::new();
    timeout(Duration::from_secs(120), async {
        loop {
            let n = read.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            for &byte in &buf[..n] {
                if at < SIZE {
                    mismatches += usize::from(byte != pattern(at));
                } else {
                    tail.push(byte);
                }
                at += 1;
            }
        }
    })
    .await
    .expect("in time");
    writer.await.expect("writer");
    assert_eq!(
        (at - tail.len(), mismatches, tail.as_slice()),
        (SIZE, 0, &b"bye"[..])
    );
    let stats = p.proxy.stats();
    assert_eq!(stats.bytes_up(), SIZE as u64);
    assert_eq!(stats.spliced(), u64::from(splice), "the splice path ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_refuses_the_excess_promptly() {
    let p = one_backend(TcpProxyConfig::default().max_connections(2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let conn = TcpStream::connect(p.addr).await.expect("connect");
        let mut lines = BufReader::new(conn);
        let mut name = String::new();
        lines.read_line(&mut name).await.expect("greeting");
        held.push(lines);
    }
    // The excess is reset at once: either the connect itself sees the reset
    // or the first read does.
    if let Ok(mut excess) = TcpStream::connect(p.addr).await {
        let mut byte = [0_u8; 1];
        let closed = timeout(Duration::from_secs(2), excess.read(&mut byte))
            .await
            .expect("closed promptly");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.proxy.stats().rejected(), 1);
    // The held connections still work.
    for conn in &mut held {
        conn.get_mut().write_all(b"ping").await.expect("write");
        let mut echo = [0_u8; 4];
        conn.read_exact(&mut echo).await.expect("echo");
        assert_eq!(&echo, b"ping");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_lets_transfers_finish_and_refuses_new_connections() {
    let p = one_backend(TcpProxyConfig::default().drain_timeout(Duration::from_secs(5))).await;
    let mut conn = TcpStream::connect(p.addr).await.expect("connect");
    let mut greeting = [0_u8; 2];
    conn.read_exact(&mut greeting).await.expect("greeting");
    p.stop.send(()).expect("serving");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(p.addr).await.is_err(),
        "no longer accepting"
    );
    // The open connection still works to its end.
    conn.write_all(b"last words").await.expect("write");
    conn.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.expect("read");
    assert_eq!(rest, b"last wordsbye");
    let report = timeout(LIMIT, p.served)
        .await
        .expect("in time")
        .expect("task");
    assert_eq!(
        report,
        DrainReport {
            finished: 1,
            cut: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_cuts_what_is_still_open_at_the_deadline() {
    let p = one_backend(TcpProxyConfig::default().drain_timeout(Duration::from_millis(200))).await;
    let mut conn = TcpStream::connect(p.addr).await.expect("connect");
    let mut greeting = [0_u8; 2];
    conn.read_exact(&mut greeting).await.expect("greeting");
    conn.write_all(b"ping").await.expect("write");
    let mut echo = [0_u8; 4];
    conn.read_exact(&mut echo).await.expect("echo");
    // Counters are live while the connection is open.
    let stats = Arc::clone(p.proxy.stats());
    assert_eq!((stats.bytes_up(), stats.bytes_down()), (4, 6));
    p.stop.send(()).expect("serving");
    let report = timeout(LIMIT, p.served)
        .await
        .expect("in time")
        .expect("task");
    assert_eq!(
        report,
        DrainReport {
            finished: 0,
            cut: 1
        }
    );
    assert_eq!(
        (stats.active(), stats.completed()),
        (0, 1),
        "a cut connection is completed"
    );
    let mut rest = Vec::new();
    let _ = timeout(LIMIT, conn.read_to_end(&mut rest))
        .await
        .expect("closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_one_listener_leaves_another_alone() {
    let (l, a) = listen().await;
    backend("a", l).await;
    let balancer = Balancer::new(
        "round-robin".parse::<Policy>().expect("known"),
        vec![Backend::new(a)],
    )
    .expect("valid");
    let proxy = Arc::new(TcpProxy::new(
        Arc::new(balancer),
        TcpProxyConfig::default().drain_timeout(Duration::from_secs(3)),
    ));
    let (first, first_addr) = listen().await;
    let (second, second_addr) = listen().await;
    let (stop_first, first_stopped) = oneshot::channel::<()>();
    let served_first = tokio::spawn(Arc::clone(&proxy).serve(first, async move {
        let _ = first_stopped.await;
    }));
    tokio::spawn(Arc::clone(&proxy).serve(second, std::future::pending()));
    let mut on_second = TcpStream::connect(second_addr).await.expect("connect");
    let mut greeting = [0_u8; 2];
    on_second.read_exact(&mut greeting).await.expect("greeting");
    stop_first.send(()).expect("serving");
    let report = timeout(Duration::from_secs(1), served_first)
        .await
        .expect("no wait for the other listener's connection")
        .expect("task");
    assert_eq!(
        report,
        DrainReport {
            finished: 0,
            cut: 0
        }
    );
    assert!(TcpStream::connect(first_addr).await.is_err());
    on_second.write_all(b"still here").await.expect("write");
    let mut echo = [0_u8; 10];
    on_second.read_exact(&mut echo).await.expect("echo");
    assert_eq!(&echo, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_idle_timeout_is_no_idle_timeout() {
    let p = one_backend(TcpProxyConfig::default().idle_timeout(Duration::MAX)).await;
    assert_eq!(greet(p.addr).await, "a");
}

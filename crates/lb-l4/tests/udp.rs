//! The UDP proxy on loopback: replies reach the right client, sessions stick
//! and expire, the session cap, a dead backend fed to passive health.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_core::health::{HealthConfig, OutlierDetection};
use lb_core::{Backend, Balancer, Policy};
use lb_l4::udp::{UdpProxy, UdpProxyConfig};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A UDP backend answering each datagram with "name:" + the datagram.
async fn backend(name: &'static str) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0_u8; 2048];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    addr
}

struct Proxy {
    addr: SocketAddr,
    proxy: Arc<UdpProxy<Policy>>,
    balancer: Arc<Balancer<Policy>>,
    _stop: oneshot::Sender<()>,
}

async fn proxy(backends: Vec<SocketAddr>, health: HealthConfig, config: UdpProxyConfig) -> Proxy {
    let balancer = Arc::new(
        Balancer::builder(
            "round-robin".parse::<Policy>().expect("known"),
            backends.into_iter().map(Backend::new).collect(),
        )
        .health(health)
        .build()
        .expect("valid"),
    );
    let proxy = Arc::new(UdpProxy::new(Arc::clone(&balancer), config));
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(Arc::clone(&proxy).serve(socket, async move {
        let _ = stopped.await;
    }));
    Proxy {
        addr,
        proxy,
        balancer,
        _stop: stop,
    }
}

async fn ask(client: &UdpSocket, to: SocketAddr, msg: &str) -> Option<String> {
    client.send_to(msg.as_bytes(), to).await.expect("send");
    let mut buf = [0_u8; 2048];
    let (n, _) = timeout(Duration::from_millis(500), client.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_the_right_client_and_sessions_stick() {
    let backends = vec![backend("a").await, backend("b").await];
    let p = proxy(backends, HealthConfig::default(), UdpProxyConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    }
    let mut owners = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let reply = ask(c, p.addr, &format!("hello {i}")).await.expect("reply");
        let (owner, echo) = reply.split_once(':').expect("name:payload");
        assert_eq!(
            echo,
            format!("hello {i}"),
            "the reply came back to its sender"
        );
        owners.push(owner.to_owned());
    }
    assert_eq!(owners, ["a", "b", "a", "b"], "round robin per session");
    // Later datagrams of a client stay on its session's backend.
    for (i, c) in clients.iter().enumerate() {
        for k in 0..3 {
            let reply = ask(c, p.addr, &format!("again {k}")).await.expect("reply");
            assert!(reply.starts_with(&owners[i]), "{reply}");
        }
    }
    assert_eq!(p.proxy.stats().opened(), 4);
    assert_eq!(p.proxy.stats().datagrams_up(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_and_release_their_leases() {
    let p = proxy(
        vec![backend("a").await],
        HealthConfig::default(),
        UdpProxyConfig::default().idle_timeout(Duration::from_millis(200)),
    )
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert!(ask(&client, p.addr, "x").await.is_some());
    assert_eq!(p.proxy.stats().sessions(), 1);
    assert_eq!(p.balancer.snapshot().loads().total_in_flight(), 1);
    timeout(Duration::from_secs(5), async {
        while p.proxy.stats().sessions() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the idle session expires");
    assert_eq!(p.proxy.stats().sessions(), 0);
    assert_eq!(p.proxy.stats().expired(), 1);
    assert_eq!(p.balancer.snapshot().loads().total_in_flight(), 0);
    // A new datagram opens a new session.
    assert!(ask(&client, p.addr, "y").await.is_some());
    assert_eq!(p.proxy.stats().opened(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_drops_new_clients_only() {
    let p = proxy(
        vec![backend("a").await],
        HealthConfig::default(),
        UdpProxyConfig::default().max_sessions(2),
    )
    .await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    }
    assert!(ask(&clients[0], p.addr, "1").await.is_some());
    assert!(ask(&clients[1], p.addr, "2").await.is_some());
    assert!(
        ask(&clients[2], p.addr, "3").await.is_none(),
        "over the cap"
    );
    assert_eq!(p.proxy.stats().dropped(), 1);
    assert!(
        ask(&clients[0], p.addr, "4").await.is_some(),
        "existing sessions unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_is_ejected() {
    // A port with nothing behind it: the upstream socket gets ICMP port
    // unreachable, the session fails, passive health ejects the backend.
    let dead = {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        s.local_addr().expect("addr")
    };
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(1)
        .with_max_ejection_percent(50)
        .expect("valid");
    let p = proxy(
        vec![dead, backend("live").await],
        HealthConfig::default().with_outlier(outlier),
        UdpProxyConfig::default(),
    )
    .await;
    let first = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert!(
        ask(&first, p.addr, "x").await.is_none(),
        "the dead backend answers nothing"
    );
    // The ICMP error reaches the relay asynchronously: wait for the
    // ejection, bounded, rather than for a fixed time.
    timeout(Duration::from_secs(5), async {
        while p.balancer.health_status().ejected == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the dead backend is ejected");
    assert_eq!(p.balancer.health_status().ejected, 1);
    for _ in 0..3 {
        let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let reply = ask(&c, p.addr, "y")
            .await
            .expect("the live backend answers");
        assert!(reply.starts_with("live:"), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_serve_frees_every_session() {
    let balancer = Arc::new(
        Balancer::new(
            "round-robin".parse::<Policy>().expect("known"),
            vec![Backend::new(backend("a").await)],
        )
        .expect("valid"),
    );
    let proxy = Arc::new(UdpProxy::new(
        Arc::clone(&balancer),
        UdpProxyConfig::default(),
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let served = tokio::spawn(Arc::clone(&proxy).serve(socket, std::future::pending()));
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    assert!(ask(&client, addr, "x").await.is_some());
    assert_eq!(proxy.stats().sessions(), 1);
    served.abort();
    let _ = served.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(proxy.stats().sessions(), 0);
    assert_eq!(balancer.snapshot().loads().total_in_flight(), 0);
    // The relays held the listening socket: it is free again.
    UdpSocket::bind(addr).await.expect("the port was released");
}

//! The seed's two-tier design on loopback: an L4 tier (lb-l4, PROXY protocol v2 out) in front of
//! two L7 instances (lb-tls + lb-l7: PROXY protocol in, TLS termination, path routing) in front
//! of plain HTTP backends, which still see the real client address in `X-Forwarded-For`.
//!
//! ```text
//! cargo run --release --example two_tier [-- --listen 127.0.0.1:18443 --l7 2]
//! ```
//!
//! ```text
//!  client ──TLS──► L4 tier (TcpProxy, least-conn, PROXY v2) ──► L7 #1 ┐ (PROXY in, TLS off,
//!                                                            └──► L7 #2 ┘  route by path)
//!                                          /api/users ─► users backends, /api/orders ─► orders
//! ```
//!
//! With no `--route`, two demo backends answer with what they saw. The example checks itself: it
//! connects from 127.0.0.2 (another loopback address) through the whole chain and prints the
//! backend's answer, whose `X-Forwarded-For` names 127.0.0.2, not the L4 tier. Then it serves
//! until Ctrl-C; try `curl --interface 127.0.0.2 --cacert CERT https://localhost:18443/api/users`.
//!
//! To scale out: the L4 tier is stateless and fast (one per address, or several behind ECMP/DNS);
//! each L7 instance is identical (same routes, same cookie key, so sticky cookies hold across
//! instances) and is added to the L4 tier's backend list; backends are added to the L7
//! instances' clusters. Each tier then runs on its own machines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lb::core::{Backend, Balancer, LeastConn};
use lb::l4::proxy_protocol::Version;
use lb::l4::tcp::{TcpProxy, TcpProxyConfig};
use lb::l7::proxy::{HttpProxy, HttpProxyConfig};
use lb::l7::route::{RouteShorthand, ShorthandDefaults, router_from_shorthands};
use lb::tls::{
    CertStore, HttpsOptions, TlsSettings, TlsTerminator, UpstreamTls, certified_key, serve_https,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

#[derive(Parser, Debug)]
#[command(about = "L4 (PROXY v2) → L7 (TLS, routing) → backends, on loopback")]
struct Args {
    /// Address of the L4 tier.
    #[arg(long, default_value = "127.0.0.1:18443")]
    listen: SocketAddr,
    /// Number of L7 instances behind the L4 tier.
    #[arg(long, default_value_t = 2)]
    l7: usize,
    /// Routes of the L7 tier, as in http_router; default: /api/users and /api/orders to two
    /// demo backends.
    #[arg(long = "route")]
    routes: Vec<String>,
    /// Exit after the self-check instead of serving.
    #[arg(long)]
    check_only: bool,
}

/// A demo backend: answers every request with its name and the forwarding headers it got.
async fn demo_backend(name: &'static str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
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
                        let seen: Vec<&str> = head
                            .lines()
                            .filter(|l| {
                                let l = l.to_ascii_lowercase();
                                l.starts_with("x-forwarded-") || l.starts_with("x-real-ip")
                            })
                            .collect();
                        let body = format!("backend {name} saw: {}\n", seen.join("; "));
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
    Ok(addr)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let routes: Vec<RouteShorthand> = if args.routes.is_empty() {
        let (users, orders) = (demo_backend("users").await?, demo_backend("orders").await?);
        vec![
            format!("/api/users={users}").parse()?,
            format!("/api/orders={orders}").parse()?,
        ]
    } else {
        args.routes
            .iter()
            .map(|r| r.parse())
            .collect::<Result<_, _>>()?
    };
    // One certificate for every L7 instance (they are interchangeable behind the L4 tier).
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert_pem = generated.cert.pem();
    let key = certified_key(
        cert_pem.as_bytes(),
        generated.signing_key.serialize_pem().as_bytes(),
        "localhost",
    )?;
    let cert_path = std::env::temp_dir().join(format!("lb-two-tier-{}.pem", std::process::id()));
    std::fs::write(&cert_path, &cert_pem)?;

    // The L7 tier: PROXY protocol in, TLS off, routing.
    let mut l7_addrs = Vec::new();
    for _ in 0..args.l7.max(1) {
        let (router, _) = router_from_shorthands(&routes, &ShorthandDefaults::default())?;
        let proxy = Arc::new(HttpProxy::new(
            router,
            HttpProxyConfig {
                tls: true,
                ..HttpProxyConfig::default()
            },
        ));
        let mut store = CertStore::new();
        store.set_default(Arc::clone(&key));
        let tls = Arc::new(TlsTerminator::new(store, TlsSettings::default())?);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        l7_addrs.push(listener.local_addr()?);
        let options = HttpsOptions {
            accept_proxy: Some(Duration::from_secs(5)),
        };
        tokio::spawn(serve_https(
            listener,
            std::future::pending(),
            tls,
            proxy,
            options,
        ));
    }
    // The L4 tier: least connections over the L7 instances, PROXY v2 out.
    let balancer = Arc::new(Balancer::new(
        LeastConn::default(),
        l7_addrs.iter().map(|&a| Backend::new(a)).collect(),
    )?);
    let l4 = Arc::new(TcpProxy::new(
        balancer,
        TcpProxyConfig::default().send_proxy(Some(Version::V2)),
    ));
    let listener = lb::l4::tcp::listen(args.listen, false)?;
    let l4_addr = listener.local_addr()?;
    tokio::spawn(Arc::clone(&l4).serve(listener, std::future::pending()));
    eprintln!("two_tier: L4 on {l4_addr} → L7 on {l7_addrs:?}");

    // Self-check: a client on 127.0.0.2 through both tiers.
    let client = UpstreamTls::new(cert_pem.as_bytes())?;
    for path in ["/api/users/1", "/api/orders/7"] {
        let socket = TcpSocket::new_v4()?;
        socket.bind("127.0.0.2:0".parse()?)?;
        let tcp = socket.connect(l4_addr).await?;
        let mut tls = client.connect("localhost", tcp).await?;
        tls.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await?;
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        print!("GET {path} from 127.0.0.2 → {body}");
    }
    if args.check_only {
        return Ok(());
    }
    eprintln!(
        "two_tier: serving; try: curl --interface 127.0.0.2 --cacert {} https://localhost:{}/api/users",
        cert_path.display(),
        l4_addr.port()
    );
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

//! A UDP load balancer: one session per client, replies relayed back.
//!
//! How to run:
//!
//! ```text
//! cargo run --release --example udp_proxy -- --listen 127.0.0.1:15353 \
//!     --backend 127.0.0.1:15301 --backend 127.0.0.1:15302 [--algorithm ring]
//! ```
//!
//! The backend of a session is picked with the client IP as the hash key,
//! so hash algorithms (`hash`, `ring`, `maglev`, ...) keep a client on one
//! backend across sessions. Ctrl-C or SIGTERM stops it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lb::core::{Backend, Balancer, Error, Policy};
use lb::l4::udp::{UdpProxy, UdpProxyConfig};

#[derive(Parser, Debug)]
#[command(about = "A UDP load balancer built from lb-core and lb-l4")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// A backend address (repeat for each backend).
    #[arg(long = "backend", required = true)]
    backends: Vec<SocketAddr>,
    /// Balancing algorithm (names as in select_demo).
    #[arg(long, default_value = "round-robin", value_parser = parse_policy)]
    algorithm: Policy,
    /// Seconds without a datagram after which a session closes.
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,
    /// Most sessions at once.
    #[arg(long, default_value_t = 10_000)]
    max_sessions: usize,
}

fn parse_policy(name: &str) -> Result<Policy, Error> {
    name.parse()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let backends = args.backends.iter().map(|&a| Backend::new(a)).collect();
    let balancer = Arc::new(
        Balancer::builder(args.algorithm.clone(), backends)
            .events(|e| eprintln!("health: {:?}", e.kind))
            .build()?,
    );
    let config = UdpProxyConfig::default()
        .idle_timeout(Duration::from_secs(args.idle_secs))
        .max_sessions(args.max_sessions);
    let proxy = Arc::new(UdpProxy::new(balancer, config));
    let socket = tokio::net::UdpSocket::bind(args.listen).await?;
    eprintln!(
        "udp_proxy: {} → {} backends, {}",
        args.listen,
        args.backends.len(),
        args.algorithm
    );
    Arc::clone(&proxy)
        .serve(socket, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let s = proxy.stats();
    eprintln!(
        "udp_proxy: {} sessions opened, {} expired, {} datagrams up, {} down, {} dropped",
        s.opened(),
        s.expired(),
        s.datagrams_up(),
        s.datagrams_down(),
        s.dropped()
    );
    Ok(())
}

//! A TCP load balancer: nginx `stream` / HAProxy `mode tcp` in one file.
//!
//! How to run (two backends on loopback, e.g. `nc -lk 19001`):
//!
//! ```text
//! cargo run --release --example tcp_proxy -- --listen 127.0.0.1:18080 \
//!     --backend 127.0.0.1:19001 --backend 127.0.0.1:19002 \
//!     [--algorithm least-conn] [--send-proxy v1|v2] [--accept-proxy] \
//!     [--health-interval 1s] [--threads N] [--splice] [--no-half-close] \
//!     [--accept-burst 8]
//! ```
//!
//! Algorithm names as in `select_demo`. `--threads 1` runs the proxy on one
//! worker thread. With `--health-interval`, each backend is TCP-checked on
//! that interval (rise 2, fall 3); connect failures eject passively anyway.
//! Ctrl-C or SIGTERM drains (stops accepting, lets connections finish for
//! up to `--drain-timeout`) and exits.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Layer, parse_duration, run_with_threads, shutdown_signal};
use lb::core::health::{ProbeConfig, Prober};
use lb::core::{Backend, Balancer, Error, Policy};
use lb::l4::TcpProbe;
use lb::l4::proxy_protocol::Version;
use lb::l4::tcp::{HashKey, TcpProxy, TcpProxyConfig};

#[derive(Parser, Debug)]
#[command(about = "A TCP load balancer built from lb-core and lb-l4")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// A backend address (repeat for each backend).
    #[arg(long = "backend", required = true)]
    backends: Vec<SocketAddr>,
    /// Balancing algorithm: round-robin, weighted-round-robin, random,
    /// least-conn, p2c, peak-ewma, hash, ring, maglev, rendezvous,
    /// bounded-load.
    #[arg(long, default_value = "round-robin", value_parser = parse_policy)]
    algorithm: Policy,
    /// Active TCP health checks every this long (e.g. 1s, 500ms); off if absent.
    #[arg(long, value_parser = parse_duration)]
    health_interval: Option<Duration>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Most client connections at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Backend connect timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Close connections idle this long in both directions.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// How long a drain waits for open connections.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Send a PROXY protocol header (v1 or v2) to each backend.
    #[arg(long, value_parser = parse_proxy_version)]
    send_proxy: Option<Version>,
    /// Expect a PROXY protocol header from the tier in front.
    #[arg(long)]
    accept_proxy: bool,
    /// Forward with splice(2) (Linux): less CPU per byte on bulk transfers.
    #[arg(long)]
    splice: bool,
    /// Close the whole connection when either side ends (nginx stream's default,
    /// `proxy_half_close off`) instead of passing a half-close on.
    #[arg(long)]
    no_half_close: bool,
    /// Hash key for hash algorithms: client-ip or four-tuple.
    #[arg(long, default_value = "client-ip", value_parser = parse_hash_key)]
    hash_key: HashKey,
    /// Connections accepted in a row before the open ones get their turn
    /// (HAProxy's tune.maxaccept).
    #[arg(long, default_value_t = lb::l4::server::DEFAULT_ACCEPT_BURST)]
    accept_burst: usize,
}

fn parse_policy(name: &str) -> Result<Policy, Error> {
    name.parse()
}

fn parse_proxy_version(s: &str) -> Result<Version, String> {
    match s {
        "v1" => Ok(Version::V1),
        "v2" => Ok(Version::V2),
        _ => Err(format!("{s:?}: expected v1 or v2")),
    }
}

fn parse_hash_key(s: &str) -> Result<HashKey, String> {
    match s {
        "client-ip" => Ok(HashKey::ClientIp),
        "four-tuple" => Ok(HashKey::FourTuple),
        _ => Err(format!("{s:?}: expected client-ip or four-tuple")),
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    run_with_threads(args.threads, Layer::L4, run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let backends: Vec<Backend> = args.backends.iter().map(|&a| Backend::new(a)).collect();
    let balancer = Arc::new(
        Balancer::builder(args.algorithm.clone(), backends)
            .events(|e| eprintln!("health: {:?}", e.kind))
            .build()?,
    );
    let prober = match args.health_interval {
        Some(interval) => Some(Prober::spawn(
            Arc::clone(&balancer),
            Arc::new(TcpProbe::default()),
            ProbeConfig::default().with_timing(interval, interval.min(Duration::from_secs(2)))?,
        )),
        None => None,
    };
    let config = TcpProxyConfig::default()
        .max_connections(args.max_connections)
        .connect_timeout(args.connect_timeout)
        .idle_timeout(args.idle_timeout)
        .drain_timeout(args.drain_timeout)
        .accept_burst(args.accept_burst)
        .hash_key(args.hash_key)
        .send_proxy(args.send_proxy)
        .accept_proxy(args.accept_proxy)
        .splice(args.splice)
        .half_close(!args.no_half_close);
    let proxy = Arc::new(TcpProxy::new(Arc::clone(&balancer), config));
    // SO_REUSEADDR and a 1024-connection backlog (the std default is 128).
    let listener = lb::l4::tcp::listen(args.listen, false)?;
    eprintln!(
        "tcp_proxy: {} → {} backends, {}",
        args.listen,
        args.backends.len(),
        args.algorithm
    );
    let report = Arc::clone(&proxy).serve(listener, shutdown_signal()).await;
    if let Some(prober) = prober {
        prober.shutdown().await;
    }
    let stats = proxy.stats();
    eprintln!(
        "tcp_proxy: drained ({} finished, {} cut); {} accepted, {} rejected, {} without backend, {} bytes up, {} down",
        report.finished,
        report.cut,
        stats.accepted(),
        stats.rejected(),
        stats.no_backend(),
        stats.bytes_up(),
        stats.bytes_down()
    );
    Ok(())
}

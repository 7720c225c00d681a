//! A TLS SNI passthrough router: HAProxy `mode tcp` + `req.ssl_sni`, nginx
//! `stream` + `ssl_preread`, in one file. TLS is not terminated: the
//! ClientHello is peeked, the connection routed by its server name, and the
//! backend completes the handshake with its own certificate.
//!
//! How to run (TLS backends on loopback, e.g.
//! `openssl s_server -accept 127.0.0.1:19001 -cert a.pem -key a.key -www`):
//!
//! ```text
//! cargo run --release --example sni_passthrough -- --listen 127.0.0.1:18443 \
//!     --sni a.example=127.0.0.1:19001,127.0.0.1:19002 \
//!     --sni '*.b.example=127.0.0.1:19003' \
//!     [--default 127.0.0.1:19004] [--algorithm least-conn] [--threads N] \
//!     [--peek-timeout 5s] [--health-interval 1s]
//!
//! curl --resolve a.example:18443:127.0.0.1 --cacert a.pem https://a.example:18443/
//! ```
//!
//! Each `--sni` is a route, `NAME=ADDR[,ADDR...]`: an exact host name, or
//! `*.suffix` for every name under `suffix` (at least one label before it);
//! names compare without regard to case. Each route and the default get
//! their own balancer, all with `--algorithm` (names as in `select_demo`),
//! hashed on the client IP. ClientHellos without a name, or with a name no
//! route matches, go to `--default`; without it they are closed. Ctrl-C or
//! SIGTERM drains (stops accepting, lets connections finish for up to
//! `--drain-timeout`) and exits.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Layer, parse_duration, run_with_threads, shutdown_signal};
use lb::core::health::{ProbeConfig, Prober};
use lb::core::{Backend, Balancer, Error, Policy};
use lb::l4::TcpProbe;
use lb::l4::sni::{SniProxy, SniProxyConfig, SniRoutes};

#[derive(Parser, Debug)]
#[command(about = "A TLS SNI passthrough router built from lb-core and lb-l4")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// A route, NAME=ADDR[,ADDR...]: a host name or *.suffix pattern and
    /// its backends (repeat for each route).
    #[arg(long = "sni", value_parser = parse_route)]
    routes: Vec<Route>,
    /// Backends for ClientHellos without a name or with an unknown name,
    /// ADDR[,ADDR...]; without it those connections are closed.
    #[arg(long, value_parser = parse_addrs)]
    default: Option<Addrs>,
    /// Balancing algorithm of every cluster: round-robin,
    /// weighted-round-robin, random, least-conn, p2c, peak-ewma, hash,
    /// ring, maglev, rendezvous, bounded-load.
    #[arg(long, default_value = "round-robin", value_parser = parse_policy)]
    algorithm: Policy,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// How long a client may take to send its whole ClientHello.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    peek_timeout: Duration,
    /// Active TCP health checks every this long (e.g. 1s, 500ms); off if absent.
    #[arg(long, value_parser = parse_duration)]
    health_interval: Option<Duration>,
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
}

/// Backend addresses of one cluster.
#[derive(Clone, Debug)]
struct Addrs(Vec<SocketAddr>);

/// `--sni NAME=ADDR[,ADDR...]`.
#[derive(Clone, Debug)]
struct Route {
    name: String,
    backends: Addrs,
}

fn parse_addrs(s: &str) -> Result<Addrs, String> {
    s.split(',')
        .map(|a| {
            a.trim()
                .parse()
                .map_err(|e| format!("{a:?}: not an address (ip:port): {e}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Addrs)
}

fn parse_route(s: &str) -> Result<Route, String> {
    let (name, addrs) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=ADDR[,ADDR...]"))?;
    Ok(Route {
        name: name.trim().to_owned(),
        backends: parse_addrs(addrs)?,
    })
}

fn parse_policy(name: &str) -> Result<Policy, Error> {
    name.parse()
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    run_with_threads(args.threads, Layer::L4, run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.routes.is_empty() && args.default.is_none() {
        return Err("give at least one --sni route or a --default".into());
    }
    let mut clusters: Vec<(String, Arc<Balancer<Policy>>)> = Vec::new();
    let mut cluster = |label: &str, addrs: &Addrs| -> Result<Arc<Balancer<Policy>>, Error> {
        let backends = addrs.0.iter().map(|&a| Backend::new(a)).collect();
        let label = label.to_owned();
        let events = label.clone();
        let balancer = Arc::new(
            Balancer::builder(args.algorithm.clone(), backends)
                .events(move |e| eprintln!("health [{events}]: {:?}", e.kind))
                .build()?,
        );
        clusters.push((label, Arc::clone(&balancer)));
        Ok(balancer)
    };
    let mut routes = SniRoutes::builder();
    for route in &args.routes {
        routes = routes.route(&route.name, cluster(&route.name, &route.backends)?);
    }
    if let Some(default) = &args.default {
        routes = routes.default(cluster("default", default)?);
    }
    let routes = routes.build()?;
    let probers: Vec<Prober> = match args.health_interval {
        Some(interval) => {
            let config = ProbeConfig::default()
                .with_timing(interval, interval.min(Duration::from_secs(2)))?;
            clusters
                .iter()
                .map(|(_, balancer)| {
                    Prober::spawn(Arc::clone(balancer), Arc::new(TcpProbe::default()), config)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let config = SniProxyConfig::default()
        .peek_timeout(args.peek_timeout)
        .max_connections(args.max_connections)
        .connect_timeout(args.connect_timeout)
        .idle_timeout(args.idle_timeout)
        .drain_timeout(args.drain_timeout);
    let proxy = Arc::new(SniProxy::new(routes, config));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!(
        "sni_passthrough: {} → {} routes{}, {}",
        args.listen,
        args.routes.len(),
        if args.default.is_some() {
            " and a default"
        } else {
            ", no default"
        },
        args.algorithm
    );
    let report = Arc::clone(&proxy).serve(listener, shutdown_signal()).await;
    for prober in probers {
        prober.shutdown().await;
    }
    let stats = proxy.stats();
    eprintln!(
        "sni_passthrough: drained ({} finished, {} cut); {} accepted, {} rejected, {} without SNI, \
         {} unknown names, {} unrouted, {} not TLS, {} bad hellos, {} peek timeouts, \
         {} without backend, {} bytes up, {} down",
        report.finished,
        report.cut,
        stats.accepted(),
        stats.rejected(),
        stats.no_sni(),
        stats.unknown_name(),
        stats.unrouted(),
        stats.not_tls(),
        stats.bad_hello(),
        stats.peek_timeouts(),
        stats.no_backend(),
        stats.bytes_up(),
        stats.bytes_down()
    );
    for (label, balancer) in &clusters {
        let routed = proxy
            .routes()
            .cluster_index(balancer)
            .map_or(0, |i| stats.routed(i));
        eprintln!("  {label}: {routed} connections");
    }
    Ok(())
}

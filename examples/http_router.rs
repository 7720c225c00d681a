//! An HTTP/1.1 load balancer: nginx `http { upstream ... location ... proxy_pass }` in one file.
//!
//! ```text
//! cargo run --release --example http_router -- --listen 127.0.0.1:18080 \
//!     --route /api/users=127.0.0.1:19001,127.0.0.1:19002 \
//!     --route '/api/orders=127.0.0.1:19003;sticky=cookie:srv;algorithm=ring' \
//!     [--algorithm least-conn] [--sticky cookie:NAME|ip|header:NAME|none] \
//!     [--health-path /healthz] [--threads N]
//! ```
//!
//! Each `--route` is `[HOST]PATH=ADDR[,ADDR...][;algorithm=NAME][;sticky=SPEC]`:
//! - `PATH` is a prefix on segment boundaries (`/api` takes `/api` and `/api/x`, not `/apix`);
//!   `=PATH` (a leading `=`) an exact path. `/` takes everything (the default route).
//! - `HOST` (optional, before the path): `example.com` or `*.example.com`.
//! - `algorithm` and `sticky` override `--algorithm` and `--sticky` for this route.
//! - `sticky`: `cookie:NAME` inserts a signed cookie naming the backend; `ip` hashes the
//!   client address; `header:NAME` and `cookie-hash:NAME` hash that header or cookie. The
//!   hashing ones need a hashing algorithm (hash, ring, maglev, rendezvous, bounded-load),
//!   which the route gets by default when it names no algorithm.
//!
//! Ctrl-C or SIGTERM drains (stops accepting, finishes in-flight requests for up to
//! `--drain-timeout`) and exits.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Layer, parse_duration, run_with_threads, shutdown_signal};
use lb::core::health::{ProbeConfig, Prober};
use lb::l7::proxy::{HttpProbe, HttpProxy, HttpProxyConfig};
use lb::l7::route::{
    RetryPolicy, RouteShorthand, ShorthandDefaults, Timeouts, router_from_shorthands,
};

const ROUTE_HELP: &str = "A route: [HOST]PATH=ADDR[,ADDR...][;algorithm=NAME][;sticky=SPEC] \
(repeat). PATH is a segment prefix (=PATH: exact; / takes everything); HOST is example.com or \
*.example.com; algorithm and sticky override --algorithm and --sticky for this route. Example: \
--route '/api/orders=127.0.0.1:19003,127.0.0.1:19004;sticky=cookie:srv'";

#[derive(Parser, Debug)]
#[command(about = "An HTTP/1.1 load balancer built from lb-core and lb-l7")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long = "route", required = true, help = ROUTE_HELP)]
    routes: Vec<String>,
    /// Balancing algorithm for routes that name none: round-robin, weighted-round-robin,
    /// random, least-conn, p2c, peak-ewma, hash, ring, maglev, rendezvous, bounded-load.
    #[arg(long, default_value = "round-robin")]
    algorithm: String,
    /// Sticky sessions for routes that name none: cookie:NAME, ip, header:NAME,
    /// cookie-hash:NAME, none.
    #[arg(long, default_value = "none")]
    sticky: String,
    /// Secret for signing sticky cookies (at least 16 bytes); without it tokens are unsigned.
    #[arg(long)]
    cookie_key: Option<String>,
    /// Active HTTP health checks: GET this path on every backend (2xx/3xx is healthy).
    #[arg(long)]
    health_path: Option<String>,
    /// Interval of the health checks.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    health_interval: Duration,
    /// Worker threads (default: one per core); 1 runs the proxy on the current thread.
    #[arg(long)]
    threads: Option<usize>,
    /// Most client connections at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Backend connect timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Time to wait for a backend's response head.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    response_timeout: Duration,
    /// Time a client has to send a request head (slowloris bound).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Retries on another backend when connecting fails.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// How long a drain waits for in-flight requests.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Accept connections as soon as the handshake completes, not when their first bytes
    /// arrive (turns TCP_DEFER_ACCEPT off: nginx's and HAProxy's default).
    #[arg(long)]
    no_defer_accept: bool,
    /// Acknowledge each new connection's first bytes at once instead of with the response
    /// (the kernel's default; lb, like HAProxy's HTTP mode, delays it).
    #[arg(long)]
    quick_ack: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    run_with_threads(args.threads, Layer::L7, run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let routes = args
        .routes
        .iter()
        .map(|r| r.parse::<RouteShorthand>())
        .collect::<Result<Vec<_>, _>>()?;
    let defaults = ShorthandDefaults {
        algorithm: args.algorithm.clone(),
        sticky: args.sticky.clone(),
        cookie_key: args.cookie_key.as_ref().map(|k| k.as_bytes().to_vec()),
        timeouts: Timeouts {
            connect: args.connect_timeout,
            response_head: args.response_timeout,
            ..Timeouts::default()
        },
        retry: RetryPolicy {
            max_retries: args.retries,
            ..RetryPolicy::default()
        },
    };
    let (router, balancers) = router_from_shorthands(&routes, &defaults)?;
    let mut probers = Vec::new();
    if let Some(path) = &args.health_path {
        let probe = Arc::new(HttpProbe::new(path)?);
        let config = ProbeConfig::default().with_timing(
            args.health_interval,
            args.health_interval.min(Duration::from_secs(2)),
        )?;
        for balancer in &balancers {
            probers.push(Prober::spawn(
                Arc::clone(balancer),
                Arc::clone(&probe),
                config,
            ));
        }
    }
    let config = HttpProxyConfig {
        header_timeout: args.header_timeout,
        max_connections: args.max_connections,
        drain_timeout: args.drain_timeout,
        defer_accept: !args.no_defer_accept,
        quick_ack: args.quick_ack,
        ..HttpProxyConfig::default()
    };
    let proxy = Arc::new(HttpProxy::new(router, config));
    // SO_REUSEADDR and a 1024-connection backlog (the std default is 128).
    let listener = lb::l4::tcp::listen(args.listen, false)?;
    eprintln!(
        "http_router: {} with {} routes",
        args.listen,
        args.routes.len()
    );
    let report = Arc::clone(&proxy).serve(listener, shutdown_signal()).await;
    for prober in probers {
        prober.shutdown().await;
    }
    let t = proxy.stats().totals();
    eprintln!(
        "http_router: drained ({} finished, {} cut); {} requests, {} relayed, {} unrouted, {} without backend, {} retries, {} bad requests",
        report.finished,
        report.cut,
        t.requests(),
        t.relayed(),
        t.unrouted(),
        t.no_backend(),
        t.retries(),
        t.bad_requests()
    );
    Ok(())
}

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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lb::core::health::{ProbeConfig, Prober};
use lb::core::{Backend, Balancer, Policy};
use lb::l7::proxy::{HttpProbe, HttpProxy, HttpProxyConfig};
use lb::l7::route::{Cluster, RetryPolicy, RouteSpec, RouteTable, Timeouts};
use lb::l7::router::{HostMatch, PathMatch, RouteMatch};
use lb::l7::sticky::{CookieInsert, StickyPolicy, TokenCodec};

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
}

/// "500ms", "2s", "10m", "1h".
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 500ms, 2s, 10m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?}: the unit must be ms, s, m or h")),
    }
}

/// One `--route` argument, parsed.
struct RouteArg {
    host: HostMatch,
    path: PathMatch,
    backends: Vec<SocketAddr>,
    algorithm: Option<String>,
    sticky: Option<String>,
}

fn parse_route(arg: &str) -> Result<RouteArg, String> {
    let mut parts = arg.split(';');
    let main = parts.next().unwrap_or_default();
    let (target, addrs) = main
        .split_once('=')
        .ok_or_else(|| format!("--route {arg:?}: expected [HOST]PATH=ADDR[,ADDR...]"))?;
    // `=PATH=ADDR`: an exact path (the leading `=` leaves an empty target before it).
    let (exact, target, addrs) = if target.is_empty() {
        let (t, a) = addrs
            .split_once('=')
            .ok_or_else(|| format!("--route {arg:?}: expected =PATH=ADDR for an exact path"))?;
        (true, t, a)
    } else {
        (false, target, addrs)
    };
    let slash = target
        .find('/')
        .ok_or_else(|| format!("--route {arg:?}: the path must start with /"))?;
    let (host, path) = target.split_at(slash);
    let host = match host {
        "" => HostMatch::Any,
        h if h.starts_with("*.") => HostMatch::wildcard(h),
        h => HostMatch::exact(h),
    };
    let path = match (exact, path) {
        (true, p) => PathMatch::exact(p),
        (false, "/") => PathMatch::Any,
        (false, p) => PathMatch::prefix(p),
    };
    let backends = addrs
        .split(',')
        .map(|a| {
            a.trim()
                .parse::<SocketAddr>()
                .map_err(|e| format!("--route {arg:?}: {a:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut algorithm, mut sticky) = (None, None);
    for option in parts {
        match option.split_once('=') {
            Some(("algorithm", v)) => algorithm = Some(v.to_owned()),
            Some(("sticky", v)) => sticky = Some(v.to_owned()),
            _ => {
                return Err(format!(
                    "--route {arg:?}: unknown option {option:?} (algorithm=, sticky=)"
                ));
            }
        }
    }
    Ok(RouteArg {
        host,
        path,
        backends,
        algorithm,
        sticky,
    })
}

fn sticky_policy(
    spec: &str,
    key: Option<&str>,
) -> Result<StickyPolicy, Box<dyn std::error::Error>> {
    Ok(match spec.split_once(':') {
        None if spec == "none" => StickyPolicy::None,
        None if spec == "ip" => StickyPolicy::SourceIp,
        Some(("cookie", name)) => {
            let codec = match key {
                Some(key) => TokenCodec::signed(key.as_bytes())?,
                None => TokenCodec::unsigned(),
            };
            StickyPolicy::CookieInsert(CookieInsert::new(name, codec)?)
        }
        Some(("cookie-hash", name)) => StickyPolicy::cookie_hash(name)?,
        Some(("header", name)) => StickyPolicy::header_hash(name)?,
        _ => {
            return Err(format!(
                "sticky {spec:?}: expected cookie:NAME, ip, header:NAME, cookie-hash:NAME or none"
            )
            .into());
        }
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut runtime = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut table = RouteTable::new();
    let mut balancers = Vec::new();
    let timeouts = Timeouts {
        connect: args.connect_timeout,
        response_head: args.response_timeout,
        ..Timeouts::default()
    };
    let retry = RetryPolicy {
        max_retries: args.retries,
        ..RetryPolicy::default()
    };
    for (i, arg) in args.routes.iter().enumerate() {
        let route = parse_route(arg)?;
        let sticky = sticky_policy(
            route.sticky.as_deref().unwrap_or(&args.sticky),
            args.cookie_key.as_deref(),
        )?;
        let hashing = matches!(
            sticky,
            StickyPolicy::SourceIp
                | StickyPolicy::HeaderHash { .. }
                | StickyPolicy::CookieHash { .. }
        );
        // A hashing sticky policy on a route without its own algorithm gets Maglev.
        let algorithm = match (&route.algorithm, hashing) {
            (Some(a), _) => a.clone(),
            (None, true) => "maglev".to_owned(),
            (None, false) => args.algorithm.clone(),
        };
        let policy: Policy = algorithm
            .parse()
            .map_err(|e| format!("--route {arg:?}: {e}"))?;
        let backends = route.backends.iter().map(|&a| Backend::new(a)).collect();
        let balancer = Arc::new(
            Balancer::builder(policy, backends)
                .events(|e| eprintln!("health: {:?}", e.kind))
                .build()?,
        );
        balancers.push(Arc::clone(&balancer));
        let cluster = format!("route{i}");
        table = table.cluster(Cluster::shared(cluster.clone(), balancer));
        let matcher = RouteMatch::new()
            .with_host(route.host)
            .with_path(route.path);
        table = table.route(RouteSpec {
            sticky,
            timeouts,
            retry,
            ..RouteSpec::new(format!("{i}:{arg}"), matcher, cluster)
        });
    }
    let router = table.build()?;
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
        ..HttpProxyConfig::default()
    };
    let proxy = Arc::new(HttpProxy::new(router, config));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
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

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

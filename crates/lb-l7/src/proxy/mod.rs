//! The HTTP/1.1 proxy runtime on tokio: [`HttpProxy`], the upstream keep-alive pool, the retry
//! budget, and [`HttpProbe`] for active health checks.
//!
//! One task per client connection runs the loop: read a head (header timeout) → parse and
//! validate → route → sticky decision → pick a backend (a lease) → take a pooled connection or
//! connect (timeout, retries on another backend; with a TLS handshake for a cluster with
//! upstream TLS, feature `upstream-tls`) → write the rewritten head and stream the body
//! → read and validate the response head (timeout) → stream it back → return the upstream
//! connection to the pool when both sides are complete and reusable → next request.
//! Everything between the socket reads and writes is the crate's pure code.

mod budget;
mod config;
mod conn;
mod forward;
mod pool;
mod probe;
mod respond;
mod stats;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use lb_l4::server::{DrainReport, ServeOptions, serve_connections};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use budget::RetryBudget;
pub use config::HttpProxyConfig;
pub use pool::{Pool, PoolConfig, PoolKey, PoolStats};
pub use probe::{HttpProbe, ProbeConfigError};
pub use stats::{BackendStats, ProxyStats, RouteStats, Totals};
pub use upstream::Upstream;

use crate::route::RouteAction;
use crate::router::Router;

/// An HTTP/1.1 load-balancing reverse proxy over a [`Router`] of [`RouteAction`]s.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use lb_core::{Backend, Balancer, Policy};
/// use lb_l7::proxy::{HttpProxy, HttpProxyConfig};
/// use lb_l7::route::{Cluster, RouteSpec, RouteTable};
/// use lb_l7::router::{PathMatch, RouteMatch};
///
/// let backends = vec![Backend::new("127.0.0.1:19001".parse()?), Backend::new("127.0.0.1:19002".parse()?)];
/// let router = RouteTable::new()
///     .cluster(Cluster::new("users", Balancer::new("least-conn".parse::<Policy>()?, backends)?))
///     .route(RouteSpec::new("users", RouteMatch::new().with_path(PathMatch::prefix("/api/users")), "users"))
///     .build()?;
/// let proxy = Arc::new(HttpProxy::new(router, HttpProxyConfig::default()));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:18080").await?;
/// let report = proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await;
/// println!("drained: {} finished, {} cut", report.finished, report.cut);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct HttpProxy {
    router: Router<RouteAction>,
    config: HttpProxyConfig,
    pool: Pool,
    /// One budget per route, the default route's last.
    budgets: Vec<RetryBudget>,
    stats: ProxyStats,
    draining: watch::Sender<bool>,
}

impl HttpProxy {
    /// A proxy routing with `router`, using a default [`PoolConfig`].
    #[must_use]
    pub fn new(router: Router<RouteAction>, config: HttpProxyConfig) -> Self {
        Self::with_pool(router, config, PoolConfig::default())
    }

    /// A proxy with its own upstream pool settings.
    #[must_use]
    pub fn with_pool(
        router: Router<RouteAction>,
        config: HttpProxyConfig,
        pool: PoolConfig,
    ) -> Self {
        let actions = router
            .routes()
            .iter()
            .map(|r| r.action())
            .chain(router.default_action());
        let budgets = actions
            .map(|a| {
                RetryBudget::new(
                    a.retry.budget_ratio,
                    a.retry.min_retries_per_second,
                    std::time::Duration::from_secs(10),
                )
            })
            .collect::<Vec<_>>();
        let mut budgets = budgets;
        if router.default_action().is_none() {
            // Keep "default route = last" true for the indexes.
            budgets.push(RetryBudget::new(0.0, 0, std::time::Duration::from_secs(10)));
        }
        let stats = ProxyStats::new(router.len());
        Self {
            router,
            config,
            pool: Pool::new(pool),
            budgets,
            stats,
            draining: watch::Sender::new(false),
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// The route table.
    #[must_use]
    pub fn router(&self) -> &Router<RouteAction> {
        &self.router
    }

    /// The upstream keep-alive pool.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &HttpProxyConfig {
        &self.config
    }

    /// Serves `listener` until `shutdown` completes, then drains: stops accepting, closes idle
    /// keep-alive connections, lets in-flight requests finish until the drain timeout, closes
    /// the rest, and empties the upstream pool.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> DrainReport {
        let options = ServeOptions {
            max_connections: self.config.max_connections,
            drain_timeout: self.config.drain_timeout,
            accept_burst: self.config.accept_burst,
        };
        self.config.prepare_listener(&listener);
        let admission = Arc::clone(&self.stats.admission);
        let proxy = Arc::clone(&self);
        let shutdown = async move {
            shutdown.await;
            // Connections waiting for their next request close now; busy ones after it.
            proxy.draining.send_replace(true);
        };
        let report = serve_connections(listener, shutdown, &admission, options, |client, peer| {
            let proxy = Arc::clone(&self);
            async move {
                let _ = client.set_nodelay(true);
                conn::run(&proxy, client, peer, proxy.draining.subscribe(), false).await;
            }
        })
        .await;
        self.pool.clear();
        report
    }

    /// Serves one client connection (any stream: a `TcpStream`, or the plaintext side of a TLS
    /// terminator) from `peer` until it closes, fails, times out, or the proxy drains.
    pub async fn serve_connection<S>(&self, client: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        conn::run(self, client, peer, self.draining.subscribe(), true).await;
    }

    /// Starts draining without a listener (for connections served with
    /// [`serve_connection`](Self::serve_connection)): idle keep-alive connections close, busy
    /// ones after their current request.
    pub fn start_drain(&self) {
        self.draining.send_replace(true);
    }
}

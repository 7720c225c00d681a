//! The SNI passthrough proxy: peek, route, connect, copy.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lb_core::{Algorithm, Request};
use tokio::net::{TcpListener, TcpStream};

use super::config::SniProxyConfig;
use super::peek::{PeekError, peek_client_hello};
use super::routes::SniRoutes;
use crate::client_hello::{self, Peek};
use crate::server::{Admission, DrainReport, serve_registered};
use crate::tcp::{Completed, Counters, connect_backend, forward, now, outcome};

/// Counters of a [`SniProxy`], readable while it runs.
///
/// Every accepted connection ends up in exactly one of: `not_tls`,
/// `bad_hello`, `peek_timeouts`, `unrouted`, `no_backend` or `completed`
/// (or is still open). `no_sni` and `unknown_name` count the connections
/// that went to the default cluster (or to `unrouted` without one).
#[derive(Debug)]
pub struct SniStats {
    admission: Arc<Admission>,
    routed: Box<[AtomicU64]>,
    no_sni: AtomicU64,
    unknown_name: AtomicU64,
    unrouted: AtomicU64,
    not_tls: AtomicU64,
    bad_hello: AtomicU64,
    peek_timeouts: AtomicU64,
    no_backend: AtomicU64,
    connect_failures: AtomicU64,
    completed: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(&self) -> u64 {
            self.$name.load(Ordering::Relaxed)
        }
    )*};
}

impl SniStats {
    fn new(clusters: usize) -> Self {
        Self {
            admission: Arc::default(),
            routed: (0..clusters).map(|_| AtomicU64::new(0)).collect(),
            no_sni: AtomicU64::new(0),
            unknown_name: AtomicU64::new(0),
            unrouted: AtomicU64::new(0),
            not_tls: AtomicU64::new(0),
            bad_hello: AtomicU64::new(0),
            peek_timeouts: AtomicU64::new(0),
            no_backend: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
        }
    }

    /// Client connections accepted and handled.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.admission.accepted()
    }

    /// Client connections closed at once because of `max_connections`.
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.admission.rejected()
    }

    /// Connections open now (those still sending their ClientHello
    /// included).
    #[must_use]
    pub fn active(&self) -> usize {
        self.admission.active()
    }

    /// Connections routed to cluster `cluster` (an index into
    /// [`SniRoutes::clusters`]), by name or as the default; 0 for an index
    /// out of range.
    #[must_use]
    pub fn routed(&self, cluster: usize) -> u64 {
        self.routed
            .get(cluster)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    getters!(
        /// ClientHellos without a server name.
        no_sni,
        /// ClientHellos whose server name no route matches.
        unknown_name,
        /// Connections closed because no route matched and there is no
        /// default cluster.
        unrouted,
        /// Connections closed because their first bytes are not a TLS
        /// handshake record (plain HTTP on a TLS port, say).
        not_tls,
        /// Connections closed for a malformed or oversized ClientHello, or
        /// closed (or failed) by the client before completing it.
        bad_hello,
        /// Connections closed because the ClientHello was not complete
        /// within the peek timeout.
        peek_timeouts,
        /// Routed connections closed because no backend of the cluster
        /// could be reached.
        no_backend,
        /// Backend connects that failed or timed out (each fed to health).
        connect_failures,
        /// Connections that ended (any way, a drain's cut included) after
        /// reaching a backend.
        completed,
        /// Bytes from clients to backends, the ClientHello included.
        bytes_up,
        /// Bytes from backends to clients.
        bytes_down,
    );
}

/// A TLS SNI passthrough proxy: reads the server name a client asks for in
/// its ClientHello without consuming it, picks a cluster by name
/// ([`SniRoutes`]) and a backend in it, and forwards the connection's bytes
/// untouched, the ClientHello first, so the backend completes the TLS
/// handshake with its own certificate (HAProxy `mode tcp` with
/// `req.ssl_sni`, nginx `ssl_preread`).
///
/// Per connection:
///
/// 1. **Peek** at the head of the stream (`MSG_PEEK`, nothing consumed)
///    until [`client_hello::peek_sni`] is conclusive, within
///    [`peek_timeout`](SniProxyConfig::peek_timeout) and
///    [`max_hello_bytes`](SniProxyConfig::max_hello_bytes). A client whose
///    first byte is not TLS, whose ClientHello is malformed, or that is too
///    slow, is closed, each counted ([`SniStats`]).
/// 2. **Route**: exact name, longest wildcard, else the default cluster;
///    no default: close.
/// 3. **Connect** to a backend the cluster's balancer picks with the client
///    IP as hash key, within the connect timeout, retrying other backends
///    of the cluster; failed connects are failed leases (passive health),
///    as [`TcpProxy`](crate::tcp::TcpProxy) does (the same code).
/// 4. **Copy** both ways with half-close and the idle timeout, as
///    [`TcpProxy`](crate::tcp::TcpProxy) does (no buffer held between
///    reads); the ClientHello goes
///    first since it was never consumed. The lease is held until the end
///    and finished with the outcome (only backend errors count against the
///    backend).
///
/// Accepting, the connection cap and draining are
/// [`serve_connections`](crate::server::serve_connections)'s.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use lb_core::{Backend, Balancer, Policy};
/// use lb_l4::sni::{SniProxy, SniProxyConfig, SniRoutes};
/// use tokio::net::TcpListener;
///
/// let cluster = |addrs: &[&str], policy: &str| {
///     let backends = addrs.iter().map(|a| Backend::new(a.parse().unwrap())).collect();
///     Arc::new(Balancer::new(policy.parse::<Policy>().unwrap(), backends).unwrap())
/// };
/// let routes = SniRoutes::builder()
///     .exact("a.example", cluster(&["127.0.0.1:19001", "127.0.0.1:19002"], "least-conn"))
///     .wildcard("*.b.example", cluster(&["127.0.0.1:19003"], "round-robin"))
///     .default(cluster(&["127.0.0.1:19004"], "round-robin"))
///     .build()
///     .expect("valid routes");
/// let proxy = Arc::new(SniProxy::new(routes, SniProxyConfig::default()));
/// let listener = TcpListener::bind("127.0.0.1:18443").await?;
/// let report = Arc::clone(&proxy)
///     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
///     .await;
/// println!("drained: {} finished, {} cut", report.finished, report.cut);
/// println!("{} to a.example", proxy.stats().routed(0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SniProxy<A: Algorithm> {
    routes: SniRoutes<A>,
    config: SniProxyConfig,
    stats: Arc<SniStats>,
}

impl<A: Algorithm + 'static> SniProxy<A> {
    /// A proxy routing by `routes`.
    pub fn new(routes: SniRoutes<A>, config: SniProxyConfig) -> Self {
        let stats = Arc::new(SniStats::new(routes.clusters().len()));
        Self {
            routes,
            config,
            stats,
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Arc<SniStats> {
        &self.stats
    }

    /// The routing table (and through it, the clusters' balancers).
    #[must_use]
    pub fn routes(&self) -> &SniRoutes<A> {
        &self.routes
    }

    /// Serves `listener` until `shutdown` completes, then drains: stops
    /// accepting, lets this listener's open connections finish until the
    /// drain timeout, and closes the rest. One proxy may serve several
    /// listeners (each its own `serve`); `max_connections` counts them all.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> DrainReport {
        let admission = Arc::clone(&self.stats.admission);
        let nodelay = self.config.nodelay;
        serve_registered(
            listener,
            shutdown,
            &admission,
            self.config.serve_options(),
            nodelay,
            |client, peer| {
                let proxy = Arc::clone(&self);
                async move { proxy.handle(client, peer).await }
            },
        )
        .await
    }

    /// Forwards one client connection.
    async fn handle(&self, mut client: TcpStream, peer: SocketAddr) {
        let stats = &*self.stats;
        let peeked = tokio::time::timeout(
            self.config.peek_timeout,
            peek_client_hello(&client, self.config.max_hello_bytes),
        )
        .await;
        let hello = match peeked {
            Ok(Ok(hello)) => hello,
            Ok(Err(PeekError::NotTls)) => {
                stats.not_tls.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "closing connection: not TLS");
                return;
            }
            Ok(Err(error)) => {
                stats.bad_hello.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, %error, "closing connection: no valid ClientHello");
                return;
            }
            Err(_) => {
                stats.peek_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "closing connection: no ClientHello in time");
                return;
            }
        };
        let cluster = match client_hello::peek_sni(&hello) {
            Ok(Peek::Sni(name)) => self.routes.lookup(&name).or_else(|| {
                stats.unknown_name.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, %name, "no route for the server name");
                self.routes.default_cluster()
            }),
            Ok(Peek::NoSni) => {
                stats.no_sni.fetch_add(1, Ordering::Relaxed);
                self.routes.default_cluster()
            }
            // The peek returned only once this was conclusive and valid.
            Ok(Peek::Incomplete { .. }) | Err(_) => {
                stats.bad_hello.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        // The bytes stay in the socket; the copy forwards them.
        drop(hello);
        let Some(cluster) = cluster else {
            stats.unrouted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "closing connection: no route and no default cluster");
            return;
        };
        if let Some(routed) = stats.routed.get(cluster) {
            routed.fetch_add(1, Ordering::Relaxed);
        }
        let Some(balancer) = self.routes.clusters().get(cluster) else {
            return;
        };
        let request = Request::new().with_ip(peer.ip());
        let connected = connect_backend(
            balancer,
            &request,
            self.config.connect_timeout,
            self.config.retries,
            &stats.connect_failures,
        )
        .await;
        let Some((mut backend, lease)) = connected else {
            stats.no_backend.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // Counted however the connection ends, a drain's cut included.
        let completed = Completed(&stats.completed);
        if self.config.nodelay {
            let _ = backend.set_nodelay(true);
        }
        let counters = Counters {
            up: &stats.bytes_up,
            down: &stats.bytes_down,
        };
        let end = forward(
            &mut client,
            &mut backend,
            self.config.idle_timeout,
            counters,
            true,
        )
        .await;
        drop(completed);
        lease.finish(outcome(&end), now());
    }
}

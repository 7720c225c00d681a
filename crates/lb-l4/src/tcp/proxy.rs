//! The TCP proxy: accept loop, per-connection task, drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lb_core::hash::{combine, hash_bytes};
use lb_core::{Algorithm, BackendId, Balancer, Lease, Outcome, Request};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::proxy_protocol::{self, Header};
pub use crate::server::DrainReport;
use crate::server::{Admission, serve_registered};
use crate::tcp::config::{HashKey, TcpProxyConfig};
use crate::tcp::copy::{Counters, End};
use crate::tcp::direct::forward;

/// Counters of a [`TcpProxy`], readable while it runs.
#[derive(Debug, Default)]
pub struct TcpStats {
    admission: Arc<Admission>,
    no_backend: AtomicU64,
    connect_failures: AtomicU64,
    completed: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    proxy_errors: AtomicU64,
    spliced: AtomicU64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(&self) -> $ty {
            self.$name.load(Ordering::Relaxed)
        }
    )*};
}

impl TcpStats {
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

    /// Connections open now.
    #[must_use]
    pub fn active(&self) -> usize {
        self.admission.active()
    }

    getters!(
        /// Client connections closed because no backend could be reached.
        no_backend: u64,
        /// Backend connects that failed or timed out (each fed to health).
        connect_failures: u64,
        /// Connections that ended (any way, a drain's cut included) after
        /// reaching a backend.
        completed: u64,
        /// Bytes from clients to backends (counted as they move).
        bytes_up: u64,
        /// Bytes from backends to clients (counted as they move).
        bytes_down: u64,
        /// Client connections closed for a missing, late or malformed PROXY
        /// header (with `accept_proxy`).
        proxy_errors: u64,
        /// Connections forwarded with `splice(2)` (with `splice`, on Linux,
        /// when the pipes could be made).
        spliced: u64,
    );
}

/// A TCP load balancer over an lb-core [`Balancer`].
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use lb_core::{Backend, Balancer, LeastConn};
/// use lb_l4::tcp::{TcpProxy, TcpProxyConfig};
/// use tokio::net::TcpListener;
///
/// let backends = vec![
///     Backend::new("127.0.0.1:19001".parse().unwrap()),
///     Backend::new("127.0.0.1:19002".parse().unwrap()),
/// ];
/// let balancer = Arc::new(Balancer::new(LeastConn::default(), backends).unwrap());
/// let proxy = Arc::new(TcpProxy::new(balancer, TcpProxyConfig::default()));
/// let listener = TcpListener::bind("127.0.0.1:18080").await?;
/// let report = proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await;
/// println!("drained: {} finished, {} cut", report.finished, report.cut);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TcpProxy<A: Algorithm> {
    balancer: Arc<Balancer<A>>,
    config: TcpProxyConfig,
    stats: Arc<TcpStats>,
}

/// Counts a connection that reached a backend as completed when dropped.
pub(crate) struct Completed<'a>(pub(crate) &'a AtomicU64);

impl Drop for Completed<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The balancer's clock: tokio's (so paused-time tests move it).
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl<A: Algorithm + 'static> TcpProxy<A> {
    /// A proxy spreading connections over `balancer`'s backends.
    pub fn new(balancer: Arc<Balancer<A>>, config: TcpProxyConfig) -> Self {
        Self {
            balancer,
            config,
            stats: Arc::default(),
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Arc<TcpStats> {
        &self.stats
    }

    /// The balancer.
    #[must_use]
    pub fn balancer(&self) -> &Arc<Balancer<A>> {
        &self.balancer
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
        // getsockname only when something needs the local address.
        let needs_local = self.config.accept_proxy
            || self.config.send_proxy.is_some()
            || self.config.hash_key == HashKey::FourTuple;
        let mut local = if needs_local {
            client.local_addr().ok()
        } else {
            None
        };
        let mut source = peer;
        // Bytes read past an accepted PROXY header: the client's first data.
        let mut early = Vec::new();
        if self.config.accept_proxy {
            let read = proxy_protocol::read_header(&mut client);
            match tokio::time::timeout(self.config.proxy_header_timeout, read).await {
                Ok(Ok((header, rest))) => {
                    // LOCAL (health checks of the tier in front) keeps the
                    // connection's own addresses.
                    source = header.source().unwrap_or(peer);
                    local = header.destination().or(local);
                    early = rest;
                }
                Ok(Err(reason)) => {
                    self.reject_proxy(peer, &reason.to_string());
                    return;
                }
                Err(_) => {
                    self.reject_proxy(peer, "no complete PROXY header in time");
                    return;
                }
            }
        }
        let request = match self.config.hash_key {
            HashKey::ClientIp => Request::new().with_ip(source.ip()),
            HashKey::FourTuple => Request::new().with_key_hash(flow_key(source, local)),
        };
        let Some((mut backend, lease)) = self.connect(&request).await else {
            self.stats.no_backend.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // Counted however the connection ends, a drain's cut included.
        let completed = Completed(&self.stats.completed);
        if self.config.nodelay {
            let _ = backend.set_nodelay(true);
        }
        let mut first = Vec::new();
        if let Some(version) = self.config.send_proxy {
            let destination = local.unwrap_or(source);
            // Encoding a TCP header of either version cannot fail.
            let _ = Header::tcp(source, destination)
                .with_version(version)
                .encode(&mut first);
        }
        first.extend_from_slice(&early);
        if !first.is_empty() {
            if backend.write_all(&first).await.is_err() {
                lease.finish(Outcome::Failure, now());
                return;
            }
            self.stats
                .bytes_up
                .fetch_add(early.len() as u64, Ordering::Relaxed);
        }
        let counters = Counters {
            up: &self.stats.bytes_up,
            down: &self.stats.bytes_down,
        };
        let idle = self.config.idle_timeout;
        let half_close = self.config.half_close;
        #[cfg(target_os = "linux")]
        let pipes = if self.config.splice {
            // Out of descriptors: fall back to the copy.
            crate::tcp::splice::Pipe::new()
                .and_then(|up| Ok((up, crate::tcp::splice::Pipe::new()?)))
                .ok()
        } else {
            None
        };
        #[cfg(target_os = "linux")]
        let end = match &pipes {
            Some(pipes) => {
                self.stats.spliced.fetch_add(1, Ordering::Relaxed);
                crate::tcp::splice::bidirectional(&client, &backend, pipes, idle, counters).await
            }
            None => forward(&mut client, &mut backend, idle, counters, half_close).await,
        };
        #[cfg(not(target_os = "linux"))]
        let end = forward(&mut client, &mut backend, idle, counters, half_close).await;
        drop(completed);
        lease.finish(outcome(&end), now());
    }

    fn reject_proxy(&self, peer: SocketAddr, reason: &str) {
        self.stats.proxy_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%peer, reason, "closing connection: bad PROXY protocol header");
    }

    /// Picks and connects, trying up to `retries` other backends; each
    /// failed connect is a failed lease (passive health).
    async fn connect(&self, request: &Request) -> Option<(TcpStream, Lease)> {
        connect_backend(
            &self.balancer,
            request,
            self.config.connect_timeout,
            self.config.retries,
            &self.stats.connect_failures,
        )
        .await
    }
}

/// Picks a backend of `balancer` for `request` and connects to it within
/// `connect_timeout`, trying up to `retries` other backends (never one
/// twice); each failed connect is counted in `failures` and finishes its
/// lease as a failure (passive health). The stream and the lease to hold
/// for the connection's life, or `None` when no backend could be reached.
/// Shared with the SNI proxy.
pub(crate) async fn connect_backend<A: Algorithm>(
    balancer: &Balancer<A>,
    request: &Request,
    connect_timeout: std::time::Duration,
    retries: u32,
    failures: &AtomicU64,
) -> Option<(TcpStream, Lease)> {
    let mut tried: Vec<BackendId> = Vec::new();
    for attempt in 0..=retries {
        let lease = balancer.pick_filtered(&request.with_attempt(attempt), now(), |b| {
            !tried.contains(&b.id())
        })?;
        let addr = lease.backend().addr();
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Some((stream, lease)),
            Ok(Err(_)) | Err(_) => {
                failures.fetch_add(1, Ordering::Relaxed);
                tried.push(lease.backend().id());
                lease.finish(Outcome::Failure, now());
            }
        }
    }
    None
}

/// The health outcome of a forwarded connection: only what the backend
/// did is the backend's fault. Shared with the SNI proxy.
pub(crate) fn outcome(end: &End) -> Outcome {
    match end {
        End::Done => Outcome::Success,
        End::Backend => Outcome::Failure,
        End::Client | End::Idle => Outcome::Cancelled,
    }
}

/// A stable hash of a connection's addresses, without allocating: each
/// address as IP octets and port, hashed, then combined.
fn flow_key(source: SocketAddr, local: Option<SocketAddr>) -> u64 {
    fn part(addr: SocketAddr) -> u64 {
        let mut key = [0_u8; 18];
        let len = match addr.ip() {
            std::net::IpAddr::V4(ip) => {
                key[..4].copy_from_slice(&ip.octets());
                4
            }
            std::net::IpAddr::V6(ip) => {
                key[..16].copy_from_slice(&ip.octets());
                16
            }
        };
        key[len..len + 2].copy_from_slice(&addr.port().to_be_bytes());
        hash_bytes(&key[..len + 2])
    }
    combine(part(source), local.map_or(0, part))
}

#[cfg(test)]
mod tests {
    use super::flow_key;

    /// Every open connection holds its future (boxed): it stays small. Futures handed by value
    /// through nested async fns are copied at each level; the copy's was once 4.5 KB this way.
    #[tokio::test]
    async fn a_connection_future_stays_small() {
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let backends = vec![lb_core::Backend::new(addr)];
        let balancer =
            Arc::new(lb_core::Balancer::new(lb_core::RoundRobin, backends).expect("balancer"));
        let proxy = super::TcpProxy::new(balancer, super::TcpProxyConfig::default());
        let connection = proxy.handle(client, addr);
        let size = std::mem::size_of_val(&connection);
        assert!(size <= 2048, "{size} bytes per connection");
    }

    #[test]
    fn flow_keys_tell_connections_apart_and_repeat() {
        let a = "10.0.0.1:5000".parse().expect("addr");
        let b = "10.0.0.1:5001".parse().expect("addr");
        let local = Some("10.0.0.9:80".parse().expect("addr"));
        assert_eq!(flow_key(a, local), flow_key(a, local));
        assert_ne!(flow_key(a, local), flow_key(b, local));
        assert_ne!(flow_key(a, local), flow_key(a, None));
        let v6 = "[::1]:5000".parse().expect("addr");
        assert_ne!(flow_key(v6, local), flow_key(a, local));
    }
}

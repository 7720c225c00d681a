//! The UDP proxy: session table, relays, expiry.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use lb_core::{Algorithm, Balancer, Lease, Outcome, Request};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest datagram relayed (the UDP maximum).
const DATAGRAM: usize = 65_535;

/// Settings of a [`UdpProxy`]. Defaults: sessions expire after 30 s without
/// a datagram either way, at most 10 000 sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpProxyConfig {
    idle_timeout: Duration,
    max_sessions: usize,
}

impl Default for UdpProxyConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            max_sessions: 10_000,
        }
    }
}

impl UdpProxyConfig {
    /// How long a session may see no datagram in either direction.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Most sessions at once; datagrams that would open another are dropped.
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }
}

/// Counters of a [`UdpProxy`].
#[derive(Debug, Default)]
pub struct UdpStats {
    sessions: AtomicUsize,
    opened: AtomicU64,
    expired: AtomicU64,
    dropped: AtomicU64,
    datagrams_up: AtomicU64,
    datagrams_down: AtomicU64,
}

impl UdpStats {
    /// Sessions open now.
    #[must_use]
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Sessions opened so far.
    #[must_use]
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Sessions closed for being idle.
    #[must_use]
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Datagrams dropped: session cap reached, no backend, or send failure.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Datagrams relayed from clients to backends.
    #[must_use]
    pub fn datagrams_up(&self) -> u64 {
        self.datagrams_up.load(Ordering::Relaxed)
    }

    /// Datagrams relayed from backends to clients.
    #[must_use]
    pub fn datagrams_down(&self) -> u64 {
        self.datagrams_down.load(Ordering::Relaxed)
    }
}

/// One client's session. Dropping it (however `serve` ends, cancellation
/// included) stops its relay, frees its socket and ends its lease.
struct Session {
    upstream: Arc<UdpSocket>,
    /// Milliseconds since the proxy started of the last datagram.
    last: Arc<AtomicU64>,
    /// Finished by `close` with an outcome; dropped (cancelled) otherwise.
    lease: Option<Lease>,
    relay: JoinHandle<()>,
    stats: Arc<UdpStats>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.relay.abort();
        self.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A UDP load balancer over an lb-core [`Balancer`]. The backend of a
/// session is picked with the client's IP address as the hash key, so hash
/// algorithms keep a client on one backend across sessions too.
#[derive(Debug)]
pub struct UdpProxy<A: Algorithm> {
    balancer: Arc<Balancer<A>>,
    config: UdpProxyConfig,
    stats: Arc<UdpStats>,
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<A: Algorithm + 'static> UdpProxy<A> {
    /// A proxy spreading sessions over `balancer`'s backends.
    pub fn new(balancer: Arc<Balancer<A>>, config: UdpProxyConfig) -> Self {
        Self {
            balancer,
            config,
            stats: Arc::default(),
        }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> &Arc<UdpStats> {
        &self.stats
    }

    /// Relays datagrams arriving on `socket` until `shutdown` completes;
    /// then closes every session.
    ///
    /// # Errors
    ///
    /// An I/O error of the listening socket itself (not of a session).
    pub async fn serve(
        self: Arc<Self>,
        socket: UdpSocket,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        let socket = Arc::new(socket);
        let start = Instant::now();
        let mut sessions: HashMap<SocketAddr, Session> = HashMap::new();
        // Relays report a failed backend (e.g. ICMP port unreachable).
        let (failed_tx, mut failed_rx) = mpsc::unbounded_channel::<SocketAddr>();
        let sweep_every = (self.config.idle_timeout / 4).max(Duration::from_millis(10));
        let mut sweep = tokio::time::interval(sweep_every);
        let mut buf = vec![0_u8; DATAGRAM];
        let result = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                Some(client) = failed_rx.recv() => {
                    if let Some(session) = sessions.remove(&client) {
                        self.close(session, Outcome::Failure);
                    }
                }
                _ = sweep.tick() => {
                    let now_ms = start.elapsed().as_millis() as u64;
                    let idle_ms = self.config.idle_timeout.as_millis() as u64;
                    let expired: Vec<SocketAddr> = sessions
                        .iter()
                        .filter(|(_, s)| now_ms.saturating_sub(s.last.load(Ordering::Relaxed)) >= idle_ms)
                        .map(|(addr, _)| *addr)
                        .collect();
                    for client in expired {
                        if let Some(session) = sessions.remove(&client) {
                            self.stats.expired.fetch_add(1, Ordering::Relaxed);
                            self.close(session, Outcome::Success);
                        }
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    let (n, client) = match received {
                        Ok(r) => r,
                        // A previous send_to's ICMP error surfaces here on
                        // some systems: not the listener's fault.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                        Err(e) => break Err(e),
                    };
                    if !sessions.contains_key(&client) {
                        if sessions.len() >= self.config.max_sessions {
                            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        match self.open(client, &socket, start, failed_tx.clone()).await {
                            Some(session) => {
                                sessions.insert(client, session);
                            }
                            None => {
                                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    }
                    let Some(session) = sessions.get(&client) else { continue };
                    session.last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                    if session.upstream.send(&buf[..n]).await.is_ok() {
                        self.stats.datagrams_up.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        };
        for (_, session) in sessions.drain() {
            self.close(session, Outcome::Cancelled);
        }
        result
    }

    /// Opens a session for `client`: picks a backend, connects an upstream
    /// socket to it, and starts relaying its replies.
    async fn open(
        &self,
        client: SocketAddr,
        socket: &Arc<UdpSocket>,
        start: Instant,
        failed: mpsc::UnboundedSender<SocketAddr>,
    ) -> Option<Session> {
        let lease = self
            .balancer
            .pick(&Request::new().with_ip(client.ip()), std_now())?;
        let backend = lease.backend().addr();
        let local: SocketAddr = match backend.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let upstream = match UdpSocket::bind(local).await {
            Ok(u) => u,
            Err(_) => {
                lease.finish(Outcome::Cancelled, std_now());
                return None;
            }
        };
        if upstream.connect(backend).await.is_err() {
            lease.finish(Outcome::Failure, std_now());
            return None;
        }
        let upstream = Arc::new(upstream);
        let last = Arc::new(AtomicU64::new(start.elapsed().as_millis() as u64));
        let relay = {
            let (upstream, socket, last) =
                (Arc::clone(&upstream), Arc::clone(socket), Arc::clone(&last));
            let stats = Arc::clone(&self.stats);
            tokio::spawn(async move {
                let mut buf = vec![0_u8; DATAGRAM];
                loop {
                    match upstream.recv(&mut buf).await {
                        Ok(n) => {
                            last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                            if socket.send_to(&buf[..n], client).await.is_ok() {
                                stats.datagrams_down.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            let _ = failed.send(client);
                            return;
                        }
                    }
                }
            })
        };
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        self.stats.opened.fetch_add(1, Ordering::Relaxed);
        Some(Session {
            upstream,
            last,
            lease: Some(lease),
            relay,
            stats: Arc::clone(&self.stats),
        })
    }

    fn close(&self, mut session: Session, outcome: Outcome) {
        if let Some(lease) = session.lease.take() {
            lease.finish(outcome, std_now());
        }
        // Dropping the session stops the relay and counts it closed.
    }
}

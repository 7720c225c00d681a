//! The upstream keep-alive pool: idle connections to each backend, kept for the next request
//! (nginx `upstream { keepalive N; keepalive_timeout T; }`, HAProxy `http-reuse`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lb_core::BackendId;

use super::Upstream;

/// Pool settings.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_l7::proxy::PoolConfig;
///
/// let config = PoolConfig { max_idle_per_backend: 8, ..PoolConfig::default() };
/// assert_eq!(config.idle_timeout, Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most idle connections kept per backend (nginx `keepalive`); 0 disables pooling.
    /// Default 32. When a backend's list is full the oldest is closed to keep the freshest.
    pub max_idle_per_backend: usize,
    /// How long a connection may stay idle before the pool closes it (nginx
    /// `keepalive_timeout`). Default 30 s.
    ///
    /// The trade-off: the backend also closes idle connections, after its own timeout (nginx
    /// 75 s, Apache httpd 5 s, Node.js 5 s), and a connection it closes while the pool holds
    /// it is only found dead when reused, sometimes too late (a request is sent into a closing
    /// connection and must be retried). Keeping this below the backends' timeout avoids most
    /// of that; keeping it long saves handshakes. 30 s is below nginx's default but above
    /// Apache's and Node's: set it under the shortest backend timeout you run (4 s for those).
    pub idle_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_backend: 32,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Pool counters since it was created, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// [`Pool::take`] calls that returned a connection.
    pub hits: u64,
    /// [`Pool::take`] calls that found none alive (a new connection is needed).
    pub misses: u64,
    /// Idle connections found closed by the backend, or with bytes it should not have sent, or
    /// in error, and closed.
    pub stale: u64,
    /// Idle connections closed for being idle longer than the idle timeout (by
    /// [`Pool::take`] or [`Pool::evict_expired`]).
    pub expired: u64,
    /// Connections closed by [`Pool::put`] because their backend's list was full (or pooling is
    /// off): the oldest of the list, or the one put when the limit is 0.
    pub overflow: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    expired: AtomicU64,
    overflow: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Which idle connections may serve a request: those to one backend, of one class.
///
/// Connections of different classes to the same backend are never handed out for each other.
/// Class 0 is plain TCP (a [`BackendId`] converts to that key); the proxy gives each cluster with
/// upstream TLS a class of its own, so a TLS connection is only reused with the client
/// configuration and server name it was verified with.
///
/// # Examples
///
/// ```
/// use lb_core::BackendId;
/// use lb_l7::proxy::PoolKey;
///
/// let backend = BackendId::from_name("web-1");
/// assert_eq!(PoolKey::from(backend), PoolKey { backend, class: 0 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The backend.
    pub backend: BackendId,
    /// The kind of connection: 0 for plain TCP.
    pub class: u64,
}

impl From<BackendId> for PoolKey {
    fn from(backend: BackendId) -> Self {
        Self { backend, class: 0 }
    }
}

/// One idle connection and when it was returned.
struct Idle {
    stream: Upstream,
    since: Instant,
}

/// Idle upstream connections per backend, shared by every connection task (in an `Arc`).
///
/// A connection goes back with [`put`](Self::put) after a complete exchange that left it
/// reusable (a response the backend did not mark `Connection: close`, read to its end, with
/// nothing after it), and comes out with [`take`](Self::take), most recently returned first:
/// the freshest connection is the least likely to have been closed by the backend, and the
/// older ones are left to expire when traffic drops (nginx and HAProxy reuse the same way).
///
/// # Dead connections
///
/// An idle connection must be silent: [`take`](Self::take) checks each one with a non-blocking
/// read, and closes it if the backend has closed it, sent something or reset it. For a TLS
/// connection the read is on the TCP connection underneath: any byte there (a `close_notify`
/// alert, anything else) makes it stale, as does plaintext or a `close_notify` rustls has
/// already taken in. That read goes
/// through tokio, which does not ask the kernel when the runtime has not yet seen the socket
/// become readable: a close that arrived an instant before, and that the runtime has not yet
/// processed, goes unseen. The proxy therefore treats a failure on a reused connection before
/// any response byte as retryable (the request is resent on a new connection), as nginx does.
///
/// # Locking
///
/// One [`Mutex`] over a map of lists (one per [`PoolKey`]), held only to pop or push an entry: closing a connection
/// and checking it happen outside. Once a backend's list has grown, taking and putting do not
/// allocate.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use std::time::Instant;
/// use lb_core::BackendId;
/// use lb_l7::proxy::{Pool, PoolConfig, Upstream};
/// use tokio::net::TcpStream;
///
/// let pool = Arc::new(Pool::new(PoolConfig::default()));
/// let backend = BackendId::from_name("web-1");
/// let stream = match pool.take(backend, Instant::now()) {
///     Some(stream) => stream,
///     None => Upstream::from(TcpStream::connect("10.0.0.1:80").await?),
/// };
/// // ... send a request, read the whole response ...
/// pool.put(backend, stream, Instant::now());
/// # Ok(())
/// # }
/// ```
pub struct Pool {
    config: PoolConfig,
    lists: Mutex<HashMap<PoolKey, VecDeque<Idle>>>,
    /// Total idle connections, changed under the lock.
    idle: AtomicUsize,
    counters: Counters,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("idle", &self.idle())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Why an idle connection cannot be reused.
enum Unusable {
    Expired,
    Stale,
}

impl Pool {
    /// An empty pool.
    #[must_use]
    pub fn new(config: PoolConfig) -> Self {
        Self {
            config,
            lists: Mutex::new(HashMap::new()),
            idle: AtomicUsize::new(0),
            counters: Counters::default(),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// A live idle connection for `key` (a backend, and a class: a [`BackendId`] alone is
    /// plain TCP), the most recently returned first, or `None` when there is none (connect a
    /// new one).
    ///
    /// Connections found on the way idle longer than the idle timeout, closed by the backend,
    /// with unexpected bytes or in error are closed and skipped (see [the type's
    /// documentation](Pool#dead-connections) for what this check can miss).
    #[must_use]
    pub fn take(&self, key: impl Into<PoolKey>, now: Instant) -> Option<Upstream> {
        let key = key.into();
        loop {
            let idle = {
                let mut lists = self.lock();
                let idle = lists.get_mut(&key).and_then(VecDeque::pop_back);
                if idle.is_some() {
                    self.idle.fetch_sub(1, Ordering::Relaxed);
                }
                idle
            };
            let Some(idle) = idle else {
                bump(&self.counters.misses);
                return None;
            };
            // Checked (and, if unusable, closed by the drop) outside the lock.
            match self.check(&idle, now) {
                Ok(()) => {
                    bump(&self.counters.hits);
                    return Some(idle.stream);
                }
                Err(Unusable::Expired) => bump(&self.counters.expired),
                Err(Unusable::Stale) => bump(&self.counters.stale),
            }
        }
    }

    /// Returns a connection for `key` (a backend and class, as in [`take`](Self::take)) after a
    /// complete exchange, idle from `now`.
    ///
    /// The caller vouches that the connection is reusable: the last response was read to its
    /// end and allowed keep-alive. When the backend's list is full the oldest connection in it
    /// is closed to make room; with `max_idle_per_backend` 0 the connection is closed.
    pub fn put(&self, key: impl Into<PoolKey>, stream: impl Into<Upstream>, now: Instant) {
        let stream = stream.into();
        if self.config.max_idle_per_backend == 0 {
            bump(&self.counters.overflow);
            drop(stream);
            return;
        }
        let evicted = {
            let mut lists = self.lock();
            let list = lists.entry(key.into()).or_default();
            let evicted = if list.len() >= self.config.max_idle_per_backend {
                list.pop_front()
            } else {
                self.idle.fetch_add(1, Ordering::Relaxed);
                None
            };
            list.push_back(Idle { stream, since: now });
            evicted
        };
        if let Some(oldest) = evicted {
            bump(&self.counters.overflow);
            drop(oldest);
        }
    }

    /// Closes the idle connections that have been idle longer than the idle timeout at `now`,
    /// and forgets backends left with none; returns how many were closed. For a periodic task,
    /// so connections do not outlive the timeout when no request comes to take them.
    pub fn evict_expired(&self, now: Instant) -> usize {
        let expired: Vec<Idle> = {
            let mut lists = self.lock();
            let mut expired = Vec::new();
            lists.retain(|_, list| {
                // Oldest first: the list is in the order connections were returned.
                while list
                    .front()
                    .is_some_and(|idle| self.is_expired(idle.since, now))
                {
                    expired.extend(list.pop_front());
                }
                // Entries put with an earlier `now` than their predecessors (racing tasks).
                if list.iter().any(|idle| self.is_expired(idle.since, now)) {
                    let (keep, old): (VecDeque<Idle>, VecDeque<Idle>) = list
                        .drain(..)
                        .partition(|idle| !self.is_expired(idle.since, now));
                    *list = keep;
                    expired.extend(old);
                }
                !list.is_empty()
            });
            self.idle.fetch_sub(expired.len(), Ordering::Relaxed);
            expired
        };
        let closed = expired.len();
        self.counters
            .expired
            .fetch_add(closed as u64, Ordering::Relaxed);
        drop(expired);
        closed
    }

    /// Closes every idle connection to `backend`, of every class (removed from the set, or
    /// found unhealthy); returns how many.
    pub fn clear_backend(&self, backend: BackendId) -> usize {
        let mut closed = Vec::new();
        {
            let mut lists = self.lock();
            lists.retain(|key, list| {
                if key.backend == backend {
                    closed.extend(list.drain(..));
                }
                !list.is_empty()
            });
            self.idle.fetch_sub(closed.len(), Ordering::Relaxed);
        }
        closed.len()
    }

    /// Closes every idle connection (for a drain or a shutdown).
    pub fn clear(&self) {
        let lists = {
            let mut lists = self.lock();
            self.idle.store(0, Ordering::Relaxed);
            std::mem::take(&mut *lists)
        };
        drop(lists);
    }

    /// How many idle connections the pool holds now.
    #[must_use]
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed)
    }

    /// How many idle connections the pool holds to `backend` now, of every class.
    #[must_use]
    pub fn idle_for(&self, backend: BackendId) -> usize {
        self.lock()
            .iter()
            .filter(|(key, _)| key.backend == backend)
            .map(|(_, list)| list.len())
            .sum()
    }

    /// The counters so far (each read on its own: a snapshot, not a transaction).
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let c = &self.counters;
        PoolStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, VecDeque<Idle>>> {
        // No code under the lock can panic midway through a change; a poisoned lock is as good.
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_expired(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) > self.config.idle_timeout
    }

    fn check(&self, idle: &Idle, now: Instant) -> Result<(), Unusable> {
        if self.is_expired(idle.since, now) {
            return Err(Unusable::Expired);
        }
        // An idle connection has nothing to read: readable means closed, or out of step.
        if idle.stream.idle_and_open() {
            Ok(())
        } else {
            Err(Unusable::Stale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::timeout;

    const BOUND: Duration = Duration::from_secs(5);

    /// A connected pair: (the proxy's end, the backend's end).
    struct Pair {
        client: TcpStream,
        server: TcpStream,
    }

    async fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").await.expect("bind")
    }

    async fn pair(listener: &TcpListener) -> Pair {
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = timeout(BOUND, async {
            tokio::join!(TcpStream::connect(addr), listener.accept())
        })
        .await
        .expect("connect in time");
        let client = client.expect("connect");
        let (server, _) = accepted.expect("accept");
        Pair { client, server }
    }

    fn port(stream: &TcpStream) -> u16 {
        stream.local_addr().expect("local addr").port()
    }

    fn taken_port(stream: &Upstream) -> u16 {
        port(stream.tcp())
    }

    fn backend(n: u8) -> BackendId {
        BackendId::from_addr(SocketAddr::from(([10, 0, 0, n], 80)))
    }

    /// Waits until the runtime has seen `stream` become readable (data or close).
    async fn seen_readable(stream: &TcpStream) {
        timeout(BOUND, stream.readable())
            .await
            .expect("readable in time")
            .expect("readable");
    }

    /// Whether the backend's end sees the connection closed by the proxy: an end of stream, or
    /// a reset when the proxy closed it with bytes unread.
    async fn closed_by_proxy(server: &mut TcpStream) -> bool {
        let mut buf = [0_u8; 8];
        matches!(
            timeout(BOUND, server.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    fn pool(max: usize) -> Pool {
        Pool::new(PoolConfig {
            max_idle_per_backend: max,
            idle_timeout: Duration::from_secs(30),
        })
    }

    #[tokio::test]
    async fn reuse_returns_the_same_connection() {
        let l = listener().await;
        let mut p = pair(&l).await;
        let pool = pool(4);
        let now = Instant::now();
        let local = port(&p.client);
        pool.put(backend(1), p.client, now);
        assert_eq!(pool.idle(), 1);
        let mut again = pool.take(backend(1), now).expect("pooled");
        assert_eq!(taken_port(&again), local);
        assert_eq!(
            again.tcp().peer_addr().expect("peer"),
            l.local_addr().expect("addr")
        );
        assert_eq!(pool.idle(), 0);
        // And it still works.
        again.write_all(b"ping").await.expect("write");
        let mut buf = [0_u8; 4];
        timeout(BOUND, p.server.read_exact(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(&buf, b"ping");
        assert!(pool.take(backend(1), now).is_none());
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 1,
                misses: 1,
                ..PoolStats::default()
            }
        );
    }

    #[tokio::test]
    async fn most_recently_returned_first() {
        let l = listener().await;
        let pool = pool(4);
        let now = Instant::now();
        let mut ports = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..3 {
            let p = pair(&l).await;
            ports.push(port(&p.client));
            pool.put(backend(1), p.client, now);
            servers.push(p.server);
        }
        let taken: Vec<u16> = (0..3)
            .map(|_| taken_port(&pool.take(backend(1), now).expect("pooled")))
            .collect();
        ports.reverse();
        assert_eq!(taken, ports);
    }

    #[tokio::test]
    async fn a_connection_closed_by_the_backend_is_stale() {
        let l = listener().await;
        let pool = pool(4);
        let now = Instant::now();
        let live = pair(&l).await;
        let live_port = port(&live.client);
        pool.put(backend(1), live.client, now);
        let dead = pair(&l).await;
        drop(dead.server);
        seen_readable(&dead.client).await;
        pool.put(backend(1), dead.client, now);
        // The dead one is the most recent: found stale, closed, and the live one returned.
        let taken = pool.take(backend(1), now).expect("the live one");
        assert_eq!(taken_port(&taken), live_port);
        assert_eq!(pool.stats().stale, 1);
        assert_eq!(pool.stats().hits, 1);
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn unexpected_bytes_make_a_connection_stale() {
        let l = listener().await;
        let pool = pool(4);
        let now = Instant::now();
        let mut p = pair(&l).await;
        p.server
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .expect("write");
        seen_readable(&p.client).await;
        pool.put(backend(1), p.client, now);
        assert!(pool.take(backend(1), now).is_none());
        let stats = pool.stats();
        assert_eq!((stats.stale, stats.misses, stats.hits), (1, 1, 0));
        assert!(closed_by_proxy(&mut p.server).await);
    }

    #[tokio::test]
    async fn connections_idle_too_long_expire() {
        let l = listener().await;
        let pool = pool(4);
        let t0 = Instant::now();
        let timeout = pool.config().idle_timeout;
        let a = pair(&l).await;
        pool.put(backend(1), a.client, t0);
        assert!(pool.take(backend(1), t0 + timeout).is_some(), "not longer");
        let mut b = pair(&l).await;
        pool.put(backend(1), b.client, t0);
        let late = t0 + timeout + Duration::from_millis(1);
        assert!(pool.take(backend(1), late).is_none());
        assert_eq!(pool.stats().expired, 1);
        assert!(closed_by_proxy(&mut b.server).await);
    }

    #[tokio::test]
    async fn evict_expired_closes_only_the_old_ones() {
        let l = listener().await;
        let pool = pool(4);
        let t0 = Instant::now();
        let mut old = pair(&l).await;
        pool.put(backend(1), old.client, t0);
        let mut other = pair(&l).await;
        pool.put(backend(2), other.client, t0);
        let fresh = pair(&l).await;
        let fresh_port = port(&fresh.client);
        pool.put(backend(1), fresh.client, t0 + Duration::from_secs(20));
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(30)), 0);
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(31)), 2);
        assert_eq!(pool.idle(), 1);
        assert_eq!(
            (pool.idle_for(backend(1)), pool.idle_for(backend(2))),
            (1, 0)
        );
        assert_eq!(pool.stats().expired, 2);
        assert!(closed_by_proxy(&mut old.server).await);
        assert!(closed_by_proxy(&mut other.server).await);
        let now = t0 + Duration::from_secs(31);
        assert_eq!(
            taken_port(&pool.take(backend(1), now).expect("fresh")),
            fresh_port
        );
    }

    #[tokio::test]
    async fn evict_expired_handles_out_of_order_returns() {
        let l = listener().await;
        let pool = pool(4);
        let t0 = Instant::now();
        let newer = pair(&l).await;
        let newer_port = port(&newer.client);
        pool.put(backend(1), newer.client, t0 + Duration::from_secs(20));
        let older = pair(&l).await;
        pool.put(backend(1), older.client, t0);
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(31)), 1);
        let now = t0 + Duration::from_secs(31);
        assert_eq!(
            taken_port(&pool.take(backend(1), now).expect("newer")),
            newer_port
        );
    }

    #[tokio::test]
    async fn a_full_list_drops_the_oldest() {
        let l = listener().await;
        let pool = pool(2);
        let now = Instant::now();
        let mut first = pair(&l).await;
        pool.put(backend(1), first.client, now);
        let mut ports = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..2 {
            let p = pair(&l).await;
            ports.push(port(&p.client));
            pool.put(backend(1), p.client, now);
            servers.push(p.server);
        }
        assert_eq!(pool.idle(), 2);
        assert_eq!(pool.stats().overflow, 1);
        assert!(
            closed_by_proxy(&mut first.server).await,
            "the oldest is closed"
        );
        let taken: Vec<u16> = (0..2)
            .map(|_| taken_port(&pool.take(backend(1), now).expect("pooled")))
            .collect();
        assert_eq!(taken, [ports[1], ports[0]]);
        assert!(pool.take(backend(1), now).is_none());
    }

    #[tokio::test]
    async fn zero_max_idle_pools_nothing() {
        let l = listener().await;
        let pool = pool(0);
        let now = Instant::now();
        let mut p = pair(&l).await;
        pool.put(backend(1), p.client, now);
        assert_eq!(pool.idle(), 0);
        assert!(pool.take(backend(1), now).is_none());
        assert_eq!(
            pool.stats(),
            PoolStats {
                misses: 1,
                overflow: 1,
                ..PoolStats::default()
            }
        );
        assert!(closed_by_proxy(&mut p.server).await);
    }

    #[tokio::test]
    async fn clear_closes_everything() {
        let l = listener().await;
        let pool = pool(4);
        let now = Instant::now();
        let mut servers = Vec::new();
        for n in 1..=3 {
            for _ in 0..2 {
                let p = pair(&l).await;
                pool.put(backend(n), p.client, now);
                servers.push(p.server);
            }
        }
        assert_eq!(pool.idle(), 6);
        assert_eq!(pool.clear_backend(backend(3)), 2);
        assert_eq!(pool.idle(), 4);
        pool.clear();
        assert_eq!(pool.idle(), 0);
        for server in &mut servers {
            assert!(closed_by_proxy(server).await);
        }
        for n in 1..=3 {
            assert!(pool.take(backend(n), now).is_none());
        }
    }

    #[tokio::test]
    async fn backends_have_separate_lists() {
        let l = listener().await;
        let pool = pool(1);
        let now = Instant::now();
        let a = pair(&l).await;
        let a_port = port(&a.client);
        pool.put(backend(1), a.client, now);
        let b = pair(&l).await;
        let b_port = port(&b.client);
        pool.put(backend(2), b.client, now);
        // Each backend's limit is its own: nothing overflowed.
        assert_eq!((pool.idle(), pool.stats().overflow), (2, 0));
        assert!(pool.take(backend(3), now).is_none());
        assert_eq!(taken_port(&pool.take(backend(2), now).expect("b")), b_port);
        assert!(pool.take(backend(2), now).is_none());
        assert_eq!(taken_port(&pool.take(backend(1), now).expect("a")), a_port);
    }

    #[tokio::test]
    async fn stats_count_every_outcome() {
        let l = listener().await;
        let pool = Pool::new(PoolConfig {
            max_idle_per_backend: 2,
            idle_timeout: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        let mut keep = Vec::new();
        // Expired under a live one.
        let p = pair(&l).await;
        pool.put(backend(1), p.client, t0);
        keep.push(p.server);
        // Stale on top.
        let p = pair(&l).await;
        drop(p.server);
        seen_readable(&p.client).await;
        pool.put(backend(1), p.client, t0 + Duration::from_secs(5));
        let t1 = t0 + Duration::from_secs(12);
        assert!(pool.take(backend(1), t1).is_none()); // stale, then expired: a miss
        let p = pair(&l).await;
        pool.put(backend(1), p.client, t1);
        keep.push(p.server);
        assert!(pool.take(backend(1), t1).is_some()); // hit
        // Three onto a list of two: one overflow.
        for _ in 0..3 {
            let p = pair(&l).await;
            pool.put(backend(1), p.client, t1);
            keep.push(p.server);
        }
        assert_eq!(
            pool.stats(),
            PoolStats {
                hits: 1,
                misses: 1,
                stale: 1,
                expired: 1,
                overflow: 1,
            }
        );
        assert_eq!(pool.idle(), 2);
    }

    #[tokio::test]
    async fn classes_of_one_backend_are_kept_apart() {
        let l = listener().await;
        let pool = pool(1);
        let now = Instant::now();
        let tls_class = PoolKey {
            backend: backend(1),
            class: 7,
        };
        let plain = pair(&l).await;
        pool.put(backend(1), plain.client, now);
        let other = pair(&l).await;
        let other_port = port(&other.client);
        pool.put(tls_class, other.client, now);
        // Each class has its own list (and limit): nothing overflowed.
        assert_eq!((pool.idle(), pool.idle_for(backend(1))), (2, 2));
        assert_eq!(pool.stats().overflow, 0);
        assert!(
            pool.take(
                PoolKey {
                    backend: backend(1),
                    class: 8
                },
                now
            )
            .is_none()
        );
        assert_eq!(
            taken_port(&pool.take(tls_class, now).expect("class 7")),
            other_port
        );
        assert!(pool.take(tls_class, now).is_none());
        // Put back, then cleared with the backend's plain connection.
        let again = pair(&l).await;
        pool.put(tls_class, again.client, now);
        assert_eq!(pool.clear_backend(backend(1)), 2);
        assert_eq!(pool.idle(), 0);
        assert!(pool.take(backend(1), now).is_none());
    }

    #[test]
    fn the_pool_is_shared_between_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pool>();
        assert_send_sync::<std::sync::Arc<Pool>>();
    }
}

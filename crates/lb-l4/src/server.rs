//! The accept loop every proxy shares: admission under a connection cap, one task per
//! connection, and a graceful drain.
//!
//! [`TcpProxy`](crate::tcp::TcpProxy) serves with it, and so does lb-l7's HTTP proxy: the
//! protocol lives in the handler, the lifecycle here.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use crate::accepted::Accepted;

/// What a drain did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections that finished on their own during the drain.
    pub finished: usize,
    /// Connections still open at the deadline, closed.
    pub cut: usize,
}

/// Admission counters, shared by every listener a proxy serves (the cap counts them all).
#[derive(Debug, Default)]
pub struct Admission {
    accepted: AtomicU64,
    rejected: AtomicU64,
    active: AtomicUsize,
}

impl Admission {
    /// Client connections accepted and handled.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Client connections closed at once because of the connection cap.
    #[must_use]
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Connections open now.
    #[must_use]
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}

/// The limits of one serve loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Connections open at once, across every listener sharing the [`Admission`]; the next one
    /// is reset at once (SO_LINGER 0) and counted as rejected.
    pub max_connections: usize,
    /// How long a drain waits for open connections before closing them.
    pub drain_timeout: Duration,
    /// Connections accepted in a row before the connections already under way get their turn
    /// (HAProxy's `tune.maxaccept`; nginx accepts one per event loop turn unless
    /// `multi_accept`). [`DEFAULT_ACCEPT_BURST`] is what was measured best; 0 counts as 1.
    pub accept_burst: usize,
}

/// The default [`ServeOptions::accept_burst`]. Accepting every waiting connection at once put
/// the new ones' first steps ahead of the open ones' last: with a new connection per request,
/// a limit of 8 shortened the cycle's p90 and p99 by 0.2-0.3 ms at the same requests/s; 1 or 2
/// cost throughput (docs/PERFORMANCE.md, "Accepting in bursts").
pub const DEFAULT_ACCEPT_BURST: usize = 8;

/// The connections of one serve loop (a proxy may serve several listeners; each drain waits
/// for and cuts only its own).
#[derive(Default)]
struct Served {
    open: AtomicUsize,
    drained: Notify,
}

/// Decrements the open counts when a connection task ends, however; the last one of its loop
/// wakes a waiting drain.
struct Open(Arc<Admission>, Arc<Served>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        if self.1.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.1.drained.notify_waiters();
        }
    }
}

/// Accepts connections on `listener` and runs `handler` for each in its own task, until
/// `shutdown` completes; then drains: stops accepting, lets this loop's open connections
/// finish until [`ServeOptions::drain_timeout`], and drops (closes) the rest.
///
/// Over [`ServeOptions::max_connections`] a new connection is reset at once and counted as
/// rejected, so an overloaded proxy answers promptly instead of leaving clients hanging. After
/// [`ServeOptions::accept_burst`] connections accepted in a row, the loop lets the tasks that
/// are ready run before it accepts more.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use lb_l4::server::{serve_connections, Admission, ServeOptions};
/// use tokio::io::AsyncWriteExt;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let options = ServeOptions {
///     max_connections: 1000,
///     drain_timeout: Duration::from_secs(5),
///     accept_burst: lb_l4::server::DEFAULT_ACCEPT_BURST,
/// };
/// let report = serve_connections(
///     listener,
///     async { let _ = tokio::signal::ctrl_c().await; },
///     &Arc::new(Admission::default()),
///     options,
///     |mut stream, _peer| async move { let _ = stream.write_all(b"hello\n").await; },
/// )
/// .await;
/// println!("{} finished, {} cut", report.finished, report.cut);
/// # Ok(())
/// # }
/// ```
pub async fn serve_connections<H, F>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    admission: &Arc<Admission>,
    options: ServeOptions,
    handler: H,
) -> DrainReport
where
    H: Fn(Accepted, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut listener = match Listener::new(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the listener");
            return DrainReport::default();
        }
    };
    let _anchor = TimerAnchor::start();
    // Connection tasks are plain spawns (no join set to reap on the accept path); they watch
    // `cut` so a drain can close them, and the last one out wakes the drain.
    let (cut, cut_rx) = watch::channel(false);
    let served = Arc::new(Served::default());
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    if admission.active.load(Ordering::Relaxed) >= options.max_connections {
                        admission.rejected.fetch_add(1, Ordering::Relaxed);
                        client.reset();
                        continue;
                    }
                    admission.active.fetch_add(1, Ordering::Relaxed);
                    served.open.fetch_add(1, Ordering::AcqRel);
                    admission.accepted.fetch_add(1, Ordering::Relaxed);
                    let guard = Open(Arc::clone(admission), Arc::clone(&served));
                    // Boxed where it is made: a connection future is kilobytes (3.6 KiB for
                    // TcpProxy), and moving it by value into the task cost more than the
                    // allocation (memmove was 1.2 µs per connection in a profile).
                    let connection = Box::pin(handler(client, peer));
                    let mut cut = cut_rx.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = connection => {}
                            _ = cut.wait_for(|&cut| cut) => {}
                        }
                        drop(guard);
                    });
                    if listener.burst >= options.accept_burst {
                        listener.burst = 0;
                        let_ready_tasks_run().await;
                    }
                }
                // Out of descriptors or similar: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    let open_at_start = served.open.load(Ordering::Acquire);
    let deadline = tokio::time::sleep(options.drain_timeout);
    tokio::pin!(deadline);
    loop {
        let notified = served.drained.notified();
        if served.open.load(Ordering::Acquire) == 0 {
            break;
        }
        tokio::select! {
            () = &mut deadline => break,
            () = notified => {}
        }
    }
    let cut_count = served.open.load(Ordering::Acquire);
    if cut_count > 0 {
        let _ = cut.send(true);
        // Cut tasks end at their next poll; wait for them (bounded).
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let notified = served.drained.notified();
                if served.open.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
    DrainReport {
        finished: open_at_start.saturating_sub(cut_count),
        cut: cut_count,
    }
}

/// [`serve_connections`] for the TCP forwarders (`TcpProxy`, `SniProxy`): each client gets
/// `nodelay` and joins the reactor at once (a forward waits on both sockets anyway), and
/// `handler` gets it as a `TcpStream`. A client that cannot be registered is closed.
pub(crate) async fn serve_registered<H, F>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    admission: &Arc<Admission>,
    options: ServeOptions,
    nodelay: bool,
    handler: H,
) -> DrainReport
where
    H: Fn(tokio::net::TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    serve_connections(listener, shutdown, admission, options, |client, peer| {
        // Free when the listener's TCP_NODELAY was inherited (and the same).
        let _ = client.set_nodelay(nodelay);
        let forward = client.into_stream().map(|client| handler(client, peer));
        async move {
            if let Ok(forward) = forward {
                forward.await;
            }
        }
    })
    .await
}

/// The listening socket, accepting connections that are not registered with the reactor yet
/// (see [`Accepted`]).
struct Listener {
    #[cfg(unix)]
    io: tokio::io::unix::AsyncFd<mio::net::TcpListener>,
    #[cfg(not(unix))]
    io: TcpListener,
    /// `TCP_NODELAY` of every accepted socket, when known: set on the listener, Linux copies it
    /// to each connection, and a handler's `set_nodelay(true)` is then free. Known from the
    /// start if the listener had it before it listened ([`listen`](crate::tcp::listen) sets
    /// it); if it is set here, only once the queue of connections made before has been
    /// drained (the first accept that would block).
    nodelay: NodelayKnown,
    /// Connections accepted since the last accept that would block (or the last turn given).
    burst: usize,
}

/// Lets the tasks that are ready run before this one goes on: it wakes itself and is pending
/// once, so the scheduler puts it at the back of the run queue. (`tokio::task::yield_now` waits
/// for the next I/O poll as well: an accept per poll, measured too slow.)
async fn let_ready_tasks_run() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodelayKnown {
    Yes,
    AfterDrain,
    No,
}

impl Listener {
    // tokio offers no way to wait for a `TcpListener` to be readable without accepting (and
    // registering) a `TcpStream`, so the listener is wrapped in an `AsyncFd` (one of the crate's
    // two `unsafe` blocks).
    #[cfg(unix)]
    #[allow(unsafe_code)]
    fn new(listener: TcpListener) -> std::io::Result<Self> {
        let listener = mio::net::TcpListener::from_std(listener.into_std()?);
        let sock = socket2::SockRef::from(&listener);
        let nodelay = if !cfg!(target_os = "linux") {
            NodelayKnown::No
        } else if sock.tcp_nodelay().unwrap_or(false) {
            NodelayKnown::Yes
        } else if sock.set_tcp_nodelay(true).is_ok() {
            NodelayKnown::AfterDrain
        } else {
            NodelayKnown::No
        };
        // SAFETY: `register` needs the descriptor to stay open and the same for the `AsyncFd`'s
        // life. The `AsyncFd` owns the `mio::net::TcpListener`, which owns the descriptor and
        // closes it only when dropped, with the `AsyncFd`; nothing else holds or closes it.
        let io = unsafe { tokio::io::unix::AsyncFd::register(listener) }?;
        Ok(Self {
            io,
            nodelay,
            burst: 0,
        })
    }

    #[cfg(not(unix))]
    fn new(listener: TcpListener) -> std::io::Result<Self> {
        Ok(Self {
            io: listener,
            nodelay: NodelayKnown::No,
            burst: 0,
        })
    }

    /// The next connection: `accept4(2)` gives it non-blocking, and nothing else is done to it.
    #[cfg(unix)]
    async fn accept(&mut self) -> std::io::Result<(Accepted, SocketAddr)> {
        loop {
            let mut ready = self.io.readable().await?;
            match ready.try_io(|listener| listener.get_ref().accept()) {
                Ok(accepted) => {
                    self.burst += 1;
                    let nodelay = (self.nodelay == NodelayKnown::Yes).then_some(true);
                    return accepted.map(|(stream, peer)| (Accepted::fresh(stream, nodelay), peer));
                }
                Err(_would_block) => {
                    self.burst = 0;
                    if self.nodelay == NodelayKnown::AfterDrain {
                        self.nodelay = NodelayKnown::Yes;
                    }
                }
            }
        }
    }

    #[cfg(not(unix))]
    async fn accept(&mut self) -> std::io::Result<(Accepted, SocketAddr)> {
        let (stream, peer) = self.io.accept().await?;
        self.burst += 1;
        Ok((Accepted::registered(stream), peer))
    }
}

/// Keeps a timer due within a second while serving, so that the per-connection timeouts
/// (connect, header, idle: all longer) never move the runtime's next wake-up earlier. When a new
/// timer is due before the time the driver last planned to wake, tokio wakes the driver through
/// its eventfd: one `write(2)` and one more `epoll_wait(2)` return. Measured on lb-l4 with a new
/// connection per request, that was 0.4 `write`s per connection (the connect timeout, due
/// before every open connection's idle timeout); with the anchor, 0.1.
struct TimerAnchor(tokio::task::JoinHandle<()>);

impl TimerAnchor {
    fn start() -> Self {
        Self(tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
            }
        }))
    }
}

impl Drop for TimerAnchor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Serves `listener` with `handler` until the test ends (the loop is aborted with its task).
    fn serve<H, F>(listener: TcpListener, handler: H) -> tokio::task::JoinHandle<DrainReport>
    where
        H: Fn(Accepted, SocketAddr) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(async move {
            let options = ServeOptions {
                max_connections: 10,
                drain_timeout: Duration::from_secs(1),
                accept_burst: DEFAULT_ACCEPT_BURST,
            };
            let admission = Arc::new(Admission::default());
            serve_connections(
                listener,
                std::future::pending(),
                &admission,
                options,
                handler,
            )
            .await
        })
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_sockets_have_nodelay_from_the_listener_and_can_clear_it() {
        let listener =
            crate::tcp::listen("127.0.0.1:0".parse().expect("addr"), false).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = serve(listener, move |mut client, _| {
            let tx = tx.clone();
            async move {
                let mut first = [0_u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut client, &mut first).await;
                // b'0': clear it; anything else: leave it as accepted.
                if first[0] == b'0' {
                    client.set_nodelay(false).expect("clear");
                }
                let stream = client.into_stream().expect("register");
                let nodelay = socket2::SockRef::from(&stream).tcp_nodelay().expect("get");
                tx.send((first[0], nodelay)).expect("report");
            }
        });
        for byte in [b'1', b'0'] {
            let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
            c.write_all(&[byte]).await.expect("send");
            let (got, nodelay) = rx.recv().await.expect("reported");
            assert_eq!(got, byte);
            assert_eq!(nodelay, byte == b'1', "accepted with {}", byte as char);
        }
        server.abort();
    }

    /// A listener without TCP_NODELAY: a connection made before the serve loop set it on the
    /// listener did not inherit it, and asking for it must not be skipped.
    #[tokio::test]
    async fn nodelay_asked_for_is_set_on_connections_made_before_serving() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Connected (the handshake done by the kernel) before the loop starts.
        let mut early = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = serve(listener, move |client, _| {
            let tx = tx.clone();
            async move {
                client.set_nodelay(true).expect("set");
                let stream = client.into_stream().expect("register");
                let nodelay = socket2::SockRef::from(&stream).tcp_nodelay().expect("get");
                tx.send(nodelay).expect("report");
            }
        });
        early.write_all(b"x").await.expect("send");
        assert!(rx.recv().await.expect("reported"), "TCP_NODELAY set");
        let mut late = tokio::net::TcpStream::connect(addr).await.expect("connect");
        late.write_all(b"x").await.expect("send");
        assert!(rx.recv().await.expect("reported"), "TCP_NODELAY set");
        server.abort();
    }

    #[tokio::test]
    async fn letting_ready_tasks_run_runs_them_before_going_on() {
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let _task = tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        assert!(!ran.load(Ordering::SeqCst), "one thread: not run yet");
        let_ready_tasks_run().await;
        assert!(ran.load(Ordering::SeqCst), "the ready task ran first");
    }

    /// Ten connections wait in the listen queue before serving starts: with a burst of 2 the
    /// first connection's task runs once two are accepted; without a limit, after all ten.
    #[tokio::test]
    async fn waiting_connections_are_accepted_a_burst_at_a_time() {
        for (burst, seen_first) in [(2, 2), (usize::MAX, 10)] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let mut clients = Vec::new();
            for _ in 0..10 {
                clients.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
            }
            let admission = Arc::new(Admission::default());
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let counts = Arc::clone(&admission);
            let server = tokio::spawn(async move {
                let options = ServeOptions {
                    max_connections: 100,
                    drain_timeout: Duration::from_secs(1),
                    accept_burst: burst,
                };
                serve_connections(
                    listener,
                    std::future::pending(),
                    &admission,
                    options,
                    move |mut client, _| {
                        let tx = tx.clone();
                        let counts = Arc::clone(&counts);
                        async move {
                            let _ = tx.send(counts.accepted());
                            let _ = client.write_all(b"ok").await;
                        }
                    },
                )
                .await
            });
            let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("served")
                .expect("reported");
            assert_eq!(first, seen_first, "accept burst {burst}");
            // And every connection is served.
            for mut client in clients {
                let mut ok = [0_u8; 2];
                tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::io::AsyncReadExt::read_exact(&mut client, &mut ok),
                )
                .await
                .expect("bounded")
                .expect("read");
                assert_eq!(&ok, b"ok");
            }
            server.abort();
        }
    }
}

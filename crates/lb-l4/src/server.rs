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
}

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
/// rejected, so an overloaded proxy answers promptly instead of leaving clients hanging.
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
/// let options = ServeOptions { max_connections: 1000, drain_timeout: Duration::from_secs(5) };
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
    let listener = match Listener::new(listener) {
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

/// The listening socket, accepting connections that are not registered with the reactor yet
/// (see [`Accepted`]).
struct Listener {
    #[cfg(unix)]
    io: tokio::io::unix::AsyncFd<mio::net::TcpListener>,
    #[cfg(not(unix))]
    io: TcpListener,
}

impl Listener {
    // tokio offers no way to wait for a `TcpListener` to be readable without accepting (and
    // registering) a `TcpStream`, so the listener is wrapped in an `AsyncFd` (one of the crate's
    // two `unsafe` blocks).
    #[cfg(unix)]
    #[allow(unsafe_code)]
    fn new(listener: TcpListener) -> std::io::Result<Self> {
        let listener = mio::net::TcpListener::from_std(listener.into_std()?);
        // SAFETY: `register` needs the descriptor to stay open and the same for the `AsyncFd`'s
        // life. The `AsyncFd` owns the `mio::net::TcpListener`, which owns the descriptor and
        // closes it only when dropped, with the `AsyncFd`; nothing else holds or closes it.
        let io = unsafe { tokio::io::unix::AsyncFd::register(listener) }?;
        Ok(Self { io })
    }

    #[cfg(not(unix))]
    fn new(listener: TcpListener) -> std::io::Result<Self> {
        Ok(Self { io: listener })
    }

    /// The next connection: `accept4(2)` gives it non-blocking, and nothing else is done to it.
    #[cfg(unix)]
    async fn accept(&self) -> std::io::Result<(Accepted, SocketAddr)> {
        loop {
            let mut ready = self.io.readable().await?;
            match ready.try_io(|listener| listener.get_ref().accept()) {
                Ok(accepted) => {
                    return accepted.map(|(stream, peer)| (Accepted::fresh(stream), peer));
                }
                Err(_would_block) => {}
            }
        }
    }

    #[cfg(not(unix))]
    async fn accept(&self) -> std::io::Result<(Accepted, SocketAddr)> {
        let (stream, peer) = self.io.accept().await?;
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

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

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

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
    H: Fn(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
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
                        reset(client);
                        continue;
                    }
                    admission.active.fetch_add(1, Ordering::Relaxed);
                    served.open.fetch_add(1, Ordering::AcqRel);
                    admission.accepted.fetch_add(1, Ordering::Relaxed);
                    let guard = Open(Arc::clone(admission), Arc::clone(&served));
                    let connection = handler(client, peer);
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

/// Closes with a reset (SO_LINGER 0): the client learns at once, and no TIME_WAIT is left.
pub fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

//! Bidirectional copy that honours half-close and an idle timeout.
//!
//! Each direction reads until end of stream and then shuts down the write
//! side of the other socket, so a client that half-closes after its request
//! still receives the whole response (what `tokio::io::copy_bidirectional`
//! does too). On top of it, the connection as a whole is idle only when
//! neither direction has moved a byte for `idle_timeout` (a long upload with
//! a silent server is not idle), as nginx's `proxy_timeout`.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes per read: nginx's `proxy_buffer_size` default. The buffer is
/// allocated uninitialised (`BytesMut`), not zeroed: a first version zeroed
/// two 64 KiB buffers per connection, which cost ~10 % of
/// connection-per-request throughput.
const BUFFER: usize = 16 * 1024;

/// How a copy ended.
#[derive(Debug)]
pub enum End {
    /// Both directions reached end of stream.
    Done,
    /// Nothing moved for the idle timeout.
    Idle,
    /// Reading from or writing to the client failed.
    Client,
    /// Reading from or writing to the backend failed.
    Backend,
}

/// Where the bytes moved in each direction are counted, as they move (so
/// that counters are live, and right even if the copy is cancelled).
#[derive(Clone, Copy)]
pub struct Counters<'a> {
    /// Bytes from the client to the backend.
    pub up: &'a AtomicU64,
    /// Bytes from the backend to the client.
    pub down: &'a AtomicU64,
}

/// Which side an I/O error came from.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Client,
    Backend,
}

impl Side {
    pub(crate) fn other(self) -> Self {
        match self {
            Side::Client => Side::Backend,
            Side::Backend => Side::Client,
        }
    }
}

/// Activity of one connection: the last time a byte moved, in milliseconds
/// since `start`.
pub(crate) struct Activity {
    start: Instant,
    last: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// At a direction's end of stream, whether to pass it on (shut the other socket down for
/// writing): with `half_close`, unless the other direction has already ended (then closing
/// the sockets sends the FIN, and the `shutdown` would be one syscall too many). Without
/// `half_close` the connection ends with this direction, and closing sends the FIN.
///
/// The end of stream is a read of 0, never inferred: a short read after epoll reported the
/// peer's FIN (`EPOLLRDHUP`) looks like the last one, but a read also stops at TCP urgent
/// data, and a reset arriving with the last data must surface as an error (tests in
/// `direct`).
pub(crate) fn pass_end_on(half_close: bool, ended: &AtomicBool) -> bool {
    half_close && !ended.swap(true, Ordering::AcqRel)
}

/// Copies `from` → `to` until end of stream, then passes it on ([`pass_end_on`]), noting
/// activity.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    from_side: Side,
    activity: &Activity,
    (moved, ended): (&AtomicU64, &AtomicBool),
) -> Result<(), (Side, io::Error)>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let to_side = from_side.other();
    let mut buf = BytesMut::with_capacity(BUFFER);
    loop {
        buf.clear();
        let n = from.read_buf(&mut buf).await.map_err(|e| (from_side, e))?;
        if n == 0 {
            // Half-close: pass the end of stream on, keep the other way open.
            if pass_end_on(true, ended) {
                to.shutdown().await.map_err(|e| (to_side, e))?;
            }
            return Ok(());
        }
        to.write_all(&buf).await.map_err(|e| (to_side, e))?;
        // A writer may hold written bytes until flushed (a TLS stream does when its socket is
        // full): without this, they would wait for the next read. Free for a TCP half.
        to.flush().await.map_err(|e| (to_side, e))?;
        moved.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
}

/// Copies between the client and the backend (a TLS stream, or an HTTP connection
/// after an upgrade), each given as its read and write halves (for `TcpStream`, `split()`: no
/// lock per operation, unlike `tokio::io::split`), in both directions until both are done
/// (half-close: a client that shuts its write side down still gets the whole response), one
/// fails, or nothing moves for `idle`.
///
/// Each direction owns a 16 KiB buffer for the connection's life; between two TCP sockets
/// lb-l4's proxies use a copy that holds none at rest.
pub async fn bidirectional<CR, CW, BR, BW>(
    (client_read, client_write): (CR, CW),
    (backend_read, backend_write): (BR, BW),
    idle: Duration,
    counters: Counters<'_>,
) -> End
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    BR: AsyncRead + Unpin,
    BW: AsyncWrite + Unpin,
{
    let activity = Activity::new();
    // Set by the first direction to end.
    let ended = AtomicBool::new(false);
    let upstream = pump(
        client_read,
        backend_write,
        Side::Client,
        &activity,
        (counters.up, &ended),
    );
    let downstream = pump(
        backend_read,
        client_write,
        Side::Backend,
        &activity,
        (counters.down, &ended),
    );
    // Pinned here and passed down by reference: handed by value through the nested async
    // fns, each level kept its own copy of both (the connection future was 4.5 KB).
    let (upstream, downstream) = (std::pin::pin!(upstream), std::pin::pin!(downstream));
    supervise(upstream, downstream, &activity, idle).await
}

/// [`supervise`] with `half_close`, else [`supervise_either`].
pub(crate) async fn supervise_both(
    upstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    downstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    activity: &Activity,
    idle: Duration,
    half_close: bool,
) -> End {
    if half_close {
        supervise(upstream, downstream, activity, idle).await
    } else {
        supervise_either(upstream, downstream, activity, idle).await
    }
}

/// Runs both directions to their end, or until one fails, or until nothing
/// moved for `idle` (shared by the copy and the splice paths).
pub(crate) async fn supervise(
    upstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    downstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    activity: &Activity,
    idle: Duration,
) -> End {
    let both = async {
        tokio::try_join!(upstream, downstream)?;
        Ok::<(), (Side, io::Error)>(())
    };
    watch_idle(both, activity, idle).await
}

/// As [`supervise`], but the connection ends when either direction does (no half-close).
pub(crate) async fn supervise_either(
    upstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    downstream: impl Future<Output = Result<(), (Side, io::Error)>>,
    activity: &Activity,
    idle: Duration,
) -> End {
    let either = async {
        tokio::select! {
            result = upstream => result,
            result = downstream => result,
        }
    };
    watch_idle(either, activity, idle).await
}

/// Runs `copy` until it ends, or until nothing moved for `idle`.
async fn watch_idle(
    copy: impl Future<Output = Result<(), (Side, io::Error)>>,
    activity: &Activity,
    idle: Duration,
) -> End {
    tokio::pin!(copy);
    loop {
        // `None` when the idle timeout is too large to add to an instant:
        // then there is no idle timeout.
        let idle_until = activity.last().checked_add(idle);
        tokio::select! {
            result = &mut copy => return match result {
                Ok(()) => End::Done,
                Err((Side::Client, _)) => End::Client,
                Err((Side::Backend, _)) => End::Backend,
            },
            () = tokio::time::sleep_until(idle_until.unwrap_or(activity.start)), if idle_until.is_some() => {
                if activity.last().elapsed() >= idle {
                    return End::Idle;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{DuplexStream, duplex};
    use tokio::task::JoinHandle;

    /// Runs `bidirectional` between two in-memory pipes; returns the peers
    /// (client side, backend side) and the copy, which yields how it ended
    /// and the bytes counted up and down.
    fn spawn_copy(idle: Duration) -> (DuplexStream, DuplexStream, JoinHandle<(End, u64, u64)>) {
        let (client, client_peer) = duplex(1024);
        let (backend, backend_peer) = duplex(1024);
        let copy = tokio::spawn(async move {
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            let counters = Counters {
                up: &up,
                down: &down,
            };
            let end = bidirectional(
                tokio::io::split(client),
                tokio::io::split(backend),
                idle,
                counters,
            )
            .await;
            (end, up.into_inner(), down.into_inner())
        });
        (client_peer, backend_peer, copy)
    }

    #[tokio::test]
    async fn a_huge_idle_timeout_means_none() {
        let (mut client_peer, mut backend_peer, copy) = spawn_copy(Duration::MAX);
        client_peer.write_all(b"ping").await.expect("write");
        let mut got = [0_u8; 4];
        backend_peer
            .read_exact(&mut got)
            .await
            .expect("relayed, no panic");
        drop((client_peer, backend_peer));
        let (end, _, _) = copy.await.expect("no panic");
        assert!(matches!(end, End::Done | End::Client | End::Backend));
    }

    /// A client that half-closes after its request still gets the whole response, through
    /// `copy` (which yields how it ended and the bytes counted up and down). Shared with the
    /// TCP copy's tests.
    pub(crate) async fn half_close_delivers<C, B>(
        mut client: C,
        mut backend: B,
        copy: JoinHandle<(End, u64, u64)>,
    ) where
        C: AsyncRead + AsyncWrite + Unpin,
        B: AsyncRead + AsyncWrite + Unpin,
    {
        client.write_all(b"request").await.expect("write");
        client.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        backend.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"request");
        backend.write_all(b"response").await.expect("write");
        backend.shutdown().await.expect("close");
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, b"response");
        let (end, up, down) = copy.await.expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((up, down), (7, 8));
    }

    #[tokio::test]
    async fn half_close_still_delivers_the_response() {
        let (client_peer, backend_peer, copy) = spawn_copy(Duration::from_secs(5));
        half_close_delivers(client_peer, backend_peer, copy).await;
    }

    #[tokio::test]
    async fn bytes_a_writer_holds_until_flushed_are_flushed() {
        // A writer that sends nothing until flushed (or full), as a TLS stream may.
        let (client, mut client_peer) = duplex(1024);
        let (backend, mut backend_peer) = duplex(1024);
        let (backend_read, backend_write) = tokio::io::split(backend);
        let copy = tokio::spawn(async move {
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            let counters = Counters {
                up: &up,
                down: &down,
            };
            bidirectional(
                tokio::io::split(client),
                (backend_read, tokio::io::BufWriter::new(backend_write)),
                Duration::from_secs(5),
                counters,
            )
            .await
        });
        client_peer.write_all(b"ping").await.expect("write");
        let mut got = [0_u8; 4];
        tokio::time::timeout(Duration::from_secs(2), backend_peer.read_exact(&mut got))
            .await
            .expect("relayed without waiting for more")
            .expect("read");
        assert_eq!(&got, b"ping");
        drop((client_peer, backend_peer));
        let _ = copy.await.expect("no panic");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_only_when_both_directions_are_quiet() {
        let (mut client_peer, mut backend_peer, copy) = spawn_copy(Duration::from_secs(10));
        // An upload trickling every 6 s keeps it alive past 10 s...
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client_peer.write_all(b"x").await.expect("write");
            let mut one = [0_u8; 1];
            backend_peer.read_exact(&mut one).await.expect("read");
        }
        assert!(!copy.is_finished());
        // ...and 10 s of silence ends it.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let (end, _, _) = copy.await.expect("task");
        assert!(matches!(end, End::Idle), "{end:?}");
    }
}

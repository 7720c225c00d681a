//! Zero-copy forwarding with `splice(2)` (Linux): socket → pipe → socket,
//! the bytes never entering user space (HAProxy's `option splice-auto`;
//! nginx and Envoy have none).
//!
//! Measured (docs/PERFORMANCE.md): through a 1 MiB pipe it halves the
//! proxy's CPU per byte on bulk transfers; through a 64 KiB pipe it is no
//! better than a copy, so each direction asks for a 1 MiB pipe. It costs two
//! pipes (four descriptors) per connection, so it is off by default; if the
//! pipes cannot be made the connection falls back to the copy.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::unistd::pipe2;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::tcp::copy::{Activity, Counters, End, Side, supervise};

/// The pipe size each direction asks for (Linux's default maximum for
/// unprivileged processes, `/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: usize = 1 << 20;

/// A pipe between the two sockets of one direction.
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

impl Pipe {
    /// A non-blocking pipe of up to [`PIPE_SIZE`] bytes.
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // Larger pipes may be refused (pipe-max-size, per-user limits): keep
        // the default size then.
        let size = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32))
            .ok()
            .and_then(|s| usize::try_from(s).ok())
            .unwrap_or(64 * 1024);
        Ok(Self { read, write, size })
    }
}

const FLAGS: SpliceFFlags = SpliceFFlags::SPLICE_F_MOVE.union(SpliceFFlags::SPLICE_F_NONBLOCK);

/// Moves `from` → `to` through `pipe` until end of stream (then shuts `to`
/// down for writing), noting activity.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    from_side: Side,
    pipe: &Pipe,
    activity: &Activity,
    moved: &AtomicU64,
) -> Result<(), (Side, io::Error)> {
    let to_side = from_side.other();
    loop {
        from.readable().await.map_err(|e| (from_side, e))?;
        let filled = from.try_io(Interest::READABLE, || {
            splice(from, None, &pipe.write, None, pipe.size, FLAGS).map_err(io::Error::from)
        });
        let n = match filled {
            Ok(0) => {
                // Half-close: pass the end of stream on.
                socket2::SockRef::from(to)
                    .shutdown(Shutdown::Write)
                    .map_err(|e| (to_side, e))?;
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err((from_side, e)),
        };
        // Drain the pipe completely before reading again.
        let mut left = n;
        while left > 0 {
            to.writable().await.map_err(|e| (to_side, e))?;
            let drained = to.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, to, None, left, FLAGS).map_err(io::Error::from)
            });
            match drained {
                Ok(0) => {
                    return Err((to_side, io::ErrorKind::WriteZero.into()));
                }
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err((to_side, e)),
            }
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
}

/// Forwards between `client` and `backend` with splice in both directions,
/// until both are done, one fails, or nothing moves for `idle`.
pub(crate) async fn bidirectional(
    client: &TcpStream,
    backend: &TcpStream,
    pipes: &(Pipe, Pipe),
    idle: Duration,
    counters: Counters<'_>,
) -> End {
    let activity = Activity::new();
    let upstream = pump(
        client,
        backend,
        Side::Client,
        &pipes.0,
        &activity,
        counters.up,
    );
    let downstream = pump(
        backend,
        client,
        Side::Backend,
        &pipes.1,
        &activity,
        counters.down,
    );
    // Pinned here and passed down by reference: handed by value through the nested async
    // fns, each level kept its own copy of both (the connection future was 4.5 KB).
    let (upstream, downstream) = (std::pin::pin!(upstream), std::pin::pin!(downstream));
    supervise(upstream, downstream, &activity, idle).await
}

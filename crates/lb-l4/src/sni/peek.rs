//! Peeking at a client's ClientHello without consuming it.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::client_hello::{self, Peek};

/// The first peek buffer: larger than most ClientHellos (OpenSSL's take
/// about 300 bytes, browsers' with post-quantum key shares about 2 KiB).
const INITIAL: usize = 4096;

/// Why no conclusive ClientHello was peeked.
#[derive(Debug)]
pub(super) enum PeekError {
    /// The first bytes are not a TLS handshake record.
    NotTls,
    /// A ClientHello that is not valid.
    Hello(client_hello::Error),
    /// More than the limit arrived without completing a ClientHello.
    TooLarge,
    /// The client closed its side before completing a ClientHello.
    Closed,
    /// Reading failed.
    Io(io::Error),
}

impl std::fmt::Display for PeekError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotTls => f.write_str("not TLS"),
            Self::Hello(e) => e.fmt(f),
            Self::TooLarge => f.write_str("ClientHello larger than the peek limit"),
            Self::Closed => f.write_str("closed before a whole ClientHello"),
            Self::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

/// Waits until the bytes at the head of `stream` form a whole ClientHello
/// (or show they cannot) without consuming any: returns the bytes peeked,
/// which [`client_hello::peek_sni`] finds conclusive. At most `max` bytes
/// are looked at. Not bounded in time: the caller applies a timeout.
///
/// The first peek is tokio's (it waits for the socket to be readable); in
/// the common case the whole ClientHello is there and that is all. Waiting
/// for *more* bytes is the delicate part: a peek leaves the data, hence the
/// readiness, in place, so waiting for readiness again returns at once, and
/// clearing tokio's readiness of the client socket would leave the bytes
/// unannounced to the copy that follows (it would wait forever). So the
/// wait uses a duplicate of the descriptor registered on its own
/// ([`Waiter`]), whose readiness may be cleared freely; the client socket's
/// own readiness is never touched (it was set by the bytes' arrival and
/// stays set for the copy).
pub(super) async fn peek_client_hello(
    stream: &TcpStream,
    max: usize,
) -> Result<Vec<u8>, PeekError> {
    let mut buf = vec![0_u8; INITIAL.min(max).max(1)];
    let mut n = stream.peek(&mut buf).await.map_err(PeekError::Io)?;
    let mut waiter = None;
    loop {
        if n == 0 {
            return Err(PeekError::Closed);
        }
        match client_hello::peek_sni(&buf[..n]) {
            Ok(Peek::Incomplete { needed }) => {
                if n == buf.len() {
                    if n >= max {
                        return Err(PeekError::TooLarge);
                    }
                    let grown = n.saturating_add(needed).max(n.saturating_mul(2));
                    buf.resize(grown.min(max), 0);
                }
            }
            Ok(Peek::NoSni | Peek::Sni(_)) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(client_hello::Error::NotTls) => return Err(PeekError::NotTls),
            Err(e) => return Err(PeekError::Hello(e)),
        }
        let waiter = match &mut waiter {
            Some(waiter) => waiter,
            None => waiter.insert(Waiter::new(stream)?),
        };
        n = waiter.peek_more(&mut buf, n).await?;
    }
}

/// Waits for bytes beyond those already peeked, on duplicates of the
/// client's descriptor: one registered in tokio's reactor on its own, to
/// wait on (its readiness may be cleared without affecting the client
/// socket's), and a plain one for `peek(2)` into a byte buffer without
/// waiting (the open file is non-blocking), which tokio does not offer.
#[cfg(unix)]
struct Waiter {
    peeker: std::net::TcpStream,
    events: TcpStream,
    /// The peer's end of stream was reported.
    closed: bool,
}

#[cfg(unix)]
impl Waiter {
    fn new(stream: &TcpStream) -> Result<Self, PeekError> {
        use std::os::fd::AsFd;
        let dup = || -> io::Result<(std::net::TcpStream, TcpStream)> {
            let peeker = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned()?);
            // Shared with the original (one open file): already so.
            peeker.set_nonblocking(true)?;
            let events = TcpStream::from_std(peeker.try_clone()?)?;
            Ok((peeker, events))
        };
        let (peeker, events) = dup().map_err(PeekError::Io)?;
        Ok(Self {
            peeker,
            events,
            closed: false,
        })
    }

    /// Peeks into `buf` once more than `seen` bytes are there (at once if
    /// they are): the number of bytes peeked.
    ///
    /// Each round peeks without waiting, then waits for readiness and
    /// clears it: bytes that arrive after a peek raise an event after it,
    /// which ends the wait, and the next peek sees them (tokio's
    /// notifications are edge-triggered, and a clear never drops an event
    /// newer than the one it observed).
    async fn peek_more(&mut self, buf: &mut [u8], seen: usize) -> Result<usize, PeekError> {
        loop {
            match self.peeker.peek(buf) {
                Ok(0) => return Err(PeekError::Closed),
                Ok(n) if n > seen => return Ok(n),
                // Everything sent before the end of stream has been seen.
                Ok(_) if self.closed => return Err(PeekError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(PeekError::Io(e)),
            }
            let ready = self
                .events
                .ready(Interest::READABLE)
                .await
                .map_err(PeekError::Io)?;
            self.closed |= ready.is_read_closed();
            let _ = self.events.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

/// Waits for bytes beyond those already peeked by peeking again after
/// short, growing pauses (1 to 50 ms): without a second registration of
/// the socket there is no way to wait for *more* bytes without consuming
/// the ones there. The client socket's readiness is only observed, never
/// cleared.
#[cfg(not(unix))]
struct Waiter<'a> {
    stream: &'a TcpStream,
}

#[cfg(not(unix))]
impl<'a> Waiter<'a> {
    fn new(stream: &'a TcpStream) -> Result<Self, PeekError> {
        Ok(Self { stream })
    }

    async fn peek_more(&mut self, buf: &mut [u8], seen: usize) -> Result<usize, PeekError> {
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            // Bytes are there, so this returns at once, telling whether the
            // end of stream has arrived too.
            let ready = self
                .stream
                .ready(Interest::READABLE)
                .await
                .map_err(PeekError::Io)?;
            let n = self.stream.peek(buf).await.map_err(PeekError::Io)?;
            if n == 0 || (n <= seen && ready.is_read_closed()) {
                return Err(PeekError::Closed);
            }
            if n > seen {
                return Ok(n);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }
}

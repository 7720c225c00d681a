//! An accepted client connection that joins the runtime's reactor only when it first has to
//! wait.
//!
//! A tokio `TcpStream` is registered with epoll when it is created and deregistered when it is
//! dropped: two `epoll_ctl` calls per connection. A connection-per-request HTTP client has
//! usually sent its request by the time the proxy accepts it, and its small response fits the
//! fresh socket's send buffer, so it never waits: HAProxy serves such a connection without
//! registering it at all (speculative I/O). [`Accepted`] does the same: reads and writes go
//! straight to the non-blocking socket, and only the first one that would block registers it
//! (the connection then behaves exactly as a `TcpStream`). Measured in `docs/PERFORMANCE.md`.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes a read can take while the socket is not registered: the caller's buffer is usually
/// uninitialised, and this much of it is zeroed first (safe code cannot hand the kernel
/// uninitialised memory). A request head fits; a larger request continues in the next read.
const UNREGISTERED_READ: usize = 4 * 1024;

/// An accepted client connection that joins the runtime's reactor only when it first has to
/// wait: reads and writes go straight to the non-blocking socket, and the first one that would
/// block registers it (HAProxy's speculative I/O; a connection-per-request HTTP client is then
/// served without `epoll_ctl`). `AsyncRead` and `AsyncWrite` like a `TcpStream`, which it
/// becomes ([`Accepted::into_stream`]) when a caller needs one.
#[derive(Debug)]
pub struct Accepted {
    state: State,
    /// `TCP_NODELAY` as last set or inherited from the listener, when known: setting it to
    /// the same value again is skipped (a `setsockopt` per connection).
    nodelay: Cell<Option<bool>>,
}

#[derive(Debug)]
enum State {
    /// Non-blocking, not known to the reactor.
    Fresh(mio::net::TcpStream),
    /// Registered: every operation is the `TcpStream`'s.
    Registered(TcpStream),
    /// Only while moving from `Fresh` to `Registered`, or after a failed registration.
    Broken,
}

impl Accepted {
    /// Wraps a non-blocking socket fresh from `accept`, not yet registered; `nodelay` is its
    /// `TCP_NODELAY` if known (inherited from the listener).
    pub(crate) fn fresh(stream: mio::net::TcpStream, nodelay: Option<bool>) -> Self {
        Self {
            state: State::Fresh(stream),
            nodelay: Cell::new(nodelay),
        }
    }

    /// Wraps a registered stream (a platform without the speculative path, or tests).
    #[must_use]
    pub fn registered(stream: TcpStream) -> Self {
        Self {
            state: State::Registered(stream),
            nodelay: Cell::new(None),
        }
    }

    /// Whether the socket has joined the reactor (it has had to wait at least once).
    #[must_use]
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// The registered `TcpStream`, registering it now if needed.
    ///
    /// # Errors
    ///
    /// Registration failed (the reactor is gone or out of memory); the connection is closed.
    pub fn into_stream(mut self) -> io::Result<TcpStream> {
        self.register()?;
        match self.state {
            State::Registered(stream) => Ok(stream),
            State::Fresh(_) | State::Broken => Err(broken()),
        }
    }

    /// The address of the peer.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            State::Fresh(s) => s.peer_addr(),
            State::Registered(s) => s.peer_addr(),
            State::Broken => Err(broken()),
        }
    }

    /// The local address the connection arrived on.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.state {
            State::Fresh(s) => s.local_addr(),
            State::Registered(s) => s.local_addr(),
            State::Broken => Err(broken()),
        }
    }

    /// Sets `TCP_NODELAY`; nothing to do when the socket already has that value (on Linux,
    /// `serve_connections` sets it on the listener, and accepted sockets inherit it).
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        if self.nodelay.get() == Some(nodelay) {
            return Ok(());
        }
        match &self.state {
            State::Fresh(s) => s.set_nodelay(nodelay),
            State::Registered(s) => s.set_nodelay(nodelay),
            State::Broken => Err(broken()),
        }?;
        self.nodelay.set(Some(nodelay));
        Ok(())
    }

    /// Closes with a reset (SO_LINGER 0): the client learns at once, and no TIME_WAIT is left.
    pub fn reset(self) {
        let linger = Some(std::time::Duration::ZERO);
        match &self.state {
            State::Fresh(s) => drop(socket2::SockRef::from(s).set_linger(linger)),
            State::Registered(s) => drop(socket2::SockRef::from(s).set_linger(linger)),
            State::Broken => {}
        }
    }

    fn register(&mut self) -> io::Result<&mut TcpStream> {
        if let State::Fresh(_) = self.state {
            let State::Fresh(fresh) = std::mem::replace(&mut self.state, State::Broken) else {
                unreachable!("checked above");
            };
            self.state = State::Registered(TcpStream::from_std(fresh.into())?);
        }
        match &mut self.state {
            State::Registered(stream) => Ok(stream),
            State::Fresh(_) | State::Broken => Err(broken()),
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost its registration",
    )
}

impl Accepted {
    /// Runs `fresh` straight on the unregistered socket; if it would block (or the socket is
    /// registered already), registers and runs `registered`, the tokio way. (Reads do the
    /// same by hand: both closures would need the caller's buffer.)
    fn poll_io<T>(
        &mut self,
        cx: &mut Context<'_>,
        fresh: impl FnOnce(&mut mio::net::TcpStream) -> io::Result<T>,
        registered: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let State::Fresh(stream) = &mut self.state {
            match fresh(stream) {
                Err(e) if would_block(&e) => {}
                done => return Poll::Ready(done),
            }
        }
        match self.register() {
            Ok(stream) => registered(Pin::new(stream), cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let State::Fresh(stream) = &mut this.state {
            let room = buf.remaining().min(UNREGISTERED_READ);
            match stream.read(buf.initialize_unfilled_to(room)) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        match this.register() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_io(cx, |s| s.write(buf), |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_io(
            cx,
            |s| s.write_vectored(bufs),
            |s, cx| s.poll_write_vectored(cx, bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket holds nothing back.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Fresh(stream) => Poll::Ready(stream.shutdown(Shutdown::Write)),
            State::Registered(stream) => Pin::new(stream).poll_shutdown(cx),
            State::Broken => Poll::Ready(Err(broken())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair: the accepted side as a fresh (unregistered) socket, and the client.
    async fn pair() -> (Accepted, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let std = server.into_std().expect("std");
        (
            Accepted::fresh(mio::net::TcpStream::from_std(std), None),
            client,
        )
    }

    #[tokio::test]
    async fn data_already_there_is_served_without_registering() {
        let (mut accepted, mut client) = pair().await;
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("send");
        // Let the bytes land.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut buf = bytes::BytesMut::with_capacity(1024);
        accepted.read_buf(&mut buf).await.expect("read");
        assert_eq!(&buf[..], b"GET / HTTP/1.1\r\n\r\n");
        accepted
            .write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .await
            .expect("write");
        accepted.shutdown().await.expect("shutdown");
        assert!(!accepted.is_registered());
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("answer");
        assert_eq!(answer, b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[tokio::test]
    async fn a_read_that_would_block_registers_and_then_wakes() {
        let (mut accepted, mut client) = pair().await;
        let reader = tokio::spawn(async move {
            let mut buf = [0_u8; 5];
            accepted.read_exact(&mut buf).await.expect("read");
            (accepted, buf)
        });
        // On this current-thread runtime the reader runs (reads nothing, registers) while the
        // test sleeps, before anything is sent: the order does not depend on timing.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        client.write_all(b"hello").await.expect("send");
        let (accepted, buf) = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("woken, not hung")
            .expect("task");
        assert_eq!(&buf, b"hello");
        assert!(accepted.is_registered());
    }

    #[tokio::test]
    async fn a_write_that_would_block_registers_and_completes() {
        let (mut accepted, mut client) = pair().await;
        // More than the socket buffers can hold even at their largest (tcp_wmem + tcp_rmem
        // maxima, 4 + 6 MiB by default): on this current-thread runtime the client reads only
        // once the writer has had to wait, so the write must block and register.
        let data: Vec<u8> = (0..32 * 1024 * 1024_u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            accepted.write_all(&data).await.expect("write");
            accepted.shutdown().await.expect("shutdown");
            accepted
        });
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, expected);
        assert!(writer.await.expect("task").is_registered());
    }

    #[tokio::test]
    async fn end_of_stream_and_addresses_before_and_after_registering() {
        let (accepted, client) = pair().await;
        assert_eq!(
            accepted.peer_addr().expect("peer"),
            client.local_addr().expect("local")
        );
        assert_eq!(
            accepted.local_addr().expect("local"),
            client.peer_addr().expect("peer")
        );
        accepted.set_nodelay(true).expect("nodelay");
        drop(client);
        let mut accepted = accepted;
        let mut buf = Vec::new();
        assert_eq!(accepted.read_to_end(&mut buf).await.expect("eof"), 0);
        let stream = accepted.into_stream().expect("stream");
        assert!(stream.peer_addr().is_ok());
    }
}

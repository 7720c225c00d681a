//! The copy between two TCP sockets: [`bidirectional`](super::bidirectional)'s semantics
//! (half-close both ways, one idle timeout, live counters), with one syscall fewer per
//! direction that ends after data.
//!
//! A generic `AsyncRead` learns of the end of stream from a read that returns 0. Between two
//! sockets the reactor already says more: epoll reports `EPOLLRDHUP` when the peer's FIN has
//! arrived. If that was reported before a read, and the read then left room in the buffer, the
//! read took everything that came before the FIN: the stream has ended, and the read of 0 is
//! not needed (HAProxy does the same). A backend answering with `Connection: close` sends its
//! response and FIN together, so a connection-per-request forward saves one `recvfrom`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::copy::{Activity, BUFFER, Counters, End, Side, supervise, supervise_either};

/// Copies `from` → `to` until end of stream (then, if `half_close`, shuts `to` down for
/// writing, unless the other direction ended first), noting activity.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    from_side: Side,
    activity: &Activity,
    (moved, ended): (&AtomicU64, &AtomicBool),
    half_close: bool,
) -> Result<(), (Side, io::Error)> {
    let to_side = from_side.other();
    let mut buf = BytesMut::with_capacity(BUFFER);
    loop {
        buf.clear();
        let room = buf.capacity();
        let ready = from
            .ready(Interest::READABLE)
            .await
            .map_err(|e| (from_side, e))?;
        // A read that leaves room has drained the socket: report it as `WouldBlock` to the
        // outer `try_io`, which then forgets the readiness seen before the read (as a tokio
        // `poll_read` does; `try_read_buf` alone would not, and the next read would be an
        // `EAGAIN`). A readiness event that arrived meanwhile is kept: it has a newer tick.
        let mut got = 0;
        let read = from.try_io(Interest::READABLE, || {
            got = from.try_read_buf(&mut buf)?;
            if got > 0 && got < room {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(got)
        });
        let n = match read {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err((from_side, e)),
        };
        if n > 0 {
            write_all(to, &buf).await.map_err(|e| (to_side, e))?;
            moved.fetch_add(n as u64, Ordering::Relaxed);
            activity.touch();
        }
        // The FIN was in before this read, and the read drained the socket.
        let at_end = n == 0 || (ready.is_read_closed() && n < room);
        if at_end {
            if !half_close {
                // The whole connection ends with this direction: closing sends the FIN.
                return Ok(());
            }
            return shut_down(to, ended).map_err(|e| (to_side, e));
        }
    }
}

/// Passes the end of stream on, unless the other direction has ended already: then closing
/// the sockets sends the FIN, and the `shutdown` would be one syscall too many.
fn shut_down(to: &TcpStream, ended: &AtomicBool) -> io::Result<()> {
    if ended.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write)
}

async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Forwards between `client` and `backend` in both directions until both are done (with
/// `half_close` off: until either is), one fails, or nothing moves for `idle`.
pub(crate) async fn bidirectional(
    client: &TcpStream,
    backend: &TcpStream,
    idle: Duration,
    counters: Counters<'_>,
    half_close: bool,
) -> End {
    let activity = Activity::new();
    let ended = AtomicBool::new(false);
    let upstream = pump(
        client,
        backend,
        Side::Client,
        &activity,
        (counters.up, &ended),
        half_close,
    );
    let downstream = pump(
        backend,
        client,
        Side::Backend,
        &activity,
        (counters.down, &ended),
        half_close,
    );
    if half_close {
        supervise(upstream, downstream, &activity, idle).await
    } else {
        supervise_either(upstream, downstream, &activity, idle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let outer = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (inner, _) = listener.accept().await.expect("accept");
        (outer, inner)
    }

    /// client ⇄ [proxy_client | proxy_backend] ⇄ backend, forwarded by `bidirectional`.
    async fn forwarded() -> (
        TcpStream,
        TcpStream,
        tokio::task::JoinHandle<(End, u64, u64)>,
    ) {
        forwarded_with(true).await
    }

    async fn forwarded_with(
        half_close: bool,
    ) -> (
        TcpStream,
        TcpStream,
        tokio::task::JoinHandle<(End, u64, u64)>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (client, proxy_client) = pair(&listener).await;
        let (proxy_backend, backend) = pair(&listener).await;
        let copy = tokio::spawn(async move {
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            let end = bidirectional(
                &proxy_client,
                &proxy_backend,
                Duration::from_secs(10),
                Counters {
                    up: &up,
                    down: &down,
                },
                half_close,
            )
            .await;
            (end, up.into_inner(), down.into_inner())
        });
        (client, backend, copy)
    }

    #[tokio::test]
    async fn a_response_and_its_fin_together_end_the_copy() {
        let (mut client, mut backend, copy) = forwarded().await;
        client.write_all(b"request").await.expect("send");
        let mut request = [0_u8; 7];
        backend.read_exact(&mut request).await.expect("request");
        backend.write_all(b"response").await.expect("answer");
        drop(backend);
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.expect("response");
        assert_eq!(response, b"response");
        drop(client);
        let (end, up, down) = tokio::time::timeout(Duration::from_secs(5), copy)
            .await
            .expect("the copy ends")
            .expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((up, down), (7, 8));
    }

    #[tokio::test]
    async fn without_half_close_the_first_side_to_end_closes_the_connection() {
        let (mut client, mut backend, copy) = forwarded_with(false).await;
        client.write_all(b"request").await.expect("send");
        let mut request = [0_u8; 7];
        backend.read_exact(&mut request).await.expect("request");
        backend.write_all(b"response").await.expect("answer");
        backend.shutdown().await.expect("end");
        // The client never closes: the connection ends anyway, the response delivered first.
        let (end, up, down) = tokio::time::timeout(Duration::from_secs(5), copy)
            .await
            .expect("the copy ends with the backend")
            .expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((up, down), (7, 8));
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.expect("response");
        assert_eq!(response, b"response");
    }

    #[tokio::test]
    async fn half_close_both_ways_keeps_the_other_direction() {
        let (mut client, mut backend, copy) = forwarded().await;
        client.write_all(b"upload").await.expect("send");
        client.shutdown().await.expect("half-close");
        let mut upload = Vec::new();
        backend.read_to_end(&mut upload).await.expect("upload");
        assert_eq!(upload, b"upload");
        // The backend still answers after the client's FIN, in several writes.
        for _ in 0..3 {
            backend.write_all(b"part ").await.expect("answer");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        backend.shutdown().await.expect("end");
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.expect("response");
        assert_eq!(response, b"part part part ");
        let (end, up, down) = copy.await.expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((up, down), (6, 15));
    }

    #[tokio::test]
    async fn more_than_a_buffer_before_the_fin_all_arrives() {
        let (mut client, mut backend, copy) = forwarded().await;
        let data: Vec<u8> = (0..3 * BUFFER as u32 + 17)
            .map(|i| (i % 253) as u8)
            .collect();
        let sent = data.clone();
        let sender = tokio::spawn(async move {
            backend.write_all(&sent).await.expect("send");
        });
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, data);
        sender.await.expect("sender");
        drop(client);
        let (end, _, down) = copy.await.expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!(down, data.len() as u64);
    }
}

//! The socket-to-socket copy: TCP on both sides, no buffer held between reads.
//!
//! The generic copy ([`bidirectional`](crate::tcp::bidirectional), for TLS streams and
//! upgraded HTTP connections) reads into a buffer each direction owns for the connection's
//! whole life: 32 KiB per connection, mostly idle. Between two TCP sockets each read is polled
//! with a buffer lent by the thread, which goes back at once if nothing is there (before the
//! task waits) and otherwise as soon as the receiver has taken the bytes. Only a
//! direction whose receiver is slower than its sender keeps one, until it drains (as
//! HAProxy's buffers, allocated when needed and released when empty). An open connection then
//! costs no buffer memory, and a new connection per request allocates none.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

use crate::tcp::copy::{Activity, Counters, End, Side, pass_end_on, supervise_both};

/// Bytes per read: nginx's `proxy_buffer_size` default.
const BUFFER: usize = 16 * 1024;

/// Buffers a thread keeps for reuse; more out at once (directions whose receivers are slow)
/// are allocated and freed.
const POOL: usize = 16;

thread_local! {
    /// The thread's spare buffers (empty; capacity [`BUFFER`], uninitialised).
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer for one read: a spare one of this thread's, or a new one.
fn lend() -> BytesMut {
    SPARE
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| BytesMut::with_capacity(BUFFER))
}

/// Gives `buf` back to this thread's spares (or frees it when there are enough).
fn give_back(mut buf: BytesMut) {
    buf.clear();
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < POOL {
            spare.push(buf);
        }
    });
}

/// Copies `from` → `to` until end of stream, as the generic copy does (the end of stream passed
/// on with `half_close`, a read of 0 and never inferred), holding a buffer only while `to`
/// has not taken what was read.
async fn pump(
    mut from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    from_side: Side,
    activity: &Activity,
    (moved, ended): (&AtomicU64, &AtomicBool),
    half_close: bool,
) -> Result<(), (Side, io::Error)> {
    let to_side = from_side.other();
    loop {
        // Each poll lends a buffer and reads once: data (or the end) comes back with it;
        // nothing yet, it goes back before the task waits (tokio's `poll_read`, not
        // `try_read`: after a short read it takes the socket as drained, as nginx does, so the
        // next read waits for epoll instead of failing with EAGAIN; a pending end of stream
        // stays ready). A pending read also means tokio wants the task to yield (its
        // cooperative budget): waiting for readiness first and then reading would spin then.
        let (buf, n) = std::future::poll_fn(|cx| {
            let mut buf = lend();
            let polled = pin!(from.read_buf(&mut buf)).poll(cx);
            match polled {
                Poll::Ready(Ok(n)) => Poll::Ready(Ok((buf, n))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => {
                    give_back(buf);
                    Poll::Pending
                }
            }
        })
        .await
        .map_err(|e| (from_side, e))?;
        if n == 0 {
            give_back(buf);
            if pass_end_on(half_close, ended) {
                socket2::SockRef::from(to.as_ref())
                    .shutdown(Shutdown::Write)
                    .map_err(|e| (to_side, e))?;
            }
            return Ok(());
        }
        // Most often the receiver takes it all at once, and the buffer goes straight back.
        let mut written = match to.try_write(&buf) {
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err((to_side, e)),
        };
        while written < n {
            to.writable().await.map_err(|e| (to_side, e))?;
            match to.try_write(&buf[written..]) {
                Ok(0) => return Err((to_side, io::ErrorKind::WriteZero.into())),
                Ok(w) => written += w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err((to_side, e)),
            }
        }
        give_back(buf);
        moved.fetch_add(n as u64, Ordering::Relaxed);
        activity.touch();
    }
}

/// Forwards between two TCP sockets in both directions until both are done (with
/// `half_close`; without, until either is), one fails, or nothing moves for `idle`.
pub(crate) async fn forward(
    client: &mut TcpStream,
    backend: &mut TcpStream,
    idle: Duration,
    counters: Counters<'_>,
    half_close: bool,
) -> End {
    let activity = Activity::new();
    // Set by the first direction to end.
    let ended = AtomicBool::new(false);
    let (client_read, client_write) = client.split();
    let (backend_read, backend_write) = backend.split();
    let upstream = pump(
        client_read,
        backend_write,
        Side::Client,
        &activity,
        (counters.up, &ended),
        half_close,
    );
    let downstream = pump(
        backend_read,
        client_write,
        Side::Backend,
        &activity,
        (counters.down, &ended),
        half_close,
    );
    // Pinned here and passed down by reference: handed by value through the nested async
    // fns, each level kept its own copy of both (the connection future was 4.5 KB).
    let (upstream, downstream) = (std::pin::pin!(upstream), std::pin::pin!(downstream));
    supervise_both(upstream, downstream, &activity, idle, half_close).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    /// Real sockets: client ⇄ [proxy_client | proxy_backend] ⇄ backend.
    async fn tcp_four() -> (TcpStream, TcpStream, TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (proxy_client, _) = listener.accept().await.expect("accept");
        let proxy_backend = TcpStream::connect(addr).await.expect("connect");
        let (backend, _) = listener.accept().await.expect("accept");
        (client, proxy_client, proxy_backend, backend)
    }

    fn tcp_copy(
        mut proxy_client: TcpStream,
        mut proxy_backend: TcpStream,
        half_close: bool,
    ) -> JoinHandle<(End, u64, u64)> {
        tokio::spawn(async move {
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            let counters = Counters {
                up: &up,
                down: &down,
            };
            let end = forward(
                &mut proxy_client,
                &mut proxy_backend,
                Duration::from_secs(10),
                counters,
                half_close,
            )
            .await;
            (end, up.into_inner(), down.into_inner())
        })
    }

    #[tokio::test]
    async fn half_close_still_delivers_the_response() {
        let (client, proxy_client, proxy_backend, backend) = tcp_four().await;
        let copy = tcp_copy(proxy_client, proxy_backend, true);
        crate::tcp::copy::tests::half_close_delivers(client, backend, copy).await;
    }

    // A review found both of these broken by an "EPOLLRDHUP and a short read mean the end"
    // shortcut (since removed): a read stops at TCP urgent data, and a reset can arrive with
    // the last data.
    #[tokio::test]
    async fn data_after_an_urgent_byte_and_before_the_fin_all_arrives() {
        let (mut client, proxy_client, proxy_backend, mut backend) = tcp_four().await;
        backend.write_all(b"aaaa").await.expect("send");
        socket2::SockRef::from(&backend)
            .send_out_of_band(b"b")
            .expect("urgent");
        backend.write_all(b"cccc").await.expect("send");
        backend.shutdown().await.expect("fin");
        // All of it is in before the copy starts reading.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let copy = tcp_copy(proxy_client, proxy_backend, true);
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got))
            .await
            .expect("bounded")
            .expect("read");
        // The urgent byte itself is out of band (not forwarded, as by nginx and HAProxy).
        assert_eq!(got, b"aaaacccc");
        drop(client);
        let (end, _, _) = copy.await.expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
    }

    #[tokio::test]
    async fn a_reset_arriving_with_the_last_data_is_the_backends_failure() {
        let (mut client, proxy_client, proxy_backend, mut backend) = tcp_four().await;
        backend.write_all(b"partial response").await.expect("send");
        socket2::SockRef::from(&backend)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(backend);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let copy = tcp_copy(proxy_client, proxy_backend, true);
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got)).await;
        assert_eq!(got, b"partial response");
        drop(client);
        let (end, _, _) = tokio::time::timeout(Duration::from_secs(5), copy)
            .await
            .expect("bounded")
            .expect("task");
        assert!(matches!(end, End::Backend), "{end:?}");
    }

    #[tokio::test]
    async fn without_half_close_the_first_side_to_end_closes_the_connection() {
        let (mut client, proxy_client, proxy_backend, mut backend) = tcp_four().await;
        let copy = tcp_copy(proxy_client, proxy_backend, false);
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

    /// A receiver that does not read makes the copy keep what it could not write; once the
    /// receiver reads, all of it arrives, in order, and the buffers go back to the thread.
    #[tokio::test]
    async fn a_slow_receiver_gets_everything_in_order() {
        let (mut client, proxy_client, proxy_backend, mut backend) = tcp_four().await;
        // Small buffers between the proxy and the client, so that it fills them quickly.
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(8192)
            .expect("rcvbuf");
        socket2::SockRef::from(&proxy_client)
            .set_send_buffer_size(8192)
            .expect("sndbuf");
        let copy = tcp_copy(proxy_client, proxy_backend, true);
        // Far more than the small buffers hold (and small: the small window makes it slow).
        let data: Vec<u8> = (0..512 << 10).map(|i: u32| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            backend.write_all(&sent).await.expect("send");
            backend.shutdown().await.expect("end");
            backend
        });
        // Nothing read for a while: the copy must stall (a write would block), not drop.
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.shutdown().await.expect("half-close");
        let mut got = Vec::with_capacity(data.len());
        tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut got))
            .await
            .expect("bounded")
            .expect("read");
        assert!(
            got == data,
            "{} of {} bytes, or out of order",
            got.len(),
            data.len()
        );
        drop(writer.await.expect("writer"));
        let (end, up, down) = copy.await.expect("task");
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((up, down), (0, data.len() as u64));
        assert!(SPARE.with_borrow(Vec::len) <= POOL);
    }

    #[test]
    fn the_pool_lends_and_keeps_at_most_its_size() {
        let lent: Vec<BytesMut> = (0..POOL + 4).map(|_| lend()).collect();
        assert!(lent.iter().all(|b| b.is_empty() && b.capacity() >= BUFFER));
        for mut buf in lent {
            buf.extend_from_slice(b"used");
            give_back(buf);
        }
        assert_eq!(SPARE.with_borrow(Vec::len), POOL);
        // What comes back is empty again.
        assert!(lend().is_empty());
    }
}

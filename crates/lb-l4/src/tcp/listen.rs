//! Binding listeners with the options a load balancer wants.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

/// Backlog of pending connections (nginx's default on Linux is 511; the
/// kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// Binds a TCP listener on `addr` with `SO_REUSEADDR`, `TCP_NODELAY` (inherited by accepted
/// connections) and, if `reuse_port`, `SO_REUSEPORT` (Linux/BSD): several listeners, in one
/// process or many, share the port and the kernel spreads connections over them (nginx
/// `reuseport`, HAProxy's default).
///
/// # Errors
///
/// The socket, option, bind or listen error; and outside a tokio runtime.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let a = lb_l4::tcp::listen("127.0.0.1:0".parse().unwrap(), true)?;
/// let port = a.local_addr()?;
/// let b = lb_l4::tcp::listen(port, true)?; // shares the port
/// # drop((a, b));
/// # Ok(())
/// # }
/// ```
pub fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket.set_reuse_port(reuse_port)?;
    #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
    if reuse_port {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this platform",
        ));
    }
    socket.set_nonblocking(true)?;
    // Before `listen`, so that every connection inherits it (Linux) and the proxies need no
    // `setsockopt` per connection (see `server::Accepted::set_nodelay`).
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Sets `TCP_DEFER_ACCEPT` on a listener (Linux): the kernel hands over a connection only once
/// its first data has arrived, or after about `seconds` without any (nginx's `listen ...
/// deferred`, HAProxy's `defer-accept`). Only for protocols where the client speaks first
/// (HTTP, TLS): a server-first protocol (SMTP, MySQL) would wait `seconds` on every
/// connection.
///
/// An HTTP proxy then reads each new connection's request at once, without waiting for an
/// epoll event, and a connection-per-request client is served without registering its
/// socket at all (see [`Accepted`](crate::server::Accepted)); a client that connects and
/// never sends costs no accept and no task. Measured in `docs/PERFORMANCE.md`.
///
/// # Errors
///
/// The `setsockopt(2)` error.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = lb_l4::tcp::listen("127.0.0.1:0".parse().unwrap(), false)?;
/// lb_l4::tcp::set_defer_accept(&listener, 1)?;
/// # Ok(())
/// # }
/// ```
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn set_defer_accept(listener: &TcpListener, seconds: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the listener's, open while it is borrowed; the option value
    // points to a live `c_int` and the length given is its size, as TCP_DEFER_ACCEPT expects.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reuse_port_lets_two_listeners_share_a_port() {
        let first = listen("127.0.0.1:0".parse().expect("addr"), true).expect("bind");
        let addr = first.local_addr().expect("addr");
        let second = listen(addr, true).expect("shared port");
        assert_eq!(second.local_addr().expect("addr"), addr);
        drop((first, second));
        let lone = listen("127.0.0.1:0".parse().expect("addr"), false).expect("bind");
        let taken = lone.local_addr().expect("addr");
        assert!(
            listen(taken, false).is_err(),
            "without SO_REUSEPORT the port is taken"
        );
    }
}

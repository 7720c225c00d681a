//! TCP proxy settings.

use std::time::Duration;

use crate::proxy_protocol::Version;

/// What the hash-based algorithms hash for a TCP connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// The client IP address: a client sticks to one backend (nginx
    /// `hash $remote_addr`, HAProxy `balance source`).
    #[default]
    ClientIp,
    /// Client address and port and the listener's address and port: each
    /// connection placed on its own (a flow hash).
    FourTuple,
}

/// Settings of a [`TcpProxy`](super::TcpProxy). Defaults: connect timeout
/// 5 s (HAProxy's customary `timeout connect`), idle timeout 10 min (nginx
/// `proxy_timeout`), 10 000 connections, 2 retries on another backend (3
/// tries in all; HAProxy's `retries 3` means 3 after the first, and on
/// another server only with `option redispatch`), `TCP_NODELAY`,
/// hash on the client IP, 30 s to drain, no PROXY protocol either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpProxyConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) retries: u32,
    pub(crate) nodelay: bool,
    pub(crate) hash_key: HashKey,
    pub(crate) drain_timeout: Duration,
    pub(crate) accept_burst: usize,
    pub(crate) send_proxy: Option<Version>,
    pub(crate) accept_proxy: bool,
    pub(crate) proxy_header_timeout: Duration,
    pub(crate) splice: bool,
    pub(crate) half_close: bool,
}

impl Default for TcpProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_connections: 10_000,
            retries: 2,
            nodelay: true,
            hash_key: HashKey::ClientIp,
            drain_timeout: Duration::from_secs(30),
            accept_burst: crate::server::DEFAULT_ACCEPT_BURST,
            send_proxy: None,
            accept_proxy: false,
            proxy_header_timeout: Duration::from_secs(5),
            splice: false,
            half_close: true,
        }
    }
}

/// The connection settings `TcpProxyConfig` and `SniProxyConfig` share, as builder setters
/// (one definition for both: the fields have the same names and meaning).
macro_rules! connection_setters {
    () => {
        /// How long a backend connect may take before the next backend is tried.
        #[must_use]
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.connect_timeout = timeout;
            self
        }

        /// How long a connection may move no byte in either direction
        /// (`Duration::MAX`: no idle timeout).
        #[must_use]
        pub fn idle_timeout(mut self, timeout: Duration) -> Self {
            self.idle_timeout = timeout;
            self
        }

        /// Most client connections at once (those still being read for a header or a
        /// ClientHello included); the excess is closed at once.
        #[must_use]
        pub fn max_connections(mut self, max: usize) -> Self {
            self.max_connections = max;
            self
        }

        /// Further backends tried when a connect fails (never the same one twice for one
        /// client connection).
        #[must_use]
        pub fn retries(mut self, retries: u32) -> Self {
            self.retries = retries;
            self
        }

        /// Whether to set `TCP_NODELAY` on both sockets.
        #[must_use]
        pub fn nodelay(mut self, nodelay: bool) -> Self {
            self.nodelay = nodelay;
            self
        }

        /// How long a drain waits for open connections before cutting them.
        #[must_use]
        pub fn drain_timeout(mut self, timeout: Duration) -> Self {
            self.drain_timeout = timeout;
            self
        }

        /// Connections accepted in a row before the open ones get their turn
        /// ([`ServeOptions::accept_burst`](crate::server::ServeOptions::accept_burst); default
        /// [`DEFAULT_ACCEPT_BURST`](crate::server::DEFAULT_ACCEPT_BURST)).
        #[must_use]
        pub fn accept_burst(mut self, burst: usize) -> Self {
            self.accept_burst = burst;
            self
        }

        /// The accept loop's limits, from these settings.
        pub(crate) fn serve_options(&self) -> crate::server::ServeOptions {
            crate::server::ServeOptions {
                max_connections: self.max_connections,
                drain_timeout: self.drain_timeout,
                accept_burst: self.accept_burst,
            }
        }
    };
}
pub(crate) use connection_setters;

impl TcpProxyConfig {
    connection_setters!();

    /// What hash-based algorithms hash.
    #[must_use]
    pub fn hash_key(mut self, key: HashKey) -> Self {
        self.hash_key = key;
        self
    }

    /// Sends a PROXY protocol header of `version` to each backend first, so
    /// it sees the real client address (nginx `proxy_protocol on`, HAProxy
    /// `send-proxy` / `send-proxy-v2`).
    #[must_use]
    pub fn send_proxy(mut self, version: Option<Version>) -> Self {
        self.send_proxy = version;
        self
    }

    /// Expects a PROXY protocol header (v1 or v2) from a tier in front on
    /// every client connection: its source address becomes the client
    /// address (for the hash key and any header sent onward). A connection
    /// without a valid header within `proxy_header_timeout` is closed and
    /// the reason logged (`tracing`, warn level).
    #[must_use]
    pub fn accept_proxy(mut self, accept: bool) -> Self {
        self.accept_proxy = accept;
        self
    }

    /// How long a client may take to send its PROXY header (default 5 s).
    #[must_use]
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> Self {
        self.proxy_header_timeout = timeout;
        self
    }

    /// Forwards with `splice(2)` (Linux; elsewhere ignored): socket to pipe
    /// to socket, no copy through user space. Halves CPU per byte on bulk
    /// transfers (see docs/PERFORMANCE.md) at the cost of two pipes (four
    /// descriptors) per connection. Off by default.
    #[must_use]
    pub fn splice(mut self, splice: bool) -> Self {
        self.splice = splice;
        self
    }

    /// Whether an end of stream from one side is passed on as a half-close while the other
    /// direction goes on (the default, as HAProxy and nginx's `proxy_half_close on`). Off, the
    /// first side to end closes the whole connection once what it sent has been written to
    /// the other socket, as nginx stream's default: one `shutdown` and one read fewer per
    /// connection. The price, as with nginx: a client that half-closes after its request
    /// loses the response, and if the other side has sent bytes the proxy has not read yet
    /// (an upload the backend ignored), closing resets the connection and the kernel drops
    /// what was still queued for it.
    #[must_use]
    pub fn half_close(mut self, half_close: bool) -> Self {
        self.half_close = half_close;
        self
    }
}

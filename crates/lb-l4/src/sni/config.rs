//! SNI proxy settings.

use std::time::Duration;

/// Settings of a [`SniProxy`](super::SniProxy). Defaults: 5 s for a client
/// to send its whole ClientHello, at most 17 KiB of it buffered, connect
/// timeout 5 s, idle timeout 10 min, 10 000 connections, 2 retries on
/// another backend of the cluster, `TCP_NODELAY`, 30 s to drain (as
/// [`TcpProxyConfig`](crate::tcp::TcpProxyConfig) where they overlap).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_l4::sni::SniProxyConfig;
///
/// let config = SniProxyConfig::default()
///     .peek_timeout(Duration::from_secs(2))
///     .connect_timeout(Duration::from_secs(1));
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SniProxyConfig {
    pub(crate) peek_timeout: Duration,
    pub(crate) max_hello_bytes: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) retries: u32,
    pub(crate) nodelay: bool,
    pub(crate) drain_timeout: Duration,
    pub(crate) accept_burst: usize,
}

impl SniProxyConfig {
    crate::tcp::connection_setters!();
    /// The default for [`SniProxyConfig::max_hello_bytes`]: 17 KiB, room
    /// for the largest ClientHello the parser accepts
    /// ([`MAX_HANDSHAKE_LEN`](crate::client_hello::MAX_HANDSHAKE_LEN),
    /// 16 KiB) in one record, or fragmented into up to 200 records.
    pub const DEFAULT_MAX_HELLO_BYTES: usize = 17 * 1024;
}

impl Default for SniProxyConfig {
    fn default() -> Self {
        Self {
            peek_timeout: Duration::from_secs(5),
            max_hello_bytes: Self::DEFAULT_MAX_HELLO_BYTES,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            max_connections: 10_000,
            retries: 2,
            nodelay: true,
            drain_timeout: Duration::from_secs(30),
            accept_burst: crate::server::DEFAULT_ACCEPT_BURST,
        }
    }
}

impl SniProxyConfig {
    /// How long a client may take, from its connection's acceptance, to
    /// send a whole ClientHello; after that it is closed (counted in
    /// [`SniStats::peek_timeouts`](super::SniStats::peek_timeouts)).
    #[must_use]
    pub fn peek_timeout(mut self, timeout: Duration) -> Self {
        self.peek_timeout = timeout;
        self
    }

    /// The most bytes peeked while waiting for a whole ClientHello (record
    /// headers included); a client that sends more without completing one
    /// is closed. The bytes stay in the socket's receive buffer until
    /// forwarded, so this also bounds what the kernel holds for it.
    #[must_use]
    pub fn max_hello_bytes(mut self, max: usize) -> Self {
        self.max_hello_bytes = max;
        self
    }
}

//! [`HttpProxyConfig`]: the per-connection limits of the HTTP proxy.

use std::time::Duration;

use crate::Limits;

/// Settings of an [`HttpProxy`](super::HttpProxy) that are not per route (per-route timeouts,
/// retries and header edits are in [`RouteAction`](crate::route::RouteAction)).
///
/// Defaults follow nginx where it has one, noted on each field.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_l7::proxy::HttpProxyConfig;
/// let config = HttpProxyConfig { header_timeout: Duration::from_secs(10), ..HttpProxyConfig::default() };
/// assert_eq!(config.max_requests_per_connection, 1000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HttpProxyConfig {
    /// Parser bounds for request and response heads.
    pub limits: Limits,
    /// Time a client has to send a complete request head once it started one (the
    /// slowloris bound; nginx `client_header_timeout`, 60 s). Default 10 s.
    pub header_timeout: Duration,
    /// Time an idle keep-alive client connection is kept open waiting for the next request
    /// (nginx `keepalive_timeout`, 75 s). Default 60 s.
    pub keepalive_timeout: Duration,
    /// Requests served on one client connection before it is closed (nginx
    /// `keepalive_requests`, 1000).
    pub max_requests_per_connection: u32,
    /// Client connections open at once; the next is reset and counted. Default 10 000.
    pub max_connections: usize,
    /// Largest request body accepted, `None` for no limit (nginx `client_max_body_size`, 1 MiB;
    /// here unlimited by default, as HAProxy). Over it: 413.
    pub max_request_body: Option<u64>,
    /// How long a drain lets in-flight requests finish. Default 10 s.
    pub drain_timeout: Duration,
    /// Connections accepted in a row before the open ones get their turn (HAProxy's
    /// `tune.maxaccept`). Default [`lb_l4::server::DEFAULT_ACCEPT_BURST`].
    pub accept_burst: usize,
    /// Whether the client connection is TLS (sets `X-Forwarded-Proto: https` and `Secure`
    /// sticky cookies); a TLS terminator in front sets it.
    pub tls: bool,
    /// Trust `X-Forwarded-For` and `Forwarded` from clients (append to them rather than
    /// replacing): only behind a trusted tier.
    pub trust_forwarded: bool,
    /// Add an RFC 7239 `Forwarded` header upstream. Default off.
    pub rfc7239: bool,
    /// Count a 5xx response from a backend as a failure for passive health (outlier
    /// detection). Default on (Envoy's `consecutive_5xx`).
    pub five_xx_is_failure: bool,
    /// Size of the read buffers (client and upstream). Default 16 KiB.
    pub buffer_size: usize,
    /// Have the kernel hand over a client connection only once its first bytes have arrived
    /// (`TCP_DEFER_ACCEPT` for 1 s, set on the listener by `serve`; Linux only, elsewhere
    /// ignored): nginx's `listen ... deferred`, HAProxy's `defer-accept`, both off by default
    /// there. Each new connection's request is then read at once, and a connection-per-request
    /// client is served without its socket ever joining epoll (`docs/PERFORMANCE.md`: 37-43
    /// → 30-31 µs of CPU per such request). A client that connects and stays silent is
    /// accepted about a second late, and then gets the header timeout. Default on (HTTP
    /// clients speak first).
    pub defer_accept: bool,
    /// Acknowledge a client's first bytes at once (the kernel's default for a new connection)
    /// rather than with the response. Off by default, as HAProxy's HTTP frontends do
    /// (`TCP_QUICKACK` 0 on the listener, which its connections inherit; Linux only): the ACK
    /// of a request then rides on the response instead of being a segment of its own, one
    /// segment less per connection for both ends to process (`docs/PERFORMANCE.md`). The
    /// kernel still acknowledges within its delayed-ACK time (40 ms or less) when the response
    /// takes longer.
    pub quick_ack: bool,
}

impl Default for HttpProxyConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            max_requests_per_connection: 1000,
            max_connections: 10_000,
            max_request_body: None,
            drain_timeout: Duration::from_secs(10),
            accept_burst: lb_l4::server::DEFAULT_ACCEPT_BURST,
            tls: false,
            trust_forwarded: false,
            rfc7239: false,
            five_xx_is_failure: true,
            buffer_size: 16 * 1024,
            defer_accept: true,
            quick_ack: false,
        }
    }
}

impl HttpProxyConfig {
    /// Sets the listener options this configuration asks for ([`defer_accept`](
    /// Self::defer_accept), [`quick_ack`](Self::quick_ack)); a failure is logged and the
    /// listener served as it is.
    pub fn prepare_listener(&self, listener: &tokio::net::TcpListener) {
        #[cfg(target_os = "linux")]
        {
            if self.defer_accept {
                if let Err(error) = lb_l4::tcp::set_defer_accept(listener, 1) {
                    tracing::warn!(%error, "TCP_DEFER_ACCEPT not set");
                }
            }
            if !self.quick_ack {
                if let Err(error) = socket2::SockRef::from(listener).set_tcp_quickack(false) {
                    tracing::warn!(%error, "TCP_QUICKACK not cleared");
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = listener;
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::HttpProxyConfig;

    async fn quickack_after(config: &HttpProxyConfig) -> bool {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        config.prepare_listener(&listener);
        socket2::SockRef::from(&listener)
            .tcp_quickack()
            .expect("getsockopt")
    }

    #[tokio::test]
    async fn the_listener_delays_the_first_ack_unless_asked_not_to() {
        assert!(!quickack_after(&HttpProxyConfig::default()).await);
        let quick = HttpProxyConfig {
            quick_ack: true,
            ..HttpProxyConfig::default()
        };
        assert!(quickack_after(&quick).await, "left as the kernel set it");
    }
}

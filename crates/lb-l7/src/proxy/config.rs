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
            tls: false,
            trust_forwarded: false,
            rfc7239: false,
            five_xx_is_failure: true,
            buffer_size: 16 * 1024,
        }
    }
}

//! TLS SNI passthrough: route TLS connections by the server name in the
//! client's ClientHello, without terminating TLS.
//!
//! [`SniProxy`] peeks at each connection's ClientHello (parsed by
//! [`client_hello`](crate::client_hello)), looks the name up in
//! [`SniRoutes`] (exact names, `*.suffix` wildcards, a default cluster),
//! and forwards the untouched byte stream to a backend of that cluster,
//! which completes the handshake itself: certificates and keys stay on the
//! backends, and the proxy never decrypts anything.

mod config;
mod peek;
mod proxy;
mod routes;

pub use config::SniProxyConfig;
pub use proxy::{SniProxy, SniStats};
pub use routes::{SniRouteError, SniRoutes, SniRoutesBuilder};

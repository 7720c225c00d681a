//! TLS for lb: termination with rustls 0.23 (ring provider) and upstream TLS.
//!
//! - [`TlsTerminator`]: wraps any `AsyncRead + AsyncWrite`, hands back the plaintext stream and
//!   [`TlsInfo`] (SNI, ALPN, version, cipher, client certificate, resumption); handshake
//!   timeout; failures counted, never fatal to the acceptor.
//! - [`CertStore`]: certificates by SNI name (exact, `*.wildcard`, default), reloaded live
//!   (whole, or one name) with the old certificate kept when the new one is invalid.
//! - ALPN (`http/1.1` by default), minimum version, session resumption (tickets and a session
//!   cache) on by default, optional client-certificate verification (mTLS).
//! - [`serve_https`] (feature `l7`, default): TLS in front of lb-l7's `HttpProxy`, optionally
//!   behind an L4 tier sending the PROXY protocol (the seed's two-tier design).
//! - [`client_hello::peek_sni`]: the server name of a ClientHello, from bytes (fuzzed).
//! - [`UpstreamTls`]: a rustls client with SNI and a CA bundle, for re-encryption to backends:
//!   connect with it, or give its [`client_config`](UpstreamTls::client_config) to an lb-l7
//!   cluster (`Cluster::with_upstream_tls`) and the proxy re-encrypts and pools the connections.
#![forbid(unsafe_code)]

mod client;
mod error;
#[cfg(feature = "l7")]
mod https;
mod pem;
mod store;
mod terminator;

pub use client::UpstreamTls;
pub use error::TlsError;
#[cfg(feature = "l7")]
pub use https::{HttpsOptions, serve_https};
/// The ClientHello parser (`peek_sni`), pure and fuzzed; it lives in lb-l4, whose SNI
/// passthrough needs it without TLS.
pub use lb_l4::client_hello;
pub use pem::{certificates, certified_key, certified_key_from_files, private_key};
pub use store::{CertStore, ReloadableResolver};
pub use terminator::{MinVersion, TlsInfo, TlsSettings, TlsStats, TlsTerminator};

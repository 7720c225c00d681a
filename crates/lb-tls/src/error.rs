//! Errors of TLS configuration and handshakes.

use std::time::Duration;

/// Why a certificate could not be loaded, a configuration built, or a handshake completed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// PEM data held no certificate, or was not PEM.
    #[error("no certificate in {0}")]
    NoCertificate(String),
    /// PEM data held no private key (PKCS#8, PKCS#1 or SEC1), or was not PEM.
    #[error("no private key in {0}")]
    NoPrivateKey(String),
    /// The key is not usable, or does not belong to the certificate.
    #[error("certificate and key for {name}: {reason}")]
    BadKey {
        /// Which certificate.
        name: String,
        /// What rustls said.
        reason: String,
    },
    /// A server name pattern is not a host name or `*.suffix`.
    #[error("invalid server name {0:?}")]
    InvalidName(String),
    /// The client asked for a name no certificate covers, and there is no default.
    #[error("no certificate for server name {0:?} and no default certificate")]
    UnknownServerName(String),
    /// The client sent no server name and there is no default certificate.
    #[error("client sent no server name and there is no default certificate")]
    NoServerName,
    /// The configuration is not valid (rustls refused it).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The handshake did not finish in time.
    #[error("TLS handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),
    /// The handshake failed: not TLS, a protocol error, an alert, a refused client certificate.
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
}

//! The one error type of the ClientHello parser.

/// Why bytes cannot be the start of a TLS ClientHello carrying a usable
/// server name.
///
/// Incomplete input is not an error: parsing returns
/// [`Peek::Incomplete`](super::Peek::Incomplete) until the ClientHello is
/// whole. Every error is final: it depends only on bytes already given, so
/// no amount of further input makes the hello valid (a proxy closes the
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first record is not a TLS handshake record: its first byte is not
    /// 22, or its second (the major version) is not 3. A plain-HTTP client
    /// (`GET / ...`), an SSL 2.0-style hello or any other protocol lands
    /// here on its first byte or two.
    #[error("not a TLS handshake record")]
    NotTls,
    /// The first handshake message is not a ClientHello (type 1).
    #[error("TLS handshake message of type {msg_type} where a ClientHello (1) was expected")]
    NotClientHello {
        /// The handshake type received.
        msg_type: u8,
    },
    /// A record header's version or the ClientHello's `legacy_version` is
    /// outside `0x0301..=0x0304` (TLS 1.0 to 1.3).
    #[error("unsupported TLS version {version:#06x}")]
    UnsupportedVersion {
        /// The version received.
        version: u16,
    },
    /// The ClientHello announces more bytes than accepted: its handshake
    /// message (4-byte header included) would exceed
    /// [`MAX_HANDSHAKE_LEN`](super::MAX_HANDSHAKE_LEN).
    #[error("ClientHello of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The size announced (handshake header included).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A length or a value breaks the TLS grammar: a record that is empty,
    /// longer than 2^14 bytes or not a handshake record in the middle of
    /// the ClientHello, a field running past its enclosing vector, a
    /// session id over 32 bytes, an odd cipher-suite list, two
    /// `server_name` or ALPN extensions, two host names...
    #[error("malformed ClientHello: {what}")]
    Malformed {
        /// Which rule was broken.
        what: &'static str,
    },
    /// The `host_name` in the `server_name` extension is not a DNS name as
    /// accepted here (see [`ServerName`](super::ServerName)).
    #[error("invalid SNI host name: {what}")]
    InvalidHostName {
        /// Which rule was broken.
        what: &'static str,
    },
}

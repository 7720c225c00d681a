//! The HAProxy PROXY protocol, versions 1 (text) and 2 (binary): a sans-IO
//! encoder and push decoder.
//!
//! A proxy that relays a connection writes one header before any byte of
//! the client's, naming the client's original source and destination; the
//! receiver reads it, then treats the rest of the stream as the client's.
//! Specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.
//!
//! Decoding works on whatever bytes have arrived, like `httparse`:
//! [`decode`] returns [`Status::Partial`] until the header is whole, then
//! [`Status::Complete`] with the [`Header`] and the number of bytes it
//! took; the bytes after those belong to the proxied stream. Bad input is
//! an [`Error`] as soon as one byte rules a header out, and the decoder
//! never reads past the header's bound (107 bytes for v1, 16 plus the
//! declared length, capped by [`DecodeOptions::max_v2_len`], for v2).
//! [`v1::decode`] and [`v2::decode`] accept one version only.
//!
//! Choices where the spec leaves room:
//!
//! - **Mixed families.** [`Header::tcp`] and [`Header::udp`] given one IPv4
//!   and one IPv6 address map the IPv4 one to `::ffff:a.b.c.d` and send
//!   TCP6 / INET6, as HAProxy does.
//! - **v1 `UNKNOWN`.** Anything between `UNKNOWN ` and the CRLF is ignored,
//!   as the spec requires; `UNKNOWN` decodes to the PROXY command with
//!   [`Addresses::Unspec`], and [`Header::source`] is `None` so the caller
//!   keeps the connection's own addresses.
//! - **v2 family byte.** Only the seven combinations the spec lists are
//!   accepted (`0x00`, `0x11`, `0x12`, `0x21`, `0x22`, `0x31`, `0x32`),
//!   whatever the command. LOCAL headers are parsed like PROXY ones (their
//!   addresses are kept but [`Header::source`] ignores them, as the spec
//!   says the receiver must).
//! - **TLVs** are kept verbatim and in order, not interpreted; bytes after
//!   the address block that do not form whole TLVs are an error.
//! - **Limits.** A v2 header may announce up to 65535 bytes; by default at
//!   most 4096 in all are accepted (see [`DecodeOptions`]).
//!
//! # Examples
//!
//! ```
//! use lb_l4::proxy_protocol::{self, Header, Status};
//!
//! let client = "203.0.113.9:50000".parse().unwrap();
//! let listener = "192.0.2.10:443".parse().unwrap();
//! let mut wire = Vec::new();
//! Header::tcp(client, listener).encode_v2(&mut wire).unwrap();
//! wire.extend_from_slice(b"payload");
//!
//! // Bytes arrive in pieces: the decoder asks for more until it has them.
//! assert_eq!(proxy_protocol::decode(&wire[..20]), Ok(Status::Partial));
//! let Status::Complete(header, used) = proxy_protocol::decode(&wire).unwrap() else {
//!     panic!("complete header expected");
//! };
//! assert_eq!(header.source(), Some(client));
//! assert_eq!(&wire[used..], b"payload");
//!
//! // Not the PROXY protocol at all: refused at the first byte.
//! assert_eq!(
//!     proxy_protocol::decode(b"GET / HTTP/1.1\r\n"),
//!     Err(proxy_protocol::Error::NotProxyProtocol)
//! );
//! ```

mod addresses;
mod error;
mod header;
mod read;
mod status;
mod tlv;
pub mod v1;
pub mod v2;

pub use addresses::{Addresses, UNIX_PATH_LEN};
pub use error::Error;
pub use header::{Command, Header, Transport, Version};
pub use read::{ReadError, read_header};
pub use status::Status;
pub use tlv::Tlv;

/// Limits applied while decoding.
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::{self, DecodeOptions, Error, Header, Tlv};
///
/// let header = Header::local().with_tlv(Tlv::new(Tlv::NOOP, vec![0; 100]));
/// let mut wire = Vec::new();
/// header.encode_v2(&mut wire).unwrap();
/// let strict = DecodeOptions::new().with_max_v2_len(64);
/// assert_eq!(
///     proxy_protocol::decode_with(&wire[..16], strict),
///     Err(Error::V2TooLong { total: 119, max: 64 })
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// The largest v2 header accepted, in bytes, counting the 16-byte fixed
    /// part and the length it announces; a longer one is refused with
    /// [`Error::V2TooLong`] as soon as its length field arrives.
    ///
    /// The default, [`DecodeOptions::DEFAULT_MAX_V2_LEN`] (4096), is far
    /// above what senders produce (the largest address block is 216 bytes;
    /// HAProxy's TLVs, an authority, an ALPN, a unique id of at most 128
    /// bytes and SSL details, stay within a few hundred bytes, and the spec
    /// notes the header always fits in one MSS), yet bounds what a
    /// connection can make the receiver buffer before it is authenticated
    /// to 4 KiB instead of the 64 KiB the length field allows. Values
    /// above 65551 (16 + 65535) lift the limit altogether.
    pub max_v2_len: usize,
}

impl DecodeOptions {
    /// The default for [`DecodeOptions::max_v2_len`].
    pub const DEFAULT_MAX_V2_LEN: usize = 4096;

    /// The defaults.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_v2_len: Self::DEFAULT_MAX_V2_LEN,
        }
    }

    /// The same options with [`DecodeOptions::max_v2_len`] set to `max`.
    #[must_use]
    pub const fn with_max_v2_len(mut self, max: usize) -> Self {
        self.max_v2_len = max;
        self
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes a v1 or v2 header at the start of `buf`, with the default
/// [`DecodeOptions`].
///
/// # Errors
///
/// As [`decode_with`].
pub fn decode(buf: &[u8]) -> Result<Status<Header>, Error> {
    decode_with(buf, DecodeOptions::default())
}

/// Decodes a v1 or v2 header at the start of `buf`.
///
/// The first byte tells the versions apart (`P` starts v1, `\r` starts
/// v2), so only an empty buffer is [`Status::Partial`] for both; the rest
/// is [`v1::decode`] or [`v2::decode_with`].
///
/// # Errors
///
/// [`Error::NotProxyProtocol`] as soon as a byte matches neither
/// signature, otherwise the errors of [`v1::decode`] or
/// [`v2::decode_with`].
pub fn decode_with(buf: &[u8], options: DecodeOptions) -> Result<Status<Header>, Error> {
    match buf.first() {
        None => Ok(Status::Partial),
        Some(&b) if b == v1::SIGNATURE[0] => v1::decode(buf),
        Some(&b) if b == v2::SIGNATURE[0] => v2::decode_with(buf, options),
        Some(_) => Err(Error::NotProxyProtocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_first_byte() {
        assert_eq!(decode(b""), Ok(Status::Partial));
        assert_eq!(decode(b"P"), Ok(Status::Partial));
        assert_eq!(decode(b"\r"), Ok(Status::Partial));
        assert_eq!(decode(b"\r\n\r\n\0\r\nQUIT"), Ok(Status::Partial));
        for bad in [&b"G"[..], b"\x16\x03\x01", b"\0", b"\n", b"p", b" PROXY"] {
            assert_eq!(decode(bad), Err(Error::NotProxyProtocol), "{bad:?}");
        }
        // Mismatches after the first byte, in either signature.
        assert_eq!(
            decode(b"\r\n\r\n\0\r\nQUIT\r"),
            Err(Error::NotProxyProtocol)
        );
        assert_eq!(decode(b"\r\r"), Err(Error::NotProxyProtocol));
        assert_eq!(decode(b"PUT"), Err(Error::NotProxyProtocol));
    }

    #[test]
    fn options_default_and_builder() {
        assert_eq!(DecodeOptions::default().max_v2_len, 4096);
        assert_eq!(DecodeOptions::new().with_max_v2_len(300).max_v2_len, 300);
    }

    #[test]
    fn limit_applies_through_auto_detection() {
        let header = Header::local().with_tlv(Tlv::new(Tlv::NOOP, vec![7; 5000]));
        let mut wire = Vec::new();
        header.encode_v2(&mut wire).unwrap();
        assert_eq!(
            decode(&wire),
            Err(Error::V2TooLong {
                total: wire.len(),
                max: 4096
            })
        );
        let lax = DecodeOptions::new().with_max_v2_len(usize::MAX);
        assert_eq!(
            decode_with(&wire, lax),
            Ok(Status::Complete(header, wire.len()))
        );
    }
}

//! The one error type of the PROXY protocol codec.

/// What was wrong with a PROXY protocol header being decoded, or with a
/// [`Header`](super::Header) being built or encoded.
///
/// Incomplete input is not an error: decoding returns
/// [`Status::Partial`](super::Status::Partial) until the header is whole.
/// Every decoding error is final: the spec requires the receiver to abort
/// the connection, and no amount of further input makes the header valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input starts with a byte that is neither in the v1 signature
    /// `PROXY` nor in the v2 signature `\r\n\r\n\0\r\nQUIT\n` at its
    /// position: the peer does not speak the PROXY protocol (for example an
    /// HTTP request `GET / ...` or a TLS ClientHello).
    #[error("not a PROXY protocol header (signature mismatch)")]
    NotProxyProtocol,
    /// A v1 line has no CRLF within its first 107 bytes (the spec's maximum
    /// line length, CRLF included).
    #[error("PROXY v1 line without CRLF in the first 107 bytes")]
    V1TooLong,
    /// A v1 line does not match the grammar of the spec.
    #[error("malformed PROXY v1 line: {what}")]
    V1Malformed {
        /// Which rule was broken (for example "port with a leading zero").
        what: &'static str,
    },
    /// The high nibble of the 13th byte of a v2 header is not `2`.
    #[error("PROXY v2 header with version {version} (expected 2)")]
    V2BadVersion {
        /// The version nibble received.
        version: u8,
    },
    /// The low nibble of the 13th byte of a v2 header is neither `0` (LOCAL)
    /// nor `1` (PROXY).
    #[error("PROXY v2 header with unassigned command {command:#x}")]
    V2BadCommand {
        /// The command nibble received.
        command: u8,
    },
    /// The 14th byte of a v2 header (address family and transport) is not
    /// one of the seven combinations the spec lists: `0x00` (UNSPEC),
    /// `0x11`/`0x12` (TCP/UDP over IPv4), `0x21`/`0x22` (TCP/UDP over
    /// IPv6), `0x31`/`0x32` (UNIX stream/datagram).
    #[error("PROXY v2 header with invalid family/transport byte {byte:#04x}")]
    V2BadFamily {
        /// The family/transport byte received.
        byte: u8,
    },
    /// The length field of a v2 header is smaller than the address block
    /// its family requires (12, 36 or 216 bytes).
    #[error("PROXY v2 length {declared} is smaller than the {needed}-byte address block")]
    V2LengthTooShort {
        /// The declared length (bytes after the 16-byte fixed part).
        declared: u16,
        /// The size of the address block the family requires.
        needed: u16,
    },
    /// A v2 header is longer (16 bytes plus its declared length) than the
    /// receiver accepts ([`DecodeOptions::max_v2_len`](super::DecodeOptions::max_v2_len)).
    #[error("PROXY v2 header of {total} bytes exceeds the limit of {max}")]
    V2TooLong {
        /// The total header size the peer announced.
        total: usize,
        /// The configured limit.
        max: usize,
    },
    /// The bytes after the v2 address block are not a sequence of whole
    /// TLVs: fewer than 3 bytes left for a TLV's type and length, or a TLV
    /// value that runs past the end of the header.
    #[error("malformed PROXY v2 TLV at offset {offset}")]
    TlvMalformed {
        /// The TLV's offset from the start of the header.
        offset: usize,
    },
    /// A header was built from parts that contradict each other, such as an
    /// IPv4 address pair with an unspecified transport.
    #[error("inconsistent PROXY header: {what}")]
    InvalidHeader {
        /// Which parts disagree.
        what: &'static str,
    },
    /// The header cannot be written as a v1 line, which carries only TCP
    /// over IPv4 or IPv6 (or UNKNOWN) with the PROXY command and no TLVs.
    #[error("header not representable in PROXY v1: {what}")]
    V1Unrepresentable {
        /// What v1 cannot carry (TLVs, LOCAL, datagram, UNIX addresses).
        what: &'static str,
    },
    /// The header's address block and TLVs together exceed the 65535 bytes
    /// a v2 length field can announce.
    #[error("PROXY v2 address block and TLVs take {len} bytes, more than 65535")]
    V2EncodeTooLong {
        /// The length the field would need to hold.
        len: usize,
    },
}

//! Version 2: the binary header.
//!
//! ```text
//! 12 bytes  signature  \r\n\r\n\0\r\nQUIT\n
//!  1 byte   version (high nibble, 2) and command (low: 0 LOCAL, 1 PROXY)
//!  1 byte   family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
//!           transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
//!  2 bytes  length of what follows, big-endian
//!  n bytes  address block (0, 12, 36 or 216 bytes), then TLVs
//! ```
//!
//! Addresses and ports are in network byte order: source address,
//! destination address, source port, destination port (UNIX: two raw
//! 108-byte paths). Every byte the length covers past the address block
//! must belong to a TLV.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{
    Addresses, Command, DecodeOptions, Error, Header, Status, Tlv, Transport, UNIX_PATH_LEN,
    Version, tlv,
};

/// The twelve bytes that start every v2 header.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Size of the fixed part: signature, version/command, family/transport
/// and length.
pub const FIXED_LEN: usize = 16;

/// The address family, high nibble of the 14th byte.
#[derive(Clone, Copy)]
enum Family {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

impl Family {
    fn block_len(self) -> u16 {
        match self {
            Self::Unspec => 0,
            Self::Inet => 12,
            Self::Inet6 => 36,
            Self::Unix => 216,
        }
    }
}

/// The seven family/transport bytes the spec lists; anything else is
/// invalid.
fn family_transport(byte: u8) -> Result<(Family, Transport), Error> {
    Ok(match byte {
        0x00 => (Family::Unspec, Transport::Unspec),
        0x11 => (Family::Inet, Transport::Stream),
        0x12 => (Family::Inet, Transport::Datagram),
        0x21 => (Family::Inet6, Transport::Stream),
        0x22 => (Family::Inet6, Transport::Datagram),
        0x31 => (Family::Unix, Transport::Stream),
        0x32 => (Family::Unix, Transport::Datagram),
        _ => return Err(Error::V2BadFamily { byte }),
    })
}

/// Decodes a v2 header at the start of `buf` with the default
/// [`DecodeOptions`].
///
/// # Errors
///
/// As [`decode_with`].
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::{v2, Command, Status};
///
/// // LOCAL, UNSPEC, no address block: a health check.
/// let wire = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
/// let Status::Complete(header, used) = v2::decode(wire).unwrap() else { panic!() };
/// assert_eq!(header.command(), Command::Local);
/// assert_eq!(used, 16);
/// ```
pub fn decode(buf: &[u8]) -> Result<Status<Header>, Error> {
    decode_with(buf, DecodeOptions::default())
}

/// Decodes a v2 header at the start of `buf`.
///
/// Returns [`Status::Partial`] until the 16-byte fixed part and the number
/// of bytes its length field announces are in. Each fixed byte is checked
/// as soon as it arrives, and the length against the address block and
/// `options.max_v2_len` as soon as it is known, so a bad header is refused
/// without waiting for its body. No byte past the announced end is read.
///
/// # Errors
///
/// [`Error::NotProxyProtocol`] on a signature mismatch,
/// [`Error::V2BadVersion`], [`Error::V2BadCommand`] and
/// [`Error::V2BadFamily`] for unassigned values in the 13th and 14th
/// bytes, [`Error::V2TooLong`] for a header above `options.max_v2_len`,
/// [`Error::V2LengthTooShort`] for a length below the address block, and
/// [`Error::TlvMalformed`] if the bytes after the address block are not
/// whole TLVs.
pub fn decode_with(buf: &[u8], options: DecodeOptions) -> Result<Status<Header>, Error> {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return Err(Error::NotProxyProtocol);
    }
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(Status::Partial);
    };
    if ver_cmd >> 4 != 2 {
        return Err(Error::V2BadVersion {
            version: ver_cmd >> 4,
        });
    }
    let command = match ver_cmd & 0x0F {
        0 => Command::Local,
        1 => Command::Proxy,
        command => return Err(Error::V2BadCommand { command }),
    };
    let Some(&fam) = buf.get(13) else {
        return Ok(Status::Partial);
    };
    let (family, transport) = family_transport(fam)?;
    let Some(&[hi, lo]) = buf.get(14..16) else {
        return Ok(Status::Partial);
    };
    let declared = u16::from_be_bytes([hi, lo]);
    let total = FIXED_LEN + usize::from(declared);
    if total > options.max_v2_len {
        return Err(Error::V2TooLong {
            total,
            max: options.max_v2_len,
        });
    }
    let needed = family.block_len();
    if declared < needed {
        return Err(Error::V2LengthTooShort { declared, needed });
    }
    let Some(body) = buf.get(FIXED_LEN..total) else {
        return Ok(Status::Partial);
    };
    let (block, tlvs) = body.split_at(usize::from(needed));
    let addresses = parse_addresses(family, block);
    let tlvs = tlv::parse_all(tlvs, FIXED_LEN + block.len())?;
    Ok(Status::Complete(
        Header::from_parts(Version::V2, command, transport, addresses, tlvs),
        total,
    ))
}

/// Reads an address block of exactly `family.block_len()` bytes.
fn parse_addresses(family: Family, block: &[u8]) -> Addresses {
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    let take = |at: usize| -> [u8; 16] {
        let mut ip = [0; 16];
        ip.copy_from_slice(&block[at..at + 16]);
        ip
    };
    match family {
        Family::Unspec => Addresses::Unspec,
        Family::Inet => {
            let ip =
                |at: usize| Ipv4Addr::new(block[at], block[at + 1], block[at + 2], block[at + 3]);
            Addresses::Ipv4 {
                source: SocketAddrV4::new(ip(0), port(8)),
                destination: SocketAddrV4::new(ip(4), port(10)),
            }
        }
        Family::Inet6 => Addresses::Ipv6 {
            source: SocketAddrV6::new(Ipv6Addr::from(take(0)), port(32), 0, 0),
            destination: SocketAddrV6::new(Ipv6Addr::from(take(16)), port(34), 0, 0),
        },
        Family::Unix => {
            let mut source = [0; UNIX_PATH_LEN];
            let mut destination = [0; UNIX_PATH_LEN];
            source.copy_from_slice(&block[..UNIX_PATH_LEN]);
            destination.copy_from_slice(&block[UNIX_PATH_LEN..]);
            Addresses::Unix {
                source,
                destination,
            }
        }
    }
}

/// The value of the length field for `header`.
fn body_len(header: &Header) -> Result<u16, Error> {
    let len = header
        .tlvs()
        .iter()
        .map(Tlv::encoded_len)
        .fold(header.addresses().v2_block_len(), usize::saturating_add);
    u16::try_from(len).map_err(|_| Error::V2EncodeTooLong { len })
}

/// The length of `header` in v2 format.
pub(super) fn encoded_len(header: &Header) -> Result<usize, Error> {
    body_len(header).map(|len| FIXED_LEN + usize::from(len))
}

/// Appends `header` in v2 format (see [`Header::encode_v2`]).
pub(super) fn encode(header: &Header, out: &mut Vec<u8>) -> Result<(), Error> {
    let len = body_len(header)?;
    out.reserve(FIXED_LEN + usize::from(len));
    out.extend_from_slice(&SIGNATURE);
    out.push(match header.command() {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    let transport = match header.transport() {
        Transport::Unspec => 0x0,
        Transport::Stream => 0x1,
        Transport::Datagram => 0x2,
    };
    // Header's constructors pair an address family with a transport and
    // UNSPEC with UNSPEC, so this is one of the seven valid bytes.
    let family = match header.addresses() {
        Addresses::Unspec => 0x00,
        Addresses::Ipv4 { .. } => 0x10,
        Addresses::Ipv6 { .. } => 0x20,
        Addresses::Unix { .. } => 0x30,
    };
    out.push(family | transport);
    out.extend_from_slice(&len.to_be_bytes());
    match header.addresses() {
        Addresses::Unspec => {}
        Addresses::Ipv4 {
            source,
            destination,
        } => {
            out.extend_from_slice(&source.ip().octets());
            out.extend_from_slice(&destination.ip().octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
        Addresses::Ipv6 {
            source,
            destination,
        } => {
            out.extend_from_slice(&source.ip().octets());
            out.extend_from_slice(&destination.ip().octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
        Addresses::Unix {
            source,
            destination,
        } => {
            out.extend_from_slice(source);
            out.extend_from_slice(destination);
        }
    }
    for tlv in header.tlvs() {
        tlv::write(tlv, out);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

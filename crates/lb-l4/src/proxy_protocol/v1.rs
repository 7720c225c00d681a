//! Version 1: the human-readable line.
//!
//! `PROXY TCP4 <src> <dst> <sport> <dport>\r\n` (or `TCP6`), or
//! `PROXY UNKNOWN` followed by anything up to the CRLF, at most 107 bytes
//! in all. Fields are separated by exactly one space; IPv4 addresses are
//! dotted decimal without leading zeros, IPv6 addresses are in any textual
//! form (including `::ffff:a.b.c.d`, which `inet_ntop` writes for mapped
//! addresses), ports are decimal in `0..=65535` without a leading zero or
//! sign.

use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};

use super::{Addresses, Command, Error, Header, Status, Transport, Version};

/// The five bytes that start every v1 header.
pub const SIGNATURE: &[u8; 5] = b"PROXY";

/// The longest v1 line, CRLF included (the spec's worst case, `UNKNOWN`
/// with two full IPv6 addresses and ports).
pub const MAX_LEN: usize = 107;

const PROTOCOLS: [&[u8]; 3] = [b"TCP4 ", b"TCP6 ", b"UNKNOWN"];

fn malformed(what: &'static str) -> Error {
    Error::V1Malformed { what }
}

/// Decodes a v1 header at the start of `buf`.
///
/// Returns [`Status::Partial`] while `buf` is a proper prefix of a valid
/// line. Malformed input is reported as soon as a byte rules the line out,
/// without waiting for the CRLF; the addresses and ports themselves are
/// parsed once the CRLF is in. At most [`MAX_LEN`] bytes are read.
///
/// # Errors
///
/// [`Error::NotProxyProtocol`] if `buf` does not start with `PROXY`,
/// [`Error::V1TooLong`] if no CRLF ends the line within [`MAX_LEN`] bytes,
/// [`Error::V1Malformed`] for anything else the grammar forbids.
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::{v1, Status};
///
/// let wire = b"PROXY TCP6 2001:db8::1 2001:db8::2 443 8443\r\n\x16\x03\x01";
/// let Status::Complete(header, used) = v1::decode(wire).unwrap() else { panic!() };
/// assert_eq!(header.source(), Some("[2001:db8::1]:443".parse().unwrap()));
/// assert_eq!(&wire[used..], b"\x16\x03\x01");
/// ```
pub fn decode(buf: &[u8]) -> Result<Status<Header>, Error> {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return Err(Error::NotProxyProtocol);
    }
    // The CR must be at index MAX_LEN - 2 at the latest.
    let window = &buf[..buf.len().min(MAX_LEN - 1)];
    match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) if window[end] == b'\n' => Err(malformed("LF without a CR before it")),
        Some(end) => match buf.get(end + 1) {
            Some(b'\n') => parse_line(&buf[..end]).map(|h| Status::Complete(h, end + 2)),
            Some(_) => Err(malformed("CR not followed by LF")),
            None => check_prefix(&buf[..end]).map(|()| Status::Partial),
        },
        None => {
            check_prefix(window)?;
            if window.len() == MAX_LEN - 1 {
                Err(Error::V1TooLong)
            } else {
                Ok(Status::Partial)
            }
        }
    }
}

/// Checks the start of a line (no CR or LF in it, signature matched) for
/// anything no valid line can start with.
fn check_prefix(line: &[u8]) -> Result<(), Error> {
    let Some((&space, rest)) = line.get(SIGNATURE.len()..).and_then(<[u8]>::split_first) else {
        return Ok(());
    };
    if space != b' ' {
        return Err(malformed("expected one space after PROXY"));
    }
    for protocol in PROTOCOLS {
        let n = rest.len().min(protocol.len());
        if rest[..n] != protocol[..n] {
            continue;
        }
        let Some(fields) = rest.get(protocol.len()..).filter(|f| !f.is_empty()) else {
            return Ok(());
        };
        return match protocol {
            b"TCP4 " => check_fields(fields, |b| b.is_ascii_digit() || b == b'.'),
            b"TCP6 " => check_fields(fields, |b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
            // UNKNOWN: anything may follow, after a space.
            _ if fields[0] == b' ' => Ok(()),
            _ => Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN")),
        };
    }
    Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN"))
}

/// Checks the (possibly incomplete) fields after `TCP4 ` or `TCP6 `.
fn check_fields(fields: &[u8], allowed: impl Fn(u8) -> bool) -> Result<(), Error> {
    let mut spaces = 0;
    let mut previous = b' ';
    for &b in fields {
        if b == b' ' {
            if previous == b' ' {
                return Err(malformed("empty field (extra space)"));
            }
            spaces += 1;
            if spaces > 3 {
                return Err(malformed("more than four fields"));
            }
        } else if !allowed(b) {
            return Err(malformed("unexpected character in an address or port"));
        }
        previous = b;
    }
    Ok(())
}

/// Parses a whole line, CRLF excluded.
fn parse_line(line: &[u8]) -> Result<Header, Error> {
    check_prefix(line)?;
    let rest = line
        .get(SIGNATURE.len() + 1..)
        .ok_or(malformed("missing protocol"))?;
    if let Some(after) = rest.strip_prefix(b"UNKNOWN") {
        // check_prefix has made sure a space follows, if anything does.
        debug_assert!(after.first().is_none_or(|&b| b == b' '));
        return Ok(Header::from_parts(
            Version::V1,
            Command::Proxy,
            Transport::Unspec,
            Addresses::Unspec,
            Vec::new(),
        ));
    }
    let (v6, fields) = if let Some(fields) = rest.strip_prefix(b"TCP4 ") {
        (false, fields)
    } else if let Some(fields) = rest.strip_prefix(b"TCP6 ") {
        (true, fields)
    } else {
        return Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN"));
    };
    let mut it = fields.split(|&b| b == b' ');
    let (Some(src), Some(dst), Some(sport), Some(dport), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(malformed("expected four fields: two addresses, two ports"));
    };
    let (sport, dport) = (parse_port(sport)?, parse_port(dport)?);
    let addresses = if v6 {
        Addresses::Ipv6 {
            source: SocketAddrV6::new(parse_ip(src)?, sport, 0, 0),
            destination: SocketAddrV6::new(parse_ip(dst)?, dport, 0, 0),
        }
    } else {
        Addresses::Ipv4 {
            source: SocketAddrV4::new(parse_ip(src)?, sport),
            destination: SocketAddrV4::new(parse_ip(dst)?, dport),
        }
    };
    Ok(Header::from_parts(
        Version::V1,
        Command::Proxy,
        Transport::Stream,
        addresses,
        Vec::new(),
    ))
}

/// An address of the family the protocol names. The standard library's
/// parsers match the spec: dotted quads without leading zeros, IPv6 text
/// with at most one `::`.
fn parse_ip<A: std::str::FromStr + Into<IpAddr>>(text: &[u8]) -> Result<A, Error> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(malformed("address is not in the protocol's family"))
}

fn parse_port(text: &[u8]) -> Result<u16, Error> {
    match text {
        [] => Err(malformed("empty port")),
        [b'0'] => Ok(0),
        [b'0', ..] => Err(malformed("port with a leading zero")),
        _ if text.len() > 5 || !text.iter().all(u8::is_ascii_digit) => {
            Err(malformed("port is not a decimal number"))
        }
        _ => {
            let value = text
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
            u16::try_from(value).map_err(|_| malformed("port above 65535"))
        }
    }
}

/// The line `header` encodes to, CRLF included.
fn line(header: &Header) -> Result<String, Error> {
    let unrepresentable = |what| Err(Error::V1Unrepresentable { what });
    if !header.tlvs().is_empty() {
        return unrepresentable("TLVs");
    }
    if header.command() == Command::Local {
        return unrepresentable("the LOCAL command");
    }
    if header.transport() == Transport::Datagram {
        return unrepresentable("a datagram transport");
    }
    let line = match header.addresses() {
        Addresses::Unspec => "PROXY UNKNOWN\r\n".to_owned(),
        Addresses::Ipv4 {
            source: s,
            destination: d,
        } => format!(
            "PROXY TCP4 {} {} {} {}\r\n",
            s.ip(),
            d.ip(),
            s.port(),
            d.port()
        ),
        Addresses::Ipv6 {
            source: s,
            destination: d,
        } => format!(
            "PROXY TCP6 {} {} {} {}\r\n",
            s.ip(),
            d.ip(),
            s.port(),
            d.port()
        ),
        Addresses::Unix { .. } => return unrepresentable("UNIX addresses"),
    };
    debug_assert!(line.len() <= MAX_LEN);
    Ok(line)
}

/// Appends `header` as a v1 line (see [`Header::encode_v1`]).
pub(super) fn encode(header: &Header, out: &mut Vec<u8>) -> Result<(), Error> {
    out.extend_from_slice(line(header)?.as_bytes());
    Ok(())
}

/// The length of `header` as a v1 line.
pub(super) fn encoded_len(header: &Header) -> Result<usize, Error> {
    line(header).map(|l| l.len())
}

#[cfg(test)]
mod tests;

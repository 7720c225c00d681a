//! Type-length-value records carried after the v2 address block.

/// One type-length-value record of a v2 header.
///
/// On the wire a TLV is its type (one byte), the length of its value (two
/// bytes, big-endian) and the value. The codec preserves TLVs verbatim and
/// in order, whatever their type: it neither interprets nor checks them
/// (the `PP2_TYPE_SSL` sub-TLVs stay inside the value, and a CRC32C TLV is
/// not verified). The constants name the types registered by the spec.
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::Tlv;
///
/// let alpn = Tlv::new(Tlv::ALPN, b"h2".to_vec());
/// assert_eq!(alpn.kind, 0x01);
/// assert_eq!(alpn.encoded_len(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type byte.
    pub kind: u8,
    /// The value (at most 65535 bytes to be encodable).
    pub value: Vec<u8>,
}

impl Tlv {
    /// `PP2_TYPE_ALPN`: the application protocol (ALPN) in use.
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI).
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32c checksum of the whole header.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: TLS details, with sub-TLVs inside the value.
    pub const SSL: u8 = 0x20;
    /// `PP2_TYPE_NETNS`: the name of the network namespace.
    pub const NETNS: u8 = 0x30;

    /// Size of a TLV's type and length fields.
    pub const HEADER_LEN: usize = 3;

    /// A TLV of type `kind` holding `value`.
    #[must_use]
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    /// Bytes this TLV takes on the wire: 3 plus the value's length.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + self.value.len()
    }
}

/// Splits `block` (the bytes after the address block, all of them part of
/// the header) into TLVs. `base` is the block's offset in the header, for
/// error reporting.
pub(super) fn parse_all(block: &[u8], base: usize) -> Result<Vec<Tlv>, super::Error> {
    let mut tlvs = Vec::new();
    let mut rest = block;
    while !rest.is_empty() {
        let offset = base + (block.len() - rest.len());
        let malformed = super::Error::TlvMalformed { offset };
        let [kind, hi, lo, tail @ ..] = rest else {
            return Err(malformed);
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(malformed);
        }
        let (value, after) = tail.split_at(len);
        tlvs.push(Tlv::new(*kind, value));
        rest = after;
    }
    Ok(tlvs)
}

/// Appends `tlv` in wire format. The caller has checked that the value
/// fits a 16-bit length.
pub(super) fn write(tlv: &Tlv, out: &mut Vec<u8>) {
    let len = u16::try_from(tlv.value.len()).unwrap_or(u16::MAX);
    out.push(tlv.kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&tlv.value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_protocol::Error;

    #[test]
    fn parses_a_sequence_in_order() {
        let block = [
            0x01, 0x00, 0x02, b'h', b'2', 0xE0, 0x00, 0x00, 0x04, 0, 1, 9,
        ];
        let tlvs = parse_all(&block, 28).unwrap();
        assert_eq!(
            tlvs,
            vec![
                Tlv::new(Tlv::ALPN, b"h2".to_vec()),
                Tlv::new(0xE0, Vec::new()),
                Tlv::new(Tlv::NOOP, vec![9]),
            ]
        );
    }

    #[test]
    fn empty_block_has_no_tlvs() {
        assert_eq!(parse_all(&[], 16).unwrap(), Vec::new());
    }

    #[test]
    fn rejects_truncated_tlv_header_and_overrun() {
        // Two bytes cannot hold a type and a length.
        assert_eq!(
            parse_all(&[0x01, 0x00], 16),
            Err(Error::TlvMalformed { offset: 16 })
        );
        // The second TLV claims 3 bytes, only 2 remain.
        assert_eq!(
            parse_all(&[0x04, 0x00, 0x00, 0x02, 0x00, 0x03, b'a', b'b'], 16),
            Err(Error::TlvMalformed { offset: 19 })
        );
        // A length of 0xFFFF over a short block.
        assert_eq!(
            parse_all(&[0x02, 0xFF, 0xFF, 0], 0),
            Err(Error::TlvMalformed { offset: 0 })
        );
    }

    #[test]
    fn write_then_parse_round_trips() {
        let tlv = Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec());
        let mut out = Vec::new();
        write(&tlv, &mut out);
        assert_eq!(out.len(), tlv.encoded_len());
        assert_eq!(&out[..3], &[0x02, 0x00, 11]);
        assert_eq!(parse_all(&out, 0).unwrap(), vec![tlv]);
    }
}

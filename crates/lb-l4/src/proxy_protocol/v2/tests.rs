//! Hand-built v2 vectors, known good and malformed.

use std::net::SocketAddr;

use super::*;
use crate::proxy_protocol::{self as pp};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Signature, version/command, family/transport, big-endian length, body.
fn wire(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).unwrap();
    [&SIGNATURE[..], &[ver_cmd, fam], &len.to_be_bytes(), body].concat()
}

/// Every proper prefix is Partial, the whole header Complete with the exact
/// length (trailing bytes untouched), and encoding gives the bytes back.
fn assert_vector(bytes: &[u8], expected: &Header) {
    for i in 0..bytes.len() {
        assert_eq!(decode(&bytes[..i]), Ok(Status::Partial), "v2 split at {i}");
        assert_eq!(
            pp::decode(&bytes[..i]),
            Ok(Status::Partial),
            "auto split at {i}"
        );
    }
    let want = Ok(Status::Complete(expected.clone(), bytes.len()));
    assert_eq!(decode(bytes), want);
    let mut with_payload = bytes.to_vec();
    with_payload.extend_from_slice(b"\x16\x03\x01\x02\x00 payload");
    assert_eq!(decode(&with_payload), want);
    assert_eq!(pp::decode(&with_payload), want);
    let mut out = Vec::new();
    expected.encode_v2(&mut out).unwrap();
    assert_eq!(out, bytes, "encoding reproduces the vector");
    assert_eq!(expected.encoded_len_v2(), Ok(bytes.len()));
}

fn err(bytes: &[u8]) -> Error {
    let e = decode(bytes).unwrap_err();
    assert_eq!(pp::decode(bytes), Err(e), "auto-detect agrees");
    e
}

const TCP4_BLOCK: [u8; 12] = [
    192, 168, 0, 1, // source 192.168.0.1
    192, 168, 0, 11, // destination 192.168.0.11
    0xDC, 0x04, // source port 56324
    0x01, 0xBB, // destination port 443
];

fn tcp6_block() -> Vec<u8> {
    let mut block = Vec::new();
    block.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    block.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    block.extend_from_slice(&[0xFF, 0xFF, 0x00, 0x00]); // ports 65535, 0
    block
}

#[test]
fn tcp4() {
    let bytes = wire(0x21, 0x11, &TCP4_BLOCK);
    assert_eq!(bytes.len(), 28);
    assert_eq!(
        &bytes[..16],
        b"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A\x21\x11\x00\x0C"
    );
    let header = Header::tcp(sa("192.168.0.1:56324"), sa("192.168.0.11:443"));
    assert_vector(&bytes, &header);
    assert_eq!(header.source(), Some(sa("192.168.0.1:56324")));
}

#[test]
fn tcp6_with_tlvs() {
    let mut body = tcp6_block();
    body.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']);
    body.extend_from_slice(&[0x02, 0x00, 0x0B]);
    body.extend_from_slice(b"example.com");
    body.extend_from_slice(&[0xE0, 0x00, 0x00]); // custom type, empty value
    let bytes = wire(0x21, 0x21, &body);
    let header = Header::tcp(sa("[2001:db8::1]:65535"), sa("[2001:db8::2]:0")).with_tlvs([
        Tlv::new(Tlv::ALPN, b"h2".to_vec()),
        Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec()),
        Tlv::new(0xE0, Vec::new()),
    ]);
    assert_vector(&bytes, &header);
    let (decoded, _) = decode(&bytes).unwrap().complete().unwrap();
    assert_eq!(decoded.tlv(Tlv::AUTHORITY).unwrap().value, b"example.com");
}

#[test]
fn udp4_and_udp6() {
    let header = Header::udp(sa("192.168.0.1:56324"), sa("192.168.0.11:443"));
    assert_vector(&wire(0x21, 0x12, &TCP4_BLOCK), &header);
    assert_eq!(header.transport(), Transport::Datagram);
    let header = Header::udp(sa("[2001:db8::1]:65535"), sa("[2001:db8::2]:0"));
    assert_vector(&wire(0x21, 0x22, &tcp6_block()), &header);
}

#[test]
fn local_without_and_with_tlvs() {
    let bytes = wire(0x20, 0x00, &[]);
    assert_eq!(bytes.len(), 16);
    assert_vector(&bytes, &Header::local());
    // HAProxy may add a CRC32C TLV to a LOCAL header: kept, not checked.
    let crc = [0x03, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF];
    let header = Header::local().with_tlv(Tlv::new(Tlv::CRC32C, vec![0xDE, 0xAD, 0xBE, 0xEF]));
    assert_vector(&wire(0x20, 0x00, &crc), &header);
    assert_eq!(header.source(), None);
}

#[test]
fn local_with_addresses_keeps_but_ignores_them() {
    let bytes = wire(0x20, 0x11, &TCP4_BLOCK);
    let (header, used) = decode(&bytes).unwrap().complete().unwrap();
    assert_eq!(used, 28);
    assert_eq!(header.command(), Command::Local);
    assert_eq!(header.source(), None);
    assert_eq!(header.addresses().source(), Some(sa("192.168.0.1:56324")));
    let mut out = Vec::new();
    header.encode_v2(&mut out).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn proxy_unspec() {
    assert_vector(&wire(0x21, 0x00, &[]), &Header::unknown());
    // UNSPEC with bytes after it: they are TLVs.
    let header = Header::unknown().with_tlv(Tlv::new(Tlv::NOOP, vec![0; 3]));
    assert_vector(&wire(0x21, 0x00, &[0x04, 0, 3, 0, 0, 0]), &header);
}

#[test]
fn unix_stream_and_datagram_with_tlv() {
    let mut body = Vec::new();
    let mut src = [0u8; 108];
    src[..10].copy_from_slice(b"/tmp/c.sck");
    let dst = [b'd'; 108]; // a path filling all 108 bytes, no NUL
    body.extend_from_slice(&src);
    body.extend_from_slice(&dst);
    body.extend_from_slice(&[0x05, 0x00, 0x01, 0x2A]); // unique id
    let addresses = Addresses::Unix {
        source: src,
        destination: dst,
    };
    let stream = Header::new(Command::Proxy, Transport::Stream, addresses.clone())
        .unwrap()
        .with_tlv(Tlv::new(Tlv::UNIQUE_ID, vec![0x2A]));
    assert_vector(&wire(0x21, 0x31, &body), &stream);
    assert_eq!(stream.source(), None);
    let dgram = Header::new(Command::Proxy, Transport::Datagram, addresses)
        .unwrap()
        .with_tlv(Tlv::new(Tlv::UNIQUE_ID, vec![0x2A]));
    assert_vector(&wire(0x21, 0x32, &body), &dgram);
    let (decoded, _) = decode(&wire(0x21, 0x31, &body))
        .unwrap()
        .complete()
        .unwrap();
    let Addresses::Unix { source, .. } = decoded.addresses() else {
        panic!("unix expected");
    };
    assert_eq!(Addresses::unix_path(source), b"/tmp/c.sck");
}

#[test]
fn bad_version_at_the_13th_byte() {
    for ver_cmd in [0x01, 0x11, 0x31, 0xF1, 0x10] {
        let bytes = wire(ver_cmd, 0x11, &TCP4_BLOCK);
        let version = ver_cmd >> 4;
        assert_eq!(err(&bytes), Error::V2BadVersion { version });
        assert_eq!(err(&bytes[..13]), Error::V2BadVersion { version });
    }
}

#[test]
fn bad_command_at_the_13th_byte() {
    for command in [0x2, 0x3, 0xF] {
        let bytes = wire(0x20 | command, 0x11, &TCP4_BLOCK);
        assert_eq!(err(&bytes[..13]), Error::V2BadCommand { command });
        assert_eq!(err(&bytes), Error::V2BadCommand { command });
    }
}

#[test]
fn bad_family_at_the_14th_byte() {
    for byte in [
        0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0x40, 0xFF,
    ] {
        let bytes = wire(0x21, byte, &[0; 216]);
        assert_eq!(err(&bytes[..14]), Error::V2BadFamily { byte });
        assert_eq!(err(&bytes), Error::V2BadFamily { byte });
        let local = wire(0x20, byte, &[]);
        assert_eq!(err(&local), Error::V2BadFamily { byte });
    }
}

#[test]
fn length_smaller_than_address_block() {
    for (fam, needed) in [
        (0x11, 12),
        (0x12, 12),
        (0x21, 36),
        (0x22, 36),
        (0x31, 216),
        (0x32, 216),
    ] {
        for declared in [0, needed - 1] {
            let bytes = wire(0x21, fam, &vec![0; usize::from(declared)]);
            let want = Error::V2LengthTooShort { declared, needed };
            assert_eq!(err(&bytes[..16]), want, "reported with the length field");
            assert_eq!(err(&bytes), want);
            // LOCAL is held to the same rule.
            assert_eq!(err(&wire(0x20, fam, &vec![0; usize::from(declared)])), want);
        }
    }
}

#[test]
fn tlv_overrunning_or_truncated() {
    // A TLV announcing 5 bytes with 2 left in the header.
    let mut body = TCP4_BLOCK.to_vec();
    body.extend_from_slice(&[0x01, 0x00, 0x05, b'h', b'2']);
    assert_eq!(
        err(&wire(0x21, 0x11, &body)),
        Error::TlvMalformed { offset: 28 }
    );
    // One byte, or two, after the last whole TLV.
    let mut body = TCP4_BLOCK.to_vec();
    body.extend_from_slice(&[0x04, 0x00, 0x00, 0x04]);
    assert_eq!(
        err(&wire(0x21, 0x11, &body)),
        Error::TlvMalformed { offset: 31 }
    );
    body.push(0x00);
    assert_eq!(
        err(&wire(0x21, 0x11, &body)),
        Error::TlvMalformed { offset: 31 }
    );
    // The TLV's value would be complete only with the payload after the
    // header: the declared length is the bound, not the buffer.
    let mut bytes = wire(
        0x21,
        0x11,
        &[&TCP4_BLOCK[..], &[0x01, 0x00, 0x04, b'x']].concat(),
    );
    bytes.extend_from_slice(b"yzw");
    assert_eq!(err(&bytes), Error::TlvMalformed { offset: 28 });
}

#[test]
fn not_proxy_protocol_on_signature_mismatch() {
    for i in 0..SIGNATURE.len() {
        let mut bytes = wire(0x21, 0x11, &TCP4_BLOCK);
        bytes[i] ^= 0x40;
        if i == 0 {
            // b'\r' ^ 0x40 is b'M': matches neither signature.
            assert_eq!(err(&bytes[..1]), Error::NotProxyProtocol);
        }
        assert_eq!(
            decode(&bytes[..=i]),
            Err(Error::NotProxyProtocol),
            "byte {i}"
        );
        assert_eq!(decode(&bytes), Err(Error::NotProxyProtocol), "byte {i}");
    }
}

#[test]
fn limit_is_checked_with_the_length_field() {
    let body = vec![0; 4096 - 16 + 1];
    let bytes = wire(0x21, 0x00, &body);
    let want = Error::V2TooLong {
        total: 4097,
        max: DecodeOptions::DEFAULT_MAX_V2_LEN,
    };
    assert_eq!(err(&bytes[..16]), want);
    // At the limit: waits for the body, then checks the TLVs.
    let at_limit = DecodeOptions::new().with_max_v2_len(4097);
    assert_eq!(decode_with(&bytes[..4000], at_limit), Ok(Status::Partial));
    assert!(matches!(
        decode_with(&bytes, at_limit),
        Err(Error::TlvMalformed { .. })
    ));
    // A limit below the fixed part refuses every header.
    let tiny = DecodeOptions::new().with_max_v2_len(15);
    assert_eq!(
        decode_with(&wire(0x20, 0x00, &[]), tiny),
        Err(Error::V2TooLong { total: 16, max: 15 })
    );
    // The largest header the format allows, under a lifted limit.
    let value = vec![0xAB; 65535 - 3];
    let header = Header::local().with_tlv(Tlv::new(Tlv::NOOP, value));
    let mut out = Vec::new();
    header.encode_v2(&mut out).unwrap();
    assert_eq!(out.len(), 16 + 65535);
    let lax = DecodeOptions::new().with_max_v2_len(usize::MAX);
    assert_eq!(
        decode_with(&out, lax),
        Ok(Status::Complete(header, out.len()))
    );
}

#[test]
fn encode_refuses_more_than_the_length_field_holds() {
    let header = Header::tcp(sa("1.2.3.4:1"), sa("5.6.7.8:2"))
        .with_tlv(Tlv::new(Tlv::NOOP, vec![0; 65535 - 12 - 3 + 1]));
    let mut out = b"x".to_vec();
    let len = 12 + 3 + 65535 - 12 - 3 + 1;
    assert_eq!(
        header.encode_v2(&mut out),
        Err(Error::V2EncodeTooLong { len })
    );
    assert_eq!(header.encoded_len_v2(), Err(Error::V2EncodeTooLong { len }));
    assert_eq!(out, b"x", "out untouched on error");
    // One TLV value longer than 65535 on its own.
    let header = Header::local().with_tlv(Tlv::new(Tlv::NOOP, vec![0; 70_000]));
    assert!(matches!(
        header.encode_v2(&mut out),
        Err(Error::V2EncodeTooLong { .. })
    ));
}

#[test]
fn mixed_families_encode_as_inet6() {
    let header = Header::tcp(sa("10.1.2.3:4000"), sa("[2001:db8::5]:443"));
    let mut out = Vec::new();
    header.encode_v2(&mut out).unwrap();
    assert_eq!(out[13], 0x21);
    assert_eq!(
        &out[16..32],
        &Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped().octets()
    );
    assert_eq!(decode(&out), Ok(Status::Complete(header, 52)));
}

#[test]
fn v1_header_encodes_as_v2_too() {
    let (v1, _) = pp::v1::decode(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")
        .unwrap()
        .complete()
        .unwrap();
    let mut out = Vec::new();
    v1.encode_v2(&mut out).unwrap();
    assert_eq!(out, wire(0x21, 0x11, &TCP4_BLOCK));
    let (v2, _) = decode(&out).unwrap().complete().unwrap();
    assert_eq!(v2, v1.with_version(Version::V2));
}

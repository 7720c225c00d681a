//! Property tests of the PROXY protocol codec: round trips for arbitrary
//! headers in both versions, and arbitrary bytes never panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lb_l4::proxy_protocol::{
    self, Addresses, Command, DecodeOptions, Header, Status, Tlv, Transport, Version, v1, v2,
};
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        // Forms with special text: mapped, unspecified, loopback.
        any::<[u8; 4]>().prop_map(|o| IpAddr::V6(Ipv4Addr::from(o).to_ipv6_mapped())),
        Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (ip(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn tlv() -> impl Strategy<Value = Tlv> {
    (
        any::<u8>(),
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 0..1200),
        ],
    )
        .prop_map(|(kind, value)| Tlv::new(kind, value))
}

fn unix_path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=108)
}

/// Any header v1 can carry: TCP over IPv4/IPv6, or UNKNOWN.
fn v1_header() -> impl Strategy<Value = Header> {
    prop_oneof![
        8 => (socket_addr(), socket_addr()).prop_map(|(s, d)| Header::tcp(s, d)),
        1 => Just(Header::unknown()),
    ]
    .prop_map(|h| h.with_version(Version::V1))
}

/// Any header at all, with TLVs.
fn v2_header() -> impl Strategy<Value = Header> {
    let command = prop_oneof![Just(Command::Proxy), Just(Command::Local)];
    let transport = prop_oneof![Just(Transport::Stream), Just(Transport::Datagram)];
    let base = prop_oneof![
        (socket_addr(), socket_addr(), transport.clone()).prop_map(|(s, d, t)| match t {
            Transport::Datagram => Header::udp(s, d),
            _ => Header::tcp(s, d),
        }),
        (command.clone(), transport, unix_path(), unix_path()).prop_map(|(c, t, s, d)| {
            Header::new(c, t, Addresses::unix(&s, &d).unwrap()).unwrap()
        }),
        command.prop_map(|c| Header::new(c, Transport::Unspec, Addresses::Unspec).unwrap()),
        (socket_addr(), socket_addr()).prop_map(|(s, d)| {
            // LOCAL with addresses.
            let h = Header::tcp(s, d);
            Header::new(Command::Local, h.transport(), h.addresses().clone()).unwrap()
        }),
    ];
    (base, prop::collection::vec(tlv(), 0..6)).prop_map(|(h, tlvs)| h.with_tlvs(tlvs))
}

/// `decode(encode(h)) == h` with the exact length, through the given
/// decoder; every proper prefix is Partial; payload after it is untouched.
fn check_round_trip(
    header: &Header,
    wire: &[u8],
    decoder: impl Fn(&[u8]) -> Result<Status<Header>, proxy_protocol::Error>,
) -> Result<(), TestCaseError> {
    let mut with_payload = wire.to_vec();
    with_payload.extend_from_slice(b"\r\nPROXY \r\n\r\n\0");
    let want = Ok(Status::Complete(header.clone(), wire.len()));
    prop_assert_eq!(&decoder(wire), &want);
    prop_assert_eq!(&decoder(&with_payload), &want);
    prop_assert_eq!(&proxy_protocol::decode_with(&with_payload, lax()), &want);
    for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
        prop_assert_eq!(decoder(&wire[..cut]), Ok(Status::Partial), "cut at {}", cut);
    }
    Ok(())
}

fn lax() -> DecodeOptions {
    DecodeOptions::new().with_max_v2_len(usize::MAX)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v1_round_trip(header in v1_header()) {
        let mut wire = Vec::new();
        header.encode_v1(&mut wire).unwrap();
        prop_assert!(wire.len() <= v1::MAX_LEN);
        prop_assert_eq!(header.encoded_len_v1(), Ok(wire.len()));
        prop_assert_eq!(header.source().is_some(), header.addresses() != &Addresses::Unspec);
        check_round_trip(&header, &wire, v1::decode)?;
        // encode() follows the version.
        let mut again = Vec::new();
        header.encode(&mut again).unwrap();
        prop_assert_eq!(again, wire);
    }

    #[test]
    fn v2_round_trip(header in v2_header()) {
        let header = header.with_version(Version::V2);
        let mut wire = Vec::new();
        header.encode_v2(&mut wire).unwrap();
        prop_assert_eq!(header.encoded_len_v2(), Ok(wire.len()));
        check_round_trip(&header, &wire, |b| v2::decode_with(b, lax()))?;
        // Decoding then encoding gives the same bytes.
        let (decoded, _) = v2::decode_with(&wire, lax()).unwrap().complete().unwrap();
        let mut again = Vec::new();
        decoded.encode(&mut again).unwrap();
        prop_assert_eq!(again, wire);
    }

    #[test]
    fn tcp_header_keeps_addresses(src in socket_addr(), dst in socket_addr()) {
        let header = Header::tcp(src, dst);
        let to_v6 = |a: SocketAddr| match a.ip() {
            IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
            IpAddr::V6(_) => a,
        };
        if src.is_ipv4() == dst.is_ipv4() {
            prop_assert_eq!(header.source(), Some(src));
            prop_assert_eq!(header.destination(), Some(dst));
        } else {
            prop_assert_eq!(header.source(), Some(to_v6(src)));
            prop_assert_eq!(header.destination(), Some(to_v6(dst)));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_arbitrary(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_signature_never_panic(
        v2_sig in any::<bool>(),
        fixed in any::<[u8; 4]>(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut input = if v2_sig {
            [&v2::SIGNATURE[..], &fixed[..2], &[0, fixed[3] % 64]].concat()
        } else {
            b"PROXY ".to_vec()
        };
        input.extend_from_slice(&bytes);
        check_arbitrary(&input)?;
    }

    #[test]
    fn mutated_headers_never_panic(
        header in v2_header(),
        v1_form in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire = Vec::new();
        let header = if v1_form { Header::tcp("1.2.3.4:5".parse().unwrap(), "[::1]:6".parse().unwrap()) } else { header };
        if v1_form { header.encode_v1(&mut wire).unwrap() } else { header.encode_v2(&mut wire).unwrap() }
        for (at, byte) in flips {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        check_arbitrary(&wire)?;
    }
}

/// Decoding arbitrary bytes returns Ok or Err without panicking; a whole
/// header never claims more bytes than given, re-decodes the same from its
/// own bytes alone, and is Partial one byte short.
fn check_arbitrary(bytes: &[u8]) -> Result<(), TestCaseError> {
    for options in [
        DecodeOptions::new(),
        lax(),
        DecodeOptions::new().with_max_v2_len(40),
    ] {
        let result = proxy_protocol::decode_with(bytes, options);
        if let Ok(Status::Complete(header, used)) = &result {
            prop_assert!(*used <= bytes.len());
            prop_assert!(*used > 0);
            let exact = proxy_protocol::decode_with(&bytes[..*used], options);
            prop_assert_eq!(exact, Ok(Status::Complete(header.clone(), *used)));
            let short = proxy_protocol::decode_with(&bytes[..*used - 1], options);
            prop_assert_eq!(short, Ok(Status::Partial));
            if header.version() == Version::V1 {
                prop_assert!(*used <= v1::MAX_LEN);
            } else {
                prop_assert!(*used <= options.max_v2_len);
            }
        }
        // The individual decoders agree with auto-detection.
        match bytes.first() {
            Some(b'P') => prop_assert_eq!(v1::decode(bytes), result),
            Some(b'\r') => prop_assert_eq!(v2::decode_with(bytes, options), result),
            _ => {}
        }
    }
    Ok(())
}

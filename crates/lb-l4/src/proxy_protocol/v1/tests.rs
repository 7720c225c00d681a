//! Known-good and malformed v1 lines.

use std::net::SocketAddr;

use super::*;
use crate::proxy_protocol::{self as pp, Tlv};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tcp_v1(src: &str, dst: &str) -> Header {
    Header::tcp(sa(src), sa(dst)).with_version(Version::V1)
}

fn unknown_v1() -> Header {
    Header::unknown().with_version(Version::V1)
}

/// Every proper prefix is Partial, the whole line is Complete with the
/// exact length, and trailing bytes are left alone: through both `v1::decode`
/// and the auto-detecting `decode`.
fn assert_vector(line: &[u8], expected: &Header) {
    for i in 0..line.len() {
        assert_eq!(decode(&line[..i]), Ok(Status::Partial), "v1 split at {i}");
        assert_eq!(
            pp::decode(&line[..i]),
            Ok(Status::Partial),
            "auto split at {i}"
        );
    }
    let mut wire = line.to_vec();
    wire.extend_from_slice(b"\r\nGET / HTTP/1.1\r\n\r\n");
    let want = Ok(Status::Complete(expected.clone(), line.len()));
    assert_eq!(decode(line), want);
    assert_eq!(decode(&wire), want);
    assert_eq!(pp::decode(&wire), want);
}

fn err(line: &[u8]) -> Error {
    match decode(line) {
        Err(e) => {
            assert_eq!(pp::decode(line), Err(e), "auto-detect agrees");
            e
        }
        Ok(status) => panic!("{:?} decoded as {status:?}", String::from_utf8_lossy(line)),
    }
}

fn is_malformed(line: &[u8]) -> bool {
    matches!(err(line), Error::V1Malformed { .. })
}

#[test]
fn spec_example_tcp4() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    assert_vector(line, &tcp_v1("192.168.0.1:56324", "192.168.0.11:443"));
    let mut wire = line.to_vec();
    wire.extend_from_slice(b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
    let (_, used) = decode(&wire).unwrap().complete().unwrap();
    assert_eq!(
        &wire[used..],
        b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"
    );
}

#[test]
fn longest_tcp4_and_tcp6_lines() {
    let line = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(line.len(), 56);
    assert_vector(
        line,
        &tcp_v1("255.255.255.255:65535", "255.255.255.255:65535"),
    );
    let line = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(line.len(), 104);
    let all = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
    assert_vector(line, &tcp_v1(all, all));
}

#[test]
fn tcp6_forms() {
    assert_vector(
        b"PROXY TCP6 2001:db8::1 2001:DB8::2 0 65535\r\n",
        &tcp_v1("[2001:db8::1]:0", "[2001:db8::2]:65535"),
    );
    // inet_ntop writes mapped addresses with a dotted tail.
    assert_vector(
        b"PROXY TCP6 ::ffff:192.0.2.1 :: 1 2\r\n",
        &tcp_v1("[::ffff:192.0.2.1]:1", "[::]:2"),
    );
}

#[test]
fn unknown_short_and_worst_case() {
    let short = b"PROXY UNKNOWN\r\n";
    assert_eq!(short.len(), 15);
    assert_vector(short, &unknown_v1());
    let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                  ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(worst.len(), MAX_LEN);
    assert_vector(worst, &unknown_v1());
    // The receiver must ignore whatever follows UNKNOWN and a space.
    assert_vector(b"PROXY UNKNOWN whatever \x01\xff junk\r\n", &unknown_v1());
    assert_vector(b"PROXY UNKNOWN \r\n", &unknown_v1());
}

#[test]
fn unknown_is_proxy_command_without_addresses() {
    let (h, _) = decode(b"PROXY UNKNOWN\r\n").unwrap().complete().unwrap();
    assert_eq!(h.version(), Version::V1);
    assert_eq!(h.command(), Command::Proxy);
    assert_eq!(h.transport(), Transport::Unspec);
    assert_eq!(h.addresses(), &Addresses::Unspec);
    assert_eq!(h.source(), None);
}

#[test]
fn too_long_without_crlf() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(MAX_LEN - 2, b'a');
    // 105 bytes: the CRLF may still come at 105..107.
    assert_eq!(decode(&line), Ok(Status::Partial));
    line.push(b'\r');
    assert_eq!(decode(&line), Ok(Status::Partial));
    line.push(b'\n');
    assert_eq!(decode(&line), Ok(Status::Complete(unknown_v1(), MAX_LEN)));
    // One byte more before the CR: no CRLF within 107 bytes.
    line.insert(20, b'a');
    assert_eq!(err(&line), Error::V1TooLong);
    assert_eq!(err(&line[..MAX_LEN - 1]), Error::V1TooLong);
    let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 500]].concat();
    assert_eq!(err(&long), Error::V1TooLong);
}

#[test]
fn not_proxy_protocol_at_first_mismatch() {
    assert_eq!(err(b"G"), Error::NotProxyProtocol);
    assert_eq!(err(b"GET / HTTP/1.1\r\n"), Error::NotProxyProtocol);
    assert_eq!(err(b"PO"), Error::NotProxyProtocol);
    assert_eq!(
        err(b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n"),
        Error::NotProxyProtocol
    );
    assert_eq!(err(b"PROX\r\n"), Error::NotProxyProtocol);
    assert_eq!(decode(b""), Ok(Status::Partial));
    assert_eq!(decode(b"PROX"), Ok(Status::Partial));
}

#[test]
fn malformed_structure() {
    for line in [
        &b"PROXY\r\n"[..],
        b"PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY \r\n",
        b"PROXY TCP4\r\n",
        b"PROXY TCP4 \r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY UNKNOWN4 1.2.3.4\r\n",
        b"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n",
        b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1  2\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4\r\n",
        b"PROXY TCP4 1.2.3.4\t1.2.3.4 1 2\r\n",
        // A lone LF, a lone CR.
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n",
        b"PROXY UNKNOWN\n\r\n",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n",
        b"PROXY UNKNOWN\rX\n",
    ] {
        assert!(is_malformed(line), "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn malformed_ports() {
    for port in [
        &b"65536"[..],
        b"99999",
        b"100000",
        b"+1",
        b"-1",
        b"01",
        b"00",
        b"1a",
        b"0x10",
        b"",
        b"\xff",
    ] {
        let line = [b"PROXY TCP4 1.2.3.4 5.6.7.8 ", port, b" 80\r\n"].concat();
        assert!(is_malformed(&line), "source port {port:?}");
        let line = [b"PROXY TCP4 1.2.3.4 5.6.7.8 80 ", port, b"\r\n"].concat();
        assert!(is_malformed(&line), "destination port {port:?}");
    }
    assert_eq!(
        decode(b"PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"),
        Ok(Status::Complete(tcp_v1("1.2.3.4:0", "5.6.7.8:65535"), 36))
    );
}

#[test]
fn malformed_addresses() {
    for (proto, addr) in [
        ("TCP4", "1.2.3"),
        ("TCP4", "1.2.3.4.5"),
        ("TCP4", "256.1.1.1"),
        ("TCP4", "01.2.3.4"),
        ("TCP4", "1.2.3.04"),
        ("TCP4", "1..3.4"),
        ("TCP4", "::1"),
        ("TCP4", "1.2.3.4:80"),
        ("TCP4", "localhost"),
        ("TCP6", "1.2.3.4"),
        ("TCP6", "::g"),
        ("TCP6", "1::2::3"),
        ("TCP6", "12345::"),
        ("TCP6", "1:2:3:4:5:6:7:8:9"),
        ("TCP6", "[::1]"),
        ("TCP6", "fe80::1%eth0"),
    ] {
        let good = if proto == "TCP6" { "::1" } else { "1.2.3.4" };
        let line = format!("PROXY {proto} {addr} {good} 1 2\r\n");
        assert!(is_malformed(line.as_bytes()), "{line:?}");
        let line = format!("PROXY {proto} {good} {addr} 1 2\r\n");
        assert!(is_malformed(line.as_bytes()), "{line:?}");
    }
}

#[test]
fn malformed_is_reported_before_the_crlf() {
    for prefix in [
        &b"PROXYX"[..],
        b"PROXY TCP5",
        b"PROXY T4",
        b"PROXY UNKNOWNX",
        b"PROXY TCP4  ",
        b"PROXY TCP4 1.2.3.4  ",
        b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 ",
        b"PROXY TCP4 ::1",
        b"PROXY TCP6 1.2.3.4 g",
        b"PROXY TCP4 1.2.3.4\n",
        b"PROXY TCP4 1.2.3.4\rx",
    ] {
        assert!(
            is_malformed(prefix),
            "{:?}",
            String::from_utf8_lossy(prefix)
        );
    }
}

#[test]
fn encode_vectors() {
    let mut out = b"keep".to_vec();
    tcp_v1("192.168.0.1:56324", "192.168.0.11:443")
        .encode_v1(&mut out)
        .unwrap();
    assert_eq!(
        out,
        b"keepPROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let mut out = Vec::new();
    Header::tcp(sa("[2001:db8::1]:1"), sa("[::ffff:10.0.0.1]:2"))
        .encode_v1(&mut out)
        .unwrap();
    assert_eq!(out, b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 2\r\n");
    let mut out = Vec::new();
    Header::unknown().encode_v1(&mut out).unwrap();
    assert_eq!(out, b"PROXY UNKNOWN\r\n");
    assert_eq!(Header::unknown().encoded_len_v1(), Ok(15));
}

#[test]
fn encode_mixed_families_as_tcp6() {
    let h = Header::tcp(sa("192.0.2.1:1000"), sa("[2001:db8::2]:443"));
    let mut out = Vec::new();
    h.encode_v1(&mut out).unwrap();
    assert_eq!(out, b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1000 443\r\n");
    let (back, used) = decode(&out).unwrap().complete().unwrap();
    assert_eq!(back, h.with_version(Version::V1));
    assert_eq!(used, out.len());
}

#[test]
fn encode_refuses_what_v1_cannot_carry() {
    let tcp = Header::tcp(sa("1.2.3.4:1"), sa("5.6.7.8:2"));
    let unrepresentable = |h: &Header| {
        let mut out = b"x".to_vec();
        let e = h.encode_v1(&mut out).unwrap_err();
        assert_eq!(out, b"x", "out untouched on error");
        assert_eq!(h.encoded_len_v1(), Err(e));
        matches!(e, Error::V1Unrepresentable { .. })
    };
    assert!(unrepresentable(
        &tcp.clone().with_tlv(Tlv::new(Tlv::NOOP, Vec::new()))
    ));
    assert!(unrepresentable(&Header::local()));
    assert!(unrepresentable(&Header::udp(
        sa("1.2.3.4:1"),
        sa("5.6.7.8:2")
    )));
    let unix = Addresses::unix(b"/a", b"/b").unwrap();
    assert!(unrepresentable(
        &Header::new(Command::Proxy, Transport::Stream, unix).unwrap()
    ));
}

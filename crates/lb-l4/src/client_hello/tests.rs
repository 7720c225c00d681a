//! Hand-built ClientHellos: whole, fragmented, truncated and malformed.

use super::*;

/// Extension `server_name` with the given (name type, name) entries.
fn sni_ext(entries: &[(u8, &[u8])]) -> (u16, Vec<u8>) {
    let mut list = Vec::new();
    for &(kind, name) in entries {
        list.push(kind);
        list.extend(u16::try_from(name.len()).unwrap().to_be_bytes());
        list.extend(name);
    }
    let mut data = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    data.extend(list);
    (SERVER_NAME, data)
}

fn host(name: &str) -> (u16, Vec<u8>) {
    sni_ext(&[(HOST_NAME, name.as_bytes())])
}

fn alpn_ext(protocols: &[&[u8]]) -> (u16, Vec<u8>) {
    let mut list = Vec::new();
    for p in protocols {
        list.push(u8::try_from(p.len()).unwrap());
        list.extend(*p);
    }
    let mut data = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    data.extend(list);
    (ALPN, data)
}

/// A ClientHello body: TLS 1.2 legacy version, zero random, a 32-byte
/// session id, two suites, null compression, then the extensions (no block
/// at all when `None`).
fn body(extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7; 32]);
    b.push(32);
    b.extend([9; 32]);
    b.extend([0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    if let Some(extensions) = extensions {
        let mut block = Vec::new();
        for (kind, data) in extensions {
            block.extend(kind.to_be_bytes());
            block.extend(u16::try_from(data.len()).unwrap().to_be_bytes());
            block.extend(data);
        }
        b.extend(u16::try_from(block.len()).unwrap().to_be_bytes());
        b.extend(block);
    }
    b
}

/// The handshake message around `body`.
fn message(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    [&[CLIENT_HELLO, len[1], len[2], len[3]][..], body].concat()
}

/// `payload` in handshake records of at most `size` bytes each.
fn records(payload: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(size) {
        out.extend([22, 3, 1]);
        out.extend(u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend(chunk);
    }
    out
}

fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    records(&message(&body(Some(extensions))), 1 << 14)
}

fn name_of(wire: &[u8]) -> Option<String> {
    match peek_sni(wire) {
        Ok(Peek::Sni(name)) => Some(name.to_string()),
        Ok(Peek::NoSni) => None,
        other => panic!("not conclusive: {other:?}"),
    }
}

fn err(wire: &[u8]) -> Error {
    peek_sni(wire).expect_err("an error")
}

fn is_malformed(e: Error) -> bool {
    matches!(e, Error::Malformed { .. })
}

/// Every proper prefix is Incomplete with a `needed` that is a true lower
/// bound; the whole is conclusive and extra bytes change nothing.
fn assert_prefixes(wire: &[u8]) {
    let whole = peek_sni(wire).expect("valid");
    assert!(!whole.is_incomplete());
    for i in 0..wire.len() {
        match peek_sni(&wire[..i]) {
            Ok(Peek::Incomplete { needed }) => {
                assert!(
                    (1..=wire.len() - i).contains(&needed),
                    "prefix {i}: needed {needed}"
                );
            }
            other => panic!("prefix {i} of {}: {other:?}", wire.len()),
        }
    }
    let mut more = wire.to_vec();
    more.extend([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]);
    assert_eq!(peek_sni(&more), Ok(whole));
}

#[test]
fn one_record_with_a_name() {
    let wire = hello(&[
        (0x0a, vec![0, 2, 0, 29]),
        host("a.example"),
        alpn_ext(&[b"h2"]),
    ]);
    let Ok(Parsed::Complete(h)) = parse(&wire) else {
        panic!("complete");
    };
    let name = h.server_name().expect("a name");
    assert_eq!(name, "a.example");
    assert!(name.is_borrowed());
    assert_eq!(h.legacy_version(), 0x0303);
    assert_eq!(h.end(), wire.len());
    assert!(h.has_alpn());
    assert_eq!(
        h.alpn().collect::<Vec<_>>(),
        [AlpnProtocol(name::Bytes::borrowed(b"h2"))]
    );
    assert!(format!("{h:?}").contains("a.example"));
    assert_eq!(peek_sni(&wire).unwrap().server_name(), Some("a.example"));
    assert_prefixes(&wire);
}

#[test]
fn no_name() {
    // No server_name extension.
    let wire = hello(&[alpn_ext(&[b"http/1.1"])]);
    assert_eq!(peek_sni(&wire), Ok(Peek::NoSni));
    assert_prefixes(&wire);
    // No extension block at all (legal before TLS 1.3).
    let bare = records(&message(&body(None)), 1 << 14);
    assert_eq!(peek_sni(&bare), Ok(Peek::NoSni));
    let Ok(Parsed::Complete(h)) = parse(&bare) else {
        panic!("complete");
    };
    assert!(!h.has_alpn() && h.alpn().next().is_none());
    assert_prefixes(&bare);
    // An empty extension block.
    let empty = hello(&[]);
    assert_eq!(peek_sni(&empty), Ok(Peek::NoSni));
    // A server_name list with another name type only.
    let other = hello(&[sni_ext(&[(7, b"opaque")])]);
    assert_eq!(peek_sni(&other), Ok(Peek::NoSni));
}

#[test]
fn other_name_types_are_skipped() {
    let wire = hello(&[sni_ext(&[
        (9, b"\0\xff"),
        (HOST_NAME, b"b.example"),
        (3, b""),
    ])]);
    assert_eq!(name_of(&wire).as_deref(), Some("b.example"));
}

#[test]
fn case_is_kept_and_one_trailing_dot_dropped() {
    assert_eq!(
        name_of(&hello(&[host("A.Example.")])).as_deref(),
        Some("A.Example")
    );
    let e = err(&hello(&[host("a.example..")]));
    assert!(matches!(e, Error::InvalidHostName { .. }), "{e:?}");
}

#[test]
fn fragmented_across_records() {
    let msg = message(&body(Some(&[
        (0x2b, vec![2, 3, 4]),
        host("fragmented.example"),
        alpn_ext(&[b"h2", b"http/1.1"]),
    ])));
    for size in [1, 2, 3, 5, 7, 50, 100, msg.len() - 1] {
        let wire = records(&msg, size);
        let Ok(Parsed::Complete(h)) = parse(&wire) else {
            panic!("complete at record size {size}");
        };
        let name = h.server_name().expect("a name");
        assert_eq!(name, "fragmented.example", "record size {size}");
        let protocols: Vec<Vec<u8>> = h.alpn().map(|p| p.as_bytes().to_vec()).collect();
        assert_eq!(
            protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()],
            "size {size}"
        );
        assert_eq!(h.end(), wire.len());
        assert_prefixes(&wire);
    }
    // A record boundary inside the name: the name is copied.
    let wire = records(&msg, 1);
    let Ok(Peek::Sni(name)) = peek_sni(&wire) else {
        panic!("a name");
    };
    assert!(!name.is_borrowed());
    assert_eq!(name.len(), "fragmented.example".len());
}

#[test]
fn the_longest_name_survives_fragmentation() {
    let label = "a".repeat(63);
    let longest = format!("{label}.{label}.{label}.{}.", "b".repeat(61));
    let msg = message(&body(Some(&[host(&longest)])));
    for size in [1, 10, 1000] {
        let wire = records(&msg, size);
        assert_eq!(
            name_of(&wire).as_deref(),
            Some(&longest[..253]),
            "size {size}"
        );
    }
    let too_long = format!("x{longest}");
    assert!(matches!(
        err(&hello(&[host(&too_long)])),
        Error::InvalidHostName { .. }
    ));
    // Refused as soon as the length is read, before the name arrives.
    let wire = hello(&[host(&"a".repeat(300))]);
    let cut = wire.len() - 300;
    assert!(matches!(err(&wire[..cut]), Error::InvalidHostName { .. }));
}

#[test]
fn not_tls() {
    for bad in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"G",
        b"\x80\x2e\x01\x03\x01",
        b"\x16\x02",
        b"\x15\x03\x03\x00\x02\x02\x28",
        b"\x17\x03\x03",
        b"SSH-2.0-",
        b"\0",
    ] {
        assert_eq!(err(bad), Error::NotTls, "{bad:?}");
    }
    assert_eq!(peek_sni(b""), Ok(Peek::Incomplete { needed: 9 }));
    assert!(peek_sni(b"\x16").unwrap().is_incomplete());
    assert!(peek_sni(b"\x16\x03").unwrap().is_incomplete());
}

#[test]
fn record_header_errors() {
    assert_eq!(
        err(b"\x16\x03\x00"),
        Error::UnsupportedVersion { version: 0x0300 }
    );
    assert_eq!(
        err(b"\x16\x03\x05"),
        Error::UnsupportedVersion { version: 0x0305 }
    );
    assert!(is_malformed(err(b"\x16\x03\x01\x00\x00")));
    assert!(is_malformed(err(b"\x16\x03\x01\x40\x01")));
    assert!(peek_sni(b"\x16\x03\x01\x40\x00").unwrap().is_incomplete());
    // A later record that is not a handshake record, or of another version.
    let msg = message(&body(Some(&[host("a.example")])));
    let wire = records(&msg, 10);
    let mut alert = wire[..15].to_vec();
    alert.extend([21, 3, 3, 0, 2, 2, 40]);
    assert!(is_malformed(err(&alert)));
    let mut old = wire[..15].to_vec();
    old.extend([22, 2, 0]);
    assert_eq!(err(&old), Error::UnsupportedVersion { version: 0x0200 });
    let mut empty = wire[..15].to_vec();
    empty.extend([22, 3, 3, 0, 0]);
    assert!(is_malformed(err(&empty)));
}

#[test]
fn handshake_errors() {
    assert_eq!(
        err(&records(&[2, 0, 0, 0], 100)),
        Error::NotClientHello { msg_type: 2 }
    );
    // 16 KiB in all is fine, one byte more is refused on its length alone.
    let at_limit = records(&[1, 0, 0x3f, 0xfc], 100);
    assert!(peek_sni(&at_limit).unwrap().is_incomplete());
    assert_eq!(
        err(&records(&[1, 0, 0x3f, 0xfd], 100)),
        Error::TooLarge {
            len: MAX_HANDSHAKE_LEN + 1,
            max: MAX_HANDSHAKE_LEN
        }
    );
    assert!(matches!(
        err(&records(&[1, 0xff, 0xff, 0xff], 100)),
        Error::TooLarge { .. }
    ));
    let mut b = body(Some(&[host("a.example")]));
    b[0..2].copy_from_slice(&[3, 0]);
    assert_eq!(
        err(&records(&message(&b), 1 << 14)),
        Error::UnsupportedVersion { version: 0x0300 }
    );
}

/// `body` with byte `i` replaced by `value`, as a whole hello.
fn patched(body: &[u8], i: usize, value: u8) -> Vec<u8> {
    let mut b = body.to_vec();
    b[i] = value;
    records(&message(&b), 1 << 14)
}

#[test]
fn body_errors() {
    let b = body(Some(&[host("a.example")]));
    // Offsets: version 0, random 2, session id length 34, ids 35..67,
    // suites length 67, suites 69..73, compression 73, method 74,
    // extensions length 75.
    assert!(is_malformed(err(&patched(&b, 34, 33))));
    assert!(is_malformed(err(&patched(&b, 68, 3))));
    assert!(is_malformed(err(&patched(&b, 68, 0))));
    assert!(is_malformed(err(&patched(&b, 73, 0))));
    assert!(is_malformed(err(&patched(&b, 76, b[76] + 1))));
    assert!(is_malformed(err(&patched(&b, 76, b[76] - 1))));
    // One stray byte after the compression methods.
    let mut stray = body(None);
    stray.push(0);
    assert!(is_malformed(err(&records(&message(&stray), 1 << 14))));
    // An extension longer than the block.
    let mut long = b.clone();
    long[80] += 1;
    assert!(is_malformed(err(&records(&message(&long), 1 << 14))));
    // A field announced past the end of the ClientHello is refused at
    // once, without waiting for its bytes.
    let cut = records(&message(&patched(&b, 34, 33)[9..]), 1 << 14);
    assert!(is_malformed(err(&cut[..5 + 4 + 35])));
}

#[test]
fn server_name_errors() {
    for ext in [
        (SERVER_NAME, vec![]),
        (SERVER_NAME, vec![0]),
        (SERVER_NAME, vec![0, 0]),
        (SERVER_NAME, vec![0, 5, 0, 0, 1, b'a']),
        (SERVER_NAME, vec![0, 3, 0, 0, 1, b'a']),
        (SERVER_NAME, vec![0, 2, 0, 0]),
        (SERVER_NAME, vec![0, 4, 0, 0, 2, b'a']),
    ] {
        assert!(
            is_malformed(err(&hello(std::slice::from_ref(&ext)))),
            "{ext:?}"
        );
    }
    assert!(is_malformed(err(&hello(&[
        host("a.example"),
        host("a.example")
    ]))));
    assert!(is_malformed(err(&hello(&[sni_ext(&[
        (HOST_NAME, b"a.example"),
        (HOST_NAME, b"b.example"),
    ])]))));
    for bad in [
        "",
        "a b.example",
        "*.example",
        "a..example",
        "caf\u{e9}.example",
        "a:443",
    ] {
        assert!(
            matches!(err(&hello(&[host(bad)])), Error::InvalidHostName { .. }),
            "{bad:?}"
        );
    }
}

#[test]
fn alpn_errors() {
    for ext in [
        (ALPN, vec![]),
        (ALPN, vec![0, 0]),
        (ALPN, vec![0, 3, 2, b'h']),
        (ALPN, vec![0, 2, 0, 0]),
        (ALPN, vec![0, 3, 0, 1, b'h']),
    ] {
        assert!(
            is_malformed(err(&hello(std::slice::from_ref(&ext)))),
            "{ext:?}"
        );
    }
    assert!(is_malformed(err(&hello(&[
        alpn_ext(&[b"h2"]),
        alpn_ext(&[b"h2"])
    ]))));
}

#[test]
fn trailing_bytes_in_the_last_record_are_ignored() {
    let mut msg = message(&body(Some(&[host("a.example")])));
    let hello_len = msg.len();
    msg.extend([20, 0, 0, 0]);
    let wire = records(&msg, 1 << 14);
    let Ok(Parsed::Complete(h)) = parse(&wire) else {
        panic!("complete");
    };
    assert_eq!(h.end(), 5 + hello_len);
    assert_eq!(h.server_name().unwrap(), "a.example");
}

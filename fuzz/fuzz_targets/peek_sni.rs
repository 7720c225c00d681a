//! Fuzzes the ClientHello SNI parser. The input is used raw, after a
//! handshake record header, or as the body of a ClientHello wrapped in one
//! record or cut into records of a size the first byte picks. Arbitrary
//! bytes must never panic; `needed` is at least 1; a conclusive answer (a
//! name, no name, or an error) stays the same for every longer input with
//! the same prefix; every prefix of an input with a name or without one is
//! Incomplete or the same answer; a name obeys the host-name rules; and the
//! same handshake bytes cut into other records give the same name and ALPN
//! protocols.
#![no_main]

use lb_l4::client_hello::{self, Parsed, Peek};
use libfuzzer_sys::fuzz_target;

/// `payload` in handshake records of at most `size` bytes.
fn records(payload: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / size * 5 + 5);
    for chunk in payload.chunks(size.max(1)) {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// `body` as a ClientHello handshake message.
fn message(body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    [&[1, len[1], len[2], len[3]][..], body].concat()
}

/// The handshake bytes carried by the records of `wire` up to `end` (a
/// valid prefix: `parse` walked it).
fn handshake_payload(wire: &[u8], end: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut at = 0;
    while at < end {
        let len = usize::from(u16::from_be_bytes([wire[at + 3], wire[at + 4]]));
        let stop = (at + 5 + len).min(end);
        payload.extend_from_slice(&wire[at + 5..stop]);
        at += 5 + len;
    }
    payload
}

/// The name and ALPN protocols of a whole ClientHello.
fn summary(wire: &[u8]) -> Option<(Option<String>, Vec<Vec<u8>>)> {
    match client_hello::parse(wire) {
        Ok(Parsed::Complete(hello)) => Some((
            hello.server_name().map(|n| n.to_string()),
            hello.alpn().map(|p| p.as_bytes().to_vec()).collect(),
        )),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = match selector & 3 {
        0 => rest.to_vec(),
        1 => [&[22, 3, 1][..], rest].concat(),
        2 => records(&message(rest), 1 << 14),
        _ => records(&message(rest), usize::from(selector >> 2) + 1),
    };

    let result = client_hello::peek_sni(&input);
    if let Ok(Parsed::Complete(hello)) = client_hello::parse(&input) {
        assert!(hello.end() <= input.len());
        for protocol in hello.alpn() {
            assert!(!protocol.as_bytes().is_empty());
        }
    }
    match result {
        Ok(Peek::Incomplete { needed }) => {
            assert!(needed >= 1);
            return;
        }
        Ok(Peek::Sni(name)) => {
            assert!(!name.is_empty() && name.len() <= client_hello::MAX_HOST_NAME_LEN);
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            assert!(!name.ends_with('.') && !name.starts_with('.') && !name.contains(".."));
        }
        Ok(Peek::NoSni) | Err(_) => {}
    }

    // Conclusive: more bytes change nothing.
    for tail in [&[0_u8; 7][..], &[22, 3, 1, 0, 1, 1], &input] {
        let longer = [&input[..], tail].concat();
        assert_eq!(client_hello::peek_sni(&longer), result, "extended by {tail:?}");
    }

    let Ok(Peek::Sni(_) | Peek::NoSni) = result else {
        return;
    };
    // Prefixes: all of them for short inputs, a sample otherwise.
    let n = input.len();
    let step = (n / 256).max(1);
    for i in (0..n).step_by(step).chain(n.saturating_sub(16)..n) {
        let prefix = client_hello::peek_sni(&input[..i]);
        assert!(
            matches!(prefix, Ok(Peek::Incomplete { .. })) || prefix == result,
            "prefix {i}: {prefix:?} vs {result:?}"
        );
    }
    // Other record boundaries, same answer.
    let Ok(Parsed::Complete(hello)) = client_hello::parse(&input) else {
        unreachable!("a conclusive peek is a complete parse");
    };
    let payload = handshake_payload(&input, hello.end());
    let want = summary(&input);
    for size in [1, usize::from(selector) + 1, 300] {
        assert_eq!(summary(&records(&payload, size)), want, "records of {size}");
    }
});

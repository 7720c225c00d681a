//! Fuzzes the PROXY protocol v1 decoder: arbitrary bytes (optionally after
//! a valid line prefix chosen by the first byte) must never panic; a whole
//! header must not claim more bytes than given or than 107, must decode the
//! same from exactly its bytes and be Partial one byte short, and must
//! survive a v1 (and v2) re-encode and decode unchanged.
#![no_main]

use lb_l4::proxy_protocol::{self, Status, Version, v1, v2};
use libfuzzer_sys::fuzz_target;

const PREFIXES: [&[u8]; 7] = [
    b"",
    b"PROXY ",
    b"PROXY TCP4 ",
    b"PROXY TCP6 ",
    b"PROXY UNKNOWN",
    // Valid addresses, so that the ports and the CRLF get fuzzed too.
    b"PROXY TCP4 192.168.0.1 10.0.0.1 ",
    b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 ",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = [PREFIXES[usize::from(selector) % PREFIXES.len()], rest].concat();

    let result = v1::decode(&input);
    if input.first() == Some(&b'P') {
        assert_eq!(
            proxy_protocol::decode(&input),
            result,
            "auto-detection agrees"
        );
    }
    let Ok(Status::Complete(header, used)) = result else {
        return;
    };
    assert!(used <= input.len() && used <= v1::MAX_LEN, "used {used}");
    assert_eq!(header.version(), Version::V1);
    assert_eq!(
        v1::decode(&input[..used]),
        Ok(Status::Complete(header.clone(), used))
    );
    assert_eq!(v1::decode(&input[..used - 1]), Ok(Status::Partial));

    // Every decoded v1 header is representable in v1.
    let mut line = Vec::new();
    header
        .encode_v1(&mut line)
        .expect("decoded v1 header re-encodes");
    assert_eq!(header.encoded_len_v1(), Ok(line.len()));
    assert_eq!(
        v1::decode(&line),
        Ok(Status::Complete(header.clone(), line.len()))
    );

    // And in v2, which decodes to the same header in the other version.
    let mut binary = Vec::new();
    header.encode_v2(&mut binary).expect("v1 header fits v2");
    let back = v2::decode(&binary)
        .expect("valid v2")
        .complete()
        .expect("whole");
    assert_eq!(back, (header.with_version(Version::V2), binary.len()));
});

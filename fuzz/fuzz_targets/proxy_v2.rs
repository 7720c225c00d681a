//! Fuzzes the PROXY protocol v2 decoder: arbitrary bytes (after the v2
//! signature when the first byte is odd) must never panic; a whole header
//! must not claim more bytes than given or than the limit, must decode the
//! same from exactly its bytes and be Partial one byte short, must encode
//! back to exactly the bytes it came from, and, where v1 can carry it,
//! survive a v1 round trip.
#![no_main]

use lb_l4::proxy_protocol::{self, DecodeOptions, Status, Version, v1, v2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = if selector & 1 == 1 {
        [&v2::SIGNATURE[..], rest].concat()
    } else {
        rest.to_vec()
    };
    let options = match selector >> 1 & 3 {
        0 => DecodeOptions::new(),
        1 => DecodeOptions::new().with_max_v2_len(64),
        _ => DecodeOptions::new().with_max_v2_len(usize::MAX),
    };

    let result = v2::decode_with(&input, options);
    if input.first() == Some(&b'\r') {
        assert_eq!(
            proxy_protocol::decode_with(&input, options),
            result,
            "auto-detection agrees"
        );
    }
    let Ok(Status::Complete(header, used)) = result else {
        return;
    };
    assert!(
        used <= input.len() && used <= options.max_v2_len,
        "used {used}"
    );
    assert_eq!(header.version(), Version::V2);
    assert_eq!(
        v2::decode_with(&input[..used], options),
        Ok(Status::Complete(header.clone(), used))
    );
    assert_eq!(
        v2::decode_with(&input[..used - 1], options),
        Ok(Status::Partial)
    );

    // The binary form is canonical: re-encoding gives the same bytes.
    let mut binary = Vec::new();
    header
        .encode_v2(&mut binary)
        .expect("decoded v2 header re-encodes");
    assert_eq!(binary, &input[..used]);
    assert_eq!(header.encoded_len_v2(), Ok(used));

    // Where v1 can carry it, a v1 round trip keeps it.
    let mut line = Vec::new();
    if header.encode_v1(&mut line).is_ok() {
        let back = v1::decode(&line)
            .expect("valid v1")
            .complete()
            .expect("whole");
        assert_eq!(back, (header.with_version(Version::V1), line.len()));
    }
});

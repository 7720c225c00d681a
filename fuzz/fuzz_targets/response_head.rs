//! Response heads: parsing never panics for any request method, and rewriting a parsed head
//! gives a head that parses with the same status.
#![no_main]

use lb_l7::Limits;
use lb_l7::head::{Method, Parsed, Version, parse_response};
use lb_l7::rewrite::{HeaderEdits, ResponseRewrite, write_response_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, raw)) = data.split_first() else {
        return;
    };
    let method =
        [Method::Get, Method::Head, Method::Post, Method::Connect][usize::from(selector & 3)];
    let Ok(Parsed::Complete(head, len)) = parse_response(raw, method, &Limits::default()) else {
        return;
    };
    assert!(len <= raw.len());
    let version = if selector & 4 == 0 {
        Version::Http11
    } else {
        Version::Http10
    };
    let rw = ResponseRewrite::new(version, selector & 8 == 0).field(b"Set-Cookie", b"srv=x");
    let mut out = Vec::new();
    write_response_head(&head, &rw, &HeaderEdits::new(), &mut out);
    let roomy = Limits {
        max_head_bytes: 1 << 20,
        max_headers: Limits::MAX_HEADERS,
        ..Limits::default()
    };
    match parse_response(&out, method, &roomy) {
        Ok(Parsed::Complete(again, n)) => {
            assert_eq!(n, out.len());
            assert_eq!(again.status(), head.status());
        }
        other => panic!(
            "rewritten head does not parse: {other:?}\n{:?}",
            String::from_utf8_lossy(&out)
        ),
    }
});

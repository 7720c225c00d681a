//! Request heads: parsing never panics, and a head that parses rewrites to a head that parses
//! to the same request (method, path, query, host, framing).
#![no_main]

use lb_l7::Limits;
use lb_l7::head::{Parsed, parse_request};
use lb_l7::rewrite::{ClientIp, Forwarding, HeaderEdits, write_request_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let small = Limits {
        max_head_bytes: 512,
        max_headers: 8,
        max_uri_bytes: 64,
        ..Limits::default()
    };
    let _ = parse_request(data, &small);
    let Ok(Parsed::Complete(head, len)) = parse_request(data, &Limits::default()) else {
        return;
    };
    assert!(len <= data.len());
    for field in head.headers() {
        assert!(!field.name.is_empty());
    }
    let fwd = Forwarding::new(ClientIp::new("192.0.2.1".parse().unwrap()))
        .rfc7239(true)
        .append_forwarded_for(true)
        .fallback_host(b"backend:80");
    let mut out = Vec::new();
    write_request_head(&head, &fwd, &HeaderEdits::new(), &mut out);
    // The rewrite adds up to six fields, and bytes: re-parse with room for them.
    let roomy = Limits {
        max_head_bytes: 1 << 20,
        max_uri_bytes: 1 << 20,
        max_headers: Limits::MAX_HEADERS,
        ..Limits::default()
    };
    let again = match parse_request(&out, &roomy) {
        Ok(Parsed::Complete(again, n)) => {
            assert_eq!(n, out.len());
            again
        }
        other => panic!(
            "rewritten head does not parse: {other:?}\n{:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.method_str(), head.method_str());
    assert_eq!(again.path(), head.path());
    assert_eq!(again.query(), head.query());
    assert_eq!(again.framing(), head.framing());
    assert_eq!(again.host(), Some(head.host().unwrap_or(b"backend:80")));
});

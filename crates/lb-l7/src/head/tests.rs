//! The request and response rules, one row per RFC 9112 rule or smuggling trick.

use super::*;
use crate::{Limits, ParseError as E};

fn req(raw: &[u8]) -> Result<RequestHead<'_>, E> {
    match parse_request(raw, &Limits::default())? {
        Parsed::Complete(head, len) => {
            assert_eq!(len, raw.len(), "whole input is the head: {raw:?}");
            Ok(head)
        }
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
    }
}

fn res(raw: &[u8], method: Method) -> Result<ResponseHead<'_>, E> {
    match parse_response(raw, method, &Limits::default())? {
        Parsed::Complete(head, _) => Ok(head),
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
    }
}

/// (request head, expected framing or error)
const REQUEST_TABLE: &[(&str, Result<Framing, E>)] = &[
    // Valid framings.
    ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(Framing::None)),
    ("GET / HTTP/1.0\r\n\r\n", Ok(Framing::None)),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
        Ok(Framing::Length(10)),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
        Ok(Framing::Length(7)),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        Ok(Framing::Length(5)),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    ("GET / HTTP/1.1\nHost: a\n\n", Ok(Framing::None)),
    ("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(Framing::None)),
    // CL.TE and TE.CL: both present is rejected whatever the order.
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(E::ContentLengthWithTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
        Err(E::ContentLengthWithTransferEncoding),
    ),
    // TE obfuscation.
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        Err(E::InvalidHeaderName),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        Err(E::UnknownTransferCoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n",
        Err(E::InvalidHeaderValue),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
        Err(E::InvalidTransferEncoding),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n chunked\r\n\r\n",
        Err(E::ObsFold),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\r\n : chunked\r\n\r\n",
        Err(E::ObsFold),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        Ok(Framing::Chunked),
    ),
    (
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(E::TransferEncodingInHttp10),
    ),
    // Content-Length shapes.
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        Err(E::ConflictingContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    (
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        Err(E::InvalidContentLength),
    ),
    // Header syntax.
    (
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        Err(E::ObsFold),
    ),
    ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", Err(E::ObsFold)),
    (
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        Err(E::InvalidHeaderValue),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        Err(E::InvalidHeaderValue),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
        Err(E::InvalidHeaderValue),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
        Err(E::InvalidHeaderName),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nX\0: v\r\n\r\n",
        Err(E::InvalidHeaderName),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nX(: v\r\n\r\n",
        Err(E::InvalidHeaderName),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
        Err(E::InvalidHeaderValue),
    ),
    // Host.
    ("GET / HTTP/1.1\r\n\r\n", Err(E::MissingHost)),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        Err(E::DuplicateHost),
    ),
    (
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        Err(E::DuplicateHost),
    ),
    ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Err(E::InvalidHost)),
    ("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Err(E::InvalidHost)),
    ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Err(E::InvalidHost)),
    ("GET / HTTP/1.1\r\nHost:\r\n\r\n", Ok(Framing::None)),
    // Start line.
    (
        "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        Err(E::UnsupportedVersion),
    ),
    (
        "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        Err(E::UnsupportedVersion),
    ),
    ("GET / http/1.1\r\nHost: a\r\n\r\n", Err(E::InvalidVersion)),
    ("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", Err(E::InvalidVersion)),
    ("GET /\r\n\r\n", Err(E::InvalidStartLine)),
    (
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidStartLine),
    ),
    ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::InvalidMethod)),
    (
        "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    (
        "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::InvalidTarget)),
    ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(E::InvalidTarget)),
    ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok(Framing::None)),
    (
        "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        Ok(Framing::None),
    ),
    (
        "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    (
        "CONNECT /a HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    (
        "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    (
        "GET http://u@a/b HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
    (
        "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n",
        Err(E::InvalidTarget),
    ),
];

#[test]
fn request_table() {
    let mut failures = Vec::new();
    for (raw, expected) in REQUEST_TABLE {
        let got = req(raw.as_bytes()).map(|h| h.framing());
        if got != *expected {
            failures.push(format!("{raw:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn non_ascii_target_is_rejected() {
    assert_eq!(
        req(b"GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
        E::InvalidTarget
    );
    assert_eq!(
        req(b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n")
            .unwrap()
            .headers()
            .get("x"),
        Some(&b"caf\xc3\xa9"[..]),
        "obs-text in values is allowed"
    );
}

#[test]
fn request_fields() {
    let h =
        req(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: Example.com:8080\r\nCookie: s=1\r\n\r\n").unwrap();
    assert_eq!(h.method(), Method::Get);
    assert_eq!(h.method_str(), "GET");
    assert_eq!(h.target(), b"/a/b?x=1&y");
    assert_eq!(h.target_form(), TargetForm::Origin);
    assert_eq!(h.path(), b"/a/b");
    assert_eq!(h.query(), Some(&b"x=1&y"[..]));
    assert_eq!(h.host(), Some(&b"Example.com:8080"[..]));
    assert_eq!(h.version(), Version::Http11);
    assert!(h.keep_alive());
    assert_eq!(h.headers().get("COOKIE"), Some(&b"s=1"[..]));
    let names: Vec<_> = h.headers().iter().map(|f| f.name).collect();
    assert_eq!(names, [&b"Host"[..], b"Cookie"]);
}

#[test]
fn absolute_form_replaces_host() {
    let h = req(b"GET http://real.example/p?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(h.target_form(), TargetForm::Absolute);
    assert_eq!(h.host(), Some(&b"real.example"[..]));
    assert_eq!(h.path(), b"/p");
    assert_eq!(h.query(), Some(&b"q"[..]));
    let h = req(b"GET HTTPS://real.example?q HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!((h.path(), h.query()), (&b"/"[..], Some(&b"q"[..])));
    let h = req(b"GET http://real.example:81 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(
        (h.host(), h.path()),
        (Some(&b"real.example:81"[..]), &b"/"[..])
    );
}

#[test]
fn connection_keep_alive_and_upgrade() {
    let h = req(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!h.keep_alive());
    let h = req(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!h.keep_alive());
    let h = req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    assert!(h.keep_alive());
    let h = req(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    assert_eq!(h.upgrade(), Some(&b"websocket"[..]));
    // Upgrade without the Connection option is not for this hop.
    let h = req(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").unwrap();
    assert_eq!(h.upgrade(), None);
    let h = req(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
        .unwrap();
    assert_eq!(h.expect(), Expect::Continue);
}

#[test]
fn limits_have_distinct_errors() {
    let limits = Limits {
        max_head_bytes: 200,
        max_headers: 3,
        max_uri_bytes: 50,
        ..Limits::default()
    };
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(60));
    assert_eq!(
        parse_request(long_uri.as_bytes(), &limits),
        Err(E::UriTooLong)
    );
    // Still incomplete, but already longer than any allowed request line.
    let partial_uri = format!("GET /{}", "a".repeat(200));
    assert_eq!(
        parse_request(partial_uri.as_bytes(), &limits),
        Err(E::UriTooLong)
    );
    let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n";
    assert_eq!(
        parse_request(many.as_bytes(), &limits),
        Err(E::TooManyHeaders)
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(200)
    );
    assert_eq!(parse_request(big.as_bytes(), &limits), Err(E::HeadTooLarge));
    let big_partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(200));
    assert_eq!(
        parse_request(big_partial.as_bytes(), &limits),
        Err(E::HeadTooLarge)
    );
    assert_eq!(E::UriTooLong.status(), 414);
    assert_eq!(E::HeadTooLarge.status(), 431);
    assert_eq!(E::UnsupportedVersion.status(), 505);
    assert_eq!(E::UnknownTransferCoding.status(), 501);
    assert_eq!(E::ContentLengthWithTransferEncoding.status(), 400);
}

#[test]
fn partial_heads() {
    let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for cut in 0..full.len() {
        assert_eq!(
            parse_request(&full[..cut], &Limits::default()),
            Ok(Parsed::Partial),
            "cut at {cut}"
        );
    }
}

#[test]
fn pipelined_requests_stop_at_head_end() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, n) = parse_request(raw, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h.path(), b"/1");
    let (h2, _) = parse_request(&raw[n..], &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h2.path(), b"/2");
}

#[test]
fn response_framing() {
    use Framing::*;
    let table: &[(&str, Method, Result<Framing, E>)] = &[
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            Method::Get,
            Ok(Length(3)),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Ok(Chunked),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::Get,
            Ok(UntilClose),
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", Method::Get, Ok(UntilClose)),
        ("HTTP/1.0 200 OK\r\n\r\n", Method::Get, Ok(UntilClose)),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            Method::Head,
            Ok(None),
        ),
        ("HTTP/1.1 204 No Content\r\n\r\n", Method::Get, Ok(None)),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            Method::Get,
            Ok(None),
        ),
        ("HTTP/1.1 100 Continue\r\n\r\n", Method::Post, Ok(None)),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            Method::Get,
            Ok(None),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Err(E::ContentLengthWithTransferEncoding),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            Method::Get,
            Err(E::ConflictingContentLength),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            Method::Get,
            Ok(Length(3)),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
            Method::Get,
            Err(E::InvalidContentLength),
        ),
        (
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
            Err(E::TransferEncodingInHttp10),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Method::Get,
            Err(E::InvalidTransferEncoding),
        ),
        (
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            Method::Get,
            Err(E::ObsFold),
        ),
        (
            "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
            Method::Get,
            Err(E::InvalidHeaderName),
        ),
        ("HTTP/1.1 20 OK\r\n\r\n", Method::Get, Err(E::InvalidStatus)),
        (
            "HTTP/2 200 OK\r\n\r\n",
            Method::Get,
            Err(E::UnsupportedVersion),
        ),
        ("HTTP/1.1 099 X\r\n\r\n", Method::Get, Err(E::InvalidStatus)),
    ];
    let mut failures = Vec::new();
    for (raw, method, expected) in table {
        let got = res(raw.as_bytes(), *method).map(|h| h.framing());
        if got != *expected {
            failures.push(format!(
                "{raw:?} ({method:?}): expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn response_fields() {
    let h = res(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n",
        Method::Get,
    )
    .unwrap();
    assert_eq!((h.status(), h.reason()), (503, &b"Service Unavailable"[..]));
    assert!(
        !h.keep_alive(),
        "a close-delimited body ends the connection"
    );
    let h = res(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get).unwrap();
    assert!(h.keep_alive());
    let h = res(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get).unwrap();
    assert!(!h.keep_alive());
    let h = res(
        b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n",
        Method::Get,
    )
    .unwrap();
    assert!(h.is_informational());
    assert_eq!(h.upgrade(), Some(&b"websocket"[..]));
    let h = res(b"HTTP/1.1 200 OK\r\n\r\n", Method::Get).unwrap();
    assert_eq!(h.reason(), b"OK");
}

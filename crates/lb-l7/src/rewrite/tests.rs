//! Head rewriting: what is dropped, what is added, what is kept byte for byte.

use std::net::IpAddr;

use super::*;
use crate::Limits;
use crate::head::{Method, Version, parse_request, parse_response};

fn rewrite(raw: &[u8], fwd: &Forwarding<'_>, edits: &HeaderEdits) -> String {
    let (head, _) = parse_request(raw, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let mut out = Vec::new();
    write_request_head(&head, fwd, edits, &mut out);
    // The result is itself a valid head that parses to the same request.
    let (again, n) = parse_request(&out, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(n, out.len());
    assert_eq!(
        (again.method(), again.path(), again.query()),
        (head.method(), head.path(), head.query())
    );
    assert_eq!(again.framing(), head.framing());
    String::from_utf8(out).unwrap()
}

fn client(ip: &str) -> Forwarding<'static> {
    Forwarding::new(ClientIp::new(ip.parse::<IpAddr>().unwrap()))
}

#[test]
fn hop_by_hop_fields_are_dropped() {
    let raw = b"POST /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n\
        Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nX-Secret: 1\r\n\
        Content-Length: 3\r\nAccept: */*\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    for gone in [
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "TE:",
        "Upgrade",
        "X-Secret",
    ] {
        assert!(!out.contains(gone), "{gone} kept in {out}");
    }
    assert!(out.contains("Content-Length: 3\r\n"));
    assert!(out.contains("Accept: */*\r\n"));
    // End to end (RFC 9110 §6.6.2): the trailers it announces are forwarded with the body.
    assert!(out.contains("Trailer: X-T\r\n"));
}

#[test]
fn upgrade_is_passed_on_when_asked_for() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert!(
        out.contains("Connection: upgrade\r\nUpgrade: websocket\r\n"),
        "{out}"
    );
    assert!(out.contains("Sec-WebSocket-Key: k\r\n"));
    let out = rewrite(raw, &client("10.0.0.1").upgrade(false), &HeaderEdits::new());
    assert!(!out.contains("Upgrade"), "{out}");
}

#[test]
fn forwarded_for_replaced_or_appended() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\
        X-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert_eq!(out.matches("X-Forwarded-For").count(), 1);
    assert!(out.contains("X-Forwarded-For: 10.0.0.1\r\n"), "{out}");
    assert!(out.contains("X-Real-IP: 10.0.0.1\r\n"));
    assert!(out.contains("X-Forwarded-Proto: http\r\n"));
    assert!(out.contains("X-Forwarded-Host: h\r\n"));
    assert!(!out.contains("6.6.6.6") && !out.contains("evil"));
    let out = rewrite(
        raw,
        &client("10.0.0.1").append_forwarded_for(true),
        &HeaderEdits::new(),
    );
    assert!(
        out.contains("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\n"),
        "{out}"
    );
}

#[test]
fn rfc7239_forwarded() {
    let raw = b"GET / HTTP/1.1\r\nHost: h:8080\r\nForwarded: for=1.1.1.1\r\n\r\n";
    let out = rewrite(
        raw,
        &client("2001:db8::1").tls(true).rfc7239(true),
        &HeaderEdits::new(),
    );
    assert!(
        out.contains("Forwarded: for=\"[2001:db8::1]\";proto=https;host=\"h:8080\"\r\n"),
        "{out}"
    );
    assert!(!out.contains("1.1.1.1"));
    let out = rewrite(
        raw,
        &client("192.0.2.1").rfc7239(true).append_forwarded_for(true),
        &HeaderEdits::new(),
    );
    assert!(
        out.contains("Forwarded: for=1.1.1.1, for=192.0.2.1;proto=http;host=\"h:8080\"\r\n"),
        "{out}"
    );
    // Not enabled: a received Forwarded passes through untouched.
    let out = rewrite(raw, &client("192.0.2.1"), &HeaderEdits::new());
    assert!(out.contains("Forwarded: for=1.1.1.1\r\n"), "{out}");
}

#[test]
fn absolute_form_becomes_origin_form_with_its_host() {
    let raw = b"GET http://real/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert!(
        out.starts_with("GET /p?q=1 HTTP/1.1\r\nHost: real\r\n"),
        "{out}"
    );
    assert!(!out.contains("other"));
}

#[test]
fn http10_without_host_gets_the_fallback() {
    let raw = b"GET / HTTP/1.0\r\n\r\n";
    let out = rewrite(
        raw,
        &client("10.0.0.1").fallback_host(b"10.0.0.9:80"),
        &HeaderEdits::new(),
    );
    assert!(
        out.starts_with("GET / HTTP/1.1\r\nHost: 10.0.0.9:80\r\n"),
        "{out}"
    );
}

#[test]
fn chunked_framing_is_kept() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert!(
        out.contains("Transfer-Encoding: gzip, chunked\r\n"),
        "{out}"
    );
}

#[test]
fn route_edits() {
    let edits = HeaderEdits::new()
        .remove("cookie")
        .unwrap()
        .set("X-Route", "users")
        .unwrap()
        .add("X-Extra", " v ")
        .unwrap();
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX-Route: forged\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &edits);
    assert!(!out.contains("Cookie") && !out.contains("forged"), "{out}");
    assert!(out.contains("X-Route: users\r\nX-Extra: v\r\n"), "{out}");
    assert_eq!(
        HeaderEdits::new().add("X", "a\r\nEvil: 1"),
        Err(EditError::InvalidValue("X".into()))
    );
    assert_eq!(
        HeaderEdits::new().remove("Bad Name"),
        Err(EditError::InvalidName("Bad Name".into()))
    );
}

fn rewrite_response(raw: &[u8], method: Method, rw: &ResponseRewrite<'_>) -> String {
    let (head, _) = parse_response(raw, method, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let mut out = Vec::new();
    write_response_head(&head, rw, &HeaderEdits::new(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn response_connection_handling() {
    let raw = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n";
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http11, true),
    );
    assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http10, true),
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http11, false),
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    // A body that runs until close ends the client connection too.
    let out = rewrite_response(
        b"HTTP/1.0 200 OK\r\n\r\n",
        Method::Get,
        &ResponseRewrite::new(Version::Http11, true),
    );
    assert_eq!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

#[test]
fn response_dechunked_for_http10_clients() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http10, true),
    );
    assert_eq!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http11, true),
    );
    assert_eq!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn response_upgrade_and_generated_fields() {
    let raw = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n";
    let out = rewrite_response(
        raw,
        Method::Get,
        &ResponseRewrite::new(Version::Http11, true),
    );
    assert_eq!(
        out,
        "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    let rw = ResponseRewrite::new(Version::Http11, true).field(b"Set-Cookie", b"srv=1; Path=/");
    let out = rewrite_response(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        Method::Get,
        &rw,
    );
    assert_eq!(
        out,
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nSet-Cookie: srv=1; Path=/\r\n\r\n"
    );
}

#[test]
fn bare_lf_lines_are_rewritten_with_crlf() {
    let raw = b"GET / HTTP/1.1\nHost: h\nA: 1\r\nB:2 \nC: 3\r\nConnection: close\n\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert!(
        out.contains("A: 1\r\nB: 2\r\nC: 3\r\nX-Forwarded-For"),
        "{out}"
    );
    assert_eq!(
        out.matches('\n').count(),
        out.matches("\r\n").count(),
        "{out:?}"
    );
}

#[test]
fn expect_is_dropped_only_when_asked() {
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    let out = rewrite(raw, &client("10.0.0.1"), &HeaderEdits::new());
    assert!(out.contains("Expect: 100-continue\r\n"), "{out}");
    let out = rewrite(
        raw,
        &client("10.0.0.1").strip_expect(true),
        &HeaderEdits::new(),
    );
    assert!(!out.contains("Expect"), "{out}");
}

//! Rules found by a review, each with the input that broke it: what RFC 9110/9112 (or
//! nginx/HAProxy behaviour) requires of the rewrite.
use lb_l7::Limits;
use lb_l7::head::*;
use lb_l7::rewrite::*;

fn fwd() -> Forwarding<'static> {
    Forwarding::new(ClientIp::new("10.0.0.1".parse().unwrap()))
}

fn req_out(raw: &[u8], edits: &HeaderEdits) -> (Framing, Vec<u8>) {
    let (head, _) = parse_request(raw, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let mut out = Vec::new();
    write_request_head(&head, &fwd(), edits, &mut out);
    (head.framing(), out)
}

fn resp_out(raw: &[u8], method: Method, client: Version) -> (Framing, bool, Vec<u8>) {
    let (head, _) = parse_response(raw, method, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let rw = ResponseRewrite::new(client, true);
    let mut out = Vec::new();
    write_response_head(&head, &rw, &HeaderEdits::new(), &mut out);
    (head.framing(), rw.keeps_alive(&head), out)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- 1. Connection-nominated framing fields are dropped: smuggling / response desync ----

#[test]
fn d1a_request_connection_content_length_keeps_framing() {
    // The proxy reads 5 body bytes and forwards them, but the head it sends has no
    // Content-Length: the backend reads the body as the next request.
    let raw =
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n";
    let (framing, out) = req_out(raw, &HeaderEdits::new());
    let (again, _) = parse_request(&out, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.framing(), framing, "forwarded head:\n{}", lossy(&out));
}

#[test]
fn d1b_request_connection_transfer_encoding_keeps_framing() {
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close, Transfer-Encoding\r\n\r\n";
    let (framing, out) = req_out(raw, &HeaderEdits::new());
    let (again, _) = parse_request(&out, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.framing(), framing, "forwarded head:\n{}", lossy(&out));
}

#[test]
fn d1c_response_connection_content_length_keeps_framing() {
    let raw = b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n";
    let (framing, keeps_alive, out) = resp_out(raw, Method::Get, Version::Http11);
    assert!(keeps_alive);
    let (again, _) = parse_response(&out, Method::Get, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.framing(), framing, "relayed head:\n{}", lossy(&out));
}

#[test]
fn d1d_response_connection_transfer_encoding_keeps_framing() {
    let raw =
        b"HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (framing, _, out) = resp_out(raw, Method::Get, Version::Http11);
    let (again, _) = parse_response(&out, Method::Get, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.framing(), framing, "relayed head:\n{}", lossy(&out));
}

// ---- 2. Route edits on fields the writer owns: duplicate Host / conflicting X-Forwarded-* ----

#[test]
fn d2a_edit_set_host_gives_one_host() {
    // nginx `proxy_set_header Host ...`, HAProxy `http-request set-header Host ...`: one Host.
    let edits = HeaderEdits::new().set("Host", "backend.internal").unwrap();
    let (_, out) = req_out(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &edits);
    let parsed = parse_request(&out, &Limits::default());
    assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), lossy(&out)); // RFC 9112 §3.2: 400 on two Hosts
}

#[test]
fn d2b_edit_set_forwarded_proto_gives_one_value() {
    let edits = HeaderEdits::new()
        .set("X-Forwarded-Proto", "https")
        .unwrap();
    let (_, out) = req_out(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &edits);
    let (again, _) = parse_request(&out, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let values: Vec<_> = again.headers().get_all("x-forwarded-proto").collect();
    assert_eq!(values.len(), 1, "{}", lossy(&out));
}

// ---- 3. CONNECT is accepted by the parser but rewritten to an invalid request line ----

#[test]
fn d3_connect_rewrite_is_a_valid_head() {
    let (_, out) = req_out(
        b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
        &HeaderEdits::new(),
    );
    let parsed = parse_request(&out, &Limits::default());
    assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), lossy(&out));
}

// ---- 4. OPTIONS absolute-form with empty path must become `*` (RFC 9112 §3.2.4) ----

#[test]
fn d4_options_absolute_form_empty_path_forwarded_as_asterisk() {
    let (_, out) = req_out(
        b"OPTIONS http://www.example.org:8001 HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n",
        &HeaderEdits::new(),
    );
    assert!(
        out.starts_with(b"OPTIONS * HTTP/1.1\r\n"),
        "{}",
        lossy(&out)
    );
}

// ---- 5. Transfer-Encoding relayed to an HTTP/1.0 client (RFC 9112 §6.1 MUST NOT) ----

#[test]
fn d5a_http10_client_gets_no_transfer_encoding_until_close() {
    let (_, _, out) = resp_out(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        Method::Get,
        Version::Http10,
    );
    assert!(
        !lossy(&out)
            .to_ascii_lowercase()
            .contains("transfer-encoding"),
        "{}",
        lossy(&out)
    );
}

#[test]
fn d5b_http10_client_gets_no_transfer_encoding_on_head() {
    let (_, _, out) = resp_out(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Head,
        Version::Http10,
    );
    assert!(
        !lossy(&out)
            .to_ascii_lowercase()
            .contains("transfer-encoding"),
        "{}",
        lossy(&out)
    );
}

#[test]
fn d5c_dechunking_gzip_chunked_does_not_silently_drop_gzip() {
    // `gzip, chunked` to an HTTP/1.0 client: de-chunked, Transfer-Encoding dropped whole, so the
    // client gets gzip bytes labelled as identity. Either refuse (dechunks() false / 502) or keep
    // the coding information; here: the relayed head must not present it as identity.
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    let (head, _) = parse_response(raw, Method::Get, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    let rw = ResponseRewrite::new(Version::Http10, true);
    let mut out = Vec::new();
    write_response_head(&head, &rw, &HeaderEdits::new(), &mut out);
    assert!(
        !rw.dechunks(&head) || lossy(&out).contains("gzip"),
        "{}",
        lossy(&out)
    );
}

// ---- 6. `Trailer` is an end-to-end field (RFC 9110 §6.6.2), not hop-by-hop ----

#[test]
fn d6_trailer_field_is_forwarded_with_chunked_body() {
    let (_, _, out) = resp_out(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n",
        Method::Get,
        Version::Http11,
    );
    assert!(
        lossy(&out).contains("Trailer: X-Checksum"),
        "{}",
        lossy(&out)
    );
}

// ---- 7. Expect: 100-continue in HTTP/1.0 must be ignored (RFC 9110 §10.1.1) ----

#[test]
fn d7a_expect_continue_ignored_in_http10() {
    let raw = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let (head, _) = parse_request(raw, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_ne!(head.expect(), Expect::Continue);
}

#[test]
fn d7b_expect_continue_from_http10_not_forwarded_as_http11() {
    // Forwarded as HTTP/1.1 with the expectation, the backend sends 100 Continue, which must
    // never reach an HTTP/1.0 client (RFC 9110 §15.2).
    let (_, out) = req_out(
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        &HeaderEdits::new(),
    );
    assert!(
        !(out.starts_with(b"POST / HTTP/1.1") && lossy(&out).contains("100-continue")),
        "{}",
        lossy(&out)
    );
}

#[test]
fn route_edits_cannot_touch_framing_or_remove_host() {
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "TE",
        "Upgrade",
        "Keep-Alive",
    ] {
        assert_eq!(
            HeaderEdits::new().set(name, "x"),
            Err(EditError::Reserved(name.to_owned()))
        );
    }
    assert_eq!(
        HeaderEdits::new().remove("Host"),
        Err(EditError::Reserved("Host".to_owned()))
    );
}

#[test]
fn route_edits_replace_the_proxy_own_fields() {
    let edits = HeaderEdits::new()
        .remove("X-Real-IP")
        .unwrap()
        .set("Host", "internal")
        .unwrap();
    let (_, out) = req_out(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &edits);
    let (again, _) = parse_request(&out, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.host(), Some(&b"internal"[..]), "{}", lossy(&out));
    assert_eq!(again.headers().get("x-real-ip"), None, "{}", lossy(&out));
    assert_eq!(
        again.headers().get("x-forwarded-for"),
        Some(&b"10.0.0.1"[..])
    );
}

#[test]
fn http10_client_cannot_get_other_transfer_codings() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    let (head, _) = parse_response(raw, Method::Get, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert!(!ResponseRewrite::new(Version::Http10, true).can_relay(&head));
    assert!(ResponseRewrite::new(Version::Http11, true).can_relay(&head));
    let plain = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (head, _) = parse_response(plain, Method::Get, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert!(ResponseRewrite::new(Version::Http10, true).can_relay(&head));
}

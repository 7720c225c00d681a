//! The codec end to end on byte streams: pipelined requests with bodies of every framing split
//! at arbitrary points give the same messages as the stream read whole; smuggling attempts are
//! refused before anything after them is read as a request.

use lb_l7::Limits;
use lb_l7::ParseError;
use lb_l7::body::{BodyError, BodyReader};
use lb_l7::chunked::{Decoded, LAST_CHUNK, encode_chunk};
use lb_l7::head::{Framing, Parsed, parse_request};
use proptest::prelude::*;

/// One request as the reader saw it: method, target, body.
type Message = (String, Vec<u8>, Vec<u8>);

#[derive(Debug)]
enum Failure {
    Head(ParseError),
    Body(BodyError),
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Head(e) => format!("head: {e}"),
        Failure::Body(e) => format!("body: {e}"),
    }
}

/// Reads pipelined requests from `pieces`, as a proxy's connection loop would: parse a head
/// from the buffer, follow its body with a [`BodyReader`], drop what was consumed, repeat.
fn read_all<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<Message>, usize), Failure> {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut messages = Vec::new();
    let mut body: Option<BodyReader> = None;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            if let Some(reader) = body.as_mut() {
                let (n, event) = reader.decode(&buf).map_err(Failure::Body)?;
                if let Decoded::Data(data) = event {
                    let last: &mut Message = messages.last_mut().expect("a head came first");
                    last.2.extend_from_slice(data);
                }
                let (done, more) = (event == Decoded::Done, event == Decoded::NeedMore);
                buf.drain(..n);
                if done {
                    body = None;
                } else if more {
                    break;
                }
            } else {
                let (message, framing, n) =
                    match parse_request(&buf, &limits).map_err(Failure::Head)? {
                        Parsed::Partial => break,
                        Parsed::Complete(head, n) => (
                            (
                                head.method_str().to_owned(),
                                head.target().to_vec(),
                                Vec::new(),
                            ),
                            head.framing(),
                            n,
                        ),
                    };
                messages.push(message);
                buf.drain(..n);
                body = Some(BodyReader::new(framing, &limits));
            }
        }
    }
    // Bytes left over: an incomplete request (or body) at the end of the stream.
    Ok((
        messages,
        buf.len() + usize::from(body.is_some_and(|b| !b.is_done())),
    ))
}

#[derive(Debug, Clone)]
enum BodyKind {
    None,
    Length,
    Chunked(Vec<usize>),
}

#[derive(Debug, Clone)]
struct Spec {
    post: bool,
    path: String,
    body: Vec<u8>,
    kind: BodyKind,
    bare_lf: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        "/[a-z0-9/]{0,12}(\\?[a-z=&]{0,8})?",
        prop::collection::vec(any::<u8>(), 0..300),
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        prop::collection::vec(1usize..64, 0..6),
        any::<bool>(),
    )
        .prop_map(|(post, path, body, kind, splits, bare_lf)| {
            let kind = match kind {
                0 if body.is_empty() => BodyKind::None,
                0 | 1 => BodyKind::Length,
                _ => BodyKind::Chunked(splits),
            };
            Spec {
                post,
                path,
                body,
                kind,
                bare_lf,
            }
        })
}

fn encode(spec: &Spec, out: &mut Vec<u8>) {
    let eol: &[u8] = if spec.bare_lf { b"\n" } else { b"\r\n" };
    let method = if spec.post { "POST" } else { "GET" };
    out.extend_from_slice(format!("{method} {} HTTP/1.1", spec.path).as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(b"Host: example.com");
    out.extend_from_slice(eol);
    match &spec.kind {
        BodyKind::None => {}
        BodyKind::Length => {
            out.extend_from_slice(format!("Content-Length: {}", spec.body.len()).as_bytes());
            out.extend_from_slice(eol);
        }
        BodyKind::Chunked(_) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked");
            out.extend_from_slice(eol);
        }
    }
    out.extend_from_slice(eol);
    match &spec.kind {
        BodyKind::None => {}
        BodyKind::Length => out.extend_from_slice(&spec.body),
        BodyKind::Chunked(splits) => {
            let mut rest = &spec.body[..];
            for &s in splits {
                let (chunk, tail) = rest.split_at(s.min(rest.len()));
                encode_chunk(chunk, out);
                rest = tail;
            }
            encode_chunk(rest, out);
            out.extend_from_slice(LAST_CHUNK);
        }
    }
}

fn expected(spec: &Spec) -> Message {
    let method = if spec.post { "POST" } else { "GET" };
    let body = if matches!(spec.kind, BodyKind::None) {
        Vec::new()
    } else {
        spec.body.clone()
    };
    (method.to_owned(), spec.path.clone().into_bytes(), body)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Feeding a valid pipelined stream in random-sized pieces gives the same requests as feeding
    /// it whole, which are the requests that were written.
    #[test]
    fn pipelined_requests_split_anywhere(
        specs in prop::collection::vec(spec(), 1..6),
        cuts in prop::collection::vec(1usize..40, 1..200),
    ) {
        let mut stream = Vec::new();
        for s in &specs {
            encode(s, &mut stream);
        }
        let want: Vec<Message> = specs.iter().map(expected).collect();
        let (whole, left) = read_all([&stream[..]]).unwrap();
        prop_assert_eq!(&whole, &want);
        prop_assert_eq!(left, 0);

        let mut pieces = Vec::new();
        let mut rest = &stream[..];
        for &c in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(c.min(rest.len()));
            pieces.push(piece);
            rest = tail;
        }
        let (split, left) = read_all(pieces).unwrap();
        prop_assert_eq!(split, want);
        prop_assert_eq!(left, 0);
    }

    /// Every byte boundary of one stream, exhaustively: two pieces.
    #[test]
    fn every_single_cut(specs in prop::collection::vec(spec(), 1..3)) {
        let mut stream = Vec::new();
        for s in &specs {
            encode(s, &mut stream);
        }
        let want: Vec<Message> = specs.iter().map(expected).collect();
        for cut in 0..=stream.len() {
            let (got, left) = read_all([&stream[..cut], &stream[cut..]]).unwrap();
            prop_assert_eq!(&got, &want, "cut at {}", cut);
            prop_assert_eq!(left, 0);
        }
    }
}

/// The request-smuggling classics, each followed by a request that must never be read.
#[test]
fn smuggling_attempts_stop_the_stream() {
    let smuggled = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let attacks: [(String, &str); 11] = [
        // CL.TE: a front end using Content-Length forwards the whole; a back end using chunked
        // would end the body at 0 and read the rest as a request.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
                5 + smuggled.len()
            ),
            "head: both Content-Length and Transfer-Encoding",
        ),
        // TE.CL: the reverse.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
            "head: both Content-Length and Transfer-Encoding",
        ),
        // TE obfuscations.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            "head: unknown transfer coding",
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            "head: invalid header name",
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            "head: invalid Transfer-Encoding",
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            "head: obsolete line folding",
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            "head: invalid header value",
        ),
        // Duplicate Content-Length that disagree.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            "head: conflicting Content-Length",
        ),
        // A chunk size only a lax parser reads, and a bare-LF chunk line.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n{smuggled}"
            ),
            "body: ",
        ),
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n{smuggled}"
            ),
            "body: ",
        ),
        // An overflowing chunk size that wraps to 0 in a lax parser.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n\r\n{smuggled}"
            ),
            "body: ",
        ),
    ];
    for (attack, expected) in &attacks {
        match read_all([attack.as_bytes()]) {
            Err(failure) => {
                let got = describe(&failure);
                assert!(
                    got.starts_with(expected),
                    "{attack:?}: expected {expected:?}, got {got:?}"
                );
            }
            Ok((messages, _)) => {
                assert!(
                    messages.iter().all(|m| m.1 != b"/admin"),
                    "smuggled request read from {attack:?}: {messages:?}"
                );
                panic!("attack accepted: {attack:?} -> {messages:?}");
            }
        }
    }
}

#[test]
fn truncated_bodies_are_errors() {
    let limits = Limits::default();
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
    let (head, n) = parse_request(raw, &limits).unwrap().complete().unwrap();
    assert_eq!(head.framing(), Framing::Length(10));
    let mut body = BodyReader::new(head.framing(), &limits);
    body.scan(&raw[n..]).unwrap();
    assert_eq!(body.finish(), Err(BodyError::Truncated { missing: 7 }));
}

//! Known-good and malformed bodies, split every way; round trips and
//! arbitrary bytes under proptest.

use proptest::prelude::*;

use super::*;
use crate::Limits;

/// What a whole run over a body gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    data: Vec<u8>,
    trailers: Vec<u8>,
    end: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The body ended this many bytes into the wire.
    At(usize),
    Error(ChunkedError),
    /// The wire ended before the body.
    Truncated,
}

/// Feeds `wire` to a decoder as a proxy would: pieces of the sizes in
/// `pieces` (cycled; 0 counts as 1) are appended to a buffer, the decoder
/// is called until it needs more, and consumed bytes are dropped from the
/// front of the buffer. Checks the invariants of every call on the way.
fn decode_in_pieces(wire: &[u8], limits: &Limits, pieces: &[usize]) -> Outcome {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut sizes = pieces.iter().map(|&n| n.max(1)).cycle();
    let (mut buffer, mut fed, mut dropped) = (Vec::new(), 0, 0);
    let (mut data, mut trailers) = (Vec::new(), Vec::new());
    loop {
        let (consumed, event) = match decoder.decode(&buffer) {
            Ok(ok) => ok,
            Err(error) => {
                // Final: the same error again, nothing else.
                assert_eq!(decoder.decode(&buffer), Err(error));
                assert_eq!(decoder.decode(b"0\r\n\r\n"), Err(error));
                assert_eq!(decoder.scan(b"0\r\n\r\n"), Err(error));
                assert!(!decoder.is_done());
                return Outcome {
                    data,
                    trailers,
                    end: End::Error(error),
                };
            }
        };
        assert!(consumed <= buffer.len());
        let need_more = match event {
            Decoded::Data(bytes) | Decoded::Trailers(bytes) => {
                assert!(!bytes.is_empty());
                assert_eq!(bytes.as_ptr_range().end, buffer[consumed..].as_ptr());
                let into = if matches!(event, Decoded::Data(_)) {
                    &mut data
                } else {
                    &mut trailers
                };
                into.extend_from_slice(bytes);
                false
            }
            Decoded::NeedMore => {
                assert_eq!(consumed, buffer.len());
                assert!(!decoder.is_done());
                true
            }
            Decoded::Done => {
                assert!(decoder.is_done());
                assert_eq!(decoder.decode(&buffer[consumed..]), Ok((0, Decoded::Done)));
                assert_eq!(decoder.scan(b"x"), Ok((0, Scanned::Done)));
                assert_eq!(decoder.data_len(), data.len() as u64);
                return Outcome {
                    data,
                    trailers,
                    end: End::At(dropped + consumed),
                };
            }
        };
        buffer.drain(..consumed);
        dropped += consumed;
        if need_more {
            if fed == wire.len() {
                return Outcome {
                    data,
                    trailers,
                    end: End::Truncated,
                };
            }
            let to = wire.len().min(fed + sizes.next().unwrap_or(1));
            buffer.extend_from_slice(&wire[fed..to]);
            fed = to;
        }
    }
}

/// Where [`ChunkedDecoder::scan`] ends the body, fed in pieces.
fn scan_in_pieces(wire: &[u8], limits: &Limits, pieces: &[usize]) -> End {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut sizes = pieces.iter().map(|&n| n.max(1)).cycle();
    let mut fed = 0;
    while fed < wire.len() {
        let to = wire.len().min(fed + sizes.next().unwrap_or(1));
        let piece = &wire[fed..to];
        match decoder.scan(piece) {
            Ok((n, Scanned::Done)) => {
                assert!(decoder.is_done());
                return End::At(fed + n);
            }
            Ok((n, Scanned::NeedMore)) => assert_eq!(n, piece.len()),
            Err(error) => {
                assert_eq!(decoder.scan(b"\r\n"), Err(error));
                return End::Error(error);
            }
        }
        fed = to;
    }
    End::Truncated
}

/// Decodes `wire` whole, in 1-byte pieces and in a few other splits, and
/// checks they all agree with each other and with `scan`.
fn decode_every_way(wire: &[u8], limits: &Limits) -> Outcome {
    let whole = decode_in_pieces(wire, limits, &[usize::MAX]);
    for pieces in [&[1][..], &[2], &[3, 1], &[7, 5, 1]] {
        let split = decode_in_pieces(wire, limits, pieces);
        assert_eq!(split.data, whole.data, "pieces {pieces:?}");
        assert_eq!(split.end, whole.end, "pieces {pieces:?}");
        // Trailer bytes handed out before an error depend on the split.
        if !matches!(whole.end, End::Error(_)) {
            assert_eq!(split.trailers, whole.trailers, "pieces {pieces:?}");
        }
        assert_eq!(
            scan_in_pieces(wire, limits, pieces),
            whole.end,
            "scan {pieces:?}"
        );
    }
    whole
}

fn ok(wire: &[u8]) -> Outcome {
    decode_every_way(wire, &Limits::default())
}

fn err(wire: &[u8]) -> ChunkedError {
    err_with(wire, &Limits::default())
}

fn err_with(wire: &[u8], limits: &Limits) -> ChunkedError {
    match decode_every_way(wire, limits).end {
        End::Error(error) => error,
        end => panic!("{:?} gave {end:?}", String::from_utf8_lossy(wire)),
    }
}

/// The variant, without its fields.
fn kind(error: ChunkedError) -> &'static str {
    match error {
        ChunkedError::InvalidSize { .. } => "InvalidSize",
        ChunkedError::SizeOverflow => "SizeOverflow",
        ChunkedError::ExtensionTooLong { .. } => "ExtensionTooLong",
        ChunkedError::InvalidExtension { .. } => "InvalidExtension",
        ChunkedError::BadLineEnding { .. } => "BadLineEnding",
        ChunkedError::TrailerTooLarge { .. } => "TrailerTooLarge",
        ChunkedError::InvalidTrailer { .. } => "InvalidTrailer",
    }
}

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\n\r\n";

#[test]
fn valid_bodies() {
    let cases: &[(&[u8], &[u8], &[u8])] = &[
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (b"0\r\n\r\n", b"", b""),
        (b"000\r\n\r\n", b"", b""),
        (
            b"1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n",
            b"abcdef",
            b"",
        ),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),
        (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789", b""),
        (b"0005\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (
            b"00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n",
            b"hello",
            b"",
        ),
        (b"5\r\n\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r\n\r", b""),
        (b"3\r\n\0\n\xff\r\n0\r\n\r\n", b"\0\n\xff", b""),
        // Extensions.
        (b"5;foo\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (b"5;foo=bar\r\nhello\r\n0;last\r\n\r\n", b"hello", b""),
        (b"5;a=1;b;c=\"x y\"\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (b"5;q=\"\"\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (
            b"5;q=\"a\\\"b\\\\c\\\td\"\r\nhello\r\n0\r\n\r\n",
            b"hello",
            b"",
        ),
        (b"5;q=\"tab\tin\xe9\"\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (b"5;q=\";=,\"\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (
            b"5;!#$%&'*+-.^_`|~09AZaz\r\nhello\r\n0\r\n\r\n",
            b"hello",
            b"",
        ),
        // BWS where the grammar has it.
        (b"5 ;a\r\nhello\r\n0\r\n\r\n", b"hello", b""),
        (
            b"5\t; a = b ;\tc\t=\t\"d\" ;e\r\nhello\r\n0\r\n\r\n",
            b"hello",
            b"",
        ),
        (b"5 \t ;a\r\nhello\r\n0 ; z\r\n\r\n", b"hello", b""),
        // Trailers.
        (b"5\r\nhello\r\n0\r\nA: b\r\n\r\n", b"hello", b"A: b\r\n"),
        (
            b"0\r\nA:b\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-E:\r\n\r\n",
            b"",
            b"A:b\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-E:\r\n",
        ),
        (b"0\r\nA: \t b\tc \t\r\n\r\n", b"", b"A: \t b\tc \t\r\n"),
        (b"0\r\nA: \x80\xff\r\n\r\n", b"", b"A: \x80\xff\r\n"),
        (b"0\r\nA: :: \"\\\r\n\r\n", b"", b"A: :: \"\\\r\n"),
    ];
    for &(wire, data, trailers) in cases {
        let name = String::from_utf8_lossy(wire);
        let outcome = ok(wire);
        assert_eq!(outcome.end, End::At(wire.len()), "{name}");
        assert_eq!(outcome.data, data, "{name}");
        assert_eq!(outcome.trailers, trailers, "{name}");
        // Pipelining: what follows is not consumed.
        let followed = [wire, NEXT].concat();
        assert_eq!(ok(&followed), outcome, "{name} followed");
        // Every proper prefix needs more.
        for cut in 0..wire.len() {
            let prefix = decode_in_pieces(&wire[..cut], &Limits::default(), &[usize::MAX]);
            assert_eq!(prefix.end, End::Truncated, "{name} cut at {cut}");
        }
    }
}

#[test]
fn invalid_bodies() {
    let cases: &[(&[u8], &str)] = &[
        // Sizes.
        (b"0x5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"x5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"-5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"+5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"\t5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"5 \r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"5\t\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"5 5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"5g\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"5,\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"\r\n5\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (b"\r\n", "InvalidSize"),
        (b"0 \r\n\r\n", "InvalidSize"),
        (b"\xef\xbc\x95\r\nhello\r\n0\r\n\r\n", "InvalidSize"),
        (
            b"000000000000000000000000000000005\r\nhello\r\n0\r\n\r\n",
            "InvalidSize",
        ),
        (b"ffffffffffffffffff\r\n", "SizeOverflow"),
        (b"10000000000000\r\n", "SizeOverflow"),
        (b"100000000000000000000000000000000\r\n", "SizeOverflow"),
        // Extensions.
        (b"5;\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;;a\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;=a\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a==b\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a b\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=b c\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a \r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=b \r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"b\" \r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"b\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"b\\\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a\0\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\0\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"\0\"\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=b\x80\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a\"=b\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5;a=b\tc\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        // Line endings.
        (b"5\nhello\n0\n\n", "BadLineEnding"),
        (b"5\nhello\r\n0\r\n\r\n", "BadLineEnding"),
        (b"5\rhello\r\n0\r\n\r\n", "BadLineEnding"),
        (b"5;a\nhello\r\n0\r\n\r\n", "BadLineEnding"),
        (b"5;a=\"x\nhello\r\n0\r\n\r\n", "BadLineEnding"),
        (b"5;a=\"x\r\nhello\r\n0\r\n\r\n", "InvalidExtension"),
        (b"5\r\nhello0\r\n\r\n", "BadLineEnding"),
        (b"5\r\nhello\n0\r\n\r\n", "BadLineEnding"),
        (b"5\r\nhello\r0\r\n\r\n", "BadLineEnding"),
        (b"5\r\nhello\r\n0\n\r\n", "BadLineEnding"),
        (b"5\r\nhello\r\n0\r\n\n", "BadLineEnding"),
        (b"5\r\nhello\r\n0\r\n\r\r", "BadLineEnding"),
        (b"0\r\nA: b\n\r\n", "BadLineEnding"),
        (b"0\r\nA: b\r\r\n", "BadLineEnding"),
        (b"0\r\nA: b\r\n\n", "BadLineEnding"),
        // Data shorter and longer than its size.
        (b"5\r\nhell\r\n0\r\n\r\n", "BadLineEnding"),
        (b"5\r\nhello!\r\n0\r\n\r\n", "BadLineEnding"),
        (b"3\r\nhello\r\n0\r\n\r\n", "BadLineEnding"),
        // Trailers.
        (b"0\r\nA: b\r\n c\r\n\r\n", "InvalidTrailer"),
        (b"0\r\n\tc\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA : b\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA\t: b\r\n\r\n", "InvalidTrailer"),
        (b"0\r\n: b\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA b: c\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA\"b: c\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA: b\0c\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA: b\x7f\r\n\r\n", "InvalidTrailer"),
        (b"0\r\nA: b\x1b\r\n\r\n", "InvalidTrailer"),
        (b"0\r\n\xc3\xa9: b\r\n\r\n", "InvalidTrailer"),
    ];
    for &(wire, want) in cases {
        let name = String::from_utf8_lossy(wire);
        assert_eq!(kind(err(wire)), want, "{name}");
    }
}

#[test]
fn one_byte_pieces_match_whole() {
    let bodies: [&[u8]; 5] = [
        b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
        b"3;a=\"b\"\r\nabc\r\n0 ; c\r\nX: y\r\nZ: \r\n\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX: y\r\n",
        b"5\r\nhello\r\n0\r\nX y\r\n\r\n",
        b"2\r\nabc\r\n",
    ];
    for wire in bodies {
        let whole = decode_in_pieces(wire, &Limits::default(), &[usize::MAX]);
        let bytewise = decode_in_pieces(wire, &Limits::default(), &[1]);
        assert_eq!(bytewise.data, whole.data);
        assert_eq!(bytewise.end, whole.end);
        if !matches!(whole.end, End::Error(_)) {
            assert_eq!(bytewise.trailers, whole.trailers);
        }
    }
}

#[test]
fn size_bounds() {
    let max = format!("{MAX_CHUNK_SIZE:x}\r\n");
    assert_eq!(max, "fffffffffffff\r\n");
    // The largest size is accepted, and then expects that much data.
    let outcome = ok(max.as_bytes());
    assert_eq!(outcome.end, End::Truncated);
    let mut decoder = ChunkedDecoder::default();
    assert_eq!(
        decoder.decode(max.as_bytes()),
        Ok((max.len(), Decoded::NeedMore))
    );
    assert_eq!(decoder.decode(b"ab"), Ok((2, Decoded::Data(b"ab"))));
    assert_eq!(
        kind(err(format!("{:x}\r\n", MAX_CHUNK_SIZE + 1).as_bytes())),
        "SizeOverflow"
    );
    // The digit bound counts leading zeros.
    let digits = usize::from(MAX_SIZE_DIGITS);
    let longest = format!("{:0>digits$}\r\n\r\n", "0");
    assert_eq!(ok(longest.as_bytes()).end, End::At(longest.len()));
    let too_long = format!("0{longest}");
    assert_eq!(kind(err(too_long.as_bytes())), "InvalidSize");
}

#[test]
fn extension_limit() {
    let limits = Limits {
        max_chunk_ext_bytes: 8,
        ..Limits::default()
    };
    // Everything after the size counts, whitespace included, per line.
    for fits in [
        &b"5;abcdefg\r\nhello\r\n0;abcdefg\r\n\r\n"[..],
        b"5 ;a = b\r\nhello\r\n0\r\n\r\n",
        b"5;a=\"\\\"\"\r\nhello\r\n0\r\n\r\n",
    ] {
        let outcome = decode_every_way(fits, &limits);
        assert_eq!(outcome.end, End::At(fits.len()));
    }
    for long in [
        &b"5;abcdefgh\r\nhello\r\n0\r\n\r\n"[..],
        b"5   ;a = b\r\nhello\r\n0\r\n\r\n",
        b"5;a=\"xxxxx\"\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0;abcdefgh\r\n\r\n",
    ] {
        assert_eq!(
            err_with(long, &limits),
            ChunkedError::ExtensionTooLong { max: 8 },
            "{}",
            String::from_utf8_lossy(long)
        );
    }
    let none = Limits {
        max_chunk_ext_bytes: 0,
        ..Limits::default()
    };
    assert_eq!(decode_every_way(b"1\r\na\r\n0\r\n\r\n", &none).data, b"a");
    assert_eq!(
        err_with(b"1;a\r\na\r\n0\r\n\r\n", &none),
        ChunkedError::ExtensionTooLong { max: 0 }
    );
    // The default is 1 KiB.
    let mut wire = b"1;".to_vec();
    wire.extend_from_slice(&[b'x'; 1023]);
    wire.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(ok(&wire).end, End::At(wire.len()));
    wire.insert(2, b'x');
    assert_eq!(err(&wire), ChunkedError::ExtensionTooLong { max: 1024 });
}

#[test]
fn trailer_limit() {
    let limits = Limits {
        max_trailer_bytes: 10,
        ..Limits::default()
    };
    // Field lines count with their CRLF; the final CRLF does not.
    let fits = b"0\r\nA: b\r\nC:\r\n\r\n";
    let outcome = decode_every_way(fits, &limits);
    assert_eq!(outcome.end, End::At(fits.len()));
    assert_eq!(outcome.trailers, b"A: b\r\nC:\r\n");
    assert_eq!(
        err_with(b"0\r\nA: b\r\nCD:\r\n\r\n", &limits),
        ChunkedError::TrailerTooLarge { max: 10 }
    );
    assert_eq!(
        err_with(b"0\r\nAbcdefghijklmnop: q\r\n\r\n", &limits),
        ChunkedError::TrailerTooLarge { max: 10 }
    );
    let none = Limits {
        max_trailer_bytes: 0,
        ..Limits::default()
    };
    assert_eq!(decode_every_way(b"0\r\n\r\n", &none).end, End::At(5));
    assert_eq!(
        err_with(b"0\r\nA: b\r\n\r\n", &none),
        ChunkedError::TrailerTooLarge { max: 0 }
    );
}

#[test]
fn done_consumes_nothing_after_the_body() {
    let wire = b"3\r\nabc\r\n0\r\n\r\n3\r\nxyz\r\n0\r\n\r\n";
    let mut decoder = ChunkedDecoder::default();
    assert_eq!(decoder.decode(wire), Ok((6, Decoded::Data(b"abc"))));
    assert_eq!(decoder.decode(&wire[6..]), Ok((7, Decoded::Done)));
    assert!(decoder.is_done());
    assert_eq!(decoder.decode(&wire[13..]), Ok((0, Decoded::Done)));
    assert_eq!(decoder.decode(b""), Ok((0, Decoded::Done)));
    // The second body, with a fresh decoder.
    let mut next = ChunkedDecoder::default();
    assert_eq!(next.decode(&wire[13..]), Ok((6, Decoded::Data(b"xyz"))));
    assert_eq!(next.decode(&wire[19..]), Ok((7, Decoded::Done)));
    // scan stops at the same places.
    let mut scanner = ChunkedDecoder::default();
    assert_eq!(scanner.scan(wire), Ok((13, Scanned::Done)));
    assert_eq!(scanner.scan(&wire[13..]), Ok((0, Scanned::Done)));
    assert_eq!(scanner.data_len(), 3);
}

#[test]
fn empty_input_needs_more() {
    let mut decoder = ChunkedDecoder::default();
    assert_eq!(decoder.decode(b""), Ok((0, Decoded::NeedMore)));
    assert_eq!(decoder.scan(b""), Ok((0, Scanned::NeedMore)));
    assert_eq!(decoder.decode(b"2\r\n"), Ok((3, Decoded::NeedMore)));
    assert_eq!(decoder.decode(b""), Ok((0, Decoded::NeedMore)));
    assert_eq!(decoder.decode(b"a"), Ok((1, Decoded::Data(b"a"))));
    assert_eq!(decoder.decode(b""), Ok((0, Decoded::NeedMore)));
    assert!(!decoder.is_done());
}

#[test]
fn data_is_handed_out_as_input_slices() {
    let wire = b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n";
    let mut decoder = ChunkedDecoder::default();
    let (n, event) = decoder.decode(wire).unwrap();
    let Decoded::Data(data) = event else {
        panic!("{event:?}")
    };
    assert_eq!(data.as_ptr(), wire[3..].as_ptr());
    assert_eq!((n, data), (7, &b"wiki"[..]));
}

#[test]
fn trailers_split_across_pieces() {
    let mut decoder = ChunkedDecoder::default();
    assert_eq!(
        decoder.decode(b"0\r\nA: "),
        Ok((6, Decoded::Trailers(b"A: ")))
    );
    assert_eq!(
        decoder.decode(b"b\r\nC: d"),
        Ok((7, Decoded::Trailers(b"b\r\nC: d")))
    );
    assert_eq!(decoder.decode(b"\r"), Ok((1, Decoded::Trailers(b"\r"))));
    assert_eq!(
        decoder.decode(b"\n\r\nrest"),
        Ok((1, Decoded::Trailers(b"\n")))
    );
    assert_eq!(decoder.decode(b"\r\nrest"), Ok((2, Decoded::Done)));
}

#[test]
fn decode_and_scan_mix() {
    let wire = b"3\r\nabc\r\n4;x\r\ndefg\r\n0\r\nT: 1\r\n\r\n";
    let mut decoder = ChunkedDecoder::default();
    assert_eq!(decoder.scan(&wire[..10]), Ok((10, Scanned::NeedMore)));
    assert_eq!(decoder.decode(&wire[10..]), Ok((7, Decoded::Data(b"defg"))));
    assert_eq!(
        decoder.scan(&wire[17..]),
        Ok((wire.len() - 17, Scanned::Done))
    );
    assert_eq!(decoder.data_len(), 7);
}

#[test]
fn errors_display() {
    assert_eq!(
        ChunkedError::SizeOverflow.to_string(),
        "chunk size above the limit of 4503599627370495 bytes"
    );
    assert_eq!(
        err(b"5 \r\n").to_string(),
        "invalid chunk size: whitespace after the size not followed by ';'"
    );
    assert_eq!(
        ChunkedError::TrailerTooLarge { max: 3 }.to_string(),
        "trailer section longer than 3 bytes"
    );
}

#[test]
fn encoder_output_decodes() {
    let mut wire = Vec::new();
    let chunks: [&[u8]; 4] = [b"a", &[0x55; 300], b"", b"\r\n0\r\n\r\n"];
    for chunk in chunks {
        encode_chunk(chunk, &mut wire);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let outcome = ok(&wire);
    assert_eq!(outcome.end, End::At(wire.len()));
    assert_eq!(outcome.data, chunks.concat());
}

// ---- proptest ----

const TCHARS: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TCHARS), 1..8)
}

/// Bad whitespace, most often none.
const BWS: &[&[u8]] = &[b"", b"", b"", b" ", b"\t", b" \t "];

fn bws() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(BWS)
}

/// A quoted string with escapes, HTAB and obs-text.
fn quoted() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(&b"abc ;=,\t:"[..]),
        1 => Just(b'"'),
        1 => Just(b'\\'),
        1 => 0x80u8..=0xff,
    ];
    prop::collection::vec(byte, 0..10).prop_map(|content| {
        let mut out = vec![b'"'];
        for b in content {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
        out
    })
}

/// One `BWS ; BWS name [BWS = BWS value]` extension.
fn extension() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![token(), quoted()];
    (
        bws(),
        bws(),
        token(),
        prop::option::of((bws(), bws(), value)),
    )
        .prop_map(|(before, after, name, value)| {
            let mut out = [before, b";", after, &name].concat();
            if let Some((before, after, value)) = value {
                out.extend_from_slice(&[before, b"=", after, &value].concat());
            }
            out
        })
}

/// A chunk line's size: leading zeros, either case.
fn size_line(size: usize, zeros: usize, upper: bool, extensions: &[Vec<u8>]) -> Vec<u8> {
    let mut line = vec![b'0'; zeros];
    let digits = if upper {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    line.extend_from_slice(digits.as_bytes());
    line.extend_from_slice(&extensions.concat());
    line.extend_from_slice(b"\r\n");
    line
}

/// A trailer field line: name, colon, optional whitespace, value.
fn trailer() -> impl Strategy<Value = Vec<u8>> {
    let value_byte = prop_oneof![
        8 => prop::sample::select(&b"abcXYZ019 :;,\"\\/"[..]),
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    (token(), bws(), prop::collection::vec(value_byte, 0..16))
        .prop_map(|(name, ows, value)| [&name[..], b":", ows, &value, b"\r\n"].concat())
}

/// One chunk of a generated body, and how to write its line.
#[derive(Debug, Clone)]
struct Chunk {
    data: Vec<u8>,
    zeros: usize,
    upper: bool,
    extensions: Vec<Vec<u8>>,
}

/// A generated body: chunks, the last chunk's line, trailer lines.
#[derive(Debug, Clone)]
struct Body {
    chunks: Vec<Chunk>,
    last: Chunk,
    trailers: Vec<Vec<u8>>,
}

impl Body {
    fn data(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.data.clone()).collect()
    }

    fn trailers(&self) -> Vec<u8> {
        self.trailers.concat()
    }

    fn encode(&self) -> Vec<u8> {
        let mut wire = Vec::new();
        for chunk in &self.chunks {
            wire.extend_from_slice(&size_line(
                chunk.data.len(),
                chunk.zeros,
                chunk.upper,
                &chunk.extensions,
            ));
            wire.extend_from_slice(&chunk.data);
            wire.extend_from_slice(CRLF);
        }
        let last = &self.last;
        wire.extend_from_slice(&size_line(0, last.zeros, last.upper, &last.extensions));
        wire.extend_from_slice(&self.trailers());
        wire.extend_from_slice(CRLF);
        wire
    }
}

fn chunk(data: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Chunk> {
    (
        data,
        0..4usize,
        any::<bool>(),
        prop::collection::vec(extension(), 0..3),
    )
        .prop_map(|(data, zeros, upper, extensions)| Chunk {
            data,
            zeros,
            upper,
            extensions,
        })
}

fn body() -> impl Strategy<Value = Body> {
    (
        prop::collection::vec(chunk(prop::collection::vec(any::<u8>(), 1..200)), 0..8),
        chunk(Just(Vec::new())),
        prop::collection::vec(trailer(), 0..4),
    )
        .prop_map(|(chunks, last, trailers)| Body {
            chunks,
            last,
            trailers,
        })
}

/// A valid body with one byte replaced, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (body(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(|(body, at, byte, how)| {
        let mut wire = body.encode();
        let i = at.index(wire.len());
        match how {
            0 => wire[i] = byte,
            1 => wire.insert(i, byte),
            _ => {
                wire.remove(i);
            }
        }
        wire
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_in_any_pieces(
        body in body(),
        pieces in prop::collection::vec(1..40usize, 1..16),
        extra in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let wire = body.encode();
        let followed = [&wire[..], &extra].concat();
        let limits = Limits::default();
        let outcome = decode_in_pieces(&followed, &limits, &pieces);
        prop_assert_eq!(outcome.end, End::At(wire.len()));
        prop_assert_eq!(&outcome.data, &body.data());
        prop_assert_eq!(&outcome.trailers, &body.trailers());
        prop_assert_eq!(scan_in_pieces(&followed, &limits, &pieces), End::At(wire.len()));
        // One byte at a time, and whole, agree.
        prop_assert_eq!(&decode_in_pieces(&followed, &limits, &[1]), &outcome);
        prop_assert_eq!(&decode_in_pieces(&followed, &limits, &[usize::MAX]), &outcome);
        // Cut anywhere short of the end, the body is incomplete.
        let cut = pieces[0] % wire.len();
        prop_assert_eq!(decode_in_pieces(&wire[..cut], &limits, &pieces).end, End::Truncated);
    }

    #[test]
    fn encoder_round_trip(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        pieces in prop::collection::vec(1..64usize, 1..8),
    ) {
        let mut wire = Vec::new();
        for chunk in &chunks {
            encode_chunk(chunk, &mut wire);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let outcome = decode_in_pieces(&wire, &Limits::default(), &pieces);
        prop_assert_eq!(outcome.end, End::At(wire.len()));
        prop_assert_eq!(outcome.data, chunks.concat());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        pieces in prop::collection::vec(1..16usize, 1..8),
    ) {
        let limits = Limits { max_chunk_ext_bytes: 16, max_trailer_bytes: 32, ..Limits::default() };
        let whole = decode_in_pieces(&bytes, &limits, &[usize::MAX]);
        let split = decode_in_pieces(&bytes, &limits, &pieces);
        prop_assert_eq!(&split.data, &whole.data);
        prop_assert_eq!(split.end, whole.end);
        prop_assert_eq!(scan_in_pieces(&bytes, &limits, &pieces), whole.end);
    }

    #[test]
    fn arbitrary_hex_prefixed_bytes(
        size in 0..64usize,
        bytes in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        // Past the first line, so that data, CRLF and trailers get random bytes.
        let wire = [format!("{size:x}\r\n").as_bytes(), &bytes].concat();
        let outcome = decode_every_way(&wire, &Limits::default());
        if let End::At(end) = outcome.end {
            prop_assert!(end <= wire.len());
        }
    }

    #[test]
    fn mutated_bodies_agree_in_any_pieces(
        wire in mutated(),
        pieces in prop::collection::vec(1..24usize, 1..8),
    ) {
        let limits = Limits::default();
        let whole = decode_every_way(&wire, &limits);
        let split = decode_in_pieces(&wire, &limits, &pieces);
        prop_assert_eq!(&split.data, &whole.data);
        prop_assert_eq!(split.end, whole.end);
        prop_assert_eq!(scan_in_pieces(&wire, &limits, &pieces), whole.end);
    }
}

//! Fuzzes the chunked body decoder. The first byte picks the limits and how
//! many of the next bytes give piece sizes; the rest is fed to a decoder as
//! a proxy would (pieces appended to a buffer, consumed bytes dropped from
//! its front). It must never panic, every call must consume what it says
//! it consumed and make progress, `Done` and errors must stick, and the
//! data, the trailers and where the body ends must not depend on how the
//! input was split, nor on `decode` versus `scan`.
#![no_main]

use lb_l7::Limits;
use lb_l7::chunked::{ChunkedDecoder, ChunkedError, Decoded, Scanned};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
enum End {
    At(usize),
    Error(ChunkedError),
    Truncated,
}

#[derive(Debug)]
struct Outcome {
    data: Vec<u8>,
    trailers: Vec<u8>,
    end: End,
}

fn decode(wire: &[u8], limits: &Limits, pieces: &[usize]) -> Outcome {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut sizes = pieces.iter().copied().cycle();
    let (mut buffer, mut fed, mut dropped) = (Vec::new(), 0, 0);
    let (mut data, mut trailers) = (Vec::new(), Vec::new());
    // Each call consumes a byte, or needs more and gets at least one.
    for _ in 0..=2 * wire.len() + 1 {
        let (consumed, event) = match decoder.decode(&buffer) {
            Ok(ok) => ok,
            Err(error) => {
                assert_eq!(decoder.decode(&buffer), Err(error));
                assert_eq!(decoder.scan(b"0\r\n\r\n"), Err(error));
                assert!(!decoder.is_done());
                let end = End::Error(error);
                return Outcome {
                    data,
                    trailers,
                    end,
                };
            }
        };
        assert!(
            consumed <= buffer.len(),
            "consumed {consumed} of {}",
            buffer.len()
        );
        let need_more = match event {
            Decoded::Data(bytes) | Decoded::Trailers(bytes) => {
                assert!(!bytes.is_empty());
                assert_eq!(bytes.as_ptr_range().end, buffer[consumed..].as_ptr());
                match event {
                    Decoded::Data(_) => data.extend_from_slice(bytes),
                    _ => trailers.extend_from_slice(bytes),
                }
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
                assert_eq!(decoder.scan(b"1\r\n"), Ok((0, Scanned::Done)));
                assert_eq!(decoder.data_len(), data.len() as u64);
                let end = End::At(dropped + consumed);
                return Outcome {
                    data,
                    trailers,
                    end,
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
    panic!("no progress");
}

fn scan(wire: &[u8], limits: &Limits, pieces: &[usize]) -> End {
    let mut decoder = ChunkedDecoder::new(limits);
    let mut sizes = pieces.iter().copied().cycle();
    let mut fed = 0;
    while fed < wire.len() {
        let to = wire.len().min(fed + sizes.next().unwrap_or(1));
        let piece = &wire[fed..to];
        match decoder.scan(piece) {
            Ok((n, Scanned::Done)) => {
                assert!(n <= piece.len() && decoder.is_done());
                return End::At(fed + n);
            }
            Ok((n, Scanned::NeedMore)) => assert_eq!(n, piece.len()),
            Err(error) => {
                assert_eq!(decoder.scan(piece), Err(error));
                return End::Error(error);
            }
        }
        fed = to;
    }
    End::Truncated
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let limits = if control & 0x08 == 0 {
        Limits::default()
    } else {
        Limits {
            max_chunk_ext_bytes: 8,
            max_trailer_bytes: 16,
            ..Limits::default()
        }
    };
    let (sizes, wire) = rest.split_at(usize::from(control & 0x07).min(rest.len()));
    let mut pieces: Vec<usize> = sizes.iter().map(|&b| usize::from(b) + 1).collect();
    if pieces.is_empty() {
        pieces.push(1);
    }

    let whole = decode(wire, &limits, &[usize::MAX]);
    let split = decode(wire, &limits, &pieces);
    assert_eq!(split.data, whole.data);
    assert_eq!(split.end, whole.end);
    if !matches!(whole.end, End::Error(_)) {
        // Before an error, how much of the trailers came out depends on the split.
        assert_eq!(split.trailers, whole.trailers);
    }
    assert_eq!(scan(wire, &limits, &pieces), whole.end);
    assert_eq!(scan(wire, &limits, &[usize::MAX]), whole.end);

    if let End::At(end) = whole.end {
        // Exactly the body is a whole body, and one byte less is not.
        assert!(end >= 5 && end <= wire.len());
        assert_eq!(decode(&wire[..end], &limits, &pieces).end, End::At(end));
        assert_eq!(
            decode(&wire[..end - 1], &limits, &pieces).end,
            End::Truncated
        );
    }
});

//! One reader for every body framing: where a message body ends, in pieces of any size.

use thiserror::Error;

use crate::Limits;
use crate::chunked::{ChunkedDecoder, ChunkedError, Decoded, Scanned};
use crate::head::Framing;

/// Why a body could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The chunked coding is malformed.
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    /// The connection closed before the end of a body of known length, or before the last chunk.
    #[error("connection closed {missing} bytes before the end of the body")]
    Truncated {
        /// Bytes still expected (0 when the size is unknown: a chunked body).
        missing: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Empty,
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose { closed: bool },
}

/// Follows a message body of any [`Framing`] through the bytes that come after its head, and
/// says exactly where it ends, so the bytes after it (a pipelined request, the next response on
/// a kept-alive connection) are never taken for body, nor body for a message.
///
/// Two ways to drive it, as [`ChunkedDecoder`]: [`BodyReader::decode`] hands out the data (a
/// chunked body decoded), [`BodyReader::scan`] says how many input bytes belong to the body, for
/// forwarding them verbatim. At end of input call [`BodyReader::finish`]: a body that runs until
/// close ends there; any other is truncated.
///
/// # Examples
///
/// ```
/// use lb_l7::body::BodyReader;
/// use lb_l7::chunked::Scanned;
/// use lb_l7::head::Framing;
/// use lb_l7::Limits;
///
/// let mut body = BodyReader::new(Framing::Length(5), &Limits::default());
/// let input = b"helloGET / HTTP/1.1\r\n";
/// assert_eq!(body.scan(input)?, (5, Scanned::Done));
/// assert!(body.is_done());
/// # Ok::<(), lb_l7::body::BodyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyReader {
    kind: Kind,
}

impl BodyReader {
    /// A reader for a body framed as `framing` (from a parsed head).
    #[must_use]
    pub fn new(framing: Framing, limits: &Limits) -> Self {
        let kind = match framing {
            Framing::None | Framing::Length(0) => Kind::Empty,
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(ChunkedDecoder::new(limits)),
            Framing::UntilClose => Kind::UntilClose { closed: false },
        };
        Self { kind }
    }

    /// Reads the next piece of the body from `input`: `(consumed, event)` as
    /// [`ChunkedDecoder::decode`] (a body of known length or until close yields its bytes as
    /// [`Decoded::Data`]).
    ///
    /// # Errors
    ///
    /// [`BodyError::Chunked`] for a malformed chunked body; the error is final.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Decoded<'a>), BodyError> {
        match &mut self.kind {
            Kind::Empty => Ok((0, Decoded::Done)),
            Kind::Length(remaining) => {
                if input.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.kind = Kind::Empty;
                }
                Ok((n, Decoded::Data(&input[..n])))
            }
            Kind::Chunked(decoder) => Ok(decoder.decode(input)?),
            Kind::UntilClose { closed: true } => Ok((0, Decoded::Done)),
            Kind::UntilClose { closed: false } if input.is_empty() => Ok((0, Decoded::NeedMore)),
            Kind::UntilClose { closed: false } => Ok((input.len(), Decoded::Data(input))),
        }
    }

    /// How many bytes of `input` belong to the body: `(input.len(), NeedMore)` while it goes
    /// on, `(n, Done)` when it ends `n` bytes in.
    ///
    /// # Errors
    ///
    /// [`BodyError::Chunked`] for a malformed chunked body; the error is final.
    pub fn scan(&mut self, input: &[u8]) -> Result<(usize, Scanned), BodyError> {
        match &mut self.kind {
            Kind::Empty => Ok((0, Scanned::Done)),
            Kind::Length(remaining) => {
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.kind = Kind::Empty;
                    return Ok((n, Scanned::Done));
                }
                Ok((n, Scanned::NeedMore))
            }
            Kind::Chunked(decoder) => Ok(decoder.scan(input)?),
            Kind::UntilClose { closed: true } => Ok((0, Scanned::Done)),
            Kind::UntilClose { closed: false } => Ok((input.len(), Scanned::NeedMore)),
        }
    }

    /// The peer closed its side: a body that runs until close is complete; any other body
    /// that has not ended is truncated.
    ///
    /// # Errors
    ///
    /// [`BodyError::Truncated`] if the body had not ended.
    pub fn finish(&mut self) -> Result<(), BodyError> {
        match &mut self.kind {
            Kind::Empty => Ok(()),
            Kind::Length(missing) => Err(BodyError::Truncated { missing: *missing }),
            Kind::Chunked(decoder) if decoder.is_done() => Ok(()),
            Kind::Chunked(_) => Err(BodyError::Truncated { missing: 0 }),
            Kind::UntilClose { closed } => {
                *closed = true;
                Ok(())
            }
        }
    }

    /// Whether the body has ended.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Length(_) => false,
            Kind::Chunked(decoder) => decoder.is_done(),
            Kind::UntilClose { closed } => *closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_body_stops_at_its_end() {
        let mut b = BodyReader::new(Framing::Length(7), &Limits::default());
        assert_eq!(b.decode(b"abc").unwrap(), (3, Decoded::Data(b"abc")));
        assert_eq!(b.decode(b"").unwrap(), (0, Decoded::NeedMore));
        assert_eq!(b.decode(b"defgNEXT").unwrap(), (4, Decoded::Data(b"defg")));
        assert!(b.is_done());
        assert_eq!(b.decode(b"NEXT").unwrap(), (0, Decoded::Done));
        let mut b = BodyReader::new(Framing::Length(7), &Limits::default());
        assert_eq!(b.scan(b"abc").unwrap(), (3, Scanned::NeedMore));
        assert_eq!(b.finish(), Err(BodyError::Truncated { missing: 4 }));
    }

    #[test]
    fn empty_and_until_close() {
        let mut b = BodyReader::new(Framing::None, &Limits::default());
        assert_eq!(b.scan(b"GET").unwrap(), (0, Scanned::Done));
        let mut b = BodyReader::new(Framing::Length(0), &Limits::default());
        assert!(b.is_done());
        assert_eq!(b.decode(b"x").unwrap(), (0, Decoded::Done));
        let mut b = BodyReader::new(Framing::UntilClose, &Limits::default());
        assert_eq!(
            b.decode(b"all of it").unwrap(),
            (9, Decoded::Data(b"all of it"))
        );
        assert!(!b.is_done());
        assert_eq!(b.finish(), Ok(()));
        assert!(b.is_done());
    }

    #[test]
    fn chunked_body_and_truncation() {
        let mut b = BodyReader::new(Framing::Chunked, &Limits::default());
        assert_eq!(b.scan(b"3\r\nabc\r\n").unwrap(), (8, Scanned::NeedMore));
        assert_eq!(b.finish(), Err(BodyError::Truncated { missing: 0 }));
        assert_eq!(b.scan(b"0\r\n\r\nX").unwrap(), (5, Scanned::Done));
        assert_eq!(b.finish(), Ok(()));
        let mut b = BodyReader::new(Framing::Chunked, &Limits::default());
        assert!(matches!(b.scan(b"zz\r\n"), Err(BodyError::Chunked(_))));
    }
}

//! The decoder: a byte-at-a-time state machine for chunk lines and
//! trailers, whole slices for chunk data.

use super::ChunkedError;
use crate::Limits;

/// The largest chunk size accepted, 2^52 − 1 bytes (13 hex digits).
///
/// HAProxy applies the same bound so that no value reaches a backend that
/// keeps integers in an IEEE double and would round it; no real chunk comes
/// near 4 PiB.
pub const MAX_CHUNK_SIZE: u64 = (1 << 52) - 1;

/// The most hex digits a chunk size may have, leading zeros included.
pub const MAX_SIZE_DIGITS: u8 = 32;

/// What [`ChunkedDecoder::decode`] found in the input it was given.
///
/// Slices borrow from that input: nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoded<'a> {
    /// Chunk data, never empty: the bytes of the input that end at the
    /// `consumed` position returned with it. Chunk lines before it were
    /// consumed silently. There may be more data in the rest of the input.
    Data(&'a [u8]),
    /// Trailer field lines, never empty, each with its CRLF, ending at the
    /// `consumed` position: validated so far, but the section may still
    /// turn out invalid (or too large) in a later piece. Concatenated, the
    /// `Trailers` pieces are the trailer section without its final CRLF.
    Trailers(&'a [u8]),
    /// The whole input was consumed (`consumed` is its length) and held
    /// nothing to hand out, or only part of a chunk line or trailer line
    /// (which the decoder keeps in its state, so it need not be fed again).
    NeedMore,
    /// The last chunk and the trailer section were read: the body ends at
    /// the `consumed` position, and the rest of the input, not looked at,
    /// belongs to the next message. Every later call returns `Done` with
    /// nothing consumed.
    Done,
}

/// What [`ChunkedDecoder::scan`] found in the input it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scanned {
    /// All of the input (`consumed` is its length) belongs to the body, which
    /// goes on.
    NeedMore,
    /// The body ends at the `consumed` position; the rest of the input, not
    /// looked at, belongs to the next message.
    Done,
}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// In the hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// Whitespace after the size: only `;` may follow.
    SizeBws,
    /// After `;`: whitespace, then an extension name.
    ExtName0,
    /// In an extension name.
    ExtName,
    /// Whitespace after a name: `=` or `;` must follow.
    ExtNameBws,
    /// After `=`: whitespace, then a token or a quoted string.
    ExtValue0,
    /// In a token value.
    ExtToken,
    /// In a quoted-string value.
    ExtQuoted,
    /// After a backslash in a quoted string.
    ExtQuotedPair,
    /// After the closing quote: `;`, whitespace or CRLF.
    ExtQuotedEnd,
    /// Whitespace after a value: only `;` may follow.
    ExtValueBws,
    /// The CR of a chunk line was read.
    LineLf,
    /// In chunk data, with this many bytes (at least one) left.
    Data { remaining: u64 },
    /// Chunk data read: CRLF expected.
    DataCr,
    /// The CR after chunk data was read.
    DataLf,
    /// At the start of a trailer line (a field, or the final CRLF).
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value, after the colon.
    TrailerValue,
    /// The CR ending a trailer field line was read.
    TrailerLf,
    /// The CR of the final, empty, line was read.
    FinalLf,
    /// The body is over.
    Done,
    /// An error was returned; it is returned again.
    Failed(ChunkedError),
}

impl State {
    /// Whether the state is within the part of a chunk line after the size,
    /// which [`Limits::max_chunk_ext_bytes`] bounds.
    fn in_extension(self) -> bool {
        matches!(
            self,
            Self::SizeBws
                | Self::ExtName0
                | Self::ExtName
                | Self::ExtNameBws
                | Self::ExtValue0
                | Self::ExtToken
                | Self::ExtQuoted
                | Self::ExtQuotedPair
                | Self::ExtQuotedEnd
                | Self::ExtValueBws
        )
    }

    /// Whether `b`, read in this state, belongs to a trailer field line
    /// (rather than to the final CRLF, or to no trailer at all).
    fn is_trailer_byte(self, b: u8) -> bool {
        match self {
            Self::TrailerStart => b != b'\r',
            Self::TrailerName | Self::TrailerValue | Self::TrailerLf => true,
            _ => false,
        }
    }

    /// Whether an LF is the byte this state expects.
    fn expects_lf(self) -> bool {
        matches!(
            self,
            Self::LineLf | Self::DataLf | Self::TrailerLf | Self::FinalLf
        )
    }
}

/// A sans-IO decoder for one chunked body (RFC 9112 §7.1).
///
/// Feed it the bytes after the head, in pieces of any size, and act on what
/// it returns; see the [module documentation](super) for the grammar it
/// enforces and a proxy loop. One decoder reads one body: build another for
/// the next message (it is cheap, a few words on the stack).
///
/// # Examples
///
/// ```
/// use lb_l7::Limits;
/// use lb_l7::chunked::{ChunkedDecoder, Decoded};
///
/// let wire = b"5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
/// let mut decoder = ChunkedDecoder::new(&Limits::default());
/// let mut at = 0;
/// let mut body = Vec::new();
/// loop {
///     let (consumed, event) = decoder.decode(&wire[at..]).unwrap();
///     at += consumed;
///     match event {
///         Decoded::Data(data) => body.extend_from_slice(data),
///         Decoded::Trailers(_) => {}
///         Decoded::NeedMore => unreachable!("the body is all there"),
///         Decoded::Done => break,
///     }
/// }
/// assert_eq!(body, b"hello");
/// assert_eq!(&wire[at..], b"GET /next HTTP/1.1\r\n");
/// assert!(decoder.is_done());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    max_ext_bytes: usize,
    max_trailer_bytes: usize,
    /// The size of the chunk whose line is being read.
    chunk_size: u64,
    /// Bytes after the size in the current chunk line.
    ext_bytes: usize,
    /// Bytes of trailer field lines so far.
    trailer_bytes: usize,
    /// Chunk data bytes so far.
    data_len: u64,
}

impl Default for ChunkedDecoder {
    /// A decoder with the default [`Limits`].
    fn default() -> Self {
        Self::new(&Limits::default())
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body, bounding chunk extensions
    /// by [`Limits::max_chunk_ext_bytes`] and the trailer section by
    /// [`Limits::max_trailer_bytes`].
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        Self {
            state: State::SizeStart,
            max_ext_bytes: limits.max_chunk_ext_bytes,
            max_trailer_bytes: limits.max_trailer_bytes,
            chunk_size: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            data_len: 0,
        }
    }

    /// Reads from the start of `input` up to the next thing to hand out,
    /// and returns how many bytes of `input` it consumed with it.
    ///
    /// Chunk lines, the CRLF after data and the final CRLF are consumed
    /// without a word; chunk data comes out as [`Decoded::Data`] slices of
    /// `input` and trailer lines as [`Decoded::Trailers`] slices, one slice
    /// per call. A partial line is consumed too (the decoder remembers where
    /// it was), so the caller never has to keep bytes around: drop the
    /// `consumed` bytes and call again with the rest, or with new bytes
    /// once the rest is empty. Every call makes progress: it returns an
    /// error, `Done`, a non-empty slice, or `NeedMore` having consumed all
    /// of `input`.
    ///
    /// May be mixed with [`ChunkedDecoder::scan`] on the same body.
    ///
    /// # Errors
    ///
    /// A [`ChunkedError`] as soon as one byte rules the body out; the error
    /// is returned again by every later call. Bytes before the faulty one
    /// may already have been handed out as data or trailers.
    ///
    /// # Examples
    ///
    /// Bytes arrive in pieces, and a line may be split anywhere:
    ///
    /// ```
    /// use lb_l7::Limits;
    /// use lb_l7::chunked::{ChunkedDecoder, ChunkedError, Decoded};
    ///
    /// let mut decoder = ChunkedDecoder::new(&Limits::default());
    /// assert_eq!(decoder.decode(b"1"), Ok((1, Decoded::NeedMore)));
    /// assert_eq!(decoder.decode(b"0;q=\"a b\"\r"), Ok((10, Decoded::NeedMore)));
    /// // The size is hex: 0x10 bytes of data follow.
    /// assert_eq!(decoder.decode(b"\n0123456789abc"), Ok((14, Decoded::Data(b"0123456789abc"))));
    /// assert_eq!(decoder.decode(b"def\r\n"), Ok((3, Decoded::Data(b"def"))));
    /// // The CRLF after the data, the last chunk, one trailer line...
    /// let piece = b"\r\n0\r\nDigest: x\r\n\r";
    /// assert_eq!(decoder.decode(piece), Ok((16, Decoded::Trailers(b"Digest: x\r\n"))));
    /// // ...and the final CRLF, whose CR was left for the next call.
    /// assert_eq!(decoder.decode(b"\r"), Ok((1, Decoded::NeedMore)));
    /// assert_eq!(decoder.decode(b"\nGET"), Ok((1, Decoded::Done)));
    /// assert_eq!(decoder.data_len(), 16);
    ///
    /// // A bare LF is refused, for good.
    /// let mut decoder = ChunkedDecoder::new(&Limits::default());
    /// let err = decoder.decode(b"5\nhello\n0\n\n").unwrap_err();
    /// assert!(matches!(err, ChunkedError::BadLineEnding { .. }));
    /// assert_eq!(decoder.decode(b"0\r\n\r\n"), Err(err));
    /// ```
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Decoded<'a>), ChunkedError> {
        self.run(input, true)
    }

    /// Validates the body in `input` without handing anything out, and
    /// returns how many bytes of `input` belong to it: for a proxy that
    /// forwards the chunked bytes verbatim (as HAProxy does).
    ///
    /// Returns `(input.len(), Scanned::NeedMore)` while the body goes on,
    /// and `(n, Scanned::Done)` once it ends `n` bytes into `input`. The
    /// bytes up to `n` have been checked, except that chunk data is not
    /// looked at, and a line split between calls is checked up to the
    /// split. Runs in time linear in the chunk lines and trailers, and
    /// constant in the data.
    ///
    /// May be mixed with [`ChunkedDecoder::decode`] on the same body.
    ///
    /// # Errors
    ///
    /// As [`ChunkedDecoder::decode`]. Bytes before the faulty one in
    /// earlier inputs may already have been forwarded: the receiver sees a
    /// truncated body and the connection must be closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::Limits;
    /// use lb_l7::chunked::{ChunkedDecoder, Scanned};
    ///
    /// let mut decoder = ChunkedDecoder::new(&Limits::default());
    /// let first = b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n";
    /// let second = b"0\r\nExpires: never\r\n\r\nHTTP/1.1 200 OK\r\n";
    /// assert_eq!(decoder.scan(first), Ok((first.len(), Scanned::NeedMore)));
    /// let (n, status) = decoder.scan(second).unwrap();
    /// assert_eq!(status, Scanned::Done);
    /// assert_eq!(&second[n..], b"HTTP/1.1 200 OK\r\n");
    /// ```
    pub fn scan(&mut self, input: &[u8]) -> Result<(usize, Scanned), ChunkedError> {
        let (consumed, event) = self.run(input, false)?;
        let scanned = match event {
            Decoded::Done => Scanned::Done,
            // Without handing out, the run stops only at the end of input.
            Decoded::NeedMore | Decoded::Data(_) | Decoded::Trailers(_) => Scanned::NeedMore,
        };
        debug_assert!(scanned == Scanned::Done || consumed == input.len());
        Ok((consumed, scanned))
    }

    /// Whether the whole body, final CRLF included, has been read.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The number of chunk data bytes read so far (by either method), that
    /// is, the decoded length of the body once [`ChunkedDecoder::is_done`].
    #[must_use]
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The loop behind both methods: with `emit`, returns at the first data
    /// or trailer bytes; without, runs to the end of the body or the input.
    fn run<'a>(
        &mut self,
        input: &'a [u8],
        emit: bool,
    ) -> Result<(usize, Decoded<'a>), ChunkedError> {
        let mut pos = 0;
        // Where the trailer bytes to hand out start, when handing out.
        let mut trailers_from: Option<usize> = None;
        loop {
            match self.state {
                State::Failed(error) => return Err(error),
                State::Done => return Ok((pos, Decoded::Done)),
                State::Data { remaining } => {
                    let rest = input.get(pos..).unwrap_or_default();
                    if rest.is_empty() {
                        return Ok((pos, Decoded::NeedMore));
                    }
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let (data, _) = rest.split_at(n);
                    pos += n;
                    // n <= remaining, and usize fits in u64.
                    let left = remaining - n as u64;
                    self.data_len = self.data_len.saturating_add(n as u64);
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    if emit {
                        return Ok((pos, Decoded::Data(data)));
                    }
                }
                state => {
                    let Some(&b) = input.get(pos) else {
                        return Ok((pos, trailers_event(input, trailers_from, pos)));
                    };
                    if emit && state.is_trailer_byte(b) {
                        trailers_from.get_or_insert(pos);
                    } else if trailers_from.is_some() {
                        // The CR of the final line: hand the field lines out
                        // first, the CR is read on the next call.
                        return Ok((pos, trailers_event(input, trailers_from, pos)));
                    }
                    if let Err(error) = self.step(state, b) {
                        self.state = State::Failed(error);
                        return Err(error);
                    }
                    pos += 1;
                }
            }
        }
    }

    /// Reads one byte of a chunk line, of the CRLF after data, or of the
    /// trailer section.
    fn step(&mut self, state: State, b: u8) -> Result<(), ChunkedError> {
        if b == b'\n' && !state.expects_lf() {
            return Err(ChunkedError::BadLineEnding {
                what: "LF without a CR before it",
            });
        }
        let next = match state {
            State::SizeStart => match hex_digit(b) {
                Some(d) => State::Size {
                    value: d,
                    digits: 1,
                },
                None => return Err(invalid_size("chunk line does not start with a hex digit")),
            },
            State::Size { value, digits } => match hex_digit(b) {
                Some(d) => {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(invalid_size("too many digits"));
                    }
                    // MAX_CHUNK_SIZE ends in 0xf, so this keeps within it.
                    if value > MAX_CHUNK_SIZE >> 4 {
                        return Err(ChunkedError::SizeOverflow);
                    }
                    State::Size {
                        value: (value << 4) | d,
                        digits: digits + 1,
                    }
                }
                None => {
                    self.chunk_size = value;
                    self.ext_bytes = 0;
                    match b {
                        b'\r' => State::LineLf,
                        b';' => State::ExtName0,
                        b' ' | b'\t' => State::SizeBws,
                        _ => return Err(invalid_size("unexpected byte after the size")),
                    }
                }
            },
            State::SizeBws => match b {
                b' ' | b'\t' => State::SizeBws,
                b';' => State::ExtName0,
                _ => {
                    return Err(invalid_size(
                        "whitespace after the size not followed by ';'",
                    ));
                }
            },
            State::ExtName0 => match b {
                b' ' | b'\t' => State::ExtName0,
                _ if is_tchar(b) => State::ExtName,
                _ => return Err(invalid_ext("missing or invalid extension name")),
            },
            State::ExtName => match b {
                _ if is_tchar(b) => State::ExtName,
                b'\r' => State::LineLf,
                b';' => State::ExtName0,
                b'=' => State::ExtValue0,
                b' ' | b'\t' => State::ExtNameBws,
                _ => return Err(invalid_ext("invalid character in an extension name")),
            },
            State::ExtNameBws => match b {
                b' ' | b'\t' => State::ExtNameBws,
                b';' => State::ExtName0,
                b'=' => State::ExtValue0,
                _ => return Err(invalid_ext("whitespace not followed by '=' or ';'")),
            },
            State::ExtValue0 => match b {
                b' ' | b'\t' => State::ExtValue0,
                b'"' => State::ExtQuoted,
                _ if is_tchar(b) => State::ExtToken,
                _ => return Err(invalid_ext("missing or invalid extension value")),
            },
            State::ExtToken => match b {
                _ if is_tchar(b) => State::ExtToken,
                b'\r' => State::LineLf,
                b';' => State::ExtName0,
                b' ' | b'\t' => State::ExtValueBws,
                _ => return Err(invalid_ext("invalid character in an extension value")),
            },
            State::ExtQuoted => match b {
                b'"' => State::ExtQuotedEnd,
                b'\\' => State::ExtQuotedPair,
                _ if is_qdtext(b) => State::ExtQuoted,
                _ => return Err(invalid_ext("control character in a quoted string")),
            },
            State::ExtQuotedPair => {
                if is_field_byte(b) {
                    State::ExtQuoted
                } else {
                    return Err(invalid_ext("control character in a quoted string"));
                }
            }
            State::ExtQuotedEnd => match b {
                b'\r' => State::LineLf,
                b';' => State::ExtName0,
                b' ' | b'\t' => State::ExtValueBws,
                _ => return Err(invalid_ext("unexpected byte after a quoted string")),
            },
            State::ExtValueBws => match b {
                b' ' | b'\t' => State::ExtValueBws,
                b';' => State::ExtName0,
                _ => return Err(invalid_ext("whitespace not followed by ';'")),
            },
            State::LineLf => match (b, self.chunk_size) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', remaining) => State::Data { remaining },
                _ => return Err(bad_line_ending("CR not followed by LF")),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(bad_line_ending("chunk data not followed by CRLF")),
            },
            State::DataLf => match b {
                b'\n' => State::SizeStart,
                _ => return Err(bad_line_ending("chunk data not followed by CRLF")),
            },
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                b' ' | b'\t' => return Err(invalid_trailer("line folding (obs-fold)")),
                _ if is_tchar(b) => State::TrailerName,
                _ => return Err(invalid_trailer("missing or invalid field name")),
            },
            State::TrailerName => match b {
                _ if is_tchar(b) => State::TrailerName,
                b':' => State::TrailerValue,
                b' ' | b'\t' => return Err(invalid_trailer("whitespace before the colon")),
                b'\r' => return Err(invalid_trailer("field line without a colon")),
                _ => return Err(invalid_trailer("invalid character in a field name")),
            },
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                _ if is_field_byte(b) => State::TrailerValue,
                _ => return Err(invalid_trailer("control character in a field value")),
            },
            State::TrailerLf => match b {
                b'\n' => State::TrailerStart,
                _ => return Err(bad_line_ending("CR not followed by LF")),
            },
            State::FinalLf => match b {
                b'\n' => State::Done,
                _ => return Err(bad_line_ending("CR not followed by LF")),
            },
            // `run` handles these without calling `step`.
            State::Data { .. } | State::Done | State::Failed(_) => state,
        };
        if next.in_extension() {
            self.ext_bytes = self.ext_bytes.saturating_add(1);
            if self.ext_bytes > self.max_ext_bytes {
                return Err(ChunkedError::ExtensionTooLong {
                    max: self.max_ext_bytes,
                });
            }
        }
        if state.is_trailer_byte(b) {
            self.trailer_bytes = self.trailer_bytes.saturating_add(1);
            if self.trailer_bytes > self.max_trailer_bytes {
                return Err(ChunkedError::TrailerTooLarge {
                    max: self.max_trailer_bytes,
                });
            }
        }
        self.state = next;
        Ok(())
    }
}

/// The trailer bytes from `from` to `to` as an event, or `NeedMore` if
/// there are none.
fn trailers_event(input: &[u8], from: Option<usize>, to: usize) -> Decoded<'_> {
    match from.and_then(|from| input.get(from..to)) {
        Some(bytes) if !bytes.is_empty() => Decoded::Trailers(bytes),
        _ => Decoded::NeedMore,
    }
}

fn hex_digit(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

/// `tchar` of RFC 9110 §5.6.2: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// HTAB, SP, VCHAR or obs-text: what a field value and a quoted pair may
/// hold (RFC 9110 §5.5, §5.6.4). Everything but the other controls and DEL.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// `qdtext` of RFC 9110 §5.6.4: a field byte other than `"` and `\`.
fn is_qdtext(b: u8) -> bool {
    is_field_byte(b) && b != b'"' && b != b'\\'
}

fn invalid_size(what: &'static str) -> ChunkedError {
    ChunkedError::InvalidSize { what }
}

fn invalid_ext(what: &'static str) -> ChunkedError {
    ChunkedError::InvalidExtension { what }
}

fn bad_line_ending(what: &'static str) -> ChunkedError {
    ChunkedError::BadLineEnding { what }
}

fn invalid_trailer(what: &'static str) -> ChunkedError {
    ChunkedError::InvalidTrailer { what }
}

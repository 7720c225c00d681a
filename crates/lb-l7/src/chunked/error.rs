//! The one error type of the chunked decoder.

/// What was wrong with a chunked body.
///
/// Incomplete input is not an error: decoding returns
/// [`Decoded::NeedMore`](super::Decoded::NeedMore) until the body is whole.
/// Every error is final: the decoder keeps returning it, and the connection
/// cannot be reused because where the body ends is unknown. A proxy answers
/// a request with 400 and drops a response (502 if nothing was sent yet).
///
/// The `what` fields are short English descriptions for logs; they are not
/// part of the API and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkedError {
    /// A chunk line does not start with a hex digit (a sign, `0x`, a space,
    /// an empty line), the size has more than
    /// [`MAX_SIZE_DIGITS`](super::MAX_SIZE_DIGITS) digits, or something
    /// other than `;`, whitespace leading to `;`, or CRLF follows it.
    #[error("invalid chunk size: {what}")]
    InvalidSize {
        /// Which rule was broken.
        what: &'static str,
    },
    /// The chunk size is above [`MAX_CHUNK_SIZE`](super::MAX_CHUNK_SIZE).
    #[error("chunk size above the limit of {max} bytes", max = super::MAX_CHUNK_SIZE)]
    SizeOverflow,
    /// The part of a chunk line after the size (whitespace and extensions)
    /// is longer than [`Limits::max_chunk_ext_bytes`](crate::Limits::max_chunk_ext_bytes).
    #[error("chunk extensions longer than {max} bytes")]
    ExtensionTooLong {
        /// The configured limit.
        max: usize,
    },
    /// A chunk extension does not match `;name[=token or quoted-string]`,
    /// or holds a control character.
    #[error("invalid chunk extension: {what}")]
    InvalidExtension {
        /// Which rule was broken.
        what: &'static str,
    },
    /// A line does not end with CRLF: a bare LF, a CR followed by anything
    /// but LF, or chunk data not followed by CRLF (the data is longer or
    /// shorter than the size announced).
    #[error("bad line ending: {what}")]
    BadLineEnding {
        /// Which rule was broken.
        what: &'static str,
    },
    /// The trailer field lines together are longer than
    /// [`Limits::max_trailer_bytes`](crate::Limits::max_trailer_bytes).
    #[error("trailer section longer than {max} bytes")]
    TrailerTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A trailer field line is not `name:value`: an empty or invalid name,
    /// whitespace before the colon, a line folded onto the previous one
    /// (obs-fold), or a control character in the value.
    #[error("invalid trailer field: {what}")]
    InvalidTrailer {
        /// Which rule was broken.
        what: &'static str,
    },
}

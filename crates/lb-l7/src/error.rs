//! Errors from parsing request and response heads.

use thiserror::Error;

/// Why a request or response head was rejected.
///
/// Each variant maps to the status code a proxy should answer with for a *request*
/// ([`ParseError::status`]); an invalid *response* from an upstream is always a 502, whatever the
/// variant. After any of these the connection cannot be trusted to be in sync and must be closed.
///
/// # Examples
///
/// ```
/// use lb_l7::head::{parse_request, Parsed};
/// use lb_l7::{Limits, ParseError};
///
/// let err = parse_request(b"GET / HTTP/1.1\r\n\r\n", &Limits::default()).unwrap_err();
/// assert_eq!(err, ParseError::MissingHost);
/// assert_eq!(err.status(), 400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The head is larger than [`Limits::max_head_bytes`](crate::Limits::max_head_bytes) (431).
    #[error("head larger than the configured limit")]
    HeadTooLarge,
    /// More header fields than [`Limits::max_headers`](crate::Limits::max_headers) (431).
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request target is longer than [`Limits::max_uri_bytes`](crate::Limits::max_uri_bytes) (414).
    #[error("request target too long")]
    UriTooLong,
    /// The method is not a token (400).
    #[error("invalid method")]
    InvalidMethod,
    /// The request target has bytes a URI may not contain, or a form the method does not allow (400).
    #[error("invalid request target")]
    InvalidTarget,
    /// The request or status line is malformed (400).
    #[error("malformed start line")]
    InvalidStartLine,
    /// The version is not `HTTP/x.y` (400).
    #[error("invalid HTTP version")]
    InvalidVersion,
    /// A well-formed version other than HTTP/1.0 or HTTP/1.1 (505).
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// A header name that is empty, not a token, or followed by whitespace before the colon (400).
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A header value with a control byte (NUL, bare CR, DEL...) (400).
    #[error("invalid header value")]
    InvalidHeaderValue,
    /// A line starting with whitespace: obsolete line folding, or space before the first header (400).
    #[error("obsolete line folding")]
    ObsFold,
    /// A line ending that is neither CRLF nor LF (400).
    #[error("invalid line ending")]
    InvalidNewLine,
    /// An HTTP/1.1 request without a Host header (400).
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// More than one Host header (400).
    #[error("more than one Host header")]
    DuplicateHost,
    /// A Host value that is not `host[:port]` (400).
    #[error("invalid Host value")]
    InvalidHost,
    /// A Content-Length that is not a plain non-negative decimal, or is too large (400).
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length values that differ (400).
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding: a smuggling attempt, rejected (400).
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 message (400).
    #[error("Transfer-Encoding in an HTTP/1.0 message")]
    TransferEncodingInHttp10,
    /// A Transfer-Encoding list that does not end in exactly one `chunked`, or is empty (400).
    #[error("invalid Transfer-Encoding")]
    InvalidTransferEncoding,
    /// A transfer coding this proxy does not implement, such as `xchunked` (501).
    #[error("unknown transfer coding")]
    UnknownTransferCoding,
    /// A response status code outside 100..=999 (the response becomes a 502).
    #[error("invalid status code")]
    InvalidStatus,
}

impl ParseError {
    /// The status code a proxy answers a bad *request* with: 400, 414, 431, 501 or 505.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::ParseError;
    /// assert_eq!(ParseError::UriTooLong.status(), 414);
    /// assert_eq!(ParseError::TooManyHeaders.status(), 431);
    /// ```
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::UriTooLong => 414,
            Self::UnsupportedVersion => 505,
            Self::UnknownTransferCoding => 501,
            _ => 400,
        }
    }
}

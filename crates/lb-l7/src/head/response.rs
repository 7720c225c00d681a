//! Response heads: [`parse_response`] and [`ResponseHead`].

use std::mem::MaybeUninit;

use super::fields::{ConnectionOptions, Facts, TransferCoding};
use super::headers::Headers;
use super::request::header_section;
use super::start::{check_partial, classify};
use super::{Framing, Method, Parsed, Version};
use crate::{Limits, ParseError};

/// A parsed and validated response head, borrowing the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead<'b> {
    version: Version,
    status: u16,
    reason: &'b [u8],
    framing: Framing,
    other_codings: bool,
    connection: ConnectionOptions,
    upgrade: Option<&'b [u8]>,
    headers: Headers<'b>,
}

impl<'b> ResponseHead<'b> {
    /// The version.
    #[must_use]
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The status code (100..=999).
    #[must_use]
    pub const fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent (may be empty).
    #[must_use]
    pub const fn reason(&self) -> &'b [u8] {
        self.reason
    }

    /// How the body is delimited, given the request it answers (see [`parse_response`]).
    #[must_use]
    pub const fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether Transfer-Encoding lists codings other than `chunked` (`gzip, chunked`): decoding
    /// the chunks alone would not give the content.
    #[must_use]
    pub const fn has_other_transfer_codings(&self) -> bool {
        self.other_codings
    }

    /// Whether this is an interim (1xx) response; the final one follows it.
    #[must_use]
    pub const fn is_informational(&self) -> bool {
        self.status < 200
    }

    /// The options of the Connection header(s).
    #[must_use]
    pub const fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// Whether the server keeps the connection open after this response: not for a body that
    /// runs until close, not with `Connection: close`, and for HTTP/1.0 only with `keep-alive`.
    #[must_use]
    pub const fn keep_alive(&self) -> bool {
        if matches!(self.framing, Framing::UntilClose) || self.connection.close {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.connection.keep_alive,
        }
    }

    /// For a `101 Switching Protocols`, the protocol switched to.
    #[must_use]
    pub const fn upgrade(&self) -> Option<&'b [u8]> {
        if self.status == 101 {
            self.upgrade
        } else {
            None
        }
    }

    /// The header fields.
    #[must_use]
    pub const fn headers(&self) -> &Headers<'b> {
        &self.headers
    }
}

/// Parses and validates a response head from the start of `buf`, for a request made with
/// `request_method`.
///
/// Framing follows RFC 9112 §6.3: responses to HEAD, 1xx, 204 and 304 have no body whatever their
/// headers say; otherwise a final `chunked` means chunked, a valid Content-Length a length, and
/// anything else a body that runs until the server closes. An upstream response is held to the
/// same rules as a request: Content-Length with Transfer-Encoding, differing Content-Length values
/// or Transfer-Encoding in HTTP/1.0 are errors, so the proxy answers 502 instead of relaying an
/// ambiguous message.
///
/// # Errors
///
/// A [`ParseError`] for anything malformed, ambiguous or over a [`Limits`] bound.
///
/// # Examples
///
/// ```
/// use lb_l7::head::{parse_response, Framing, Method, Parsed};
/// use lb_l7::Limits;
///
/// let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
/// let Parsed::Complete(head, len) = parse_response(raw, Method::Get, &Limits::default())? else {
///     unreachable!("the head is complete")
/// };
/// assert_eq!(head.status(), 200);
/// assert_eq!(head.framing(), Framing::Length(5));
/// assert_eq!(&raw[len..], b"hello");
///
/// // The same response to HEAD has no body.
/// let (head, _) = parse_response(raw, Method::Head, &Limits::default())?.complete().unwrap();
/// assert_eq!(head.framing(), Framing::None);
/// # Ok::<(), lb_l7::ParseError>(())
/// ```
pub fn parse_response<'b>(
    buf: &'b [u8],
    request_method: Method,
    limits: &Limits,
) -> Result<Parsed<ResponseHead<'b>>, ParseError> {
    let max_headers = limits.max_headers.min(Limits::MAX_HEADERS);
    let mut storage =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; Limits::MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let consumed = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut storage[..max_headers],
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits, false)?;
            return Ok(Parsed::Partial);
        }
        Err(e) => return Err(classify(buf, e, false)),
    };
    if consumed > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err(ParseError::InvalidStartLine);
    };
    if !(100..=999).contains(&status) {
        return Err(ParseError::InvalidStatus);
    }
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let facts = Facts::collect(res.headers)?;

    if facts.transfer != TransferCoding::Absent {
        if facts.content_length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        if version == Version::Http10 {
            return Err(ParseError::TransferEncodingInHttp10);
        }
    }
    let bodyless = request_method == Method::Head
        || status < 200
        || status == 204
        || status == 304
        || (request_method == Method::Connect && (200..300).contains(&status));
    let framing = if bodyless {
        Framing::None
    } else {
        match (facts.transfer, facts.content_length) {
            (TransferCoding::Chunked, _) => Framing::Chunked,
            (TransferCoding::NotChunked, _) => Framing::UntilClose,
            (TransferCoding::Absent, Some(n)) => Framing::Length(n),
            (TransferCoding::Absent, None) => Framing::UntilClose,
        }
    };

    Ok(Parsed::Complete(
        ResponseHead {
            version,
            status,
            reason: res.reason.unwrap_or_default().as_bytes(),
            framing,
            other_codings: facts.other_codings,
            connection: facts.connection,
            upgrade: facts.upgrade,
            headers: Headers::index(header_section(buf, consumed, res.headers), res.headers),
        },
        consumed,
    ))
}

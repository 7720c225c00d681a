//! Request heads: [`parse_request`] and [`RequestHead`].

use std::mem::MaybeUninit;

use super::fields::{ConnectionOptions, Facts, TransferCoding, is_valid_authority};
use super::headers::Headers;
use super::start::{check_partial, classify};
use super::{Expect, Framing, Method, Parsed, Version};
use crate::{Limits, ParseError};

/// The four forms of request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://host/path?query`, sent to proxies; its authority replaces the Host header.
    Absolute,
    /// `host:port`, only with CONNECT.
    Authority,
    /// `*`, only with OPTIONS.
    Asterisk,
}

/// A parsed and validated request head, borrowing the buffer it was parsed from.
///
/// Only a head that passed every check exists: a single valid Host for HTTP/1.1, a framing that
/// is unambiguous (see [`RequestHead::framing`]), a target of a form its method allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'b> {
    method: Method,
    method_str: &'b str,
    target: &'b [u8],
    form: TargetForm,
    path: &'b [u8],
    query: Option<&'b [u8]>,
    version: Version,
    host: Option<&'b [u8]>,
    framing: Framing,
    connection: ConnectionOptions,
    upgrade: Option<&'b [u8]>,
    expect: Expect,
    headers: Headers<'b>,
}

impl<'b> RequestHead<'b> {
    /// The method.
    #[must_use]
    pub const fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (for [`Method::Other`]).
    #[must_use]
    pub const fn method_str(&self) -> &'b str {
        self.method_str
    }

    /// The request target exactly as received.
    #[must_use]
    pub const fn target(&self) -> &'b [u8] {
        self.target
    }

    /// Which form the target has.
    #[must_use]
    pub const fn target_form(&self) -> TargetForm {
        self.form
    }

    /// The path, without the query: `/a/b` for both `/a/b?x` and `http://h/a/b?x`; `/` for
    /// `http://h` or `http://h?x` (`*` for `OPTIONS http://h`, RFC 9112 §3.2.4); `*` for the
    /// asterisk form; empty for CONNECT (whose target is [`RequestHead::target`]).
    #[must_use]
    pub const fn path(&self) -> &'b [u8] {
        self.path
    }

    /// The query, without the `?`, if the target has one.
    #[must_use]
    pub const fn query(&self) -> Option<&'b [u8]> {
        self.query
    }

    /// The version.
    #[must_use]
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The host the request is for: the authority of an absolute-form (or CONNECT) target, or
    /// else the Host header (RFC 9112 §3.2.2). `None` only for HTTP/1.0 without either.
    #[must_use]
    pub const fn host(&self) -> Option<&'b [u8]> {
        self.host
    }

    /// How the body is delimited: [`Framing::None`], [`Framing::Length`] or [`Framing::Chunked`].
    #[must_use]
    pub const fn framing(&self) -> Framing {
        self.framing
    }

    /// The options of the Connection header(s).
    #[must_use]
    pub const fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// Whether the client wants the connection kept open after this exchange: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    #[must_use]
    pub const fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.connection.close,
            Version::Http10 => self.connection.keep_alive && !self.connection.close,
        }
    }

    /// The protocol asked for by `Upgrade` when `Connection: upgrade` names it (HTTP/1.1 only),
    /// such as `websocket`.
    #[must_use]
    pub const fn upgrade(&self) -> Option<&'b [u8]> {
        match (self.version, self.connection.upgrade) {
            (Version::Http11, true) => self.upgrade,
            _ => None,
        }
    }

    /// What the `Expect` header asks for; always [`Expect::None`] in HTTP/1.0, where an
    /// expectation must be ignored (RFC 9110 §10.1.1).
    #[must_use]
    pub const fn expect(&self) -> Expect {
        match self.version {
            Version::Http11 => self.expect,
            Version::Http10 => Expect::None,
        }
    }

    /// The header fields.
    #[must_use]
    pub const fn headers(&self) -> &Headers<'b> {
        &self.headers
    }
}

/// Parses and validates a request head from the start of `buf`.
///
/// Returns [`Parsed::Partial`] while the head is incomplete (parse again from the start when more
/// bytes arrive) and [`Parsed::Complete`] with the head and its length once the blank line is
/// in; the body, if any, starts at that length. Leading empty lines are skipped (RFC 9112 §2.2).
/// Bare LF line endings are accepted, as nginx and HAProxy do; a forwarded head is rewritten
/// with CRLF, so the next hop never sees them.
///
/// # Errors
///
/// A [`ParseError`] for anything malformed, ambiguous or over a [`Limits`] bound;
/// [`ParseError::status`] gives the response code. Among them, the request-smuggling
/// classics: Content-Length with Transfer-Encoding, differing or malformed Content-Length values,
/// a Transfer-Encoding list not ending in a single `chunked`, Transfer-Encoding in HTTP/1.0,
/// obsolete line folding, whitespace before a colon, and several Host headers.
///
/// # Examples
///
/// ```
/// use lb_l7::head::{parse_request, Framing, Parsed};
/// use lb_l7::Limits;
///
/// let raw = b"POST /api/users?id=7 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\n{}";
/// let Parsed::Complete(head, len) = parse_request(raw, &Limits::default())? else {
///     unreachable!("the head is complete")
/// };
/// assert_eq!(head.path(), b"/api/users");
/// assert_eq!(head.query(), Some(&b"id=7"[..]));
/// assert_eq!(head.host(), Some(&b"example.com"[..]));
/// assert_eq!(head.framing(), Framing::Length(2));
/// assert_eq!(&raw[len..], b"{}");
///
/// assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", &Limits::default())?, Parsed::Partial);
/// # Ok::<(), lb_l7::ParseError>(())
/// ```
pub fn parse_request<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Parsed<RequestHead<'b>>, ParseError> {
    let max_headers = limits.max_headers.min(Limits::MAX_HEADERS);
    let mut storage =
        [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; Limits::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let consumed = match req.parse_with_uninit_headers(buf, &mut storage[..max_headers]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits, true)?;
            return Ok(Parsed::Partial);
        }
        Err(e) => return Err(classify(buf, e, true)),
    };
    if consumed > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    // httparse fills all three on a complete parse.
    let (Some(method_str), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::InvalidStartLine);
    };
    let target = target.as_bytes();
    if target.len() > limits.max_uri_bytes {
        return Err(ParseError::UriTooLong);
    }
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let method = Method::from_bytes(method_str.as_bytes());
    let facts = Facts::collect(req.headers)?;

    let (form, path, query, authority) = split_target(method, target)?;
    if facts.host_count > 1 {
        return Err(ParseError::DuplicateHost);
    }
    if let Some(h) = facts.host {
        if !is_valid_authority(h) {
            return Err(ParseError::InvalidHost);
        }
    } else if version == Version::Http11 {
        return Err(ParseError::MissingHost);
    }
    let framing = match (facts.transfer, facts.content_length) {
        (TransferCoding::Absent, None) => Framing::None,
        (TransferCoding::Absent, Some(n)) => Framing::Length(n),
        (_, Some(_)) => return Err(ParseError::ContentLengthWithTransferEncoding),
        (_, None) if version == Version::Http10 => {
            return Err(ParseError::TransferEncodingInHttp10);
        }
        (TransferCoding::Chunked, None) => Framing::Chunked,
        // A request body must be self-delimiting (RFC 9112 §6.3 rule 4).
        (TransferCoding::NotChunked, None) => return Err(ParseError::InvalidTransferEncoding),
    };

    Ok(Parsed::Complete(
        RequestHead {
            method,
            method_str,
            target,
            form,
            path,
            query,
            version,
            host: authority.or(facts.host),
            framing,
            connection: facts.connection,
            upgrade: facts.upgrade,
            expect: facts.expect,
            headers: Headers::index(header_section(buf, consumed, req.headers), req.headers),
        },
        consumed,
    ))
}

type TargetParts<'b> = (TargetForm, &'b [u8], Option<&'b [u8]>, Option<&'b [u8]>);

/// Splits a target into (form, path, query, authority) and checks the form fits the method.
fn split_target(method: Method, target: &[u8]) -> Result<TargetParts<'_>, ParseError> {
    // One pass for both: a fragment is never part of a request target (RFC 9112 §3.2), and the
    // query starts at the first `?`.
    let mark = if target.len() < 64 {
        target.iter().position(|&b| b == b'?' || b == b'#')
    } else {
        memchr::memchr2(b'#', b'?', target)
    };
    if let Some(i) = mark {
        if target[i] == b'#' || memchr::memchr(b'#', &target[i..]).is_some() {
            return Err(ParseError::InvalidTarget);
        }
    }
    if method == Method::Connect {
        // authority-form is `host:port`, the port required.
        let has_port = memchr::memrchr(b':', target)
            .is_some_and(|i| i + 1 < target.len() && !target[i..].contains(&b']'));
        if !has_port || !is_valid_authority(target) {
            return Err(ParseError::InvalidTarget);
        }
        return Ok((TargetForm::Authority, &[], None, Some(target)));
    }
    if target == b"*" {
        if method != Method::Options {
            return Err(ParseError::InvalidTarget);
        }
        return Ok((TargetForm::Asterisk, target, None, None));
    }
    if target.starts_with(b"/") {
        let (path, query) = match mark {
            Some(i) => (&target[..i], Some(&target[i + 1..])),
            None => (target, None),
        };
        return Ok((TargetForm::Origin, path, query, None));
    }
    let rest = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
        .ok_or(ParseError::InvalidTarget)?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let (authority, path_query) = rest.split_at(end);
    if authority.is_empty() || !is_valid_authority(authority) {
        return Err(ParseError::InvalidTarget);
    }
    let (path, query) = split_query(path_query);
    let path = match (path.is_empty(), query, method) {
        // RFC 9112 §3.2.4: the last proxy sends `*` for OPTIONS of a whole server.
        (true, None, Method::Options) => &b"*"[..],
        (true, _, _) => &b"/"[..],
        (false, _, _) => path,
    };
    Ok((TargetForm::Absolute, path, query, Some(authority)))
}

fn split_query(path_query: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'?', path_query) {
        Some(i) => (&path_query[..i], Some(&path_query[i + 1..])),
        None => (path_query, None),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// The header lines of a complete head of `consumed` bytes whose fields `httparse` found:
/// from the first field's name to just before the blank line.
pub(crate) fn header_section<'b>(
    buf: &'b [u8],
    consumed: usize,
    fields: &[httparse::Header<'b>],
) -> &'b [u8] {
    let Some(first) = fields.first() else {
        return &[];
    };
    let head = &buf[..consumed];
    // The head ends with the blank line: "\r\n" or "\n".
    let lines = head
        .strip_suffix(b"\r\n")
        .or_else(|| head.strip_suffix(b"\n"))
        .unwrap_or(head);
    // httparse's name slices point into `buf`; the subtraction cannot fail, but is checked.
    (first.name.as_ptr() as usize)
        .checked_sub(buf.as_ptr() as usize)
        .and_then(|start| lines.get(start..))
        .unwrap_or_default()
}

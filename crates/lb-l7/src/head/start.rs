//! Turning `httparse`'s coarse errors into precise ones, and the size limits on partial heads.

use crate::{Limits, ParseError};

/// Room for the method and version around the target when bounding an incomplete request line.
const REQUEST_LINE_SLACK: usize = 64;

/// Checks the limits against a head that is not complete yet.
pub(crate) fn check_partial(buf: &[u8], limits: &Limits, request: bool) -> Result<(), ParseError> {
    if request {
        // An unfinished request line longer than any allowed target: the target is too long.
        let bound = limits.max_uri_bytes.saturating_add(REQUEST_LINE_SLACK);
        if buf.len() > bound && memchr::memchr(b'\n', &buf[..bound]).is_none() {
            return Err(ParseError::UriTooLong);
        }
    }
    if buf.len() > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(())
}

/// Maps an `httparse` error to ours by looking at the bytes again (the error path only).
pub(crate) fn classify(buf: &[u8], err: httparse::Error, request: bool) -> ParseError {
    use httparse::Error as E;
    match err {
        E::TooManyHeaders => ParseError::TooManyHeaders,
        E::HeaderName | E::HeaderValue if has_folded_line(buf) => ParseError::ObsFold,
        E::HeaderName => ParseError::InvalidHeaderName,
        E::HeaderValue => ParseError::InvalidHeaderValue,
        // `HTTP/1.1x` fails as a missing newline after the version: report the version.
        E::NewLine if classify_version(buf, request) == ParseError::InvalidVersion => {
            ParseError::InvalidVersion
        }
        E::NewLine => ParseError::InvalidNewLine,
        E::Status => ParseError::InvalidStatus,
        E::Version => classify_version(buf, request),
        E::Token if request => classify_request_line(buf),
        E::Token => ParseError::InvalidStartLine,
    }
}

/// The start line, without leading empty lines and without its line ending.
fn start_line(buf: &[u8]) -> &[u8] {
    let mut b = buf;
    while let [b'\r' | b'\n', rest @ ..] = b {
        b = rest;
    }
    let end = memchr::memchr(b'\n', b).unwrap_or(b.len());
    let line = &b[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A request line broke: was it the method, the target or the shape of the line?
fn classify_request_line(buf: &[u8]) -> ParseError {
    let line = start_line(buf);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    if !super::fields::is_token(method) {
        return ParseError::InvalidMethod;
    }
    match (parts.next(), parts.next(), parts.next()) {
        (Some(target), Some(_version), None) if !target.is_empty() => ParseError::InvalidTarget,
        (Some(target), None, None) if !target.is_empty() && !line.ends_with(b" ") => {
            // `GET /path` (HTTP/0.9) or a target with a bad byte followed by nothing.
            ParseError::InvalidStartLine
        }
        _ => {
            if line.iter().any(|&b| b < 0x20 || b == 0x7f || b >= 0x80) {
                ParseError::InvalidTarget
            } else {
                ParseError::InvalidStartLine
            }
        }
    }
}

/// `HTTP/2.0` is a version we do not speak (505); `HTTP/1.1x` or `http/1.1` is garbage (400).
fn classify_version(buf: &[u8], request: bool) -> ParseError {
    let line = start_line(buf);
    let version = if request {
        line.rsplit(|&b| b == b' ').next().unwrap_or_default()
    } else {
        line.split(|&b| b == b' ').next().unwrap_or_default()
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            ParseError::UnsupportedVersion
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            ParseError::UnsupportedVersion
        }
        _ => ParseError::InvalidVersion,
    }
}

/// Whether a header line (before the empty line) starts with whitespace.
fn has_folded_line(buf: &[u8]) -> bool {
    let mut lines = buf
        .split(|&b| b == b'\n')
        .skip_while(|l| l.is_empty() || *l == b"\r");
    lines.next(); // the start line
    for line in lines {
        match line {
            [] | [b'\r'] => return false,
            [b' ' | b'\t', ..] => return true,
            _ => {}
        }
    }
    false
}

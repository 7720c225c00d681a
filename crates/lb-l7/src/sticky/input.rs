//! What a sticky policy reads from a request: headers, the client address, TLS or not.

use std::fmt;
use std::net::IpAddr;
use std::ops::ControlFlow;

use super::cookie::{ConfigError, cookie_pairs, is_token};
pub use crate::source::HeaderSource;

/// A validated header field name (an RFC 9110 `token`), matched case-insensitively.
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::HeaderName;
/// assert_eq!(HeaderName::new("X-User-Id").unwrap().as_str(), "X-User-Id");
/// assert!(HeaderName::new("X User").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderName(Box<str>);

impl HeaderName {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HeaderName`] if `name` is not a non-empty token.
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        if is_token(name) {
            Ok(Self(name.into()))
        } else {
            Err(ConfigError::HeaderName(name.to_owned()))
        }
    }

    /// The name as configured.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parts of one request a [`StickyPolicy`](super::StickyPolicy) looks at.
///
/// The client address is whatever the caller trusts as the client: the TCP peer, the
/// address from a PROXY-protocol header, or an `X-Forwarded-For` entry appended by a
/// trusted tier. This module does not choose; the proxy configuration does. Without an
/// address (a Unix socket, say) source-IP stickiness falls back to a plain pick.
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::StickyInput;
///
/// let headers = [("Cookie", "a=1; srv=xyz"), ("Cookie", "srv=later")];
/// let input = StickyInput::new(&headers)
///     .with_client_ip("192.0.2.7".parse().unwrap())
///     .with_tls(true);
/// assert_eq!(input.cookie("srv"), Some(&b"xyz"[..]));
/// assert!(input.is_tls());
/// ```
#[derive(Clone, Copy)]
pub struct StickyInput<'a> {
    headers: &'a dyn HeaderSource,
    client_ip: Option<IpAddr>,
    tls: bool,
}

impl<'a> StickyInput<'a> {
    /// The input for a request with `headers`, no known client address, not TLS.
    #[must_use]
    pub fn new(headers: &'a dyn HeaderSource) -> Self {
        Self {
            headers,
            client_ip: None,
            tls: false,
        }
    }

    /// Sets the client address (see the type docs for which one).
    #[must_use]
    pub fn with_client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets whether the client connection is TLS (for the cookie's `Secure` attribute).
    #[must_use]
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &'a dyn HeaderSource {
        self.headers
    }

    /// The client address, if known.
    #[must_use]
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// Whether the client connection is TLS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The value of the first field named `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let mut found = None;
        self.headers.for_each_value(name.as_bytes(), &mut |v| {
            found = Some(v);
            ControlFlow::Break(())
        });
        found
    }

    /// The value of the first cookie named `name` across all `Cookie` fields, in order
    /// (see [`find_cookie`](super::find_cookie) for the parsing rules).
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<&'a [u8]> {
        let mut found = None;
        self.for_each_cookie(name, &mut |v| {
            found = Some(v);
            ControlFlow::Break(())
        });
        found
    }

    /// Calls `visit` with the value of every cookie named `name`, across all `Cookie`
    /// fields, in order, until it breaks.
    pub(super) fn for_each_cookie(
        &self,
        name: &str,
        visit: &mut dyn FnMut(&'a [u8]) -> ControlFlow<()>,
    ) {
        let name = name.as_bytes();
        self.headers.for_each_value(b"cookie", &mut |header| {
            for (n, value) in cookie_pairs(header) {
                if n == name {
                    visit(value)?;
                }
            }
            ControlFlow::Continue(())
        });
    }
}

impl fmt::Debug for StickyInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StickyInput")
            .field("client_ip", &self.client_ip)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_parsed_head() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: x=1; srv=tok\r\nX-User: u7\r\n\r\n";
        let (head, _) = crate::head::parse_request(raw, &crate::Limits::default())
            .unwrap()
            .complete()
            .unwrap();
        let input = StickyInput::new(head.headers());
        assert_eq!(input.cookie("srv"), Some(&b"tok"[..]));
        assert_eq!(input.header("x-user"), Some(&b"u7"[..]));
    }

    #[test]
    fn cookies_across_several_headers_in_order() {
        let headers = [
            ("Cookie", "a=1; srv=one"),
            ("X-Other", "srv=no"),
            ("cookie", "srv=two; srv=\"three\""),
        ];
        let input = StickyInput::new(&headers);
        let mut all = Vec::new();
        input.for_each_cookie("srv", &mut |v| {
            all.push(v);
            ControlFlow::Continue(())
        });
        assert_eq!(all, [&b"one"[..], b"two", b"three"]);
        assert_eq!(input.cookie("srv"), Some(&b"one"[..]));
        assert_eq!(input.cookie("a"), Some(&b"1"[..]));
        assert_eq!(input.cookie("b"), None);
        let mut first = Vec::new();
        input.for_each_cookie("srv", &mut |v| {
            first.push(v);
            ControlFlow::Break(())
        });
        assert_eq!(first, [&b"one"[..]]);
    }

    #[test]
    fn quoted_values_do_not_confuse_resumption() {
        let headers = [("Cookie", "srv=\"x\";srv=\"\";srv=y")];
        let input = StickyInput::new(&headers);
        let mut all = Vec::new();
        input.for_each_cookie("srv", &mut |v| {
            all.push(v);
            ControlFlow::Continue(())
        });
        assert_eq!(all, [&b"x"[..], b"", b"y"]);
    }

    #[test]
    fn header_lookup_is_case_insensitive_first_wins() {
        let headers = vec![("x-user", b"u1".to_vec()), ("X-USER", b"u2".to_vec())];
        let input = StickyInput::new(&headers);
        assert_eq!(input.header("X-User"), Some(&b"u1"[..]));
        assert_eq!(input.header("x-missing"), None);
        assert!(!input.is_tls());
        assert_eq!(input.client_ip(), None);
    }

    #[test]
    fn httparse_headers_are_a_source() {
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut storage);
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: srv=abc\r\nCookie: x=1\r\n\r\n";
        assert!(req.parse(raw).expect("valid").is_complete());
        let input = StickyInput::new(&req.headers);
        assert_eq!(input.cookie("srv"), Some(&b"abc"[..]));
        assert_eq!(input.cookie("x"), Some(&b"1"[..]));
        assert_eq!(input.header("host"), Some(&b"a"[..]));
    }

    #[test]
    fn header_names_are_validated() {
        assert!(HeaderName::new("X-Forwarded-For").is_ok());
        for bad in ["", "X User", "X:User", "é"] {
            assert_eq!(
                HeaderName::new(bad),
                Err(ConfigError::HeaderName(bad.to_owned()))
            );
        }
    }
}

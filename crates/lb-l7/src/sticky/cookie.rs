//! The request side of cookies: parsing the `Cookie` header (RFC 6265 §5.4 `cookie-string`)
//! and cookie names.
//!
//! Parsing is zero-copy and lenient, as servers are in practice: the header is split on `;`,
//! spaces and tabs around names and values are ignored, a value in double quotes is
//! returned without them, and pairs that are not `name=value` with a non-empty name are
//! skipped (a malformed pair never hides the ones after it). Names compare exactly (cookie
//! names are case-sensitive). When a name occurs several times, the *first* occurrence
//! wins, as in nginx's `$cookie_NAME`: user agents list cookies with longer paths first
//! (RFC 6265 §5.4 step 2), so the first is the most specific.

use std::fmt;

use memchr::memchr;

/// Why a sticky-session setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The cookie name is not an RFC 6265 `token` (RFC 9110 `tchar`s, at least one).
    #[error("invalid cookie name {0:?}: it must be a non-empty RFC 6265 token")]
    CookieName(String),
    /// The header name is not an RFC 9110 `token`.
    #[error("invalid header name {0:?}: it must be a non-empty RFC 9110 token")]
    HeaderName(String),
    /// The cookie `Path` is not `/`-prefixed printable ASCII without `;`.
    #[error("invalid cookie Path {0:?}: it must start with '/' and hold no ';' or control bytes")]
    Path(String),
    /// The cookie `Domain` is not a host name (letters, digits, `-`, dot-separated labels).
    #[error("invalid cookie Domain {0:?}: it must be a host name")]
    Domain(String),
    /// A `Max-Age` under one second (0 would make browsers delete the cookie at once).
    #[error("cookie Max-Age must be at least one second")]
    MaxAge,
}

/// Whether `s` is a non-empty `token` (RFC 9110 §5.6.2; RFC 6265 `cookie-name` is the same).
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::is_token;
/// assert!(is_token("JSESSIONID"));
/// assert!(is_token("__Host-srv"));
/// assert!(!is_token(""));
/// assert!(!is_token("srv id"));
/// assert!(!is_token("srv=1"));
/// ```
#[must_use]
pub fn is_token(s: &str) -> bool {
    crate::head::is_token(s.as_bytes())
}

/// A validated cookie name (an RFC 6265 `token`).
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::CookieName;
/// assert_eq!(CookieName::new("srv").unwrap().as_str(), "srv");
/// assert!(CookieName::new("srv;").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CookieName(Box<str>);

impl CookieName {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] if `name` is not a non-empty token.
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        if is_token(name) {
            Ok(Self(name.into()))
        } else {
            Err(ConfigError::CookieName(name.to_owned()))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `name=value` pairs of one `Cookie` header value, in order; see [`cookie_pairs`] for
/// what is skipped.
#[derive(Debug, Clone)]
pub struct CookiePairs<'a> {
    rest: &'a [u8],
}

/// Iterates over the `(name, value)` pairs of a `Cookie` header value (RFC 6265 §5.4
/// `cookie-string`), zero-copy.
///
/// Lenient, as servers are in practice: the header is split on `;`, spaces and tabs around
/// names and values are ignored, a value in double quotes is returned without them, and
/// segments that are not `name=value` with a non-empty name are skipped (a malformed pair
/// never hides the ones after it). An `=` inside a value belongs to the value.
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::cookie_pairs;
/// let pairs: Vec<_> = cookie_pairs(b"a=1; junk; b=\"two\" ;c=").collect();
/// assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"two"), (b"c", b"")]);
/// ```
#[must_use]
pub fn cookie_pairs(header: &[u8]) -> CookiePairs<'_> {
    CookiePairs { rest: header }
}

impl<'a> Iterator for CookiePairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let segment = next_segment(&mut self.rest);
            if let Some(pair) = split_pair(segment) {
                return Some(pair);
            }
        }
        None
    }
}

/// Takes the bytes up to the next `;` (or the end) off the front of `rest`.
fn next_segment<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let input = *rest;
    match memchr(b';', input) {
        Some(i) => {
            *rest = &input[i + 1..];
            &input[..i]
        }
        None => {
            *rest = &[];
            input
        }
    }
}

/// Splits one `;`-separated segment into a name and an unquoted value, or `None` if it is
/// not a `name=value` pair with a non-empty name.
fn split_pair(segment: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = memchr(b'=', segment)?;
    let name = trim(&segment[..eq]);
    if name.is_empty() {
        return None;
    }
    let mut value = trim(&segment[eq + 1..]);
    if let [b'"', inner @ .., b'"'] = value {
        value = inner;
    }
    Some((name, value))
}

/// Strips spaces and horizontal tabs from both ends.
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The value of the first cookie named `name` in one `Cookie` header value, as a subslice
/// (quotes removed); `Some(b"")` for a present but empty cookie.
///
/// Parsing follows [`cookie_pairs`]. Names compare exactly (cookie names are
/// case-sensitive; `srv2` and `sr` are not `srv`). When a name occurs several times the
/// *first* occurrence wins, as in nginx's `$cookie_NAME`: user agents list cookies with
/// longer paths first (RFC 6265 §5.4 step 2), so the first is the most specific.
///
/// For requests with several `Cookie` headers, search them in order
/// ([`StickyInput::cookie`](super::StickyInput::cookie) does).
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::find_cookie;
/// let header = b"srv2=other; srv=\"xyz\"; srv=later";
/// assert_eq!(find_cookie(header, b"srv"), Some(&b"xyz"[..]));
/// assert_eq!(find_cookie(header, b"sr"), None);
/// ```
#[must_use]
pub fn find_cookie<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    cookie_pairs(header).find_map(|(n, v)| (n == name).then_some(v))
}

/// Writes `header` without the cookies named `name` into `out` (appending), and returns how
/// many were removed. Use it to hide the load balancer's own cookie from the backend (as
/// HAProxy's `cookie ... indirect` does); drop the header altogether when nothing is left.
///
/// Kept segments are copied as they are (trimmed) and joined with `"; "`, so malformed
/// segments the backend may care about survive; empty segments are dropped.
///
/// # Examples
///
/// ```
/// use lb_l7::sticky::remove_cookie;
/// let mut out = Vec::new();
/// assert_eq!(remove_cookie(b"a=1; srv=AAAAAAAAAAA;b=2", b"srv", &mut out), 1);
/// assert_eq!(out, b"a=1; b=2");
/// ```
pub fn remove_cookie(header: &[u8], name: &[u8], out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let mut removed = 0;
    let mut rest = header;
    while !rest.is_empty() {
        let segment = trim(next_segment(&mut rest));
        if segment.is_empty() {
            continue;
        }
        if split_pair(segment).is_some_and(|(n, _)| n == name) {
            removed += 1;
            continue;
        }
        if out.len() > start {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(segment);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn find_cookie_table() {
        type Case = (&'static [u8], &'static [u8], Option<&'static [u8]>);
        let cases: &[Case] = &[
            (b"srv=xyz", b"srv", Some(b"xyz")),
            (b"a=1; b=2; srv=xyz", b"srv", Some(b"xyz")),
            (b"a=1;b=2;srv=xyz", b"srv", Some(b"xyz")),
            (b"  srv  =  xyz  ;", b"srv", Some(b"xyz")),
            (b"\tsrv=xyz\t", b"srv", Some(b"xyz")),
            // Quotes are removed; a lone quote is kept.
            (b"srv=\"xyz\"", b"srv", Some(b"xyz")),
            (b"srv=\"\"", b"srv", Some(b"")),
            (b"srv=\"", b"srv", Some(b"\"")),
            (b"srv=\"x", b"srv", Some(b"\"x")),
            // Empty values are present.
            (b"srv=", b"srv", Some(b"")),
            (b"srv=; a=1", b"srv", Some(b"")),
            // First occurrence wins.
            (b"srv=first; srv=second", b"srv", Some(b"first")),
            // A name that is a prefix or an extension of another.
            (b"srv2=no; srv=yes", b"srv", Some(b"yes")),
            (b"srv=yes; srv2=no", b"srv2", Some(b"no")),
            (b"srv2=no", b"srv", None),
            (b"xsrv=no", b"srv", None),
            (b"sr=no", b"srv", None),
            // Names are case-sensitive.
            (b"SRV=no", b"srv", None),
            // '=' inside the value belongs to the value.
            (b"srv=a=b", b"srv", Some(b"a=b")),
            // Malformed pairs are skipped, not fatal.
            (b"junk; srv=xyz", b"srv", Some(b"xyz")),
            (b"=nameless; srv=xyz", b"srv", Some(b"xyz")),
            (b";;; srv=xyz;;", b"srv", Some(b"xyz")),
            (b"srv", b"srv", None),
            // Missing.
            (b"", b"srv", None),
            (b"a=1; b=2", b"srv", None),
        ];
        for &(header, name, expected) in cases {
            assert_eq!(
                find_cookie(header, name),
                expected,
                "{:?} in {:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(header)
            );
        }
    }

    #[test]
    fn found_value_is_a_subslice_of_the_header() {
        let header = b"a=1; srv=\"xyz\"".as_slice();
        let value = find_cookie(header, b"srv").expect("present");
        let range = header.as_ptr_range();
        assert!(range.contains(&value.as_ptr()));
    }

    #[test]
    fn pairs_in_order() {
        let pairs: Vec<_> = cookie_pairs(b" a=1 ;b = 2;; c ; d=\"4\"").collect();
        assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"d", b"4")]);
        assert_eq!(cookie_pairs(b"").count(), 0);
        assert_eq!(cookie_pairs(b";").count(), 0);
    }

    #[test]
    fn remove_cookie_table() {
        let cases: &[(&[u8], &[u8], usize)] = &[
            (b"srv=1", b"", 1),
            (b"a=1; srv=2", b"a=1", 1),
            (b"srv=2; a=1", b"a=1", 1),
            (b"a=1; srv=2; b=3; srv=4", b"a=1; b=3", 2),
            (b"srv2=1; srv=2", b"srv2=1", 1),
            (b"a=1;;  junk ; b=2", b"a=1; junk; b=2", 0),
            (b"", b"", 0),
        ];
        for &(header, expected, count) in cases {
            let mut out = b"prefix:".to_vec();
            assert_eq!(remove_cookie(header, b"srv", &mut out), count);
            assert_eq!(out[7..], *expected, "{:?}", String::from_utf8_lossy(header));
        }
    }

    #[test]
    fn names_are_validated() {
        for good in ["srv", "JSESSIONID", "__Host-lb", "a.b", "x!#$%&'*+-.^_`|~"] {
            assert!(CookieName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a b", "a=b", "a;b", "a,b", "\"a\"", "a\tb", "é", "a/b", "(a)",
        ] {
            assert_eq!(
                CookieName::new(bad),
                Err(ConfigError::CookieName(bad.to_owned())),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_stays_inside_the_input(
            header in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let range = header.as_ptr_range();
            for (name, value) in cookie_pairs(&header) {
                prop_assert!(!name.is_empty());
                prop_assert!(!name.contains(&b';') && !name.contains(&b'='));
                prop_assert!(!value.contains(&b';'));
                prop_assert!(range.contains(&name.as_ptr()));
            }
            let mut out = Vec::new();
            remove_cookie(&header, b"srv", &mut out);
            prop_assert_eq!(find_cookie(&out, b"srv"), None);
        }

        #[test]
        fn first_occurrence_wins(
            values in proptest::collection::vec("[a-z0-9]{0,8}", 1..5),
        ) {
            let header = values
                .iter()
                .map(|v| format!("srv={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            prop_assert_eq!(
                find_cookie(header.as_bytes(), b"srv"),
                Some(values[0].as_bytes())
            );
        }
    }
}

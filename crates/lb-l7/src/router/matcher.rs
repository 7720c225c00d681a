//! A route's match: host, path, method and header conditions together.

use std::collections::BTreeSet;

use super::host::HostMatch;
use super::path::PathMatch;
use super::request::HeaderSource;

/// Everything a request must satisfy for a route to apply: its host, its path, optionally its
/// method, and every header condition.
///
/// The default matches every request. Build one field by field, or with the `with_*` methods.
///
/// # Examples
///
/// ```
/// use lb_l7::router::{HeaderMatch, HostMatch, PathMatch, RouteMatch};
///
/// let m = RouteMatch::new()
///     .with_host(HostMatch::exact("api.example.com"))
///     .with_path(PathMatch::prefix("/v1"))
///     .with_methods(["GET", "HEAD"])
///     .with_header(HeaderMatch::exact("x-env", "canary"));
/// assert_eq!(m.headers.len(), 1);
/// assert!(m.methods.as_ref().is_some_and(|set| set.contains("HEAD")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// The hosts the route applies to.
    pub host: HostMatch,
    /// The paths the route applies to.
    pub path: PathMatch,
    /// The methods the route applies to, compared case-sensitively (`GET`, not `get`); `None`
    /// for every method. A set that is present must not be empty.
    pub methods: Option<BTreeSet<String>>,
    /// Header conditions, all of which must hold. Order does not matter, and a condition
    /// repeated counts once.
    pub headers: Vec<HeaderMatch>,
}

impl RouteMatch {
    /// A match for every request: any host, any path, any method, no header condition.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the host condition.
    #[must_use]
    pub fn with_host(mut self, host: HostMatch) -> Self {
        self.host = host;
        self
    }

    /// Sets the path condition.
    #[must_use]
    pub fn with_path(mut self, path: PathMatch) -> Self {
        self.path = path;
        self
    }

    /// Restricts the route to these methods (replacing any earlier set).
    #[must_use]
    pub fn with_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.methods = Some(methods.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a header condition.
    #[must_use]
    pub fn with_header(mut self, header: HeaderMatch) -> Self {
        self.headers.push(header);
        self
    }
}

/// A condition on one request header (HAProxy `hdr()` ACLs, Envoy `headers` matchers).
///
/// The name is compared case-insensitively and must be a valid field name (an RFC 9110 token).
/// The value, when one is given, is compared byte for byte and case-sensitively with the value
/// the [`HeaderSource`] returns for the name.
///
/// # Examples
///
/// ```
/// use lb_l7::router::{HeaderMatch, HeaderValueMatch};
///
/// let canary = HeaderMatch::exact("X-Env", "canary");
/// assert_eq!(canary.value, HeaderValueMatch::Exact(b"canary".to_vec()));
/// let any_token = HeaderMatch::prefix("authorization", "Bearer ");
/// let has_cookie = HeaderMatch::present("cookie");
/// # let _ = (any_token, has_cookie);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderMatch {
    /// The header's name, in any case.
    pub name: String,
    /// What its value must be.
    pub value: HeaderValueMatch,
}

impl HeaderMatch {
    /// The header must be present, with any value (an empty one included).
    #[must_use]
    pub fn present(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: HeaderValueMatch::Present,
        }
    }

    /// The header's value must be exactly `value`.
    #[must_use]
    pub fn exact(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: HeaderValueMatch::Exact(value.into()),
        }
    }

    /// The header's value must start with `prefix`.
    #[must_use]
    pub fn prefix(name: impl Into<String>, prefix: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: HeaderValueMatch::Prefix(prefix.into()),
        }
    }
}

/// What a header's value must be for a [`HeaderMatch`] to hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HeaderValueMatch {
    /// Any value; the header only has to be present.
    Present,
    /// Exactly these bytes.
    Exact(Vec<u8>),
    /// Starting with these bytes (an empty prefix is the same as [`Present`](Self::Present)).
    Prefix(Vec<u8>),
}

impl HeaderValueMatch {
    fn holds(&self, value: &[u8]) -> bool {
        match self {
            Self::Present => true,
            Self::Exact(exact) => value == exact.as_slice(),
            Self::Prefix(prefix) => value.starts_with(prefix),
        }
    }
}

/// The method and header conditions of a route, normalised: methods sorted, header names
/// lowercased, an empty value prefix turned into `Present`, conditions sorted and deduplicated.
/// Two routes have the same conditions exactly when their `Constraints` are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Constraints {
    methods: Option<Box<[Box<[u8]>]>>,
    headers: Box<[(Box<[u8]>, HeaderValueMatch)]>,
}

impl Constraints {
    /// Normalises the conditions of `m`. Validation is the builder's job.
    pub(super) fn new(m: &RouteMatch) -> Self {
        let methods = m
            .methods
            .as_ref()
            .map(|set| set.iter().map(|method| method.as_bytes().into()).collect());
        let mut headers: Vec<(Box<[u8]>, HeaderValueMatch)> = m
            .headers
            .iter()
            .map(|h| {
                let value = match &h.value {
                    HeaderValueMatch::Prefix(p) if p.is_empty() => HeaderValueMatch::Present,
                    other => other.clone(),
                };
                (h.name.to_ascii_lowercase().into_bytes().into(), value)
            })
            .collect();
        headers.sort();
        headers.dedup();
        Self {
            methods,
            headers: headers.into(),
        }
    }

    /// How many conditions there are: 1 for a method set, plus 1 per distinct header condition.
    pub(super) fn count(&self) -> usize {
        usize::from(self.methods.is_some()) + self.headers.len()
    }

    /// Whether a request with this method and these headers satisfies every condition.
    #[inline]
    pub(super) fn admits<H: HeaderSource + ?Sized>(&self, method: &[u8], headers: &H) -> bool {
        if let Some(methods) = &self.methods {
            if !methods.iter().any(|m| **m == *method) {
                return false;
            }
        }
        self.headers.iter().all(|(name, value)| {
            headers
                .header(name)
                .is_some_and(|actual| value.holds(actual))
        })
    }
}

/// Whether `s` is an RFC 9110 token, as methods and header names must be.
pub(super) fn is_token(s: &str) -> bool {
    crate::head::is_token(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_sensitive() {
        let c = Constraints::new(&RouteMatch::new().with_methods(["GET", "POST"]));
        assert!(c.admits(b"GET", &super::super::NoHeaders));
        assert!(c.admits(b"POST", &super::super::NoHeaders));
        assert!(!c.admits(b"get", &super::super::NoHeaders));
        assert!(!c.admits(b"PUT", &super::super::NoHeaders));
        assert_eq!(c.count(), 1);
    }

    #[test]
    fn every_header_condition_must_hold() {
        let m = RouteMatch::new()
            .with_header(HeaderMatch::exact("X-Env", "canary"))
            .with_header(HeaderMatch::prefix("authorization", "Bearer "))
            .with_header(HeaderMatch::present("cookie"));
        let c = Constraints::new(&m);
        assert_eq!(c.count(), 3);
        let all = [
            ("x-env", "canary"),
            ("Authorization", "Bearer abc"),
            ("Cookie", ""),
        ];
        assert!(c.admits(b"GET", &all));
        let wrong_value = [
            ("x-env", "Canary"),
            ("Authorization", "Bearer abc"),
            ("Cookie", ""),
        ];
        assert!(!c.admits(b"GET", &wrong_value));
        let wrong_prefix = [
            ("x-env", "canary"),
            ("Authorization", "Basic abc"),
            ("Cookie", "a=1"),
        ];
        assert!(!c.admits(b"GET", &wrong_prefix));
        let missing = [("x-env", "canary"), ("Authorization", "Bearer abc")];
        assert!(!c.admits(b"GET", &missing));
    }

    #[test]
    fn normalisation_makes_equivalent_conditions_equal() {
        let a = RouteMatch::new()
            .with_methods(["POST", "GET"])
            .with_header(HeaderMatch::present("X-A"))
            .with_header(HeaderMatch::exact("x-b", "1"));
        let b = RouteMatch::new()
            .with_methods(["GET", "POST", "GET"])
            .with_header(HeaderMatch::exact("X-B", "1"))
            .with_header(HeaderMatch::prefix("x-a", ""))
            .with_header(HeaderMatch::present("x-a"));
        assert_eq!(Constraints::new(&a), Constraints::new(&b));
        assert_eq!(Constraints::new(&b).count(), 3);
        assert_ne!(
            Constraints::new(&a),
            Constraints::new(&RouteMatch::new().with_methods(["GET"]))
        );
    }

    #[test]
    fn tokens() {
        assert!(is_token("GET"));
        assert!(is_token("x-request-id"));
        assert!(!is_token(""));
        assert!(!is_token("x env"));
        assert!(!is_token("x:y"));
        assert!(!is_token("caf\u{e9}"));
    }
}

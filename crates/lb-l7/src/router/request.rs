//! What the router sees of a request: method, host, target and a header lookup.

pub use crate::source::{HeaderSource, NoHeaders};

/// The input of [`Router::route`](super::Router::route): borrowed views of one request.
///
/// - `method`: the request method, compared case-sensitively (`GET`, not `get`).
/// - `host`: the `Host` header (or the authority of an absolute-form target), port and all;
///   `None` when the request has none, in which case only [`HostMatch::Any`] routes match.
/// - `target`: the request target as received in origin form (`/a/b?q=1`), or the path and
///   query of an absolute-form target already split off by the caller. The query is ignored.
/// - `headers`: a [`HeaderSource`], [`NoHeaders`] unless set with
///   [`with_headers`](Self::with_headers).
///
/// [`HostMatch::Any`]: super::HostMatch::Any
///
/// # Examples
///
/// ```
/// use lb_l7::router::RouteRequest;
///
/// let headers = [("x-env", "canary")];
/// let req = RouteRequest::new(b"GET", b"/api/users?page=2")
///     .with_host(b"Example.com:8080")
///     .with_headers(&headers);
/// assert_eq!(req.method(), b"GET");
/// assert_eq!(req.path(), b"/api/users");
/// ```
#[derive(Debug)]
pub struct RouteRequest<'a, H: ?Sized = NoHeaders> {
    method: &'a [u8],
    host: Option<&'a [u8]>,
    target: &'a [u8],
    headers: &'a H,
}

impl<H: ?Sized> Clone for RouteRequest<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: ?Sized> Copy for RouteRequest<'_, H> {}

impl<'a> RouteRequest<'a> {
    /// A request with this method and target, no host and no headers.
    #[must_use]
    pub fn new(method: &'a [u8], target: &'a [u8]) -> Self {
        Self {
            method,
            host: None,
            target,
            headers: &NoHeaders,
        }
    }
}

impl<'a, H: ?Sized> RouteRequest<'a, H> {
    /// Sets the host: the `Host` header value as received (`example.com:8080` is fine).
    #[must_use]
    pub fn with_host(mut self, host: &'a [u8]) -> Self {
        self.host = Some(host);
        self
    }

    /// Sets or clears the host.
    #[must_use]
    pub fn with_host_opt(mut self, host: Option<&'a [u8]>) -> Self {
        self.host = host;
        self
    }

    /// Replaces the header source.
    #[must_use]
    pub fn with_headers<G: HeaderSource + ?Sized>(self, headers: &'a G) -> RouteRequest<'a, G> {
        RouteRequest {
            method: self.method,
            host: self.host,
            target: self.target,
            headers,
        }
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'a [u8] {
        self.method
    }

    /// The host as given (port and case untouched).
    #[must_use]
    pub fn host(&self) -> Option<&'a [u8]> {
        self.host
    }

    /// The target as given, query included.
    #[must_use]
    pub fn target(&self) -> &'a [u8] {
        self.target
    }

    /// The part of the target that routes match: everything before the first `?`.
    #[must_use]
    pub fn path(&self) -> &'a [u8] {
        super::path::request_path(self.target)
    }

    /// The header source.
    #[must_use]
    pub fn headers(&self) -> &'a H {
        self.headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_sources_find_names_case_insensitively_first_wins() {
        let headers: Vec<(&[u8], &[u8])> =
            vec![(b"X-Env", b"one"), (b"x-env", b"two"), (b"Accept", b"*/*")];
        assert_eq!(headers.header(b"x-env"), Some(&b"one"[..]));
        assert_eq!(headers.header(b"accept"), Some(&b"*/*"[..]));
        assert_eq!(headers.header(b"cookie"), None);
        assert_eq!(NoHeaders.header(b"x-env"), None);
    }

    #[test]
    fn httparse_headers_are_a_source() {
        let headers = [httparse::Header {
            name: "X-User",
            value: b"u1",
        }];
        assert_eq!(headers[..].header(b"x-user"), Some(&b"u1"[..]));
    }

    #[test]
    fn path_drops_the_query() {
        assert_eq!(RouteRequest::new(b"GET", b"/a/b?x=1?y").path(), b"/a/b");
        assert_eq!(RouteRequest::new(b"GET", b"?x").path(), b"");
        assert_eq!(RouteRequest::new(b"GET", b"/a").path(), b"/a");
    }
}

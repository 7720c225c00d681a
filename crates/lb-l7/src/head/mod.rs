//! Request and response heads: parsing on `httparse`, with RFC 9112 framing enforced.
//!
//! `httparse` tokenises; this module decides. [`parse_request`] and [`parse_response`] add what
//! a proxy in front of other servers must check so that it and they agree on where every message
//! ends (the root of request smuggling): Content-Length and Transfer-Encoding rules, a single valid
//! Host, size limits, versions.
//!
//! Parsing does not allocate or copy: a parsed head borrows the buffer it was parsed from, and its
//! header fields are read back from those bytes ([`Headers`]).

mod fields;
mod headers;
mod request;
mod response;
mod start;

pub use fields::ConnectionOptions;
pub(crate) use fields::is_token;
#[cfg(feature = "proxy")]
pub(crate) use fields::is_valid_authority;
pub(crate) use headers::trim_ows;
pub use headers::{Header, HeaderIter, Headers};
pub use request::{RequestHead, TargetForm, parse_request};
pub use response::{ResponseHead, parse_response};

/// The outcome of parsing a head from the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is not complete yet: read more and parse again from the start.
    Partial,
    /// A complete head, and how many bytes of the input it took (the body, if any, starts there).
    Complete(T, usize),
}

impl<T> Parsed<T> {
    /// The head, if complete.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Self::Partial => None,
            Self::Complete(head, len) => Some((head, len)),
        }
    }
}

/// The HTTP versions this codec speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each exchange unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent by default; Host required in requests.
    Http11,
}

impl Version {
    /// The version as it appears on the wire (`HTTP/1.1`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }
}

/// A request method: the registered ones by name, anything else (a valid token) as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD (its response has no body, whatever its headers say)
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT (target in authority form)
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH
    Patch,
    /// Any other token; the text is in [`RequestHead::method_str`].
    Other,
}

impl Method {
    /// Classifies a method token (case-sensitive, as HTTP methods are).
    #[must_use]
    pub fn from_bytes(method: &[u8]) -> Self {
        match method {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"CONNECT" => Self::Connect,
            b"OPTIONS" => Self::Options,
            b"TRACE" => Self::Trace,
            b"PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }

    /// Idempotent methods (RFC 9110 §9.2.2) may be retried after a failure mid-request.
    #[must_use]
    pub const fn is_idempotent(self) -> bool {
        matches!(
            self,
            Self::Get | Self::Head | Self::Put | Self::Delete | Self::Options | Self::Trace
        )
    }
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// The chunked transfer coding follows (see [`crate::chunked`]).
    Chunked,
    /// The body runs until the connection closes (responses only).
    UntilClose,
}

/// What an `Expect` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No `Expect` header.
    None,
    /// `Expect: 100-continue`.
    Continue,
    /// Any other expectation (a server may answer 417).
    Other,
}

#[cfg(test)]
mod tests;

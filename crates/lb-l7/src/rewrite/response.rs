//! The response head sent back to the client.

use bytes::BufMut;

use super::{HeaderEdits, is_hop_by_hop, named_in_connection, put_field};
use crate::head::{Framing, ResponseHead, Version};

/// How the proxy relays one response to its client.
///
/// # Examples
///
/// ```
/// use lb_l7::head::Version;
/// use lb_l7::rewrite::ResponseRewrite;
/// let rw = ResponseRewrite::new(Version::Http11, true).field(b"Set-Cookie", b"srv=ab12; Path=/");
/// assert!(rw.wants_keep_alive());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ResponseRewrite<'a> {
    client_version: Version,
    keep_alive: bool,
    extra: [Option<(&'a [u8], &'a [u8])>; 2],
}

impl<'a> ResponseRewrite<'a> {
    /// A rewrite for a client speaking `client_version`, keeping its connection open after this
    /// response if `keep_alive` (the client asked for it and the proxy is not closing).
    #[must_use]
    pub const fn new(client_version: Version, keep_alive: bool) -> Self {
        Self {
            client_version,
            keep_alive,
            extra: [None, None],
        }
    }

    /// Adds a field the proxy generated, such as a sticky-session `Set-Cookie` (up to two).
    #[must_use]
    pub const fn field(mut self, name: &'a [u8], value: &'a [u8]) -> Self {
        if self.extra[0].is_none() {
            self.extra[0] = Some((name, value));
        } else {
            self.extra[1] = Some((name, value));
        }
        self
    }

    /// Whether the proxy asked to keep the client connection open.
    #[must_use]
    pub const fn wants_keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether, for `head`, the client connection stays open after the response: not if the
    /// body runs until close, and not if an HTTP/1.0 client must be sent a de-chunked body.
    #[must_use]
    pub const fn keeps_alive(&self, head: &ResponseHead<'_>) -> bool {
        self.keep_alive && !matches!(head.framing(), Framing::UntilClose) && !self.dechunks(head)
    }

    /// Whether the body must be decoded from chunked before relaying: HTTP/1.0 clients do not
    /// understand chunked, so they get the data until the connection closes. Not for codings
    /// beyond `chunked`: see [`ResponseRewrite::can_relay`].
    #[must_use]
    pub const fn dechunks(&self, head: &ResponseHead<'_>) -> bool {
        matches!(self.client_version, Version::Http10)
            && matches!(head.framing(), Framing::Chunked)
            && !head.has_other_transfer_codings()
    }

    /// Whether `head` can be relayed to this client at all: an HTTP/1.0 client cannot be told
    /// of transfer codings (RFC 9112 §6.1), so a body with codings other than `chunked`
    /// (`gzip, chunked`, or `gzip` until close) cannot reach it correctly; the proxy answers
    /// 502 instead.
    #[must_use]
    pub const fn can_relay(&self, head: &ResponseHead<'_>) -> bool {
        !(matches!(self.client_version, Version::Http10)
            && head.has_other_transfer_codings()
            && !matches!(head.framing(), Framing::None))
    }
}

/// Writes the head to send to the client for the upstream response `head` into `out`.
///
/// The status line is `HTTP/1.1` with the upstream's code and reason. Hop-by-hop fields and those
/// the Connection header names are dropped; then the proxy writes its own connection handling:
/// `Connection: upgrade` with `Upgrade` for a `101`, `Connection: close` when the client
/// connection ends after this response ([`ResponseRewrite::keeps_alive`]), `Connection:
/// keep-alive` for an HTTP/1.0 client that keeps it. For a body the client gets de-chunked
/// ([`ResponseRewrite::dechunks`]) `Transfer-Encoding` is dropped. Route edits and the generated
/// fields come last.
///
/// # Examples
///
/// ```
/// use lb_l7::head::{parse_response, Method, Version};
/// use lb_l7::rewrite::{write_response_head, HeaderEdits, ResponseRewrite};
/// use lb_l7::Limits;
///
/// let raw = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok";
/// let (head, _) = parse_response(raw, Method::Get, &Limits::default())?.complete().unwrap();
/// let mut out = Vec::new();
/// let rw = ResponseRewrite::new(Version::Http11, false);
/// write_response_head(&head, &rw, &HeaderEdits::new(), &mut out);
/// assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
/// # Ok::<(), lb_l7::ParseError>(())
/// ```
pub fn write_response_head(
    head: &ResponseHead<'_>,
    rw: &ResponseRewrite<'_>,
    edits: &HeaderEdits,
    out: &mut impl BufMut,
) {
    let headers = head.headers();
    let connection = head.connection();
    let dechunk = rw.dechunks(head);
    // HTTP/1.0 clients are never sent Transfer-Encoding (RFC 9112 §6.1).
    let drop_te = rw.client_version == Version::Http10;

    out.put_slice(b"HTTP/1.1 ");
    let status = head.status();
    // The parser guarantees 100..=999: three digits.
    for divisor in [100, 10, 1] {
        out.put_u8(b'0' + u8::try_from(status / divisor % 10).unwrap_or(0));
    }
    out.put_u8(b' ');
    out.put_slice(head.reason());
    out.put_slice(b"\r\n");

    for field in headers {
        let name = field.name;
        if is_hop_by_hop(name)
            || (drop_te && name.eq_ignore_ascii_case(b"transfer-encoding"))
            // Trailers are dropped with the chunks: so is their announcement.
            || (dechunk && name.eq_ignore_ascii_case(b"trailer"))
            || (!edits.is_empty() && edits.removes(name))
            || named_in_connection(name, headers, connection)
        {
            continue;
        }
        put_field(out, name, field.value);
    }
    if let Some(protocol) = head.upgrade() {
        out.put_slice(b"Connection: upgrade\r\n");
        put_field(out, b"Upgrade", protocol);
    } else if !head.is_informational() {
        if !rw.keeps_alive(head) {
            out.put_slice(b"Connection: close\r\n");
        } else if rw.client_version == Version::Http10 {
            out.put_slice(b"Connection: keep-alive\r\n");
        }
    }
    for (name, value) in edits.added() {
        put_field(out, name, value);
    }
    for (name, value) in rw.extra.iter().flatten() {
        put_field(out, name, value);
    }
    out.put_slice(b"\r\n");
}

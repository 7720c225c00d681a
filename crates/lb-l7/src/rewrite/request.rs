//! The request head sent upstream.

use bytes::BufMut;

use super::{ClientIp, HeaderEdits, named_in_connection, put_field};
use crate::head::{RequestHead, TargetForm, Version};

/// What the proxy tells the backend about the client, and how.
///
/// The defaults are those of a proxy at the edge: `X-Forwarded-For` replaced (a client could
/// forge one), `X-Real-IP`, `X-Forwarded-Proto` and `X-Forwarded-Host` set, no `Forwarded`.
/// Behind a trusted tier, [`Forwarding::append_forwarded_for`] keeps the chain.
///
/// # Examples
///
/// ```
/// use lb_l7::rewrite::{ClientIp, Forwarding};
/// let client = ClientIp::new("192.0.2.7".parse().unwrap()); // once per connection
/// let fwd = Forwarding::new(client).tls(true).rfc7239(true);
/// assert!(fwd.is_tls());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    client: ClientIp,
    tls: bool,
    append: bool,
    real_ip: bool,
    forwarded_host: bool,
    rfc7239: bool,
    upgrade: bool,
    strip_expect: bool,
    fallback_host: &'a [u8],
}

impl<'a> Forwarding<'a> {
    /// Forwarding on behalf of `client` (formatted once per connection), with the defaults above.
    #[must_use]
    pub const fn new(client: ClientIp) -> Self {
        Self {
            client,
            tls: false,
            append: false,
            real_ip: true,
            forwarded_host: true,
            rfc7239: false,
            upgrade: true,
            strip_expect: false,
            fallback_host: b"",
        }
    }

    /// Whether the client connection is TLS (`X-Forwarded-Proto: https`).
    #[must_use]
    pub const fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Whether the client's connection was TLS.
    #[must_use]
    pub const fn is_tls(&self) -> bool {
        self.tls
    }

    /// Appends the client to a received `X-Forwarded-For` (and `Forwarded`) instead of replacing
    /// it: only when the peer is a trusted proxy tier.
    #[must_use]
    pub const fn append_forwarded_for(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// Sets `X-Real-IP` (on by default).
    #[must_use]
    pub const fn real_ip(mut self, on: bool) -> Self {
        self.real_ip = on;
        self
    }

    /// Sets `X-Forwarded-Host` (on by default).
    #[must_use]
    pub const fn forwarded_host(mut self, on: bool) -> Self {
        self.forwarded_host = on;
        self
    }

    /// Adds an RFC 7239 `Forwarded: for=...;proto=...;host=...` element (off by default).
    #[must_use]
    pub const fn rfc7239(mut self, on: bool) -> Self {
        self.rfc7239 = on;
        self
    }

    /// Passes `Upgrade` on when the client asked for one (on by default); the proxy must then
    /// tunnel the connection after a `101`.
    #[must_use]
    pub const fn upgrade(mut self, on: bool) -> Self {
        self.upgrade = on;
        self
    }

    /// Drops `Expect` (off by default): for a proxy that answers `100 Continue` itself before
    /// reading the body, as nginx does, so the backend does not wait for a second go-ahead.
    #[must_use]
    pub const fn strip_expect(mut self, on: bool) -> Self {
        self.strip_expect = on;
        self
    }

    /// The `Host` to send when the request had none (an HTTP/1.0 client): typically the backend's
    /// address, as nginx's `$proxy_host`.
    #[must_use]
    pub const fn fallback_host(mut self, host: &'a [u8]) -> Self {
        self.fallback_host = host;
        self
    }

    const fn proto(&self) -> &'static [u8] {
        if self.tls { b"https" } else { b"http" }
    }
}

/// Writes the head to send upstream for `head` into `out`.
///
/// - The request line is `METHOD origin-form HTTP/1.1` (an absolute-form target becomes its path
///   and query; the pool speaks HTTP/1.1 to backends whatever the client spoke).
/// - `Host` is the request's host (the authority of an absolute-form target wins over a received
///   Host), or [`Forwarding::fallback_host`] if it had none.
/// - Hop-by-hop fields are dropped, and every field the Connection header names; if the request
///   asks for an upgrade (and [`Forwarding::upgrade`] allows it), `Connection: upgrade` and its
///   `Upgrade` are written again.
/// - Route edits are applied: removals to the received fields, additions after them.
/// - `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto`, `X-Forwarded-Host` (and `Forwarded`
///   when enabled) are written last; received ones are replaced, or for `X-Forwarded-For` and
///   `Forwarded` extended when [`Forwarding::append_forwarded_for`] is set.
///
/// # Examples
///
/// ```
/// use lb_l7::head::parse_request;
/// use lb_l7::rewrite::{write_request_head, ClientIp, Forwarding, HeaderEdits};
/// use lb_l7::Limits;
///
/// let raw = b"GET /api HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
/// let (head, _) = parse_request(raw, &Limits::default())?.complete().unwrap();
/// let mut out = Vec::new();
/// let fwd = Forwarding::new(ClientIp::new("192.0.2.7".parse().unwrap()));
/// write_request_head(&head, &fwd, &HeaderEdits::new(), &mut out);
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "GET /api HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n\
///      X-Forwarded-Proto: http\r\nX-Forwarded-Host: shop\r\n\r\n"
/// );
/// # Ok::<(), lb_l7::ParseError>(())
/// ```
pub fn write_request_head(
    head: &RequestHead<'_>,
    fwd: &Forwarding<'_>,
    edits: &HeaderEdits,
    out: &mut impl BufMut,
) {
    let headers = head.headers();
    let connection = head.connection();
    let host = head.host().unwrap_or(fwd.fallback_host);
    let upgrade = if fwd.upgrade { head.upgrade() } else { None };

    out.put_slice(head.method_str().as_bytes());
    out.put_u8(b' ');
    if head.target_form() == TargetForm::Authority {
        out.put_slice(head.target());
    } else {
        out.put_slice(head.path());
        if let Some(query) = head.query() {
            out.put_u8(b'?');
            out.put_slice(query);
        }
    }
    out.put_slice(b" HTTP/1.1\r\n");
    // A route that sets Host replaces it (its value comes with the route's added fields).
    let own = |name: &[u8]| edits.is_empty() || !edits.removes(name);
    if own(b"host") {
        put_field(out, b"Host", host);
    }
    // HTTP/1.0 has no expectations (RFC 9110 §10.1.1): never pass one on as HTTP/1.1.
    let strip_expect = fwd.strip_expect || head.version() == Version::Http10;

    // Fields kept as received are copied in runs of whole lines; only a dropped field or a
    // bare-LF line (rewritten with CRLF) breaks a run.
    let raw = headers.as_bytes();
    let mut lines = headers.iter();
    let (mut run_start, mut pos) = (0, 0);
    let mut saw_xff = false;
    let mut saw_forwarded = false;
    while let Some((field, line)) = lines.next_line() {
        let name = field.name;
        let keep = match classify(name) {
            Kind::HopByHop | Kind::Replaced => false,
            Kind::XForwardedFor => {
                saw_xff = true;
                false
            }
            Kind::Forwarded if fwd.rfc7239 => {
                saw_forwarded = true;
                false
            }
            Kind::Expect if strip_expect => false,
            Kind::Forwarded | Kind::Expect | Kind::Other => {
                !(!edits.is_empty() && edits.removes(name)
                    || named_in_connection(name, headers, connection))
            }
        };
        if !keep || !line.ends_with(b"\r\n") {
            out.put_slice(&raw[run_start..pos]);
            if keep {
                put_field(out, name, field.value);
            }
            run_start = pos + line.len();
        }
        pos += line.len();
    }
    out.put_slice(&raw[run_start..pos]);
    if let Some(protocol) = upgrade {
        out.put_slice(b"Connection: upgrade\r\n");
        put_field(out, b"Upgrade", protocol);
    }
    for (name, value) in edits.added() {
        put_field(out, name, value);
    }

    let ip = fwd.client.as_bytes();
    if own(b"x-forwarded-for") {
        out.put_slice(b"X-Forwarded-For: ");
        if fwd.append && saw_xff {
            for value in headers.get_all("x-forwarded-for") {
                out.put_slice(value);
                out.put_slice(b", ");
            }
        }
        out.put_slice(ip);
        out.put_slice(b"\r\n");
    }
    if fwd.real_ip && own(b"x-real-ip") {
        put_field(out, b"X-Real-IP", ip);
    }
    if own(b"x-forwarded-proto") {
        put_field(out, b"X-Forwarded-Proto", fwd.proto());
    }
    if fwd.forwarded_host && !host.is_empty() && own(b"x-forwarded-host") {
        put_field(out, b"X-Forwarded-Host", host);
    }
    if fwd.rfc7239 && own(b"forwarded") {
        out.put_slice(b"Forwarded: ");
        if fwd.append && saw_forwarded {
            for value in headers.get_all("forwarded") {
                out.put_slice(value);
                out.put_slice(b", ");
            }
        }
        write_forwarded_element(out, fwd, host);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// What the request writer does with a received field.
enum Kind {
    /// Connection-specific: never forwarded.
    HopByHop,
    /// Written by the proxy itself: Host (first) and the forwarding fields that are set, not
    /// appended (`X-Real-IP`, `X-Forwarded-Host`, `X-Forwarded-Proto`).
    Replaced,
    /// Replaced or extended.
    XForwardedFor,
    /// RFC 7239: replaced or extended when the proxy writes its own, else passed on.
    Forwarded,
    /// Dropped when the proxy answers `100 Continue` itself.
    Expect,
    /// Anything else: kept unless a route edit or the Connection header drops it.
    Other,
}

/// One length dispatch and at most a couple of comparisons per field.
fn classify(name: &[u8]) -> Kind {
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    match name.len() {
        2 if is(b"te") => Kind::HopByHop,
        4 if is(b"host") => Kind::Replaced,
        6 if is(b"expect") => Kind::Expect,
        7 if is(b"upgrade") => Kind::HopByHop,
        9 if is(b"x-real-ip") => Kind::Replaced,
        9 if is(b"forwarded") => Kind::Forwarded,
        10 if is(b"connection") || is(b"keep-alive") => Kind::HopByHop,
        15 if is(b"x-forwarded-for") => Kind::XForwardedFor,
        16 if is(b"proxy-connection") => Kind::HopByHop,
        16 if is(b"x-forwarded-host") => Kind::Replaced,
        17 if is(b"x-forwarded-proto") => Kind::Replaced,
        _ => Kind::Other,
    }
}

/// `for=192.0.2.7;proto=http;host=example.com` with IPv6 and non-token hosts quoted (RFC 7239 §4).
fn write_forwarded_element(out: &mut impl BufMut, fwd: &Forwarding<'_>, host: &[u8]) {
    out.put_slice(b"for=");
    if fwd.client.ip().is_ipv6() {
        out.put_slice(b"\"[");
        out.put_slice(fwd.client.as_bytes());
        out.put_slice(b"]\"");
    } else {
        out.put_slice(fwd.client.as_bytes());
    }
    out.put_slice(b";proto=");
    out.put_slice(fwd.proto());
    if !host.is_empty() {
        out.put_slice(b";host=");
        if crate::head::is_token(host) {
            out.put_slice(host);
        } else {
            // A valid authority has no `"` or `\`, so quoting needs no escapes.
            out.put_u8(b'"');
            out.put_slice(host);
            out.put_u8(b'"');
        }
    }
}

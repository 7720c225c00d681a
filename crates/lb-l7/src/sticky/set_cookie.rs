//! The response side of cookie insertion: the [`CookieInsert`] settings and the
//! `Set-Cookie` header value ([`SetCookie`]) they render.

use std::fmt;
use std::time::Duration;

use bytes::BufMut;
use lb_core::BackendId;

use super::cookie::{ConfigError, CookieName};
use super::token::{Token, TokenCodec};

/// The `SameSite` cookie attribute (RFC 6265bis §4.1.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SameSite {
    /// Sent on same-site requests and top-level cross-site navigations (the default).
    #[default]
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent on cross-site requests too. Browsers accept it only with `Secure`, so a
    /// [`CookieInsert`] with `SameSite=None` always marks the cookie `Secure`, even on a
    /// plain-HTTP connection (where the browser then refuses it: serve such sites over TLS).
    None,
}

impl SameSite {
    /// The attribute value: `Lax`, `Strict` or `None`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// When to add the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Secure {
    /// When the client connection is TLS (the default): a cookie set over plain HTTP could
    /// not be stored by the browser if it were `Secure`.
    #[default]
    WhenTls,
    /// Always (for a proxy behind a TLS-terminating tier that talks plain HTTP to it).
    Always,
}

/// Cookie-insert settings (nginx `sticky cookie`, HAProxy `cookie SRV insert`): the cookie
/// name, its attributes and the codec of its value.
///
/// Defaults: `Path=/`, no `Domain`, `HttpOnly`, `Secure` on TLS connections,
/// `SameSite=Lax`, no `Max-Age` (a session cookie, gone when the browser closes).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_core::BackendId;
/// use lb_l7::sticky::{CookieInsert, SameSite, TokenCodec};
///
/// let insert = CookieInsert::new("srv", TokenCodec::unsigned())?
///     .with_domain("example.com")?
///     .with_same_site(SameSite::Strict)
///     .with_max_age(Duration::from_secs(3600))?;
/// let cookie = insert.set_cookie(BackendId::from_u64(1), true);
/// assert_eq!(
///     cookie.to_string(),
///     "srv=AAAAAAAAAAE; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Strict; Max-Age=3600"
/// );
/// # Ok::<(), lb_l7::sticky::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CookieInsert {
    name: CookieName,
    codec: TokenCodec,
    path: Box<str>,
    domain: Option<Box<str>>,
    http_only: bool,
    secure: Secure,
    same_site: SameSite,
    max_age: Option<u64>,
}

impl CookieInsert {
    /// Cookie insertion under `name`, with values from `codec` and default attributes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] if `name` is not an RFC 6265 token.
    pub fn new(name: &str, codec: TokenCodec) -> Result<Self, ConfigError> {
        Ok(Self {
            name: CookieName::new(name)?,
            codec,
            path: "/".into(),
            domain: None,
            http_only: true,
            secure: Secure::WhenTls,
            same_site: SameSite::Lax,
            max_age: None,
        })
    }

    /// Sets `Path` (default `/`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Path`] unless `path` starts with `/` and is printable ASCII without `;`.
    pub fn with_path(mut self, path: &str) -> Result<Self, ConfigError> {
        let valid =
            path.starts_with('/') && path.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';');
        if !valid {
            return Err(ConfigError::Path(path.to_owned()));
        }
        self.path = path.into();
        Ok(self)
    }

    /// Sets `Domain` (default none: the cookie goes back to the exact host only).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Domain`] unless `domain` is a host name: dot-separated labels of
    /// letters, digits and `-`, optionally with a leading dot, at most 253 bytes.
    pub fn with_domain(mut self, domain: &str) -> Result<Self, ConfigError> {
        let name = domain.strip_prefix('.').unwrap_or(domain);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(ConfigError::Domain(domain.to_owned()));
        }
        self.domain = Some(domain.into());
        Ok(self)
    }

    /// Sets whether to add `HttpOnly` (default true: scripts cannot read the cookie).
    #[must_use]
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets when to add `Secure` (default [`Secure::WhenTls`]).
    #[must_use]
    pub fn with_secure(mut self, secure: Secure) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `SameSite` (default [`SameSite::Lax`]). [`SameSite::None`] implies `Secure`.
    #[must_use]
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Max-Age`, in whole seconds (default none: a session cookie).
    ///
    /// The age counts from when the cookie was issued, not from the last request: a valid
    /// cookie is not re-sent on every response (as with nginx's `sticky cookie ... expires`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::MaxAge`] for less than one second.
    pub fn with_max_age(mut self, max_age: Duration) -> Result<Self, ConfigError> {
        if max_age.as_secs() == 0 {
            return Err(ConfigError::MaxAge);
        }
        self.max_age = Some(max_age.as_secs());
        Ok(self)
    }

    /// The cookie name.
    #[must_use]
    pub fn name(&self) -> &CookieName {
        &self.name
    }

    /// The token codec.
    #[must_use]
    pub fn codec(&self) -> &TokenCodec {
        &self.codec
    }

    /// The `Set-Cookie` pinning a client to backend `id`; `tls` tells whether the client
    /// connection is TLS (for [`Secure::WhenTls`]). Allocates nothing.
    #[must_use]
    pub fn set_cookie(&self, id: BackendId, tls: bool) -> SetCookie<'_> {
        let secure = match self.secure {
            Secure::Always => true,
            Secure::WhenTls => tls || self.same_site == SameSite::None,
        };
        SetCookie {
            insert: self,
            token: self.codec.encode(id),
            secure,
        }
    }
}

/// The `Set-Cookie` header a response must carry, borrowed from its [`CookieInsert`].
///
/// Rendered as `name=TOKEN; Path=/; [Domain=D; ][HttpOnly; ][Secure; ]SameSite=S[;
/// Max-Age=N]`, by [`write_to`](Self::write_to) into the caller's buffer or by `Display`.
#[derive(Debug, Clone, Copy)]
pub struct SetCookie<'a> {
    insert: &'a CookieInsert,
    token: Token,
    secure: bool,
}

impl SetCookie<'_> {
    /// The header name, lowercase.
    pub const HEADER: &'static str = "set-cookie";

    /// The cookie value: the token naming the backend.
    #[must_use]
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The cookie name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.insert.name.as_str()
    }

    /// Whether the cookie is marked `Secure`.
    #[must_use]
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The rendered length in bytes (to reserve space first).
    #[must_use]
    pub fn len(&self) -> usize {
        let mut n = Counter(0);
        self.render(&mut n);
        n.0
    }

    /// Always false: a rendered `Set-Cookie` is never empty (present for API completeness).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the header *value* (without `Set-Cookie: ` and without CRLF) to `out`, with
    /// no allocation of its own (a `Vec` may grow).
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// use lb_l7::sticky::{CookieInsert, TokenCodec};
    ///
    /// let insert = CookieInsert::new("srv", TokenCodec::unsigned())?;
    /// let mut head = b"set-cookie: ".to_vec();
    /// insert.set_cookie(BackendId::from_u64(1), false).write_to(&mut head);
    /// assert_eq!(head, b"set-cookie: srv=AAAAAAAAAAE; Path=/; HttpOnly; SameSite=Lax");
    /// # Ok::<(), lb_l7::sticky::ConfigError>(())
    /// ```
    pub fn write_to<B: BufMut + ?Sized>(&self, out: &mut B) {
        self.render(&mut Out(out));
    }

    fn render(&self, out: &mut impl Sink) {
        let c = self.insert;
        out.put(c.name.as_str().as_bytes());
        out.put(b"=");
        out.put(self.token.as_bytes());
        out.put(b"; Path=");
        out.put(c.path.as_bytes());
        if let Some(domain) = &c.domain {
            out.put(b"; Domain=");
            out.put(domain.as_bytes());
        }
        if c.http_only {
            out.put(b"; HttpOnly");
        }
        if self.secure {
            out.put(b"; Secure");
        }
        out.put(b"; SameSite=");
        out.put(c.same_site.as_str().as_bytes());
        if let Some(secs) = c.max_age {
            out.put(b"; Max-Age=");
            let mut digits = [0_u8; 20];
            out.put(decimal(secs, &mut digits));
        }
    }
}

impl fmt::Display for SetCookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Fmt<'f, 'g> {
            f: &'f mut fmt::Formatter<'g>,
            result: fmt::Result,
        }
        impl Sink for Fmt<'_, '_> {
            fn put(&mut self, bytes: &[u8]) {
                if self.result.is_ok() {
                    // Every rendered piece is ASCII (validated names, attributes, tokens).
                    self.result = std::str::from_utf8(bytes)
                        .map_err(|_| fmt::Error)
                        .and_then(|s| self.f.write_str(s));
                }
            }
        }
        let mut sink = Fmt { f, result: Ok(()) };
        self.render(&mut sink);
        sink.result
    }
}

/// Where [`SetCookie::render`] writes.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

/// A [`BufMut`] as a [`Sink`].
struct Out<'b, B: BufMut + ?Sized>(&'b mut B);

impl<B: BufMut + ?Sized> Sink for Out<'_, B> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.put_slice(bytes);
    }
}

/// Counts bytes instead of writing them.
struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert() -> CookieInsert {
        CookieInsert::new("srv", TokenCodec::unsigned()).expect("valid name")
    }

    fn render(cookie: &SetCookie<'_>) -> String {
        let mut out = Vec::new();
        cookie.write_to(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(text, cookie.to_string(), "Display agrees with write_to");
        assert_eq!(text.len(), cookie.len(), "len agrees with write_to");
        text
    }

    const ID: BackendId = BackendId::from_u64(1);

    #[test]
    fn defaults() {
        let c = insert();
        assert_eq!(
            render(&c.set_cookie(ID, false)),
            "srv=AAAAAAAAAAE; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            render(&c.set_cookie(ID, true)),
            "srv=AAAAAAAAAAE; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(c.name().as_str(), "srv");
        assert!(!c.codec().is_signed());
    }

    #[test]
    fn every_attribute_combination() {
        let domains = [None, Some("example.com")];
        let paths = ["/", "/app"];
        let max_ages = [None, Some(3600)];
        let secures = [Secure::WhenTls, Secure::Always];
        let same_sites = [SameSite::Lax, SameSite::Strict, SameSite::None];
        let mut count = 0;
        for domain in domains {
            for path in paths {
                for max_age in max_ages {
                    for secure in secures {
                        for same_site in same_sites {
                            for http_only in [true, false] {
                                for tls in [true, false] {
                                    let mut c = insert()
                                        .with_path(path)
                                        .expect("path")
                                        .with_secure(secure)
                                        .with_same_site(same_site)
                                        .with_http_only(http_only);
                                    if let Some(d) = domain {
                                        c = c.with_domain(d).expect("domain");
                                    }
                                    if let Some(s) = max_age {
                                        c = c.with_max_age(Duration::from_secs(s)).expect("age");
                                    }
                                    let secure_on = secure == Secure::Always
                                        || tls
                                        || same_site == SameSite::None;
                                    let mut expected = format!("srv=AAAAAAAAAAE; Path={path}");
                                    if let Some(d) = domain {
                                        expected += &format!("; Domain={d}");
                                    }
                                    if http_only {
                                        expected += "; HttpOnly";
                                    }
                                    if secure_on {
                                        expected += "; Secure";
                                    }
                                    expected += &format!("; SameSite={}", same_site.as_str());
                                    if let Some(s) = max_age {
                                        expected += &format!("; Max-Age={s}");
                                    }
                                    let cookie = c.set_cookie(ID, tls);
                                    assert_eq!(cookie.is_secure(), secure_on);
                                    assert_eq!(render(&cookie), expected);
                                    count += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(count, 2 * 2 * 2 * 2 * 3 * 2 * 2);
    }

    #[test]
    fn same_site_none_forces_secure_even_without_tls() {
        let c = insert().with_same_site(SameSite::None);
        assert_eq!(
            render(&c.set_cookie(ID, false)),
            "srv=AAAAAAAAAAE; Path=/; HttpOnly; Secure; SameSite=None"
        );
    }

    #[test]
    fn signed_value_and_large_max_age() {
        let codec = TokenCodec::signed(b"0123456789abcdef").expect("key");
        let c = CookieInsert::new("__Host-lb", codec.clone())
            .expect("name")
            .with_max_age(Duration::from_secs(u64::MAX))
            .expect("age");
        let cookie = c.set_cookie(ID, true);
        assert_eq!(cookie.token().len(), 32);
        assert_eq!(codec.decode(cookie.token().as_bytes()), Ok(ID));
        assert_eq!(cookie.name(), "__Host-lb");
        let text = render(&cookie);
        assert!(text.starts_with(&format!("__Host-lb={}; Path=/;", cookie.token())));
        assert!(text.ends_with("; Max-Age=18446744073709551615"), "{text}");
    }

    #[test]
    fn writes_into_any_bufmut() {
        let c = insert();
        let mut buf = bytes::BytesMut::with_capacity(8);
        c.set_cookie(ID, false).write_to(&mut buf);
        assert_eq!(&buf[..], b"srv=AAAAAAAAAAE; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn invalid_settings_are_typed_errors() {
        assert!(matches!(
            CookieInsert::new("s rv", TokenCodec::unsigned()),
            Err(ConfigError::CookieName(_))
        ));
        for bad in ["", "app", "/a;b", "/a\nb", "/é"] {
            assert_eq!(
                insert().with_path(bad).err(),
                Some(ConfigError::Path(bad.to_owned())),
                "{bad:?}"
            );
        }
        for bad in [
            "",
            ".",
            "a..b",
            "a b",
            "exa_mple.com",
            "a;b",
            "b.",
            &"a".repeat(64),
        ] {
            assert_eq!(
                insert().with_domain(bad).err(),
                Some(ConfigError::Domain(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(insert().with_domain(".example.com").is_ok());
        assert!(insert().with_domain("localhost").is_ok());
        assert_eq!(
            insert().with_max_age(Duration::from_millis(999)).err(),
            Some(ConfigError::MaxAge)
        );
    }

    #[test]
    fn decimal_rendering() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(10, &mut buf), b"10");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}

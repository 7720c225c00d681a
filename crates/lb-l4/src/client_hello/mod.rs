//! The server name (SNI) of a TLS ClientHello, read without consuming or
//! decrypting anything: a sans-IO parser for SNI passthrough routing.
//!
//! A client opening TLS sends a ClientHello first, in the clear, and its
//! `server_name` extension (RFC 6066) names the host it wants. A layer-4
//! proxy can peek at those bytes, pick a backend by name and forward the
//! untouched stream: the backend completes the handshake with its own
//! certificate. [`peek_sni`] answers from whatever bytes have arrived, like
//! `httparse` and [`proxy_protocol::decode`](crate::proxy_protocol::decode):
//! [`Peek::Incomplete`] until the ClientHello is whole, then
//! [`Peek::Sni`] with the name or [`Peek::NoSni`]. [`parse`] gives the
//! whole [`ClientHello`] view (server name and ALPN protocols).
//!
//! What is read (RFC 8446 §4.1.2, §5.1; RFC 5246 §7.4.1.2):
//!
//! - **Records.** Every record must be a handshake record (content type 22)
//!   with version `0x0301..=0x0304` and a length of 1 to 2^14 bytes. The
//!   ClientHello may span several records: their payloads are read as one
//!   stream (no copy), as TLS allows a handshake message to be fragmented.
//!   Bytes after the ClientHello's end, in its last record or after it, are
//!   never looked at.
//! - **ClientHello.** Handshake type 1; `legacy_version` `0x0301..=0x0304`;
//!   32 random bytes; a session id of at most 32 bytes; a non-empty,
//!   even-length cipher-suite list; a non-empty compression-method list;
//!   then either nothing (a hello without extensions, legal before TLS 1.3)
//!   or an extension block that ends exactly where the ClientHello does.
//!   Each extension must fit in the block; only `server_name` (0) and ALPN
//!   (16) are looked into, and each may appear once. Other duplicate
//!   extensions are not detected (the backend will refuse them).
//! - **server_name.** A non-empty list whose length matches the extension;
//!   entries of any name type are skipped by their 16-bit length (RFC 6066
//!   requires every type to start with one), at most one `host_name`
//!   (type 0), checked as [`ServerName`] describes. A list without a
//!   `host_name` is [`Peek::NoSni`].
//!
//! Choices:
//!
//! - **The whole ClientHello is required**, not just the bytes up to the
//!   name: every length is checked before a name is trusted, so a prefix of
//!   a valid hello is always [`Peek::Incomplete`], and extending a
//!   conclusive input never changes the answer.
//! - **Errors come as early as the bytes allow**: the first byte tells TLS
//!   from plain HTTP ([`Error::NotTls`]), a length is checked against its
//!   enclosing vector as soon as it is read, before what it announces has
//!   arrived. Every error is final.
//! - **Bounded.** At most [`MAX_HANDSHAKE_LEN`] (16 KiB) of handshake data
//!   is accepted, the ClientHello's declared length deciding at once
//!   ([`Error::TooLarge`]). The number of records is not limited here (each
//!   costs its 5-byte header plus at least one byte): the caller bounds the
//!   input it buffers.
//! - **No allocation**, no panic, no `unsafe`: results borrow the input, or,
//!   for a name cut by a record boundary, copy it into an inline buffer.
//!   Fuzzed (`fuzz/fuzz_targets/peek_sni.rs`).
//!
//! # Examples
//!
//! ```
//! use lb_l4::client_hello::{self, Error, Peek};
//! # fn client_hello(name: &str) -> Vec<u8> {
//! #     let n = name.len() as u16;
//! #     let mut ext = vec![0, 0];
//! #     ext.extend((n + 5).to_be_bytes());
//! #     ext.extend((n + 3).to_be_bytes());
//! #     ext.push(0);
//! #     ext.extend(n.to_be_bytes());
//! #     ext.extend(name.as_bytes());
//! #     let mut body = vec![3, 3];
//! #     body.extend([0; 32]);
//! #     body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
//! #     body.extend((ext.len() as u16).to_be_bytes());
//! #     body.extend(ext);
//! #     let mut msg = vec![1, 0];
//! #     msg.extend((body.len() as u16).to_be_bytes());
//! #     msg.extend(body);
//! #     let mut record = vec![22, 3, 1];
//! #     record.extend((msg.len() as u16).to_be_bytes());
//! #     record.extend(msg);
//! #     record
//! # }
//!
//! // A client's first flight, arriving in pieces.
//! let hello = client_hello("a.example");
//! assert!(matches!(
//!     client_hello::peek_sni(&hello[..20]),
//!     Ok(Peek::Incomplete { .. })
//! ));
//! let Ok(Peek::Sni(name)) = client_hello::peek_sni(&hello) else { panic!() };
//! assert_eq!(name, "a.example");
//!
//! // Plain HTTP on a TLS port: refused at the first byte.
//! assert_eq!(client_hello::peek_sni(b"GET / HTTP/1.1\r\n"), Err(Error::NotTls));
//! ```

mod cursor;
mod error;
mod name;
#[cfg(test)]
mod tests;

pub use error::Error;
pub(crate) use name::check_host_name;
pub use name::{AlpnProtocol, MAX_HOST_NAME_LEN, ServerName};

use cursor::{Cursor, Stop, malformed};

/// The largest ClientHello accepted: its handshake message, 4-byte header
/// included, may take at most this many bytes (16 KiB, one full record).
/// Real ones take 200 bytes to 2 KiB (post-quantum key shares included).
pub const MAX_HANDSHAKE_LEN: usize = 16 * 1024;

/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// Handshake message header: type and 24-bit length.
const HANDSHAKE_HEADER_LEN: usize = 4;
/// Extension type `server_name` (RFC 6066).
const SERVER_NAME: u16 = 0;
/// Extension type `application_layer_protocol_negotiation` (RFC 7301).
const ALPN: u16 = 16;
/// Name type `host_name` in a `server_name` list.
const HOST_NAME: u8 = 0;

/// What [`peek_sni`] made of the bytes it was given.
#[allow(
    clippy::large_enum_variant,
    reason = "a name cut by a record boundary is copied inline rather than allocated"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek<'a> {
    /// Every byte so far is consistent with a ClientHello that has not
    /// ended: call again with more bytes (the same prefix, extended).
    Incomplete {
        /// At least this many more bytes are needed (a lower bound, at
        /// least 1: the record headers of later fragments are unknown).
        needed: usize,
    },
    /// A whole, well-formed ClientHello without a `host_name` (no
    /// `server_name` extension, or one listing other name types only).
    NoSni,
    /// A whole, well-formed ClientHello asking for this host name.
    Sni(ServerName<'a>),
}

impl Peek<'_> {
    /// Whether more bytes are needed.
    #[must_use]
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Incomplete { .. })
    }

    /// The host name, if the ClientHello is whole and has one.
    #[must_use]
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Self::Sni(name) => Some(name.as_str()),
            Self::Incomplete { .. } | Self::NoSni => None,
        }
    }
}

/// What [`parse`] made of the bytes it was given.
#[allow(
    clippy::large_enum_variant,
    reason = "a name cut by a record boundary is copied inline rather than allocated"
)]
#[derive(Debug, Clone, Copy)]
pub enum Parsed<'a> {
    /// More bytes are needed, as [`Peek::Incomplete`].
    Incomplete {
        /// At least this many more bytes are needed (a lower bound, at
        /// least 1).
        needed: usize,
    },
    /// The ClientHello is whole and well-formed.
    Complete(ClientHello<'a>),
}

/// A whole, well-formed ClientHello: what a router may look at.
#[derive(Clone, Copy)]
pub struct ClientHello<'a> {
    legacy_version: u16,
    server_name: Option<ServerName<'a>>,
    /// Where the ALPN protocol list starts and its length.
    alpn: Option<(Cursor<'a>, usize)>,
    end: usize,
}

impl<'a> ClientHello<'a> {
    /// The `host_name` of the `server_name` extension, if any.
    #[must_use]
    pub fn server_name(&self) -> Option<ServerName<'a>> {
        self.server_name
    }

    /// Whether the ClientHello has an ALPN extension (RFC 7301).
    #[must_use]
    pub fn has_alpn(&self) -> bool {
        self.alpn.is_some()
    }

    /// The protocol names of the ALPN extension, in the client's order of
    /// preference (none without the extension). Already validated: each is
    /// 1 to 255 bytes.
    #[must_use]
    pub fn alpn(&self) -> AlpnProtocols<'a> {
        match self.alpn {
            Some((cursor, left)) => AlpnProtocols {
                cursor: Some(cursor),
                left,
            },
            None => AlpnProtocols {
                cursor: None,
                left: 0,
            },
        }
    }

    /// The ClientHello's `legacy_version` (`0x0303` for TLS 1.2 and 1.3;
    /// TLS 1.3 is announced in `supported_versions`, not read here).
    #[must_use]
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// The number of input bytes up to the ClientHello's last byte, record
    /// headers included (what follows was not looked at).
    #[must_use]
    pub fn end(&self) -> usize {
        self.end
    }
}

impl std::fmt::Debug for ClientHello<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHello")
            .field(
                "legacy_version",
                &format_args!("{:#06x}", self.legacy_version),
            )
            .field("server_name", &self.server_name)
            .field("alpn", &self.alpn())
            .field("end", &self.end)
            .finish()
    }
}

/// The protocol names of a ClientHello's ALPN extension; see
/// [`ClientHello::alpn`].
#[derive(Clone)]
pub struct AlpnProtocols<'a> {
    cursor: Option<Cursor<'a>>,
    left: usize,
}

impl std::fmt::Debug for AlpnProtocols<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'a> Iterator for AlpnProtocols<'a> {
    type Item = AlpnProtocol<'a>;

    fn next(&mut self) -> Option<AlpnProtocol<'a>> {
        if self.left == 0 {
            return None;
        }
        let cursor = self.cursor.as_mut()?;
        // The list was validated by `parse`; a failure here cannot happen
        // and ends the iteration.
        let len = usize::from(cursor.u8().ok()?);
        let name = cursor.bytes(len).ok()?;
        self.left = self.left.saturating_sub(1 + len);
        Some(AlpnProtocol(name))
    }
}

/// Reads the server name of the ClientHello at the start of `buf`: the
/// first thing a TLS client sends.
///
/// `buf` holds the bytes received so far; call again with more while the
/// answer is [`Peek::Incomplete`]. See [`parse`] for the rest of the
/// ClientHello.
///
/// # Errors
///
/// [`Error::NotTls`] when the first record is not a TLS handshake record
/// (decided on the first byte or two: `GET ` is refused at `G`), and the
/// errors of [`parse`].
///
/// # Examples
///
/// ```
/// use lb_l4::client_hello::{self, Error, Peek};
///
/// // A record header and the start of a ClientHello: keep reading.
/// let start = [22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3];
/// assert!(client_hello::peek_sni(&start).unwrap().is_incomplete());
/// // A handshake record carrying something else than a ClientHello.
/// assert_eq!(
///     client_hello::peek_sni(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
///     Err(Error::NotClientHello { msg_type: 2 })
/// );
/// assert_eq!(client_hello::peek_sni(b"SSH-2.0-OpenSSH_9.6\r\n"), Err(Error::NotTls));
/// ```
pub fn peek_sni(buf: &[u8]) -> Result<Peek<'_>, Error> {
    Ok(match parse(buf)? {
        Parsed::Incomplete { needed } => Peek::Incomplete { needed },
        Parsed::Complete(hello) => match hello.server_name {
            Some(name) => Peek::Sni(name),
            None => Peek::NoSni,
        },
    })
}

/// Parses the ClientHello at the start of `buf`, which may span several
/// TLS records.
///
/// # Errors
///
/// [`Error::NotTls`] if the first record is not a TLS handshake record,
/// [`Error::NotClientHello`] for another handshake message,
/// [`Error::UnsupportedVersion`] for a record or `legacy_version` outside
/// TLS 1.0 to 1.3, [`Error::TooLarge`] for a ClientHello announced above
/// [`MAX_HANDSHAKE_LEN`], [`Error::Malformed`] for any length or value
/// breaking the grammar (see the [module documentation](self)), and
/// [`Error::InvalidHostName`] for a `host_name` that [`ServerName`] does
/// not accept.
///
/// # Examples
///
/// ```
/// use lb_l4::client_hello::{self, Parsed};
/// # fn client_hello_with_alpn() -> Vec<u8> {
/// #     // ALPN ["h2", "http/1.1"], no server_name.
/// #     let ext = [&[0u8, 16, 0, 14, 0, 12, 2][..], b"h2", &[8], b"http/1.1"].concat();
/// #     let mut body = vec![3, 3];
/// #     body.extend([0; 32]);
/// #     body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
/// #     body.extend((ext.len() as u16).to_be_bytes());
/// #     body.extend(ext);
/// #     let mut msg = vec![1, 0];
/// #     msg.extend((body.len() as u16).to_be_bytes());
/// #     msg.extend(body);
/// #     let mut record = vec![22, 3, 1];
/// #     record.extend((msg.len() as u16).to_be_bytes());
/// #     record.extend(msg);
/// #     record
/// # }
/// let wire = client_hello_with_alpn();
/// let Ok(Parsed::Complete(hello)) = client_hello::parse(&wire) else { panic!() };
/// assert!(hello.server_name().is_none());
/// let protocols: Vec<_> = hello.alpn().map(|p| p.as_bytes().to_vec()).collect();
/// assert_eq!(protocols, [&b"h2"[..], b"http/1.1"]);
/// assert_eq!(hello.end(), wire.len());
/// ```
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, Error> {
    let mut cursor = Cursor::new(buf, HANDSHAKE_HEADER_LEN);
    match client_hello(&mut cursor) {
        Ok(hello) => Ok(Parsed::Complete(hello)),
        Err(Stop::Incomplete { needed }) => Ok(Parsed::Incomplete { needed }),
        Err(Stop::Error(e)) => Err(e),
    }
}

/// Reads the handshake message at the cursor as a ClientHello.
fn client_hello<'a>(c: &mut Cursor<'a>) -> Result<ClientHello<'a>, Stop> {
    let msg_type = c.u8()?;
    if msg_type != CLIENT_HELLO {
        return Err(Error::NotClientHello { msg_type }.into());
    }
    let len = HANDSHAKE_HEADER_LEN + c.u24()?;
    if len > MAX_HANDSHAKE_LEN {
        return Err(Error::TooLarge {
            len,
            max: MAX_HANDSHAKE_LEN,
        }
        .into());
    }
    c.set_limit(len);
    let legacy_version = c.u16()?;
    if !(0x0301..=0x0304).contains(&legacy_version) {
        return Err(Error::UnsupportedVersion {
            version: legacy_version,
        }
        .into());
    }
    c.skip(32)?; // random
    let session_id = c.u8()?;
    if session_id > 32 {
        return Err(malformed("a session id longer than 32 bytes"));
    }
    c.skip(usize::from(session_id))?;
    let suites = usize::from(c.u16()?);
    if suites == 0 || suites % 2 != 0 {
        return Err(malformed("an empty or odd-length cipher-suite list"));
    }
    c.skip(suites)?;
    let methods = c.u8()?;
    if methods == 0 {
        return Err(malformed("an empty compression-method list"));
    }
    c.skip(usize::from(methods))?;
    let mut hello = ClientHello {
        legacy_version,
        server_name: None,
        alpn: None,
        end: 0,
    };
    // Decided by the declared length, not by the bytes at hand.
    if c.remaining() > 0 {
        let extensions = usize::from(c.u16()?);
        if extensions != c.remaining() {
            return Err(malformed(
                "the extension block does not end with the ClientHello",
            ));
        }
        let mut seen_server_name = false;
        while c.remaining() > 0 {
            let kind = c.u16()?;
            let len = usize::from(c.u16()?);
            if len > c.remaining() {
                return Err(malformed("an extension runs past the extension block"));
            }
            match kind {
                SERVER_NAME => {
                    if seen_server_name {
                        return Err(malformed("two server_name extensions"));
                    }
                    seen_server_name = true;
                    hello.server_name = server_name(c, len)?;
                }
                ALPN => {
                    if hello.alpn.is_some() {
                        return Err(malformed("two ALPN extensions"));
                    }
                    hello.alpn = Some(alpn(c, len)?);
                }
                _ => c.skip(len)?,
            }
        }
    }
    hello.end = c.position();
    Ok(hello)
}

/// Reads a `server_name` extension's data (`len` bytes): its `host_name`,
/// if any.
fn server_name<'a>(c: &mut Cursor<'a>, len: usize) -> Result<Option<ServerName<'a>>, Stop> {
    if len < 2 {
        return Err(malformed("a server_name extension without its list"));
    }
    let list = usize::from(c.u16()?);
    if list + 2 != len {
        return Err(malformed(
            "the server_name list length does not match the extension's",
        ));
    }
    if list == 0 {
        return Err(malformed("an empty server_name list"));
    }
    let mut left = list;
    let mut name = None;
    while left > 0 {
        if left < 3 {
            return Err(malformed("a truncated server_name entry"));
        }
        let kind = c.u8()?;
        let n = usize::from(c.u16()?);
        left -= 3;
        if n > left {
            return Err(malformed("a server name runs past its list"));
        }
        left -= n;
        if kind != HOST_NAME {
            c.skip(n)?;
            continue;
        }
        if name.is_some() {
            return Err(malformed("two host names in the server_name list"));
        }
        // One trailing dot may follow the longest name.
        if n > MAX_HOST_NAME_LEN + 1 {
            return Err(Error::InvalidHostName {
                what: "longer than 253 bytes",
            }
            .into());
        }
        let bytes = c.bytes(n)?;
        name = Some(ServerName::parse(bytes).map_err(|what| Error::InvalidHostName { what })?);
    }
    Ok(name)
}

/// Checks an ALPN extension's data (`len` bytes); returns where its
/// protocol list starts and the list's length.
fn alpn<'a>(c: &mut Cursor<'a>, len: usize) -> Result<(Cursor<'a>, usize), Stop> {
    if len < 2 {
        return Err(malformed("an ALPN extension without its list"));
    }
    let list = usize::from(c.u16()?);
    if list + 2 != len {
        return Err(malformed(
            "the ALPN list length does not match the extension's",
        ));
    }
    if list == 0 {
        return Err(malformed("an empty ALPN list"));
    }
    let start = *c;
    let mut left = list;
    while left > 0 {
        let n = usize::from(c.u8()?);
        if n == 0 {
            return Err(malformed("an empty ALPN protocol name"));
        }
        if n + 1 > left {
            return Err(malformed("an ALPN protocol name runs past its list"));
        }
        c.skip(n)?;
        left -= n + 1;
    }
    Ok((start, list))
}

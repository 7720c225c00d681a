//! Byte strings read from a ClientHello (the server name, ALPN protocol
//! names) and the host-name rules.

use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest host name accepted, trailing dot excluded (the DNS limit of
/// 255 octets in wire form).
pub const MAX_HOST_NAME_LEN: usize = 253;

/// The longest label of a host name.
const MAX_LABEL_LEN: usize = 63;

/// Room of the inline copy in [`Bytes`].
const INLINE: usize = 255;

/// Bytes of the input: a slice of it when they are contiguous, else a copy
/// in a fixed inline buffer (when a TLS record boundary falls inside
/// them). Never allocates.
#[derive(Clone, Copy)]
pub(super) struct Bytes<'a> {
    borrowed: Option<&'a [u8]>,
    inline: [u8; INLINE],
    len: u8,
}

impl<'a> Bytes<'a> {
    /// The most bytes held: an ALPN protocol name's limit (a one-byte
    /// length), above a host name's.
    pub(super) const CAPACITY: usize = INLINE;

    pub(super) fn borrowed(slice: &'a [u8]) -> Self {
        Self {
            borrowed: Some(slice),
            inline: [0; INLINE],
            len: 0,
        }
    }

    pub(super) fn empty() -> Self {
        Self {
            borrowed: None,
            inline: [0; INLINE],
            len: 0,
        }
    }

    /// Appends a byte to a copy (callers never push more than
    /// [`Self::CAPACITY`]; excess bytes are dropped rather than panic).
    pub(super) fn push(&mut self, b: u8) {
        if let Some(slot) = self.inline.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self.borrowed {
            Some(slice) => slice,
            None => &self.inline[..usize::from(self.len)],
        }
    }

    pub(super) fn is_borrowed(&self) -> bool {
        self.borrowed.is_some()
    }

    /// The first `len` bytes (`len` at most the current length).
    fn truncated(mut self, len: usize) -> Self {
        match self.borrowed {
            Some(slice) => self.borrowed = Some(&slice[..len.min(slice.len())]),
            None => self.len = self.len.min(u8::try_from(len).unwrap_or(u8::MAX)),
        }
        self
    }
}

/// The host name a client asked for in its ClientHello's `server_name`
/// extension (SNI), as sent: case is kept (compare case-insensitively; a
/// router does), one trailing dot is dropped.
///
/// Accepted names, stricter than RFC 6066 in characters and laxer in form:
///
/// - 1 to 253 bytes (after dropping one trailing dot, which RFC 6066
///   forbids but some clients send: `a.example.` reads as `a.example`);
/// - labels of 1 to 63 bytes separated by single dots (no leading dot, no
///   empty label);
/// - ASCII letters, digits, `-` and `_` only. Underscores are not LDH but
///   occur in real host names and are accepted by lb-l7's host patterns;
///   hyphens are not checked for position. Anything else (spaces, `*`,
///   `:`, non-ASCII bytes, which IDNA would have turned into `xn--` labels)
///   is an [`Error::InvalidHostName`](super::Error::InvalidHostName).
///
/// IP literals, which RFC 6066 forbids in SNI, are not singled out: `10.0.0.1`
/// is a name of four digit labels and routes like any unknown name.
///
/// The name borrows from the input when the bytes are contiguous (always,
/// for a ClientHello in one record); when a record boundary falls inside it
/// it is copied into an inline buffer, so nothing is ever allocated.
///
/// # Examples
///
/// ```
/// use lb_l4::client_hello::{self, Peek};
/// # fn client_hello(name: &str) -> Vec<u8> {
/// #     let n = name.len() as u16;
/// #     let mut ext = vec![0, 0];
/// #     ext.extend((n + 5).to_be_bytes());
/// #     ext.extend((n + 3).to_be_bytes());
/// #     ext.push(0);
/// #     ext.extend(n.to_be_bytes());
/// #     ext.extend(name.as_bytes());
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
/// let hello = client_hello("API.Example.com.");
/// let Ok(Peek::Sni(name)) = client_hello::peek_sni(&hello) else { panic!() };
/// assert_eq!(name, "API.Example.com");
/// assert!(name.eq_ignore_ascii_case("api.example.com"));
/// assert!(name.is_borrowed());
/// ```
#[derive(Clone, Copy)]
pub struct ServerName<'a>(Bytes<'a>);

impl<'a> ServerName<'a> {
    /// Validates a `host_name` from the wire (see the type's rules).
    pub(super) fn parse(bytes: Bytes<'a>) -> Result<Self, &'static str> {
        let name = check_host_name(bytes.as_slice())?;
        let len = name.len();
        Ok(Self(bytes.truncated(len)))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Validated as ASCII.
        std::str::from_utf8(self.0.as_slice()).unwrap_or_default()
    }

    /// Whether the name is a slice of the input (`false`: it was copied,
    /// because it spans two TLS records).
    #[must_use]
    pub fn is_borrowed(&self) -> bool {
        self.0.is_borrowed()
    }
}

impl std::ops::Deref for ServerName<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ServerName<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ServerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ServerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Equal when the names are byte for byte the same (case counts), however
/// stored.
impl PartialEq for ServerName<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ServerName<'_> {}

impl Hash for ServerName<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for ServerName<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ServerName<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One protocol name of a ClientHello's ALPN extension (`h2`,
/// `http/1.1`...): 1 to 255 arbitrary bytes, borrowed from the input or,
/// when a record boundary falls inside it, copied inline.
#[derive(Clone, Copy)]
pub struct AlpnProtocol<'a>(pub(super) Bytes<'a>);

impl AlpnProtocol<'_> {
    /// The protocol name's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for AlpnProtocol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_bytes().escape_ascii().to_string())
    }
}

impl PartialEq for AlpnProtocol<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for AlpnProtocol<'_> {}

impl PartialEq<[u8]> for AlpnProtocol<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for AlpnProtocol<'_> {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

/// Checks `name` against the host-name rules of [`ServerName`]; returns it
/// without its one trailing dot.
///
/// # Errors
///
/// Which rule `name` breaks.
pub(crate) fn check_host_name(name: &[u8]) -> Result<&[u8], &'static str> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > MAX_HOST_NAME_LEN {
        return Err("longer than 253 bytes");
    }
    if let Some(&bad) = name
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    {
        return Err(if bad.is_ascii() {
            "a character other than a letter, digit, '-', '_' or '.'"
        } else {
            "a non-ASCII byte"
        });
    }
    for label in name.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err("an empty label (a leading dot or two dots in a row)");
        }
        if label.len() > MAX_LABEL_LEN {
            return Err("a label longer than 63 bytes");
        }
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_rules() {
        for good in [
            &b"a"[..],
            b"a.example",
            b"A.Example.",
            b"xn--bcher-kva.example",
            b"_dmarc.example",
            b"-odd-.example",
            b"10.0.0.1",
        ] {
            assert!(check_host_name(good).is_ok(), "{good:?}");
        }
        assert_eq!(check_host_name(b"a.example."), Ok(&b"a.example"[..]));
        let long_label = [b'a'; 64];
        let max_label = [b'a'; 63];
        assert!(check_host_name(&max_label).is_ok());
        let max_name = [
            &max_label[..],
            b".",
            &max_label,
            b".",
            &max_label,
            b".",
            &[b'a'; 61],
        ]
        .concat();
        assert_eq!(max_name.len(), 253);
        assert!(check_host_name(&max_name).is_ok());
        assert!(check_host_name(&[&max_name[..], b"."].concat()).is_ok());
        for bad in [
            &b""[..],
            b".",
            b"..",
            b".a",
            b"a..b",
            b"a.example..",
            b"a b",
            b"*.example",
            b"a:443",
            b"caf\xc3\xa9.example",
            b"a\0b",
            &long_label,
            &[&max_name[..], b"a"].concat(),
        ] {
            assert!(check_host_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bytes_copy_and_truncate() {
        let mut copy = Bytes::empty();
        for &b in b"a.example." {
            copy.push(b);
        }
        assert!(!copy.is_borrowed());
        let name = ServerName::parse(copy).expect("valid");
        assert_eq!(name, "a.example");
        assert_eq!(
            name,
            ServerName::parse(Bytes::borrowed(b"a.example")).expect("valid")
        );
        let mut full = Bytes::empty();
        for _ in 0..300 {
            full.push(b'x');
        }
        assert_eq!(full.as_slice().len(), Bytes::CAPACITY);
    }
}

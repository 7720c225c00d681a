//! Read-only access to the header fields of a parsed head, without a table.

/// One header field: name and value as received (the value without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, in the case the peer sent (compare with `eq_ignore_ascii_case`).
    pub name: &'b [u8],
    /// The field value, without leading or trailing spaces and tabs.
    pub value: &'b [u8],
}

/// The header fields of a parsed head.
///
/// Holds only the validated header section (each line `name: value` ending in CRLF or LF) and
/// reads fields back from it on demand, so parsing needs no header table. Lookups are a linear
/// scan, as in every HTTP/1 proxy; a head has tens of fields.
///
/// # Examples
///
/// ```
/// use lb_l7::head::{parse_request, Parsed};
/// use lb_l7::Limits;
///
/// let raw = b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Id: 1\r\nX-Id: 2\r\n\r\n";
/// let Parsed::Complete(head, _) = parse_request(raw, &Limits::default()).unwrap() else { panic!() };
/// assert_eq!(head.headers().get("accept"), Some(&b"*/*"[..]));
/// assert_eq!(head.headers().get_all("x-id").count(), 2);
/// assert_eq!(head.headers().iter().count(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'b> {
    raw: &'b [u8],
}

impl<'b> Headers<'b> {
    /// Wraps a header section already validated by the parser.
    pub(crate) const fn new(raw: &'b [u8]) -> Self {
        Self { raw }
    }

    /// Iterates over the fields in order.
    #[must_use]
    pub fn iter(&self) -> HeaderIter<'b> {
        HeaderIter { rest: self.raw }
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.get_all(name).next()
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'b [u8]> + use<'b, 'n> {
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    }

    /// Whether there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The raw header section: every field line, each with its line ending.
    #[must_use]
    pub const fn as_bytes(&self) -> &'b [u8] {
        self.raw
    }
}

impl<'b> IntoIterator for &Headers<'b> {
    type Item = Header<'b>;
    type IntoIter = HeaderIter<'b>;

    fn into_iter(self) -> HeaderIter<'b> {
        self.iter()
    }
}

/// Iterator over [`Headers`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for HeaderIter<'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // The parser validated every line; a line without a colon cannot occur, but skip
            // rather than panic if it did.
            if let Some(colon) = memchr::memchr(b':', line) {
                return Some(Header {
                    name: &line[..colon],
                    value: trim_ows(&line[colon + 1..]),
                });
            }
        }
    }
}

/// Strips optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

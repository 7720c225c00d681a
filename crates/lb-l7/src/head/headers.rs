//! Read-only access to the header fields of a parsed head.

/// One header field: name and value as received (the value without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The field name, in the case the peer sent (compare with `eq_ignore_ascii_case`).
    pub name: &'b [u8],
    /// The field value, without leading or trailing spaces and tabs.
    pub value: &'b [u8],
}

/// How many fields a head indexes inline; a head with more is read back by scanning its lines.
const INLINE: usize = 32;

/// Where one field lies in the header section (offsets from its start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    name_start: u16,
    name_end: u16,
    value_start: u16,
    value_end: u16,
    line_end: u16,
}

/// The header fields of a parsed head.
///
/// Borrows the validated header section and keeps the position of up to 32 fields, recorded
/// while parsing, so that iterating needs no scanning and parsing needs no allocation; a head
/// with more fields (or over 64 KiB) is read back line by line instead. Lookups are a linear
/// pass, as in every HTTP/1 proxy: a head has tens of fields.
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
    /// Number of spans in use; `None` when the fields did not fit and are read by scanning.
    indexed: Option<u8>,
    spans: [Span; INLINE],
}

impl<'b> Headers<'b> {
    /// Indexes `section`, whose fields `httparse` tokenised into `fields` (slices of it).
    pub(crate) fn index(section: &'b [u8], fields: &[httparse::Header<'b>]) -> Self {
        let mut headers = Self {
            raw: section,
            indexed: None,
            spans: [Span::default(); INLINE],
        };
        if fields.len() > INLINE || section.len() > usize::from(u16::MAX) {
            return headers;
        }
        let base = section.as_ptr() as usize;
        let offset = |p: *const u8| {
            (p as usize)
                .checked_sub(base)
                .and_then(|o| u16::try_from(o).ok())
        };
        for (i, f) in fields.iter().enumerate() {
            let Some(name_start) = offset(f.name.as_ptr()) else {
                return headers;
            };
            // Each line ends where the next begins; the last at the end of the section.
            if let Some(prev) = i.checked_sub(1) {
                headers.spans[prev].line_end = name_start;
            }
            let name_end = name_start + f.name.len() as u16; // < section.len() <= u16::MAX
            // An empty value's slice may not point into the buffer: place it after the colon.
            let (value_start, value_end) = if f.value.is_empty() {
                (name_end + 1, name_end + 1)
            } else {
                match offset(f.value.as_ptr()) {
                    Some(s) => (s, s + f.value.len() as u16),
                    None => return headers,
                }
            };
            headers.spans[i] = Span {
                name_start,
                name_end,
                value_start,
                value_end,
                line_end: section.len() as u16,
            };
        }
        // httparse's slices are sub-slices of the section, so the offsets read the same bytes
        // back (reading is bounds-checked regardless: a wrong offset cannot panic).
        debug_assert!(
            headers.spans[..fields.len()]
                .iter()
                .zip(fields)
                .all(|(s, f)| {
                    section.get(usize::from(s.name_start)..usize::from(s.name_end))
                        == Some(f.name.as_bytes())
                        && section.get(usize::from(s.value_start)..usize::from(s.value_end))
                            == Some(f.value)
                })
        );
        headers.indexed = Some(fields.len() as u8);
        headers
    }

    /// Iterates over the fields in order.
    #[must_use]
    pub fn iter(&self) -> HeaderIter<'_, 'b> {
        HeaderIter {
            headers: self,
            next: 0,
            line_start: 0,
            rest: self.raw,
        }
    }

    /// The value of the first field called `name` (ASCII case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.get_all(name).next()
    }

    /// The values of every field called `name`, in order.
    pub fn get_all<'h, 'n>(
        &'h self,
        name: &'n str,
    ) -> impl Iterator<Item = &'b [u8]> + use<'h, 'b, 'n> {
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

impl<'h, 'b> IntoIterator for &'h Headers<'b> {
    type Item = Header<'b>;
    type IntoIter = HeaderIter<'h, 'b>;

    fn into_iter(self) -> HeaderIter<'h, 'b> {
        self.iter()
    }
}

/// Iterator over [`Headers`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'h, 'b> {
    headers: &'h Headers<'b>,
    next: usize,
    /// Where the next indexed line starts.
    line_start: u16,
    /// The unread lines, when scanning.
    rest: &'b [u8],
}

impl<'b> HeaderIter<'_, 'b> {
    /// The next field with its whole line as received, line ending included.
    pub(crate) fn next_line(&mut self) -> Option<(Header<'b>, &'b [u8])> {
        let raw = self.headers.raw;
        if let Some(count) = self.headers.indexed {
            if self.next >= usize::from(count) {
                return None;
            }
            let s = *self.headers.spans.get(self.next)?;
            let start = usize::from(self.line_start);
            self.line_start = s.line_end;
            self.next += 1;
            // Offsets were taken from the section itself: these never fail (and cannot panic).
            let line = raw.get(start..usize::from(s.line_end))?;
            let name = raw.get(usize::from(s.name_start)..usize::from(s.name_end))?;
            let value = raw.get(usize::from(s.value_start)..usize::from(s.value_end))?;
            return Some((Header { name, value }, line));
        }
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let split = memchr::memchr(b'\n', self.rest).map_or(self.rest.len(), |i| i + 1);
            let (whole, rest) = self.rest.split_at(split);
            self.rest = rest;
            let line = whole.strip_suffix(b"\n").unwrap_or(whole);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // The parser validated every line; a line without a colon cannot occur, but skip
            // rather than panic if it did.
            if let Some(colon) = memchr::memchr(b':', line) {
                let header = Header {
                    name: &line[..colon],
                    value: trim_ows(&line[colon + 1..]),
                };
                return Some((header, whole));
            }
        }
    }
}

impl<'b> Iterator for HeaderIter<'_, 'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        self.next_line().map(|(header, _)| header)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn both_ways(section: &[u8], fields: &[httparse::Header<'_>]) {
        let indexed = Headers::index(section, fields);
        assert!(indexed.indexed.is_some(), "{section:?}");
        let scanned = Headers {
            indexed: None,
            ..indexed
        };
        let a: Vec<_> = {
            let mut it = indexed.iter();
            std::iter::from_fn(|| it.next_line()).collect()
        };
        let b: Vec<_> = {
            let mut it = scanned.iter();
            std::iter::from_fn(|| it.next_line()).collect()
        };
        assert_eq!(a, b);
        let joined: Vec<u8> = a
            .iter()
            .flat_map(|(_, line)| line.iter().copied())
            .collect();
        assert_eq!(joined, section, "lines cover the section exactly");
    }

    #[test]
    fn index_matches_scan() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nEmpty:\r\nX:  v w  \nTab:\tt\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut storage);
        let n = req.parse(head).unwrap().unwrap();
        let section = super::super::request::header_section(head, n, req.headers);
        both_ways(section, req.headers);
    }

    #[test]
    fn many_fields_fall_back_to_scanning() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..40 {
            head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let mut storage = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut storage);
        let n = req.parse(&head).unwrap().unwrap();
        let section = super::super::request::header_section(&head, n, req.headers);
        let headers = Headers::index(section, req.headers);
        assert!(headers.indexed.is_none());
        assert_eq!(headers.iter().count(), 40);
        assert_eq!(headers.get("x-39"), Some(&b"39"[..]));
    }
}

//! Writing chunked bodies: for a proxy that re-frames a body as chunked,
//! and for tests.

use bytes::BufMut;

/// The last chunk with an empty trailer section: what ends a chunked body
/// that has no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The CRLF that follows the data of every chunk, and ends the trailer
/// section.
pub const CRLF: &[u8] = b"\r\n";

/// A chunk line without extensions, `<size in lowercase hex>\r\n`, held on
/// the stack: to write before the data with a vectored write, without
/// copying the data.
///
/// `ChunkHeader::new(0)` is the line of the last chunk, `0\r\n`, to be
/// followed by the trailer lines, if any, and a [`CRLF`].
///
/// # Examples
///
/// ```
/// use lb_l7::chunked::{CRLF, ChunkHeader};
///
/// let data = b"a body of 26 bytes, or so.";
/// let header = ChunkHeader::new(data.len());
/// assert_eq!(header.as_bytes(), b"1a\r\n");
/// // Then, e.g., write_vectored(&[IoSlice::new(&header), IoSlice::new(data), IoSlice::new(CRLF)]).
/// assert_eq!(ChunkHeader::new(0).as_bytes(), b"0\r\n");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    buf: [u8; ChunkHeader::MAX_LEN],
    len: usize,
}

impl ChunkHeader {
    /// The longest chunk line written: 16 hex digits and CRLF.
    pub const MAX_LEN: usize = 18;

    /// The chunk line announcing `size` bytes of data.
    #[must_use]
    pub fn new(size: usize) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // usize is at most 64 bits on every target Rust supports.
        let size = size as u64;
        let digits = (size.checked_ilog2().unwrap_or(0) / 4 + 1) as usize;
        let mut buf = [0; Self::MAX_LEN];
        for (i, slot) in buf.iter_mut().take(digits).enumerate() {
            let shift = 4 * (digits - 1 - i);
            *slot = HEX[((size >> shift) & 0xf) as usize];
        }
        buf[digits] = b'\r';
        buf[digits + 1] = b'\n';
        Self {
            buf,
            len: digits + 2,
        }
    }

    /// The line, CRLF included.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl AsRef<[u8]> for ChunkHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::Deref for ChunkHeader {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for ChunkHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ChunkHeader")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

/// Appends the chunk line announcing `size` bytes of data to `out` (see
/// [`ChunkHeader`]); the caller then appends the data and a [`CRLF`].
///
/// # Panics
///
/// As [`BufMut::put_slice`], if `out` has no room for the line (never for
/// a `Vec<u8>` or a `BytesMut`, which grow).
///
/// # Examples
///
/// ```
/// use lb_l7::chunked::{CRLF, LAST_CHUNK, write_chunk_header};
///
/// let mut out = Vec::new();
/// write_chunk_header(300, &mut out);
/// out.extend_from_slice(&[b'x'; 300]);
/// out.extend_from_slice(CRLF);
/// out.extend_from_slice(LAST_CHUNK);
/// assert!(out.starts_with(b"12c\r\nxxx"));
/// assert!(out.ends_with(b"xxx\r\n0\r\n\r\n"));
/// ```
pub fn write_chunk_header(size: usize, out: &mut impl BufMut) {
    out.put_slice(ChunkHeader::new(size).as_bytes());
}

/// Appends `data` to `out` as one chunk: line, data, CRLF. Empty `data`
/// appends nothing, since an empty chunk would end the body; end it with
/// [`LAST_CHUNK`].
///
/// # Panics
///
/// As [`BufMut::put_slice`], if `out` has no room for the chunk (never for
/// a `Vec<u8>` or a `BytesMut`, which grow).
///
/// # Examples
///
/// ```
/// use lb_l7::chunked::{LAST_CHUNK, encode_chunk};
///
/// let mut out = Vec::new();
/// encode_chunk(b"hello", &mut out);
/// encode_chunk(b"", &mut out);
/// out.extend_from_slice(LAST_CHUNK);
/// assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
/// ```
pub fn encode_chunk(data: &[u8], out: &mut impl BufMut) {
    if data.is_empty() {
        return;
    }
    write_chunk_header(data.len(), out);
    out.put_slice(data);
    out.put_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        for (size, line) in [
            (0, &b"0\r\n"[..]),
            (1, b"1\r\n"),
            (15, b"f\r\n"),
            (16, b"10\r\n"),
            (255, b"ff\r\n"),
            (256, b"100\r\n"),
            (0xdead_beef, b"deadbeef\r\n"),
        ] {
            let header = ChunkHeader::new(size);
            assert_eq!(header.as_bytes(), line, "{size}");
            assert_eq!(&*header, line);
            assert_eq!(header.as_ref(), line);
        }
        let max = ChunkHeader::new(usize::MAX);
        assert_eq!(max.len(), 2 * size_of::<usize>() + 2);
        assert!(max.len() <= ChunkHeader::MAX_LEN);
        assert_eq!(
            format!("{:?}", ChunkHeader::new(10)),
            r#"ChunkHeader("a\r\n")"#
        );
    }

    #[test]
    fn header_matches_format() {
        let mut n = 1usize;
        while let Some(next) = n.checked_mul(3) {
            let mut out = Vec::new();
            write_chunk_header(n, &mut out);
            assert_eq!(out, format!("{n:x}\r\n").into_bytes());
            n = next;
        }
    }

    #[test]
    fn encode_into_bytes_mut() {
        let mut out = bytes::BytesMut::new();
        encode_chunk(&[7; 17], &mut out);
        assert_eq!(&out[..4], b"11\r\n");
        assert_eq!(out.len(), 4 + 17 + 2);
        assert!(out.ends_with(CRLF));
    }
}

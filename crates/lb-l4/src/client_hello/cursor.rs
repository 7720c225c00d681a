//! The bytes of one handshake message, read across the TLS records that
//! carry it, without copying them together.
//!
//! A [`Cursor`] walks the payloads of consecutive handshake records as one
//! stream: each record header is checked when the stream reaches it, a
//! read that crosses a record boundary skips the header in between, and a
//! read never goes past the message's end (its `limit`).

use super::Error;
use super::name::Bytes;

/// Size of a TLS record header: content type, version, length.
pub(super) const RECORD_HEADER_LEN: usize = 5;

/// The largest record payload TLS allows for plaintext (2^14 bytes).
pub(super) const MAX_RECORD_LEN: usize = 1 << 14;

/// Content type of handshake records.
const HANDSHAKE: u8 = 22;

/// Why a read did not return a value.
#[derive(Debug)]
pub(super) enum Stop {
    /// The input ends first; at least `needed` more bytes are required.
    Incomplete { needed: usize },
    /// The input cannot be a valid ClientHello.
    Error(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

/// Shorthand for a [`Error::Malformed`] stop.
pub(super) fn malformed(what: &'static str) -> Stop {
    Stop::Error(Error::Malformed { what })
}

/// A position in the handshake stream carried by the records of `buf`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    /// Index in `buf` of the next byte to read.
    pos: usize,
    /// Index in `buf` where the current record's payload ends (possibly
    /// past the end of `buf`); equal to `pos` when the next read starts
    /// with a record header.
    record_end: usize,
    /// Records whose header has been read.
    records: usize,
    /// Handshake bytes read so far.
    offset: usize,
    /// Handshake bytes that may be read in all.
    limit: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor before the first record of `buf`, allowed to read `limit`
    /// handshake bytes.
    pub(super) fn new(buf: &'a [u8], limit: usize) -> Self {
        Self {
            buf,
            pos: 0,
            record_end: 0,
            records: 0,
            offset: 0,
            limit,
        }
    }

    /// Handshake bytes left before the limit.
    pub(super) fn remaining(&self) -> usize {
        self.limit - self.offset
    }

    /// Moves the limit to `limit` handshake bytes in all (not below what
    /// was read).
    pub(super) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(self.offset);
    }

    /// The index in the input just past the last byte read.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// Refuses a read of `n` bytes that would pass the limit.
    fn reserve(&self, n: usize) -> Result<(), Stop> {
        if n > self.remaining() {
            return Err(malformed("a field runs past the end of the ClientHello"));
        }
        Ok(())
    }

    /// The stop for input ending inside a record's payload: what is left
    /// of the message beyond the bytes at hand is a lower bound of what is
    /// missing (later record headers add to it).
    fn incomplete(&self) -> Stop {
        let at_hand = self.record_end.min(self.buf.len()).saturating_sub(self.pos);
        Stop::Incomplete {
            needed: self.remaining().saturating_sub(at_hand).max(1),
        }
    }

    /// Reads the header of the next record (the current one is used up).
    fn next_record(&mut self) -> Result<(), Stop> {
        let start = self.record_end;
        let header = self.buf.get(start..).unwrap_or_default();
        let have = header.len().min(RECORD_HEADER_LEN);
        let len = check_record_header(&header[..have], self.records == 0)?;
        let Some(len) = len else {
            return Err(Stop::Incomplete {
                needed: RECORD_HEADER_LEN - have + self.remaining().max(1),
            });
        };
        self.records += 1;
        self.pos = start + RECORD_HEADER_LEN;
        self.record_end = self.pos + len;
        Ok(())
    }

    /// Makes sure the next byte is in the current record (records are
    /// never empty, so one header read is enough).
    fn enter(&mut self) -> Result<(), Stop> {
        if self.pos == self.record_end {
            self.next_record()?;
        }
        Ok(())
    }

    /// Reads one byte.
    pub(super) fn u8(&mut self) -> Result<u8, Stop> {
        self.reserve(1)?;
        self.enter()?;
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(self.incomplete());
        };
        self.pos += 1;
        self.offset += 1;
        Ok(b)
    }

    /// Reads a big-endian 16-bit integer.
    pub(super) fn u16(&mut self) -> Result<u16, Stop> {
        self.reserve(2)?;
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// Reads a big-endian 24-bit integer.
    pub(super) fn u24(&mut self) -> Result<usize, Stop> {
        self.reserve(3)?;
        let bytes = [0, self.u8()?, self.u8()?, self.u8()?];
        Ok(u32::from_be_bytes(bytes) as usize)
    }

    /// Skips `n` bytes.
    pub(super) fn skip(&mut self, mut n: usize) -> Result<(), Stop> {
        self.reserve(n)?;
        while n > 0 {
            self.enter()?;
            let available = self.record_end.min(self.buf.len()).saturating_sub(self.pos);
            if available == 0 {
                return Err(self.incomplete());
            }
            let step = available.min(n);
            self.pos += step;
            self.offset += step;
            n -= step;
        }
        Ok(())
    }

    /// Reads `n` bytes (at most [`Bytes::CAPACITY`]): a slice of the input
    /// when one record holds them all, else a copy.
    pub(super) fn bytes(&mut self, n: usize) -> Result<Bytes<'a>, Stop> {
        debug_assert!(n <= Bytes::CAPACITY);
        self.reserve(n)?;
        if n == 0 {
            return Ok(Bytes::borrowed(&[]));
        }
        self.enter()?;
        if self.record_end - self.pos >= n {
            let Some(slice) = self.buf.get(self.pos..self.pos + n) else {
                return Err(self.incomplete());
            };
            self.pos += n;
            self.offset += n;
            return Ok(Bytes::borrowed(slice));
        }
        let mut copy = Bytes::empty();
        for _ in 0..n {
            let b = self.u8()?;
            copy.push(b);
        }
        Ok(copy)
    }
}

/// Checks the bytes of a record header present so far; the payload length
/// once all five are in.
fn check_record_header(header: &[u8], first: bool) -> Result<Option<usize>, Error> {
    if let Some(&content_type) = header.first() {
        if content_type != HANDSHAKE {
            return Err(if first {
                Error::NotTls
            } else {
                Error::Malformed {
                    what: "a record that is not a handshake record inside the ClientHello",
                }
            });
        }
    }
    // In the first record a major version other than 3 is another protocol
    // (told at once); later, a version is judged once both bytes are in.
    if first && header.get(1).is_some_and(|&major| major != 3) {
        return Err(Error::NotTls);
    }
    if let Some(&[major, minor]) = header.get(1..3) {
        if major != 3 || !(1..=4).contains(&minor) {
            return Err(Error::UnsupportedVersion {
                version: u16::from_be_bytes([major, minor]),
            });
        }
    }
    let [_, _, _, high, low] = *header else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([high, low]));
    if len == 0 {
        return Err(Error::Malformed {
            what: "an empty handshake record",
        });
    }
    if len > MAX_RECORD_LEN {
        return Err(Error::Malformed {
            what: "a record longer than 2^14 bytes",
        });
    }
    Ok(Some(len))
}

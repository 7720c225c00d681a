//! Base64url without padding (RFC 4648 §5), canonical only: the cookie-safe token alphabet.
//!
//! Hand-written (a few lines) rather than a dependency. Decoding rejects every input that
//! [`encode`] would not produce: characters outside the alphabet, a length that no byte
//! count encodes to, and non-zero bits in the unused low bits of the last character. So each
//! byte string has exactly one accepted encoding.

/// The RFC 4648 §5 alphabet: letters, digits, `-` and `_`, all valid in a cookie value.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet in [`DECODE`].
const INVALID: u8 = 0xff;

/// Byte → 6-bit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The encoded length of `n` bytes: 4 characters per 3 bytes, 2 or 3 for a 1- or 2-byte tail.
pub(super) const fn encoded_len(n: usize) -> usize {
    n / 3 * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Why a string is not the canonical encoding of some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// The byte at `index` is outside the alphabet.
    Character {
        /// Position in the input.
        index: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The unused low bits of the last character are not zero.
    NonCanonical,
}

/// Encodes `input` into the start of `out`, returning the number of characters written.
///
/// `out` must hold at least [`encoded_len`]`(input.len())` bytes.
pub(super) fn encode(input: &[u8], out: &mut [u8]) -> usize {
    let mut o = 0;
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out[o] = ALPHABET[(n >> 18) as usize & 63];
        out[o + 1] = ALPHABET[(n >> 12) as usize & 63];
        out[o + 2] = ALPHABET[(n >> 6) as usize & 63];
        out[o + 3] = ALPHABET[n as usize & 63];
        o += 4;
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out[o] = ALPHABET[(n >> 18) as usize & 63];
            out[o + 1] = ALPHABET[(n >> 12) as usize & 63];
            o += 2;
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out[o] = ALPHABET[(n >> 18) as usize & 63];
            out[o + 1] = ALPHABET[(n >> 12) as usize & 63];
            out[o + 2] = ALPHABET[(n >> 6) as usize & 63];
            o += 3;
        }
        _ => {}
    }
    o
}

/// Decodes exactly `out.len()` bytes from `input`, whose length the caller has already
/// checked to be [`encoded_len`]`(out.len())`.
///
/// # Errors
///
/// [`DecodeError::Character`] for the first byte outside the alphabet,
/// [`DecodeError::NonCanonical`] when the last character carries non-zero unused bits.
pub(super) fn decode_exact(input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    debug_assert_eq!(input.len(), encoded_len(out.len()));
    let mut acc: u32 = 0;
    let mut bits = 0_u32;
    let mut o = 0;
    for (index, &byte) in input.iter().enumerate() {
        let v = DECODE[usize::from(byte)];
        if v == INVALID {
            return Err(DecodeError::Character { index, byte });
        }
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Guarded by the length check: never more bytes than `out` holds.
            if let Some(slot) = out.get_mut(o) {
                *slot = (acc >> bits) as u8;
            }
            o += 1;
            acc &= (1 << bits) - 1;
        }
    }
    // Left-over bits (2 or 4) must be zero, or two inputs would decode the same.
    if acc != 0 {
        return Err(DecodeError::NonCanonical);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(input: &[u8]) -> String {
        let mut out = [0_u8; 64];
        let n = encode(input, &mut out);
        assert_eq!(n, encoded_len(input.len()));
        String::from_utf8(out[..n].to_vec()).expect("ascii")
    }

    #[test]
    fn rfc4648_vectors_without_padding() {
        // RFC 4648 §10, padding removed (the alphabets agree on these).
        for (raw, text) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(raw), text);
            let mut out = vec![0; raw.len()];
            decode_exact(text.as_bytes(), &mut out).expect("decodes");
            assert_eq!(out, raw);
        }
        // The url-safe characters.
        assert_eq!(enc(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn decoding_rejects_foreign_and_non_canonical_input() {
        let mut out = [0; 2];
        assert_eq!(
            decode_exact(b"Zm+", &mut out),
            Err(DecodeError::Character {
                index: 2,
                byte: b'+'
            })
        );
        // "Zm9" is canonical for "fo"; "Zm-" sets unused low bits.
        assert_eq!(
            decode_exact(b"Zm-", &mut out),
            Err(DecodeError::NonCanonical)
        );
        let mut one = [0; 1];
        assert_eq!(
            decode_exact(b"Zh", &mut one),
            Err(DecodeError::NonCanonical)
        );
    }
}

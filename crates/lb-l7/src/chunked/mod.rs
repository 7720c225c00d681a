//! The chunked transfer coding (RFC 9112 §7.1): a strict sans-IO decoder,
//! and encoder helpers.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! ```
//!
//! A [`ChunkedDecoder`] takes the bytes after a head, in pieces of any size,
//! and never buffers or copies: partial chunk lines are absorbed into its
//! state (a few words), data comes back as slices of the input. Two ways to
//! drive it, which may be mixed:
//!
//! - [`ChunkedDecoder::decode`] hands out the chunk data ([`Decoded::Data`])
//!   and the trailer lines ([`Decoded::Trailers`]), for a proxy that
//!   re-frames the body (as nginx does), and says where the body ends
//!   ([`Decoded::Done`]).
//! - [`ChunkedDecoder::scan`] only says how many bytes of the input belong to
//!   the body, for a proxy that forwards the chunked bytes verbatim (as
//!   HAProxy does) once they have been validated.
//!
//! Either way the decoder stops exactly at the end of the body, so the bytes
//! after it (a pipelined request, the next response) are left to the caller.
//! It reads each byte once, allocates nothing, and never panics; an error is
//! final and the decoder returns it again on every later call.
//!
//! Choices where the RFC, nginx and HAProxy leave room. This decoder is
//! stricter than both (nginx's `ngx_http_parse_chunked` and HAProxy's
//! `h1_parse_chunk_size`, in the versions read while writing this, accept a
//! bare LF and skip extension bytes unchecked), so that what it lets
//! through, any recipient should read the same way:
//!
//! - **Line endings.** CRLF only. A bare LF, a CR followed by anything but
//!   LF, or chunk data not followed by exactly CRLF, is
//!   [`ChunkedError::BadLineEnding`]. RFC 9112 §2.2 lets a recipient accept
//!   a bare LF; disagreement on it between a proxy and a backend is a known
//!   request-smuggling vector.
//! - **Chunk size.** `1*HEXDIG`, either case, leading zeros allowed; at most
//!   [`MAX_SIZE_DIGITS`] digits and [`MAX_CHUNK_SIZE`] (2^52 − 1, HAProxy's
//!   bound). No sign, no `0x`, no whitespace before it.
//! - **Whitespace (BWS).** Spaces and tabs are accepted exactly where the
//!   RFC grammar puts BWS: before and after each `;` and around `=`. Not
//!   before the CRLF: `5 \r\n` and `5;a=b \r\n` are errors (nginx and
//!   HAProxy accept the first).
//! - **Extensions** are checked against the grammar (a token name, an
//!   optional token or quoted-string value; no control character but HTAB,
//!   which quoted strings may hold with obs-text) and otherwise ignored, as
//!   the RFC tells recipients to do with extensions they do not know:
//!   [`decode`](ChunkedDecoder::decode) drops them, [`scan`](ChunkedDecoder::scan)
//!   leaves them in the raw bytes. Everything after the size on a chunk line
//!   counts against [`Limits::max_chunk_ext_bytes`](crate::Limits::max_chunk_ext_bytes).
//! - **Trailers.** Each field line is `name:value` CRLF: a token name
//!   directly followed by the colon, a value of VCHAR, obs-text, SP and HTAB;
//!   obs-fold (a line starting with whitespace) is refused. Field lines
//!   count against [`Limits::max_trailer_bytes`](crate::Limits::max_trailer_bytes)
//!   (CRLFs included, the final CRLF not), so a limit of 0 refuses trailers
//!   altogether. Names are not interpreted: a caller that merges trailers
//!   into headers must itself drop those RFC 9110 §6.5.1 forbids there
//!   (framing, routing, authentication fields). `decode` hands the lines out
//!   raw, to forward after a `0\r\n` or to drop; `scan` leaves them in the
//!   raw bytes.
//!
//! # Examples
//!
//! A proxy loop re-framing a request body: bytes arrive in arbitrary pieces,
//! the data is forwarded as it comes, and the next request starts where the
//! decoder says.
//!
//! ```
//! use lb_l7::Limits;
//! use lb_l7::chunked::{ChunkedDecoder, Decoded, LAST_CHUNK, encode_chunk};
//!
//! let arriving: [&[u8]; 4] = [b"6;name=val", b"ue\r\nchunk", b"y\r\n0\r\nMD5: ab\r\n\r", b"\nGET / "];
//! let mut decoder = ChunkedDecoder::new(&Limits::default());
//! let (mut upstream, mut buffer) = (Vec::new(), Vec::new());
//! for piece in arriving {
//!     buffer.extend_from_slice(piece); // read(2) into the buffer
//!     let mut at = 0;
//!     while !decoder.is_done() {
//!         let (consumed, event) = decoder.decode(&buffer[at..]).expect("valid body");
//!         at += consumed;
//!         match event {
//!             Decoded::Data(data) => encode_chunk(data, &mut upstream),
//!             Decoded::Trailers(_) => {} // dropped, as nginx does
//!             Decoded::NeedMore => break,
//!             Decoded::Done => upstream.extend_from_slice(LAST_CHUNK),
//!         }
//!     }
//!     buffer.drain(..at); // what is left is the next request's
//! }
//! assert_eq!(upstream, b"5\r\nchunk\r\n1\r\ny\r\n0\r\n\r\n");
//! assert_eq!(buffer, b"GET / ");
//! ```
//!
//! The same body forwarded verbatim, validated on the way:
//!
//! ```
//! use lb_l7::Limits;
//! use lb_l7::chunked::{ChunkedDecoder, Scanned};
//!
//! let wire = b"6;name=value\r\nchunky\r\n0\r\nMD5: ab\r\n\r\nGET / ";
//! let mut decoder = ChunkedDecoder::new(&Limits::default());
//! let (body_len, status) = decoder.scan(wire).unwrap();
//! assert_eq!(status, Scanned::Done);
//! assert_eq!(&wire[body_len..], b"GET / ");
//! assert_eq!(decoder.data_len(), 6);
//! ```

mod decode;
mod encode;
mod error;

pub use decode::{ChunkedDecoder, Decoded, MAX_CHUNK_SIZE, MAX_SIZE_DIGITS, Scanned};
pub use encode::{CRLF, ChunkHeader, LAST_CHUNK, encode_chunk, write_chunk_header};
pub use error::ChunkedError;

#[cfg(test)]
mod tests;

//! Rewriting heads for the next hop: hop-by-hop fields out, forwarding fields in.
//!
//! A proxy must not pass on the fields that describe its own connection with the client
//! (RFC 9110 §7.6.1): `Connection` and every field it names (but never the framing fields or
//! Host: removing those would change where the message ends), `Keep-Alive`, `Proxy-Connection`,
//! `TE`, and `Upgrade` unless the request is being tunnelled. `Trailer` is end-to-end (RFC 9110
//! §6.6.2) and kept while trailers are forwarded. It tells the backend who
//! the client was with `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Real-IP`
//! and optionally RFC 7239 `Forwarded`. Routes add and remove their own fields
//! ([`HeaderEdits`]).
//!
//! Both writers produce the new head in one pass into one buffer, with no allocation per field;
//! bodies are forwarded as received, so the framing fields (`Content-Length`,
//! `Transfer-Encoding`) are kept as the parser validated them.

mod client;
mod edits;
mod request;
mod response;

pub use client::ClientIp;
pub use edits::{EditError, HeaderEdits};
pub use request::{Forwarding, write_request_head};
pub use response::{ResponseRewrite, write_response_head};

use crate::head::{ConnectionOptions, Headers};

/// Fields that are hop-by-hop whatever the Connection header says.
fn is_hop_by_hop(name: &[u8]) -> bool {
    match name.len() {
        2 => name.eq_ignore_ascii_case(b"te"),
        7 => name.eq_ignore_ascii_case(b"upgrade"),
        10 => name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive"),
        16 => name.eq_ignore_ascii_case(b"proxy-connection"),
        _ => false,
    }
}

/// Whether a Connection field of `headers` names `name` (only consulted when
/// [`ConnectionOptions::other`] says some field does).
fn named_in_connection(name: &[u8], headers: &Headers<'_>, options: ConnectionOptions) -> bool {
    options.other
        && !is_framing_or_host(name)
        && headers.get_all("connection").any(|v| {
            v.split(|&b| b == b',')
                .any(|t| crate::head::trim_ows(t).eq_ignore_ascii_case(name))
        })
}

/// Fields a Connection header may not remove: the forwarded message must keep its framing and
/// its Host.
fn is_framing_or_host(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"host")
}

/// Writes `name: value\r\n`.
fn put_field(out: &mut impl bytes::BufMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests;

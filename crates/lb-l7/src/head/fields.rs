//! The header fields that decide framing and connection handling, validated once per head.

use super::Expect;
use crate::ParseError;

/// The options a `Connection` header carries (RFC 9110 §7.6.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `close`: the sender will close the connection after this message.
    pub close: bool,
    /// `keep-alive`: an HTTP/1.0 peer asks for a persistent connection.
    pub keep_alive: bool,
    /// `upgrade`: the `Upgrade` header is meant for this hop.
    pub upgrade: bool,
    /// Some other token: it names a header field that is hop-by-hop for this message only.
    pub other: bool,
}

/// What Transfer-Encoding says, all its fields taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferCoding {
    /// No Transfer-Encoding field.
    Absent,
    /// The list ends in `chunked` (which appears once).
    Chunked,
    /// Known codings without a final `chunked` (a response body then runs until close).
    NotChunked,
}

/// The facts a proxy needs from the header fields, gathered in one pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'b> {
    pub(crate) host: Option<&'b [u8]>,
    pub(crate) host_count: u32,
    pub(crate) content_length: Option<u64>,
    pub(crate) transfer: TransferCoding,
    /// Transfer codings other than `chunked` were listed (`gzip, chunked`).
    pub(crate) other_codings: bool,
    pub(crate) connection: ConnectionOptions,
    pub(crate) upgrade: Option<&'b [u8]>,
    pub(crate) expect: Expect,
}

impl<'b> Facts<'b> {
    /// Gathers and checks the framing fields of `headers`.
    ///
    /// # Errors
    ///
    /// Invalid or conflicting Content-Length, invalid or unknown Transfer-Encoding.
    pub(crate) fn collect(headers: &[httparse::Header<'b>]) -> Result<Self, ParseError> {
        let mut facts = Facts {
            host: None,
            host_count: 0,
            content_length: None,
            transfer: TransferCoding::Absent,
            other_codings: false,
            connection: ConnectionOptions::default(),
            upgrade: None,
            expect: Expect::None,
        };
        for h in headers {
            let name = h.name.as_bytes();
            // Most fields are none of these: a length and a first-letter test rule them out.
            let Some(first) = name.first().map(u8::to_ascii_lowercase) else {
                continue;
            };
            match (name.len(), first) {
                (4, b'h') if name.eq_ignore_ascii_case(b"host") => {
                    facts.host_count += 1;
                    facts.host.get_or_insert(h.value);
                }
                (6, b'e') if name.eq_ignore_ascii_case(b"expect") => {
                    facts.expect = if h.value.eq_ignore_ascii_case(b"100-continue") {
                        Expect::Continue
                    } else {
                        Expect::Other
                    };
                }
                (7, b'u') if name.eq_ignore_ascii_case(b"upgrade") => {
                    facts.upgrade.get_or_insert(h.value);
                }
                (10, b'c') if name.eq_ignore_ascii_case(b"connection") => {
                    connection_options(h.value, &mut facts.connection);
                }
                (14, b'c') if name.eq_ignore_ascii_case(b"content-length") => {
                    let n = parse_content_length(h.value)?;
                    match facts.content_length {
                        Some(prev) if prev != n => {
                            return Err(ParseError::ConflictingContentLength);
                        }
                        _ => facts.content_length = Some(n),
                    }
                }
                (17, b't') if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    facts.transfer = transfer_coding(facts.transfer, h.value)?;
                    facts.other_codings |= !h.value.eq_ignore_ascii_case(b"chunked")
                        && h.value.split(|&b| b == b',').any(|c| {
                            let c = super::headers::trim_ows(c);
                            !c.is_empty() && !c.eq_ignore_ascii_case(b"chunked")
                        });
                }
                _ => {}
            }
        }
        Ok(facts)
    }
}

/// The largest Content-Length accepted: 2^62, far above any real body, far below overflow.
const MAX_CONTENT_LENGTH: u64 = 1 << 62;

/// `Content-Length = 1*DIGIT`: no sign, no spaces inside, no hex, no list. Leading zeros are
/// allowed (they are still a decimal) but bounded by the 19-digit cap.
pub(crate) fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() || v.len() > 19 {
        return Err(ParseError::InvalidContentLength);
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(ParseError::InvalidContentLength);
        }
        n = n * 10 + u64::from(b - b'0'); // 19 digits cannot overflow u64
    }
    if n > MAX_CONTENT_LENGTH {
        return Err(ParseError::InvalidContentLength);
    }
    Ok(n)
}

/// Folds one Transfer-Encoding field value into the state from the earlier ones.
///
/// The list (across all fields, in order) must end in `chunked`, which may appear only once and
/// only last. `gzip`, `deflate`, `compress` (and their `x-` aliases) may precede it; `identity`
/// (removed from HTTP) and empty lists are invalid; anything else, `xchunked` included, is an
/// unknown coding. Parameters (`chunked;q=1`) are not accepted.
fn transfer_coding(state: TransferCoding, value: &[u8]) -> Result<TransferCoding, ParseError> {
    let mut state = state;
    let mut any = false;
    for element in value.split(|&b| b == b',') {
        let coding = super::headers::trim_ows(element);
        if coding.is_empty() {
            continue; // RFC 9110 §5.6.1: empty list elements are ignored.
        }
        any = true;
        if state == TransferCoding::Chunked {
            // Nothing may follow chunked: the message would have no reliable end.
            return Err(ParseError::InvalidTransferEncoding);
        }
        state = if coding.eq_ignore_ascii_case(b"chunked") {
            TransferCoding::Chunked
        } else if is_known_coding(coding) {
            TransferCoding::NotChunked
        } else if coding.eq_ignore_ascii_case(b"identity") || !is_token(coding) {
            return Err(ParseError::InvalidTransferEncoding);
        } else {
            return Err(ParseError::UnknownTransferCoding);
        };
    }
    if !any {
        return Err(ParseError::InvalidTransferEncoding);
    }
    Ok(state)
}

fn is_known_coding(c: &[u8]) -> bool {
    ["gzip", "x-gzip", "deflate", "compress", "x-compress"]
        .iter()
        .any(|k| c.eq_ignore_ascii_case(k.as_bytes()))
}

/// Reads the tokens of a Connection field value.
fn connection_options(value: &[u8], opts: &mut ConnectionOptions) {
    for element in value.split(|&b| b == b',') {
        let token = super::headers::trim_ows(element);
        if token.is_empty() {
            continue;
        }
        if token.eq_ignore_ascii_case(b"close") {
            opts.close = true;
        } else if token.eq_ignore_ascii_case(b"keep-alive") {
            opts.keep_alive = true;
        } else if token.eq_ignore_ascii_case(b"upgrade") {
            opts.upgrade = true;
        } else {
            opts.other = true;
        }
    }
}

/// RFC 9110 `tchar`.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// `token = 1*tchar`.
pub(crate) fn is_token(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|&b| is_tchar(b))
}

/// Whether `v` is a valid `uri-host [ ":" port ]` (RFC 9110 §7.2; userinfo is not allowed).
/// An empty value is valid (RFC 9112 §3.2: Host is empty when the target has no authority).
pub(crate) fn is_valid_authority(v: &[u8]) -> bool {
    let port = if let Some(rest) = v.strip_prefix(b"[") {
        // IP-literal: hex digits, dots, colons (IPv6 and IPv4-suffixed forms), or IPvFuture.
        let Some(end) = memchr::memchr(b']', rest) else {
            return false;
        };
        let inside = &rest[..end];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'%'))
        {
            return false;
        }
        match &rest[end + 1..] {
            [] => return true,
            [b':', port @ ..] => port,
            _ => return false,
        }
    } else {
        // One pass: reg-name bytes up to an optional colon (which reg-name cannot contain).
        let i = v
            .iter()
            .position(|&b| !REG_NAME[usize::from(b)])
            .unwrap_or(v.len());
        match v.get(i) {
            None => return true,
            Some(b':') if i > 0 => &v[i + 1..],
            Some(_) => return false,
        }
    };
    port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// `reg-name` bytes: unreserved, sub-delims and `%` of pct-encoded.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'%'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_plain_decimal() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"0042"), Ok(42));
        assert_eq!(parse_content_length(b"4611686018427387904"), Ok(1 << 62));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"0x10",
            b"1 2",
            b"1,1",
            b" 1",
            b"4611686018427387905",
            b"99999999999999999999",
            b"1e3",
        ] {
            assert_eq!(
                parse_content_length(bad),
                Err(ParseError::InvalidContentLength),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transfer_coding_list() {
        use TransferCoding::*;
        let t = |s: &[u8]| transfer_coding(Absent, s);
        assert_eq!(t(b"chunked"), Ok(Chunked));
        assert_eq!(t(b"CHUNKED"), Ok(Chunked));
        assert_eq!(t(b"gzip, chunked"), Ok(Chunked));
        assert_eq!(t(b"gzip,\tchunked"), Ok(Chunked));
        assert_eq!(t(b"gzip"), Ok(NotChunked));
        assert_eq!(
            t(b"chunked, gzip"),
            Err(ParseError::InvalidTransferEncoding)
        );
        assert_eq!(
            t(b"chunked, chunked"),
            Err(ParseError::InvalidTransferEncoding)
        );
        assert_eq!(
            t(b"chunked, identity"),
            Err(ParseError::InvalidTransferEncoding)
        );
        assert_eq!(t(b"identity"), Err(ParseError::InvalidTransferEncoding));
        assert_eq!(t(b""), Err(ParseError::InvalidTransferEncoding));
        assert_eq!(t(b" , "), Err(ParseError::InvalidTransferEncoding));
        assert_eq!(t(b"xchunked"), Err(ParseError::UnknownTransferCoding));
        assert_eq!(t(b"chunked;a=b"), Err(ParseError::InvalidTransferEncoding));
        assert_eq!(t(b"\x0bchunked"), Err(ParseError::InvalidTransferEncoding));
        // Across fields: the state carries over.
        assert_eq!(
            transfer_coding(Chunked, b"chunked"),
            Err(ParseError::InvalidTransferEncoding)
        );
        assert_eq!(transfer_coding(NotChunked, b"chunked"), Ok(Chunked));
    }

    #[test]
    fn authority_forms() {
        for ok in [
            &b""[..],
            b"example.com",
            b"example.com:8080",
            b"EXAMPLE.com.",
            b"127.0.0.1:80",
            b"[::1]",
            b"[::1]:443",
            b"[fe80::1%25eth0]",
            b"a_b.example",
            b"host:",
        ] {
            assert!(is_valid_authority(ok), "{ok:?}");
        }
        for bad in [
            &b"user@host"[..],
            b"a/b",
            b"a b",
            b"[::1",
            b"[::1]x",
            b"[]",
            b":80",
            b"host:80a",
            b"host:123456",
            b"a?b",
            b"a#b",
            b"a\\b",
        ] {
            assert!(!is_valid_authority(bad), "{bad:?}");
        }
    }

    #[test]
    fn connection_tokens() {
        let mut o = ConnectionOptions::default();
        connection_options(b"keep-alive, Upgrade,X-Foo", &mut o);
        assert!(o.keep_alive && o.upgrade && o.other && !o.close);
        let mut o = ConnectionOptions::default();
        connection_options(b"CLOSE", &mut o);
        assert!(o.close && !o.other);
    }
}

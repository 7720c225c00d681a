//! Responses the proxy writes itself: errors, with a small body and the connection closed
//! unless the request was read whole.

/// The reason phrase for the statuses the proxy generates.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Writes a complete response for `status`: a one-line text body, `Content-Length`, and
/// `Connection: close` unless `keep_alive`.
pub(crate) fn error_response(status: u16, keep_alive: bool, out: &mut Vec<u8>) {
    let reason = reason(status);
    let body_len = reason.len() + 5; // "404 Not Found\n"
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(body_len.to_string().as_bytes());
    if keep_alive {
        out.extend_from_slice(b"\r\n\r\n");
    } else {
        out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    }
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

/// The interim response sent when a client waits with `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn itoa3(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::head::{Framing, Method, parse_response};

    #[test]
    fn generated_responses_parse_and_frame_their_body() {
        for status in [
            400, 404, 405, 408, 413, 414, 417, 431, 501, 502, 503, 504, 505,
        ] {
            for keep_alive in [false, true] {
                let mut out = Vec::new();
                error_response(status, keep_alive, &mut out);
                let (head, n) = parse_response(&out, Method::Get, &Limits::default())
                    .unwrap()
                    .complete()
                    .unwrap();
                assert_eq!(head.status(), status);
                assert_eq!(head.keep_alive(), keep_alive);
                assert_eq!(head.framing(), Framing::Length((out.len() - n) as u64));
            }
        }
    }
}

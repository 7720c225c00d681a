//! Reading a PROXY header off a stream (the async shell over [`decode`](super::decode)).

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Header, Status, decode};

/// Why no PROXY header could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The stream failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended before a complete header.
    #[error("closed before a complete PROXY header")]
    Closed,
    /// The bytes are not a valid header (or exceed its size bound).
    #[error("{0}")]
    Invalid(#[from] super::Error),
}

/// Reads a PROXY protocol header (v1 or v2) from the start of `stream`: the header, and the
/// bytes read past it (the client's first data, to be read before the rest of the stream: see
/// [`Prefixed`](crate::io::Prefixed)). Bounded by the decoder's size limits; wrap it in a
/// timeout.
///
/// # Errors
///
/// [`ReadError`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use lb_l4::proxy_protocol::read_header;
/// let mut input: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\nGET / HTTP/1.1\r\n";
/// let (header, rest) = read_header(&mut input).await?;
/// assert_eq!(header.source().unwrap().to_string(), "192.0.2.1:5000");
/// assert_eq!(rest, b"GET / HTTP/1.1\r\n");
/// # Ok(())
/// # }
/// ```
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Header, Vec<u8>), ReadError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0_u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        match decode(&buf)? {
            Status::Complete(header, used) => return Ok((header, buf.split_off(used))),
            Status::Partial => {}
        }
    }
}

//! Size limits applied while parsing untrusted HTTP input.

/// Bounds on what the codec accepts from the network.
///
/// Every limit has its own error (see [`ParseError`](crate::ParseError)) so a proxy can answer
/// with the status nginx and HAProxy use: 414 for a long URI, 431 for too many or too large
/// headers, 400 for the rest.
///
/// # Examples
///
/// ```
/// use lb_l7::Limits;
///
/// let limits = Limits { max_headers: 50, ..Limits::default() };
/// assert_eq!(limits.max_head_bytes, 16 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request or response head (request line + headers + blank line), in bytes.
    /// Default 16 KiB (nginx accepts 1 KiB + 4 × 8 KiB buffers; HAProxy `tune.bufsize` 16 KiB).
    pub max_head_bytes: usize,
    /// Most header fields in one head. Default 100 (HAProxy `tune.http.maxhdr` is 101).
    /// Values above [`Limits::MAX_HEADERS`] are treated as that cap.
    pub max_headers: usize,
    /// Longest request target, in bytes. Default 8 KiB (nginx `large_client_header_buffers`).
    pub max_uri_bytes: usize,
    /// Longest chunk extension (the `;name=value` part after a chunk size), in bytes. Default 1 KiB.
    pub max_chunk_ext_bytes: usize,
    /// Largest trailer section of a chunked body, in bytes. Default 16 KiB.
    pub max_trailer_bytes: usize,
}

impl Limits {
    /// The hard cap on [`Limits::max_headers`]: the parser keeps its header table on the stack.
    pub const MAX_HEADERS: usize = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_chunk_ext_bytes: 1024,
            max_trailer_bytes: 16 * 1024,
        }
    }
}

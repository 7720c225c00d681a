//! The outcome of feeding bytes to a push decoder.

/// What a decoder made of the bytes it was given, httparse-style: either a
/// whole header and the number of bytes it took, or a request for more.
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::{self, Status};
///
/// let wire = b"PROXY UNKNOWN\r\nhello";
/// assert_eq!(proxy_protocol::decode(&wire[..9]), Ok(Status::Partial));
/// let (header, used) = proxy_protocol::decode(wire).unwrap().complete().unwrap();
/// assert_eq!(header.source(), None);
/// assert_eq!(&wire[used..], b"hello");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status<T> {
    /// The header is whole: the value and the number of bytes it took from
    /// the start of the buffer. The bytes after those are the first bytes
    /// of the proxied stream and were not looked at.
    Complete(T, usize),
    /// Every byte so far is consistent with a header that has not ended:
    /// call again with more bytes (the same prefix, extended).
    Partial,
}

impl<T> Status<T> {
    /// Whether the header is whole.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete(..))
    }

    /// Whether more bytes are needed.
    #[must_use]
    pub fn is_partial(&self) -> bool {
        matches!(self, Self::Partial)
    }

    /// The value and the bytes consumed, if the header is whole.
    #[must_use]
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Self::Complete(value, used) => Some((value, used)),
            Self::Partial => None,
        }
    }

    /// Applies `f` to the value of a whole header.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Status<U> {
        match self {
            Self::Complete(value, used) => Status::Complete(f(value), used),
            Self::Partial => Status::Partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn accessors() {
        let done: Status<u8> = Status::Complete(7, 3);
        assert!(done.is_complete() && !done.is_partial());
        assert_eq!(done.map(u32::from), Status::Complete(7u32, 3));
        assert_eq!(done.complete(), Some((7, 3)));
        let more: Status<u8> = Status::Partial;
        assert!(more.is_partial() && !more.is_complete());
        assert_eq!(more.map(u32::from), Status::Partial);
        assert_eq!(more.complete(), None);
    }
}

//! What a selector knows about the request it places.

use std::net::IpAddr;

use crate::hash::hash_bytes;

/// The per-pick input of a [`Selector`](crate::Selector): an optional hash
/// key and the attempt number.
///
/// The key is stored already hashed (64 bits, XXH3), so an L4 proxy can hash a
/// flow tuple once and an L7 proxy a cookie or header; algorithms that do not
/// hash ignore it. Hash-based algorithms given no key fall back to a weighted
/// random pick (as nginx's `hash` falls back to round robin for an empty key);
/// bounded load starts its capped walk at a random point instead.
///
/// # Examples
///
/// ```
/// use lb_core::Request;
/// let r = Request::new().with_key(b"session-42").with_attempt(1);
/// assert!(r.key().is_some());
/// assert_eq!(r.attempt(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Request {
    key: Option<u64>,
    attempt: u32,
}

impl Request {
    /// A request with no key, first attempt.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            key: None,
            attempt: 0,
        }
    }

    /// Sets the hash key from bytes (a cookie, a header value, a URI, ...).
    #[must_use]
    pub fn with_key(self, key: &[u8]) -> Self {
        self.with_key_hash(hash_bytes(key))
    }

    /// Sets the hash key from the client IP address: all of its bytes, IPv4
    /// as 4 and IPv6 as 16 (nginx's `ip_hash` uses only the first three IPv4
    /// octets; hash `&ip.octets()[..3]` with [`Request::with_key`] for that).
    #[must_use]
    pub fn with_ip(self, ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => self.with_key(&v4.octets()),
            IpAddr::V6(v6) => self.with_key(&v6.octets()),
        }
    }

    /// Sets an already computed 64-bit key hash. Use a stable hash (such as
    /// [`crate::hash::hash_bytes`]) if several instances must agree.
    #[must_use]
    pub const fn with_key_hash(mut self, hash: u64) -> Self {
        self.key = Some(hash);
        self
    }

    /// Sets the attempt number: 0 for the first try, 1 for the first retry...
    #[must_use]
    pub const fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The hashed key, if any.
    #[must_use]
    pub const fn key(&self) -> Option<u64> {
        self.key
    }

    /// The attempt number (0 = first try).
    #[must_use]
    pub const fn attempt(&self) -> u32 {
        self.attempt
    }
}

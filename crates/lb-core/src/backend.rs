//! Backends and their stable ids.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;
use crate::hash::hash_bytes;

/// A stable identifier for a backend.
///
/// Derived by hashing the backend's configured name, or its address when it
/// has no name, with a hash whose output is fixed by specification (XXH3-64).
/// Two load-balancer instances configured with the same backends therefore
/// agree on every id, and so on every hash-based placement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(u64);

impl BackendId {
    /// The id a backend named `name` receives.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// assert_eq!(BackendId::from_name("web-1"), BackendId::from_name("web-1"));
    /// assert_ne!(BackendId::from_name("web-1"), BackendId::from_name("web-2"));
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        Self(hash_bytes(name.as_bytes()))
    }

    /// The id an unnamed backend at `addr` receives: the hash of the address
    /// in its canonical text form (`10.0.0.1:80`, `[::1]:80`).
    #[must_use]
    pub fn from_addr(addr: SocketAddr) -> Self {
        Self::from_name(&addr.to_string())
    }

    /// The raw 64-bit value (stable; suitable for cookies and logs).
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`BackendId::as_u64`].
    #[must_use]
    pub const fn from_u64(raw: u64) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackendId({:016x})", self.0)
    }
}

impl fmt::Display for BackendId {
    /// Sixteen lowercase hex digits: a stable token for logs and cookies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for BackendId {
    type Err = Error;

    /// Parses the [`Display`](fmt::Display) form back: 1 to 16 hex digits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBackendId`] for anything else (signs, spaces, more
    /// than 16 digits), so a forged cookie is a typed error, not a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// let id = BackendId::from_name("web-1");
    /// assert_eq!(id.to_string().parse::<BackendId>(), Ok(id));
    /// assert!("web-1".parse::<BackendId>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Error> {
        let valid = (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
        valid
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
            .map(Self)
            .ok_or_else(|| Error::InvalidBackendId {
                text: s.chars().take(32).collect(),
            })
    }
}

/// One upstream server: a stable id, an address and a weight (at least 1).
///
/// Cloning is cheap (the name is shared).
///
/// # Examples
///
/// ```
/// use lb_core::Backend;
/// let a = Backend::new("10.0.0.1:80".parse().unwrap());
/// let b = Backend::named("web-2", "10.0.0.2:80".parse().unwrap()).with_weight(3).unwrap();
/// assert_eq!(a.weight(), 1);
/// assert_eq!(b.weight(), 3);
/// assert_eq!(b.name(), "web-2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    id: BackendId,
    name: Arc<str>,
    addr: SocketAddr,
    weight: u32,
}

impl Backend {
    /// An unnamed backend of weight 1; its id and name come from `addr`.
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        let name: Arc<str> = addr.to_string().into();
        Self {
            id: BackendId::from_name(&name),
            name,
            addr,
            weight: 1,
        }
    }

    /// A named backend of weight 1; its id comes from `name`, so the address
    /// may change (DNS, redeploy) without moving its hash-based traffic.
    #[must_use]
    pub fn named(name: &str, addr: SocketAddr) -> Self {
        Self {
            id: BackendId::from_name(name),
            name: name.into(),
            addr,
            weight: 1,
        }
    }

    /// Sets the weight.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroWeight`] when `weight` is 0.
    pub fn with_weight(mut self, weight: u32) -> Result<Self, Error> {
        if weight == 0 {
            return Err(Error::ZeroWeight {
                name: self.name.to_string(),
            });
        }
        self.weight = weight;
        Ok(self)
    }

    /// The stable id.
    #[must_use]
    pub fn id(&self) -> BackendId {
        self.id
    }

    /// The configured name, or the address as text for unnamed backends.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where to connect.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The weight, at least 1.
    #[must_use]
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// Checks that a backend set is non-empty and free of duplicate ids.
///
/// # Errors
///
/// [`Error::EmptySet`] for an empty slice, [`Error::DuplicateId`] for the
/// first id that occurs twice.
pub fn validate(backends: &[Backend]) -> Result<(), Error> {
    if backends.is_empty() {
        return Err(Error::EmptySet);
    }
    let mut seen = HashSet::with_capacity(backends.len());
    for b in backends {
        if !seen.insert(b.id) {
            return Err(Error::DuplicateId {
                id: b.id,
                name: b.name.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn ids_agree_between_instances() {
        let a = Backend::new(addr("10.0.0.1:80"));
        let b = Backend::new(addr("10.0.0.1:80"));
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id(), BackendId::from_addr(addr("10.0.0.1:80")));
        let n = Backend::named("web", addr("10.0.0.9:80"));
        assert_eq!(n.id(), Backend::named("web", addr("10.0.0.7:81")).id());
    }

    #[test]
    fn zero_weight_is_a_typed_error() {
        let err = Backend::new(addr("10.0.0.1:80"))
            .with_weight(0)
            .unwrap_err();
        assert!(matches!(err, Error::ZeroWeight { .. }));
        assert!(err.is_backend_error());
        assert!(err.to_string().contains("10.0.0.1:80"));
    }

    #[test]
    fn empty_and_duplicate_sets_are_rejected() {
        assert_eq!(validate(&[]), Err(Error::EmptySet));
        let a = Backend::new(addr("10.0.0.1:80"));
        let dup = Backend::named("10.0.0.1:80", addr("10.0.0.2:80"));
        assert!(matches!(
            validate(&[a.clone(), dup]),
            Err(Error::DuplicateId { .. })
        ));
        assert_eq!(validate(&[a]), Ok(()));
    }

    #[test]
    fn id_roundtrips_through_u64() {
        let id = BackendId::from_name("x");
        assert_eq!(BackendId::from_u64(id.as_u64()), id);
        assert_eq!(format!("{id}").len(), 16);
        assert_eq!(format!("{id}").parse::<BackendId>(), Ok(id));
        for bad in ["", "+1", "-1", "xyz", "00000000000000000", " 1"] {
            assert!(bad.parse::<BackendId>().is_err(), "{bad:?}");
        }
    }
}

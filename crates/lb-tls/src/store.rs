//! Certificates by server name: exact names, `*.wildcards`, a default; swapped atomically.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::TlsError;

/// Which certificate to serve for which server name (SNI).
///
/// Lookup order: the exact name (case-insensitive, trailing dot ignored), then the longest
/// `*.suffix` the name ends with (any number of labels before it, as nginx's `server_name`;
/// note a certificate's own wildcard covers one label), then the default.
///
/// # Examples
///
/// ```
/// use lb_tls::{certified_key, CertStore};
/// let make = |name: &str| {
///     let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
///     certified_key(c.cert.pem().as_bytes(), c.signing_key.serialize_pem().as_bytes(), name).unwrap()
/// };
/// let mut store = CertStore::new();
/// store.insert("a.example", make("a.example"))?;
/// store.insert("*.b.example", make("*.b.example"))?;
/// assert!(store.lookup(Some("A.Example.")).is_ok());
/// assert!(store.lookup(Some("x.b.example")).is_ok());
/// assert!(store.lookup(Some("c.example")).is_err()); // no default
/// # Ok::<(), lb_tls::TlsError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CertStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the suffix with its leading dot: `*.b.example` → `.b.example`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the certificate for clients that send no name, or a name nothing else covers.
    pub fn set_default(&mut self, key: Arc<CertifiedKey>) {
        self.default = Some(key);
    }

    /// Serves `key` for `pattern`: a host name or `*.suffix`. Replaces an earlier one.
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidName`] for anything else.
    pub fn insert(&mut self, pattern: &str, key: Arc<CertifiedKey>) -> Result<(), TlsError> {
        let (wild, name) = parse_pattern(pattern)?;
        if wild {
            self.wildcard.insert(name, key);
        } else {
            self.exact.insert(name, key);
        }
        Ok(())
    }

    /// Stops serving `pattern`'s certificate; returns whether there was one.
    pub fn remove(&mut self, pattern: &str) -> bool {
        match parse_pattern(pattern) {
            Ok((true, name)) => self.wildcard.remove(&name).is_some(),
            Ok((false, name)) => self.exact.remove(&name).is_some(),
            Err(_) => false,
        }
    }

    /// The certificate for a client that sent `server_name`.
    ///
    /// # Errors
    ///
    /// [`TlsError::UnknownServerName`] or [`TlsError::NoServerName`] when nothing covers it
    /// and there is no default.
    pub fn lookup(&self, server_name: Option<&str>) -> Result<&Arc<CertifiedKey>, TlsError> {
        let Some(raw) = server_name else {
            return self.default.as_ref().ok_or(TlsError::NoServerName);
        };
        let name = raw.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Ok(key);
        }
        // Longest suffix first: `.c.b.example` before `.b.example`.
        for (i, _) in name.match_indices('.') {
            if let Some(key) = self.wildcard.get(&name[i..]) {
                return Ok(key);
            }
        }
        self.default
            .as_ref()
            .ok_or_else(|| TlsError::UnknownServerName(raw.to_owned()))
    }

    /// Whether nothing is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.default.is_none()
    }
}

/// `(is_wildcard, normalised name or .suffix)`.
fn parse_pattern(pattern: &str) -> Result<(bool, String), TlsError> {
    let invalid = || TlsError::InvalidName(pattern.to_owned());
    let lower = pattern.trim_end_matches('.').to_ascii_lowercase();
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(invalid());
    }
    Ok(if wild {
        (true, format!(".{name}"))
    } else {
        (false, name.to_owned())
    })
}

/// rustls's view of a [`CertStore`] that can be replaced while connections run: each handshake
/// reads the store current at its start; established connections keep what they negotiated.
#[derive(Debug)]
pub struct ReloadableResolver {
    store: ArcSwap<CertStore>,
}

impl ReloadableResolver {
    /// A resolver serving `store`.
    #[must_use]
    pub fn new(store: CertStore) -> Self {
        Self {
            store: ArcSwap::from_pointee(store),
        }
    }

    /// The store in service.
    #[must_use]
    pub fn current(&self) -> Arc<CertStore> {
        self.store.load_full()
    }

    /// Puts `store` in service for the next handshakes.
    pub fn replace(&self, store: CertStore) {
        self.store.store(Arc::new(store));
    }

    /// Applies `edit` to a copy of the store in service and swaps it in if `edit` succeeds.
    /// Concurrent edits are serialised by `rcu` (each sees the other's result).
    ///
    /// # Errors
    ///
    /// `edit`'s error; the store in service is then unchanged.
    pub fn update(
        &self,
        edit: impl Fn(&mut CertStore) -> Result<(), TlsError>,
    ) -> Result<(), TlsError> {
        let mut failed = None;
        self.store.rcu(|current| {
            let mut next = CertStore::clone(current);
            match edit(&mut next) {
                Ok(()) => {
                    failed = None;
                    Arc::new(next)
                }
                Err(e) => {
                    failed = Some(e);
                    Arc::clone(current)
                }
            }
        });
        failed.map_or(Ok(()), Err)
    }
}

impl ResolvesServerCert for ReloadableResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store
            .load()
            .lookup(client_hello.server_name())
            .ok()
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<CertifiedKey> {
        let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        crate::certified_key(
            c.cert.pem().as_bytes(),
            c.signing_key.serialize_pem().as_bytes(),
            name,
        )
        .unwrap()
    }

    #[test]
    fn lookup_order() {
        let (a, wb, wcb, d) = (
            key("a.example"),
            key("*.b.example"),
            key("*.c.b.example"),
            key("default"),
        );
        let mut store = CertStore::new();
        store.insert("a.example", Arc::clone(&a)).unwrap();
        store.insert("*.b.example", Arc::clone(&wb)).unwrap();
        store.insert("*.C.b.example.", Arc::clone(&wcb)).unwrap();
        let is = |got: Result<&Arc<CertifiedKey>, TlsError>, want: &Arc<CertifiedKey>| {
            Arc::ptr_eq(got.unwrap(), want)
        };
        assert!(is(store.lookup(Some("a.example")), &a));
        assert!(is(store.lookup(Some("A.EXAMPLE.")), &a));
        assert!(is(store.lookup(Some("x.b.example")), &wb));
        assert!(is(store.lookup(Some("y.x.b.example")), &wb));
        assert!(is(store.lookup(Some("x.c.b.example")), &wcb));
        assert!(matches!(
            store.lookup(Some("b.example")),
            Err(TlsError::UnknownServerName(_))
        ));
        assert!(matches!(store.lookup(None), Err(TlsError::NoServerName)));
        store.set_default(Arc::clone(&d));
        assert!(is(store.lookup(Some("b.example")), &d));
        assert!(is(store.lookup(None), &d));
        assert!(store.remove("*.b.example"));
        assert!(is(store.lookup(Some("x.b.example")), &d));
    }

    #[test]
    fn patterns_are_validated() {
        let k = key("x");
        let mut store = CertStore::new();
        for bad in ["", "*", "*.", "a..b", "a.*.b", "a b", "a/b", "*.*.a"] {
            assert!(store.insert(bad, Arc::clone(&k)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn failed_update_keeps_the_store() {
        let resolver = ReloadableResolver::new(CertStore::new());
        resolver
            .update(|s| s.insert("a.example", key("a.example")))
            .unwrap();
        let before = resolver.current();
        assert!(resolver.update(|s| s.insert("bad name", key("x"))).is_err());
        assert!(Arc::ptr_eq(&before, &resolver.current()));
        assert!(resolver.current().lookup(Some("a.example")).is_ok());
    }
}

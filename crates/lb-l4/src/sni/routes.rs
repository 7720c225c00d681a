//! The routing table: host names and `*.suffix` patterns to clusters.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use lb_core::{Algorithm, Balancer};

use crate::client_hello::{MAX_HOST_NAME_LEN, check_host_name};

/// Why a [`SniRoutes`] table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SniRouteError {
    /// An exact name is not a host name as
    /// [`ServerName`](crate::client_hello::ServerName) accepts them (so no
    /// client could ever send it).
    #[error("invalid SNI name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A wildcard pattern does not read `*.suffix` with a valid host name
    /// as the suffix.
    #[error("invalid SNI wildcard pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The same exact name, or the same wildcard pattern, given twice
    /// (compared without regard to case or one trailing dot).
    #[error("SNI route {name:?} given twice")]
    Duplicate {
        /// The second occurrence, as given.
        name: String,
    },
    /// Two default clusters.
    #[error("two default clusters")]
    DuplicateDefault,
    /// No route and no default cluster: every connection would be closed.
    #[error("no SNI route and no default cluster")]
    Empty,
}

/// Which cluster serves which server name: exact names, `*.suffix`
/// wildcards and a default.
///
/// A name is looked up without regard to ASCII case and with one trailing
/// dot ignored:
///
/// 1. an exact name, then
/// 2. the wildcard with the longest suffix: `*.b.example` matches every
///    name ending in `.b.example` with at least one label before it
///    (`x.b.example`, `x.y.b.example`) but not `b.example` itself (route
///    the apex by its exact name), and beats `*.example`;
/// 3. otherwise the default cluster, if any, serves the connection (as it
///    serves a ClientHello without a name); without one the connection is
///    closed.
///
/// Clusters are [`Balancer`]s shared by `Arc`: several routes may name the
/// same one (the same `Arc`), and they are numbered in the order they are
/// first mentioned ([`SniRoutes::clusters`]), which is how
/// [`SniStats::routed`](super::SniStats::routed) counts them. Use
/// [`lb_core::Policy`] as `A` for clusters with different algorithms.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lb_core::{Backend, Balancer, Policy};
/// use lb_l4::sni::SniRoutes;
///
/// let cluster = |addr: &str, policy: &str| {
///     let backends = vec![Backend::new(addr.parse().unwrap())];
///     Arc::new(Balancer::new(policy.parse::<Policy>().unwrap(), backends).unwrap())
/// };
/// let (a, b, other) = (
///     cluster("127.0.0.1:19001", "round-robin"),
///     cluster("127.0.0.1:19003", "least-conn"),
///     cluster("127.0.0.1:19004", "random"),
/// );
/// let routes = SniRoutes::builder()
///     .exact("a.example", Arc::clone(&a))
///     .wildcard("*.b.example", Arc::clone(&b))
///     .default(Arc::clone(&other))
///     .build()
///     .unwrap();
/// assert_eq!(routes.lookup("A.Example."), Some(0));
/// assert_eq!(routes.lookup("x.y.b.example"), Some(1));
/// assert_eq!(routes.lookup("b.example"), None); // served by the default
/// assert_eq!(routes.default_cluster(), Some(2));
/// assert!(Arc::ptr_eq(&routes.clusters()[1], &b));
///
/// // Mistakes are reported by `build`.
/// assert!(SniRoutes::builder().exact("*.a.example", a).build().is_err());
/// ```
pub struct SniRoutes<A: Algorithm> {
    clusters: Vec<Arc<Balancer<A>>>,
    /// Lowercase names without trailing dot.
    exact: HashMap<Box<[u8]>, usize>,
    /// Lowercase suffixes (the pattern without `*.`).
    wildcard: HashMap<Box<[u8]>, usize>,
    longest_wildcard: usize,
    default: Option<usize>,
}

impl<A: Algorithm> fmt::Debug for SniRoutes<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |map: &HashMap<Box<[u8]>, usize>, prefix: &'static str| {
            let mut entries: Vec<(String, usize)> = map
                .iter()
                .map(|(k, &v)| (format!("{prefix}{}", String::from_utf8_lossy(k)), v))
                .collect();
            entries.sort();
            entries
        };
        f.debug_struct("SniRoutes")
            .field("clusters", &self.clusters.len())
            .field("exact", &show(&self.exact, ""))
            .field("wildcard", &show(&self.wildcard, "*."))
            .field("default", &self.default)
            .finish()
    }
}

impl<A: Algorithm> SniRoutes<A> {
    /// An empty table to fill.
    pub fn builder() -> SniRoutesBuilder<A> {
        SniRoutesBuilder {
            routes: Self {
                clusters: Vec::new(),
                exact: HashMap::new(),
                wildcard: HashMap::new(),
                longest_wildcard: 0,
                default: None,
            },
            error: None,
        }
    }

    /// The cluster (an index into [`SniRoutes::clusters`]) routed for
    /// `name` by an exact name or a wildcard, ignoring ASCII case and one
    /// trailing dot; `None` when no route matches (the default, if any,
    /// then applies).
    #[must_use]
    pub fn lookup(&self, name: &str) -> Option<usize> {
        let name = name.as_bytes();
        let name = name.strip_suffix(b".").unwrap_or(name);
        // Longer than any valid route: no match (and no allocation below).
        let mut lower = [0_u8; MAX_HOST_NAME_LEN];
        let lower = lower.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        if let Some(&cluster) = self.exact.get(&*lower) {
            return Some(cluster);
        }
        // Suffixes after each dot that has a byte before it, longest first.
        let n = lower.len();
        (1..n)
            .filter(|&dot| lower[dot] == b'.' && n - dot - 1 <= self.longest_wildcard)
            .find_map(|dot| self.wildcard.get(&lower[dot + 1..]).copied())
    }

    /// The cluster serving ClientHellos without a name or with a name no
    /// route matches, if any.
    #[must_use]
    pub fn default_cluster(&self) -> Option<usize> {
        self.default
    }

    /// Every cluster, in the order they were first given to the builder.
    #[must_use]
    pub fn clusters(&self) -> &[Arc<Balancer<A>>] {
        &self.clusters
    }

    /// The index of `cluster` (the same `Arc`) in [`SniRoutes::clusters`].
    #[must_use]
    pub fn cluster_index(&self, cluster: &Arc<Balancer<A>>) -> Option<usize> {
        self.clusters.iter().position(|c| Arc::ptr_eq(c, cluster))
    }
}

/// Builds a [`SniRoutes`]; mistakes are reported by
/// [`SniRoutesBuilder::build`] (the first one).
#[must_use]
pub struct SniRoutesBuilder<A: Algorithm> {
    routes: SniRoutes<A>,
    error: Option<SniRouteError>,
}

impl<A: Algorithm> fmt::Debug for SniRoutesBuilder<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniRoutesBuilder")
            .field("routes", &self.routes)
            .field("error", &self.error)
            .finish()
    }
}

impl<A: Algorithm> SniRoutesBuilder<A> {
    /// Routes the host name `name` (case-insensitive, one trailing dot
    /// ignored) to `cluster`.
    pub fn exact(self, name: &str, cluster: Arc<Balancer<A>>) -> Self {
        let key = match check_host_name(name.as_bytes()) {
            Ok(key) => key.to_ascii_lowercase(),
            Err(reason) => {
                let reason = if name.starts_with("*.") {
                    "a wildcard pattern: route it with wildcard()"
                } else {
                    reason
                };
                return self.fail(SniRouteError::InvalidName {
                    name: name.to_owned(),
                    reason,
                });
            }
        };
        self.insert(false, key, name, cluster)
    }

    /// Routes every name under `pattern`, which reads `*.suffix`, to
    /// `cluster`: names ending in `.suffix` with at least one label before
    /// it (case-insensitive; one trailing dot ignored).
    pub fn wildcard(self, pattern: &str, cluster: Arc<Balancer<A>>) -> Self {
        let invalid = |reason| SniRouteError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let Some(suffix) = pattern.strip_prefix("*.") else {
            return self.fail(invalid(if pattern.contains('*') {
                "'*' must be the whole first label, as in *.example.com"
            } else {
                "a wildcard pattern starts with '*.'"
            }));
        };
        if suffix.contains('*') {
            return self.fail(invalid("'*' may only be the whole first label"));
        }
        let key = match check_host_name(suffix.as_bytes()) {
            Ok(key) => key.to_ascii_lowercase(),
            Err(reason) => return self.fail(invalid(reason)),
        };
        self.insert(true, key, pattern, cluster)
    }

    /// [`exact`](Self::exact) for a name, [`wildcard`](Self::wildcard) for
    /// a pattern starting with `*.`.
    pub fn route(self, name_or_pattern: &str, cluster: Arc<Balancer<A>>) -> Self {
        if name_or_pattern.starts_with('*') {
            self.wildcard(name_or_pattern, cluster)
        } else {
            self.exact(name_or_pattern, cluster)
        }
    }

    /// Serves ClientHellos without a server name, or with one no route
    /// matches, from `cluster`. Without a default, such connections are
    /// closed.
    pub fn default(mut self, cluster: Arc<Balancer<A>>) -> Self {
        if self.routes.default.is_some() {
            return self.fail(SniRouteError::DuplicateDefault);
        }
        self.routes.default = Some(self.cluster(cluster));
        self
    }

    /// The table.
    ///
    /// # Errors
    ///
    /// The first mistake made while building: [`SniRouteError::InvalidName`],
    /// [`SniRouteError::InvalidPattern`], [`SniRouteError::Duplicate`],
    /// [`SniRouteError::DuplicateDefault`]; and [`SniRouteError::Empty`]
    /// for a table with no route and no default.
    pub fn build(self) -> Result<SniRoutes<A>, SniRouteError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.routes.clusters.is_empty() {
            return Err(SniRouteError::Empty);
        }
        Ok(self.routes)
    }

    fn fail(mut self, error: SniRouteError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// The index of `cluster`, added if new.
    fn cluster(&mut self, cluster: Arc<Balancer<A>>) -> usize {
        match self.routes.cluster_index(&cluster) {
            Some(index) => index,
            None => {
                self.routes.clusters.push(cluster);
                self.routes.clusters.len() - 1
            }
        }
    }

    fn insert(
        mut self,
        wildcard: bool,
        key: Vec<u8>,
        given: &str,
        cluster: Arc<Balancer<A>>,
    ) -> Self {
        let taken = if wildcard {
            self.routes.wildcard.contains_key(&key[..])
        } else {
            self.routes.exact.contains_key(&key[..])
        };
        if taken {
            return self.fail(SniRouteError::Duplicate {
                name: given.to_owned(),
            });
        }
        let index = self.cluster(cluster);
        if wildcard {
            self.routes.longest_wildcard = self.routes.longest_wildcard.max(key.len());
            self.routes.wildcard.insert(key.into(), index);
        } else {
            self.routes.exact.insert(key.into(), index);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_core::{Backend, RoundRobin};

    fn cluster(port: u16) -> Arc<Balancer<RoundRobin>> {
        let backends = vec![Backend::new(([127, 0, 0, 1], port).into())];
        Arc::new(Balancer::new(RoundRobin, backends).expect("valid"))
    }

    #[test]
    fn exact_then_longest_wildcard_then_nothing() {
        let (a, b, c, d) = (cluster(1), cluster(2), cluster(3), cluster(4));
        let routes = SniRoutes::builder()
            .exact("a.example", Arc::clone(&a))
            .wildcard("*.example", Arc::clone(&b))
            .wildcard("*.b.example", Arc::clone(&c))
            .exact("x.b.example.", Arc::clone(&a))
            .default(Arc::clone(&d))
            .build()
            .expect("valid");
        assert_eq!(routes.clusters().len(), 4);
        assert_eq!(routes.cluster_index(&c), Some(2));
        assert_eq!(routes.lookup("a.example"), Some(0));
        assert_eq!(routes.lookup("A.EXAMPLE."), Some(0));
        assert_eq!(routes.lookup("x.b.example"), Some(0));
        assert_eq!(routes.lookup("y.b.example"), Some(2));
        assert_eq!(routes.lookup("z.y.B.example"), Some(2));
        assert_eq!(routes.lookup("b.example"), Some(1));
        assert_eq!(routes.lookup("q.example"), Some(1));
        assert_eq!(routes.lookup("example"), None);
        assert_eq!(routes.lookup(".example"), None);
        assert_eq!(routes.lookup("aexample"), None);
        assert_eq!(routes.lookup(""), None);
        assert_eq!(routes.lookup(&"a.".repeat(200)), None);
        assert_eq!(routes.default_cluster(), Some(3));
        assert!(format!("{routes:?}").contains("*.b.example"));
    }

    #[test]
    fn a_default_alone_is_a_table() {
        let routes = SniRoutes::builder()
            .default(cluster(1))
            .build()
            .expect("valid");
        assert_eq!(routes.lookup("a.example"), None);
        assert_eq!(routes.default_cluster(), Some(0));
    }

    #[test]
    fn mistakes_are_reported() {
        let a = cluster(1);
        let err = |b: SniRoutesBuilder<RoundRobin>| b.build().expect_err("invalid");
        assert_eq!(err(SniRoutes::builder()), SniRouteError::Empty);
        for bad in ["", "a..b", "*.a.example", "a b", "a:443", "*"] {
            assert!(
                matches!(
                    err(SniRoutes::builder().exact(bad, Arc::clone(&a))),
                    SniRouteError::InvalidName { .. }
                ),
                "{bad:?}"
            );
        }
        for bad in [
            "*",
            "*.",
            "a.example",
            "*a.example",
            "a.*.example",
            "*.*.example",
            "*.a..b",
        ] {
            assert!(
                matches!(
                    err(SniRoutes::builder().wildcard(bad, Arc::clone(&a))),
                    SniRouteError::InvalidPattern { .. }
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            err(SniRoutes::builder()
                .exact("a.example", Arc::clone(&a))
                .exact("A.Example.", Arc::clone(&a))),
            SniRouteError::Duplicate {
                name: "A.Example.".into()
            }
        );
        assert!(matches!(
            err(SniRoutes::builder()
                .route("*.a.example", Arc::clone(&a))
                .route("*.A.example", cluster(2))),
            SniRouteError::Duplicate { .. }
        ));
        assert_eq!(
            err(SniRoutes::builder()
                .default(Arc::clone(&a))
                .default(Arc::clone(&a))),
            SniRouteError::DuplicateDefault
        );
        // The first mistake is the one reported.
        assert!(matches!(
            err(SniRoutes::builder()
                .exact("", Arc::clone(&a))
                .wildcard("x", a)),
            SniRouteError::InvalidName { .. }
        ));
    }
}

//! [`RouteTable`]: a router of [`RouteAction`]s built from named clusters, validated as a whole.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Cluster, RetryPolicy, RouteAction, Timeouts};
use crate::rewrite::HeaderEdits;
use crate::router::{RouteIssue, RouteMatch, Router, RouterError};
use crate::sticky::StickyPolicy;

/// One route as configured: its match, the name of its cluster, and its policies.
///
/// # Examples
///
/// ```
/// use lb_l7::route::RouteSpec;
/// use lb_l7::router::{PathMatch, RouteMatch};
/// use lb_l7::sticky::StickyPolicy;
///
/// let orders = RouteSpec {
///     sticky: StickyPolicy::SourceIp,
///     ..RouteSpec::new("orders", RouteMatch::new().with_path(PathMatch::prefix("/api/orders")), "orders")
/// };
/// assert_eq!(orders.cluster, "orders");
/// ```
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The route's name (logs, metrics, errors).
    pub name: String,
    /// Which requests it takes.
    pub matcher: RouteMatch,
    /// The name of the cluster it sends them to.
    pub cluster: String,
    /// Stickiness; none by default.
    pub sticky: StickyPolicy,
    /// Time limits; [`Timeouts::default`].
    pub timeouts: Timeouts,
    /// Retries; [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Request header edits; none by default.
    pub request_headers: HeaderEdits,
    /// Response header edits; none by default.
    pub response_headers: HeaderEdits,
}

impl RouteSpec {
    /// A route with default policies.
    #[must_use]
    pub fn new(name: impl Into<String>, matcher: RouteMatch, cluster: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            matcher,
            cluster: cluster.into(),
            sticky: StickyPolicy::None,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            request_headers: HeaderEdits::new(),
            response_headers: HeaderEdits::new(),
        }
    }
}

/// Clusters by name and the routes that use them, built into a [`Router`] of [`RouteAction`]s.
///
/// [`RouteTable::build`] checks the table as a whole and reports every problem in one error:
/// the router's own (invalid patterns, duplicate names, shadowed routes) and each route's
/// (an unknown or doubly defined cluster, a sticky hash key on a cluster whose algorithm does
/// not hash, a zero timeout, an absurd retry count).
///
/// # Examples
///
/// The seed's scenario: `/api/users` to a user service by least connections, `/api/orders` to
/// an order service with sticky sessions by client address.
///
/// ```
/// use lb_core::{Backend, Balancer, Policy};
/// use lb_l7::route::{Cluster, RouteSpec, RouteTable};
/// use lb_l7::router::{PathMatch, RouteMatch, RouteRequest};
/// use lb_l7::sticky::StickyPolicy;
///
/// let pool = |addrs: &[&str], algorithm: &str| -> Result<Balancer<Policy>, Box<dyn std::error::Error>> {
///     let backends = addrs.iter().map(|a| Ok(Backend::new(a.parse()?))).collect::<Result<_, std::net::AddrParseError>>()?;
///     Ok(Balancer::new(algorithm.parse::<Policy>()?, backends)?)
/// };
/// let router = RouteTable::new()
///     .cluster(Cluster::new("users", pool(&["127.0.0.1:9001", "127.0.0.1:9002"], "least-conn")?))
///     .cluster(Cluster::new("orders", pool(&["127.0.0.1:9003", "127.0.0.1:9004"], "maglev")?))
///     .route(RouteSpec::new("users", RouteMatch::new().with_path(PathMatch::prefix("/api/users")), "users"))
///     .route(RouteSpec {
///         sticky: StickyPolicy::SourceIp,
///         ..RouteSpec::new("orders", RouteMatch::new().with_path(PathMatch::prefix("/api/orders")), "orders")
///     })
///     .build()?;
/// let hit = router.route(&RouteRequest::new(b"GET", b"/api/orders/7")).unwrap();
/// assert_eq!(hit.action().cluster.name(), "orders");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "a route table does nothing until built"]
pub struct RouteTable {
    clusters: Vec<Arc<Cluster>>,
    routes: Vec<RouteSpec>,
    default: Option<RouteSpec>,
}

/// A route whose cluster may not exist, until validation has said so.
type Resolved = Result<RouteAction, String>;

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a cluster.
    pub fn cluster(mut self, cluster: Cluster) -> Self {
        self.clusters.push(Arc::new(cluster));
        self
    }

    /// Adds a cluster shared with another table (or kept by the caller for health checks and
    /// updates).
    pub fn shared_cluster(mut self, cluster: Arc<Cluster>) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// Adds a route.
    pub fn route(mut self, spec: RouteSpec) -> Self {
        self.routes.push(spec);
        self
    }

    /// Sets the route for requests no other route matches (its matcher is ignored). Without
    /// one, they get a 404.
    pub fn default_route(mut self, spec: RouteSpec) -> Self {
        self.default = Some(spec);
        self
    }

    /// Validates the whole table and builds the router.
    ///
    /// # Errors
    ///
    /// A [`RouterError`] listing every problem (see the type's documentation).
    pub fn build(self) -> Result<Router<RouteAction>, RouterError> {
        let mut by_name: HashMap<&str, &Arc<Cluster>> = HashMap::new();
        let mut doubled: Vec<&str> = Vec::new();
        for cluster in &self.clusters {
            if by_name.insert(cluster.name(), cluster).is_some() {
                doubled.push(cluster.name());
            }
        }
        let resolve = |spec: RouteSpec| -> Resolved {
            if doubled.contains(&spec.cluster.as_str()) {
                return Err(format!(
                    "cluster '{}' is defined more than once",
                    spec.cluster
                ));
            }
            let cluster = by_name.get(spec.cluster.as_str()).ok_or_else(|| {
                let mut known: Vec<&str> = by_name.keys().copied().collect();
                known.sort_unstable();
                format!(
                    "unknown cluster '{}' (defined: {})",
                    spec.cluster,
                    known.join(", ")
                )
            })?;
            Ok(RouteAction {
                cluster: Arc::clone(cluster),
                sticky: spec.sticky,
                timeouts: spec.timeouts,
                retry: spec.retry,
                request_headers: spec.request_headers,
                response_headers: spec.response_headers,
            })
        };
        let mut builder = Router::<Resolved>::builder();
        for spec in self.routes {
            let (name, matcher) = (spec.name.clone(), spec.matcher.clone());
            builder = builder.route(name, matcher, resolve(spec));
        }
        if let Some(spec) = self.default {
            builder = builder.default(resolve(spec));
        }
        let router = builder.build_checked(|action| match action {
            Ok(action) => action.problems(),
            Err(problem) => vec![problem.clone()],
        })?;
        // build_checked refused any unresolved action, so this cannot fail; if it did, the
        // problem is still reported rather than panicking.
        router.try_map(|action| {
            action.map_err(|reason| {
                RouterError::from_issues(vec![RouteIssue::InvalidAction {
                    index: None,
                    name: String::new(),
                    reason,
                }])
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{PathMatch, RouteRequest};
    use lb_core::{Backend, Balancer, Policy};

    fn cluster(name: &str, algorithm: &str) -> Cluster {
        let backends = vec![
            Backend::new("127.0.0.1:9001".parse().unwrap()),
            Backend::new("127.0.0.1:9002".parse().unwrap()),
        ];
        Cluster::new(
            name,
            Balancer::new(algorithm.parse::<Policy>().unwrap(), backends).unwrap(),
        )
    }

    fn prefix(p: &str) -> RouteMatch {
        RouteMatch::new().with_path(PathMatch::prefix(p))
    }

    #[test]
    fn routes_resolve_their_clusters() {
        let router = RouteTable::new()
            .cluster(cluster("users", "least-conn"))
            .cluster(cluster("orders", "ring"))
            .route(RouteSpec::new("users", prefix("/api/users"), "users"))
            .route(RouteSpec {
                sticky: StickyPolicy::cookie_hash("JSESSIONID").unwrap(),
                ..RouteSpec::new("orders", prefix("/api/orders"), "orders")
            })
            .default_route(RouteSpec::new("fallback", RouteMatch::new(), "users"))
            .build()
            .unwrap();
        let hit = |path: &[u8]| {
            router
                .route(&RouteRequest::new(b"GET", path))
                .unwrap()
                .action()
                .cluster
                .name()
                .to_owned()
        };
        assert_eq!(hit(b"/api/users/1"), "users");
        assert_eq!(hit(b"/api/orders"), "orders");
        assert_eq!(hit(b"/other"), "users");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = RouteTable::new()
            .cluster(cluster("users", "round-robin"))
            .cluster(cluster("dup", "round-robin"))
            .cluster(cluster("dup", "maglev"))
            .route(RouteSpec::new("a", prefix("/a"), "nope"))
            .route(RouteSpec {
                sticky: StickyPolicy::SourceIp,
                ..RouteSpec::new("b", prefix("/b"), "users")
            })
            .route(RouteSpec {
                timeouts: Timeouts {
                    connect: std::time::Duration::ZERO,
                    ..Timeouts::default()
                },
                ..RouteSpec::new("c", prefix("/c"), "users")
            })
            .route(RouteSpec::new("d", prefix("/a"), "users"))
            .route(RouteSpec::new("e", prefix("/e"), "dup"))
            .default_route(RouteSpec::new("default", RouteMatch::new(), "missing"))
            .build()
            .unwrap_err();
        let text = err.to_string();
        for expected in [
            "unknown cluster 'nope' (defined: dup, users)",
            "sticky source IP needs a hashing algorithm",
            "the connect timeout is zero",
            "route 'd' (#3) is shadowed by route 'a' (#0)",
            "cluster 'dup' is defined more than once",
            "unknown cluster 'missing'",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(err.issues().len(), 6, "{text}");
        assert!(
            err.issues()
                .iter()
                .any(|i| matches!(i, RouteIssue::InvalidAction { index: None, .. }))
        );
    }
}

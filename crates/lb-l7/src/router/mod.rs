//! Routes as data: host, path, method and header matches; the most specific match wins.
//!
//! A [`Router`] is an HTTP load balancer's route table, like nginx `server_name` blocks with
//! their `location`s, HAProxy ACLs with `use_backend`, or Envoy virtual hosts with their routes.
//! It is pure: [`Router::route`] takes borrowed views of a request ([`RouteRequest`]) and returns
//! the chosen route's action, without I/O and without allocating.
//!
//! Each route is a name, a [`RouteMatch`] and an action of any type `A` (the proxy stores its
//! cluster, sticky policy, timeouts and so on there). A route matches a request when all of
//! these hold:
//!
//! - **host** ([`HostMatch`]): any host; an exact name; or a wildcard `*.example.com`, which
//!   matches `a.example.com` and `a.b.example.com` but not `example.com` (Envoy's semantics).
//!   Compared case-insensitively, ignoring the request's port and one trailing dot on either
//!   side. A request without a host matches only [`HostMatch::Any`].
//! - **path** ([`PathMatch`]): any path; an exact path; or a prefix ending on a segment boundary
//!   (`/api` matches `/api` and `/api/users`, not `/apix`; `/api/` matches `/api/` and below,
//!   not `/api`). The query (from the first `?`) is not part of the path. Matching is on the raw
//!   bytes: no percent-decoding, no case folding, no resolution of `..` (see [`PathMatch`]).
//! - **methods**: if a set is given, the request's method is in it (case-sensitive).
//! - **headers** ([`HeaderMatch`]): every condition holds (names case-insensitive).
//!
//! # Specificity
//!
//! Among the routes matching a request, the router picks the most specific; among equally
//! specific ones, the earliest declared. Specificity compares, in this order, stopping at the
//! first difference:
//!
//! 1. the host: [`Exact`](HostMatch::Exact) > [`Wildcard`](HostMatch::Wildcard) >
//!    [`Any`](HostMatch::Any), and between wildcards the longer suffix (wildcards matching the
//!    same host are suffixes of one another);
//! 2. the path: [`Exact`](PathMatch::Exact) > [`Prefix`](PathMatch::Prefix) >
//!    [`Any`](PathMatch::Any), and between prefixes the longer (in bytes);
//! 3. the number of conditions: 1 for a method set, plus 1 per distinct header condition.
//!
//! The host comes first, as nginx picks the server block before the location: a route for host
//! `api.example.com` and prefix `/` beats a route for any host and prefix `/v1/users`. The size
//! of a method set and the kind of a header condition do not count: `{GET}` is as specific as
//! `{GET, POST}`. Two routes with identical matches are refused at build, since the later one
//! could never be chosen ([`RouteIssue::Shadowed`]).
//!
//! # Cost
//!
//! A lookup does not scan the routes. One pass over the host finds the exact-name group and the
//! longest matching wildcard; within a host group one pass over the path finds the exact path
//! and the longest matching prefix; both probe hash maps keyed by hashes computed byte by byte
//! along the pass. Shorter wildcards and prefixes are reached by links set at build, and only
//! the routes on those few candidates have their method and header conditions checked, most
//! specific first. A lookup costs about the length of the host plus the path (capped by the
//! longest pattern), plus one check per candidate that fails its conditions, however many
//! routes there are.
//!
//! # Examples
//!
//! ```
//! use lb_l7::router::{HeaderMatch, HostMatch, PathMatch, RouteMatch, RouteRequest, Router};
//!
//! let router = Router::builder()
//!     .route("static", RouteMatch::new().with_path(PathMatch::prefix("/static")), "cdn")
//!     .route(
//!         "api",
//!         RouteMatch::new()
//!             .with_host(HostMatch::exact("api.example.com"))
//!             .with_path(PathMatch::prefix("/v1")),
//!         "api-v1",
//!     )
//!     .route(
//!         "api-canary",
//!         RouteMatch::new()
//!             .with_host(HostMatch::exact("api.example.com"))
//!             .with_path(PathMatch::prefix("/v1"))
//!             .with_header(HeaderMatch::exact("x-canary", "1")),
//!         "api-v1-canary",
//!     )
//!     .default("web")
//!     .build()?;
//!
//! let req = RouteRequest::new(b"GET", b"/v1/users?page=2").with_host(b"API.example.com:443");
//! assert_eq!(router.route(&req).map(|r| *r.action()), Some("api-v1"));
//!
//! let canary = [("X-Canary", "1")];
//! let req = req.with_headers(&canary);
//! assert_eq!(router.route(&req).and_then(|r| r.name()), Some("api-canary"));
//!
//! let req = RouteRequest::new(b"GET", b"/static/app.js").with_host(b"www.example.com");
//! assert_eq!(router.route(&req).map(|r| *r.action()), Some("cdn"));
//!
//! let req = RouteRequest::new(b"GET", b"/");
//! let fallback = router.route(&req).expect("default");
//! assert!(fallback.is_default());
//! assert_eq!(*fallback.action(), "web");
//! # Ok::<(), lb_l7::router::RouterError>(())
//! ```

mod build;
mod hash;
mod host;
mod matcher;
mod path;
mod request;
#[cfg(test)]
mod tests;

pub use build::{RouteIssue, RouterBuilder, RouterError};
pub use host::HostMatch;
pub use matcher::{HeaderMatch, HeaderValueMatch, RouteMatch};
pub use path::PathMatch;
pub use request::{HeaderSource, NoHeaders, RouteRequest};

use host::HostIndex;
use matcher::Constraints;
use path::PathTable;

/// A route: its name, its match, and the action for requests it is chosen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<A> {
    name: String,
    matcher: RouteMatch,
    action: A,
}

impl<A> Route<A> {
    /// The route's name, unique in its router.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The route's match, as declared (not normalised).
    #[must_use]
    pub fn route_match(&self) -> &RouteMatch {
        &self.matcher
    }

    /// The route's action.
    #[must_use]
    pub fn action(&self) -> &A {
        &self.action
    }
}

/// The answer of [`Router::route`]: the chosen route, or the default action.
#[derive(Debug)]
pub struct RouteRef<'r, A> {
    route: Option<(usize, &'r Route<A>)>,
    action: &'r A,
}

impl<A> Clone for RouteRef<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for RouteRef<'_, A> {}

impl<'r, A> RouteRef<'r, A> {
    /// The action to take: the route's, or the default.
    #[must_use]
    pub fn action(&self) -> &'r A {
        self.action
    }

    /// The chosen route, or `None` for the default.
    #[must_use]
    pub fn route(&self) -> Option<&'r Route<A>> {
        self.route.map(|(_, route)| route)
    }

    /// The chosen route's name, or `None` for the default.
    #[must_use]
    pub fn name(&self) -> Option<&'r str> {
        self.route.map(|(_, route)| route.name.as_str())
    }

    /// The chosen route's position in declaration order, or `None` for the default.
    #[must_use]
    pub fn index(&self) -> Option<usize> {
        self.route.map(|(index, _)| index)
    }

    /// Whether no route matched and this is the default action.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.route.is_none()
    }
}

/// A validated, indexed route table. See the [module documentation](self) for the matching
/// rules and specificity.
///
/// Immutable once built: to change routes, build a new router and swap it in (an `ArcSwap`
/// does that without blocking lookups).
#[derive(Debug)]
pub struct Router<A> {
    routes: Vec<Route<A>>,
    /// The normalised method and header conditions of `routes[i]`.
    constraints: Vec<Constraints>,
    hosts: HostIndex,
    /// The routes of host group `g`, by path.
    tables: Vec<PathTable>,
    default: Option<A>,
}

impl<A> Router<A> {
    /// The same table with each action replaced by `f(action)`: the indexes are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::router::{RouteMatch, RouteRequest, Router};
    ///
    /// let router = Router::builder().route("all", RouteMatch::new(), 2).build()?.map(|n| n * 10);
    /// assert_eq!(*router.route(&RouteRequest::new(b"GET", b"/")).unwrap().action(), 20);
    /// # Ok::<(), lb_l7::router::RouterError>(())
    /// ```
    #[must_use]
    pub fn map<B>(self, mut f: impl FnMut(A) -> B) -> Router<B> {
        match self.try_map(|a| Ok::<B, std::convert::Infallible>(f(a))) {
            Ok(router) => router,
            Err(never) => match never {},
        }
    }

    /// As [`map`](Self::map) with a fallible `f`: the first error is returned.
    ///
    /// # Errors
    ///
    /// The first error `f` returns.
    pub fn try_map<B, E>(self, mut f: impl FnMut(A) -> Result<B, E>) -> Result<Router<B>, E> {
        let mut routes = Vec::with_capacity(self.routes.len());
        for r in self.routes {
            routes.push(Route {
                name: r.name,
                matcher: r.matcher,
                action: f(r.action)?,
            });
        }
        Ok(Router {
            routes,
            constraints: self.constraints,
            hosts: self.hosts,
            tables: self.tables,
            default: self.default.map(f).transpose()?,
        })
    }

    /// A builder for a route table.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::router::{PathMatch, RouteMatch, RouteRequest, Router};
    ///
    /// let router = Router::builder()
    ///     .route("health", RouteMatch::new().with_path(PathMatch::exact("/healthz")), 0_u16)
    ///     .build()?;
    /// let hit = router.route(&RouteRequest::new(b"GET", b"/healthz")).unwrap();
    /// assert_eq!((hit.name(), *hit.action()), (Some("health"), 0));
    /// assert!(router.route(&RouteRequest::new(b"GET", b"/")).is_none());
    /// # Ok::<(), lb_l7::router::RouterError>(())
    /// ```
    pub fn builder() -> RouterBuilder<A> {
        RouterBuilder::new()
    }

    /// The route for `req`: the most specific matching route (the earliest declared among
    /// equally specific ones), else the default action, else `None`.
    ///
    /// Does not allocate. `req`'s host is compared without its port and trailing dot, and its
    /// target without the query; the path is matched as raw bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::router::{HostMatch, PathMatch, RouteMatch, RouteRequest, Router};
    ///
    /// let router = Router::builder()
    ///     .route("long", RouteMatch::new().with_path(PathMatch::prefix("/api/v1")), 1)
    ///     .route(
    ///         "host",
    ///         RouteMatch::new()
    ///             .with_host(HostMatch::exact("example.com"))
    ///             .with_path(PathMatch::prefix("/")),
    ///         2,
    ///     )
    ///     .route("writes", RouteMatch::new().with_methods(["POST", "PUT"]), 3)
    ///     .build()?;
    ///
    /// // Longest prefix, query ignored.
    /// let req = RouteRequest::new(b"GET", b"/api/v1/x?y=1");
    /// assert_eq!(router.route(&req).map(|r| *r.action()), Some(1));
    /// // An exact host beats any longer path on any host.
    /// let req = RouteRequest::new(b"GET", b"/api/v1/x").with_host(b"Example.com:8080");
    /// assert_eq!(router.route(&req).map(|r| *r.action()), Some(2));
    /// // Method conditions narrow the any-path route.
    /// assert_eq!(router.route(&RouteRequest::new(b"PUT", b"/")).map(|r| *r.action()), Some(3));
    /// assert!(router.route(&RouteRequest::new(b"GET", b"/")).is_none());
    /// # Ok::<(), lb_l7::router::RouterError>(())
    /// ```
    #[must_use]
    pub fn route<H: HeaderSource + ?Sized>(
        &self,
        req: &RouteRequest<'_, H>,
    ) -> Option<RouteRef<'_, A>> {
        let path = req.path();
        let method = req.method();
        let headers = req.headers();
        let mut group = self.hosts.first(req.host());
        while let Some(g) = group {
            let found = self.tables[g as usize].find(path, |route| {
                self.constraints[route as usize].admits(method, headers)
            });
            if let Some(index) = found {
                let route = &self.routes[index as usize];
                return Some(RouteRef {
                    route: Some((index as usize, route)),
                    action: &route.action,
                });
            }
            group = self.hosts.parent(g);
        }
        self.default.as_ref().map(|action| RouteRef {
            route: None,
            action,
        })
    }

    /// The routes, in declaration order.
    #[must_use]
    pub fn routes(&self) -> &[Route<A>] {
        &self.routes
    }

    /// The action for requests no route matches, if any.
    #[must_use]
    pub fn default_action(&self) -> Option<&A> {
        self.default.as_ref()
    }

    /// How many routes there are (the default not counted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes (there may still be a default).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// A position in one of the router's tables as a compact id.
fn to_id(index: usize) -> u32 {
    u32::try_from(index).expect("a route table holds fewer than 2^32 entries")
}

//! Building a [`Router`]: validation of every route, then the indexes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use super::host::{HostIndex, HostKey};
use super::matcher::{Constraints, RouteMatch, is_token};
use super::path::{PathMatch, PathTable};
use super::{Route, Router, to_id};

/// Collects routes and an optional default action, then validates and indexes them.
///
/// Made by [`Router::builder`]. Routes are kept in declaration order, which breaks ties between
/// equally specific matches (see the [module documentation](super)).
///
/// # Examples
///
/// ```
/// use lb_l7::router::{HostMatch, PathMatch, RouteMatch, Router};
///
/// let router = Router::builder()
///     .route("api", RouteMatch::new().with_path(PathMatch::prefix("/api")), "api-pool")
///     .route(
///         "tenants",
///         RouteMatch::new().with_host(HostMatch::wildcard("*.example.com")),
///         "tenant-pool",
///     )
///     .default("web-pool")
///     .build()?;
/// assert_eq!(router.len(), 2);
/// # Ok::<(), lb_l7::router::RouterError>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until built"]
pub struct RouterBuilder<A> {
    routes: Vec<Route<A>>,
    default: Option<A>,
}

impl<A> RouterBuilder<A> {
    pub(super) fn new() -> Self {
        Self {
            routes: Vec::new(),
            default: None,
        }
    }

    /// Adds a route named `name` that sends requests matching `matcher` to `action`.
    ///
    /// Nothing is checked here; [`build`](Self::build) reports every problem at once.
    pub fn route(mut self, name: impl Into<String>, matcher: RouteMatch, action: A) -> Self {
        self.routes.push(Route {
            name: name.into(),
            matcher,
            action,
        });
        self
    }

    /// Sets the action for requests no route matches (replacing any earlier one). Without one,
    /// [`Router::route`] returns `None` for them (a proxy answers 404).
    pub fn default(mut self, action: A) -> Self {
        self.default = Some(action);
        self
    }

    /// Validates every route and builds the indexes.
    ///
    /// # Errors
    ///
    /// A [`RouterError`] listing every problem found, in route order, when any route has an
    /// empty or duplicate name, an invalid host or path pattern, an empty or invalid method
    /// set, or an invalid header name, or when two routes have identical matches (after
    /// normalisation: host case and trailing dot, method and header order, header-name case,
    /// repeated conditions), so that the later one could never be chosen. See [`RouteIssue`].
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::router::{HostMatch, PathMatch, RouteIssue, RouteMatch, Router};
    ///
    /// let err = Router::builder()
    ///     .route("a", RouteMatch::new().with_path(PathMatch::prefix("/api")), 1)
    ///     .route("b", RouteMatch::new().with_path(PathMatch::prefix("/api")), 2)
    ///     .route("c", RouteMatch::new().with_host(HostMatch::wildcard("a.*.com")), 3)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.issues().len(), 2);
    /// assert!(matches!(err.issues()[0], RouteIssue::Shadowed { index: 1, by_index: 0, .. }));
    /// assert!(err.to_string().contains("route 'b' (#1) is shadowed by route 'a' (#0)"));
    /// ```
    pub fn build(self) -> Result<Router<A>, RouterError> {
        self.build_checked(|_| Vec::new())
    }

    /// As [`build`](Self::build), and also asks `check` about each route's action (and the
    /// default action): every reason it returns becomes a [`RouteIssue::InvalidAction`] in the
    /// same error, so a route table built from configuration reports all its problems at once
    /// (an unknown cluster next to a shadowed route).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), plus the action problems.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::router::{PathMatch, RouteIssue, RouteMatch, Router};
    ///
    /// let err = Router::builder()
    ///     .route("a", RouteMatch::new().with_path(PathMatch::prefix("/a")), 0u32)
    ///     .build_checked(|retries| {
    ///         if *retries == 0 { vec!["zero retries".to_owned()] } else { vec![] }
    ///     })
    ///     .unwrap_err();
    /// assert!(matches!(err.issues()[0], RouteIssue::InvalidAction { index: Some(0), .. }));
    /// ```
    pub fn build_checked(
        self,
        mut check: impl FnMut(&A) -> Vec<String>,
    ) -> Result<Router<A>, RouterError> {
        let mut issues = Vec::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut matches: HashMap<(HostKey, &PathMatch, Constraints), usize> = HashMap::new();
        let mut canonical = Vec::with_capacity(self.routes.len());
        for (index, route) in self.routes.iter().enumerate() {
            let valid = check_match(index, route, &mut issues);
            if route.name.is_empty() {
                issues.push(RouteIssue::EmptyName { index });
            } else if let Some(&first) = names.get(route.name.as_str()) {
                issues.push(RouteIssue::DuplicateName {
                    index,
                    name: route.name.clone(),
                    first,
                });
            } else {
                names.insert(&route.name, index);
            }
            // An invalid match is neither indexed nor compared with later ones.
            let (true, Ok(host)) = (valid, route.matcher.host.key()) else {
                continue;
            };
            let constraints = Constraints::new(&route.matcher);
            match matches.entry((host.clone(), &route.matcher.path, constraints.clone())) {
                Entry::Occupied(earlier) => {
                    let by_index = *earlier.get();
                    issues.push(RouteIssue::Shadowed {
                        index,
                        name: route.name.clone(),
                        by_index,
                        by: self.routes[by_index].name.clone(),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(index);
                }
            }
            canonical.push((host, constraints));
        }
        for (index, route) in self.routes.iter().enumerate() {
            for reason in check(&route.action) {
                issues.push(RouteIssue::InvalidAction {
                    index: Some(index),
                    name: route.name.clone(),
                    reason,
                });
            }
        }
        if let Some(default) = &self.default {
            for reason in check(default) {
                issues.push(RouteIssue::InvalidAction {
                    index: None,
                    name: "default".to_owned(),
                    reason,
                });
            }
        }
        if !issues.is_empty() {
            return Err(RouterError { issues });
        }
        drop(matches);
        drop(names);

        // Most constrained first, declaration order among equals: every path node then lists
        // its routes in specificity order.
        let mut order: Vec<usize> = (0..self.routes.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(canonical[i].1.count()));
        let mut groups: HashMap<&HostKey, u32> = HashMap::new();
        let mut keys = Vec::new();
        let mut tables: Vec<PathTable> = Vec::new();
        for &i in &order {
            let group = *groups.entry(&canonical[i].0).or_insert_with(|| {
                keys.push(canonical[i].0.clone());
                tables.push(PathTable::default());
                to_id(tables.len() - 1)
            });
            tables[group as usize].insert(&self.routes[i].matcher.path, to_id(i));
        }
        for table in &mut tables {
            table.link();
        }
        let hosts = HostIndex::new(&keys);
        let constraints = canonical.into_iter().map(|(_, c)| c).collect();
        Ok(Router {
            routes: self.routes,
            constraints,
            hosts,
            tables,
            default: self.default,
        })
    }
}

/// Pushes every problem with the match of route `index`; returns whether there was none.
fn check_match<A>(index: usize, route: &Route<A>, issues: &mut Vec<RouteIssue>) -> bool {
    let before = issues.len();
    let name = || route.name.clone();
    let m = &route.matcher;
    if let Err(reason) = m.host.key() {
        let pattern = match &m.host {
            super::HostMatch::Exact(p) | super::HostMatch::Wildcard(p) => p.clone(),
            super::HostMatch::Any => String::new(),
        };
        issues.push(RouteIssue::InvalidHost {
            index,
            name: name(),
            pattern,
            reason,
        });
    }
    if let Err(reason) = m.path.check() {
        let pattern = match &m.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p.clone(),
            PathMatch::Any => String::new(),
        };
        issues.push(RouteIssue::InvalidPath {
            index,
            name: name(),
            pattern,
            reason,
        });
    }
    if let Some(methods) = &m.methods {
        if methods.is_empty() {
            issues.push(RouteIssue::EmptyMethodSet {
                index,
                name: name(),
            });
        }
        for method in methods.iter().filter(|method| !is_token(method)) {
            issues.push(RouteIssue::InvalidMethod {
                index,
                name: name(),
                method: method.clone(),
            });
        }
    }
    for header in &m.headers {
        if !is_token(&header.name) {
            issues.push(RouteIssue::InvalidHeaderName {
                index,
                name: name(),
                header: header.name.clone(),
            });
        }
    }
    issues.len() == before
}

/// Why a route table was refused: every problem found, in route order.
///
/// # Examples
///
/// ```
/// use lb_l7::router::{PathMatch, RouteMatch, Router};
///
/// let err = Router::builder()
///     .route("x", RouteMatch::new().with_path(PathMatch::exact("no-slash")), ())
///     .route("x", RouteMatch::new().with_methods(Vec::<String>::new()), ())
///     .build()
///     .unwrap_err();
/// assert_eq!(err.issues().len(), 3);
/// println!("{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Listing(&self.issues))]
pub struct RouterError {
    issues: Vec<RouteIssue>,
}

impl RouterError {
    /// An error listing `issues` (for tables built on top of the router).
    pub(crate) fn from_issues(issues: Vec<RouteIssue>) -> Self {
        Self { issues }
    }

    /// The problems, in route order (never empty).
    #[must_use]
    pub fn issues(&self) -> &[RouteIssue] {
        &self.issues
    }

    /// The problems, by value.
    #[must_use]
    pub fn into_issues(self) -> Vec<RouteIssue> {
        self.issues
    }
}

/// `invalid route table (N problems):` then one problem per line.
struct Listing<'a>(&'a [RouteIssue]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid route table ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in self.0 {
            write!(f, "\n- {issue}")?;
        }
        Ok(())
    }
}

/// One problem with one route. `index` is the route's position in declaration order and `name`
/// its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteIssue {
    /// The route's name is empty (names appear in logs and metrics).
    #[error("route #{index} has an empty name")]
    EmptyName {
        /// The route's position.
        index: usize,
    },
    /// Another route declared earlier has the same name.
    #[error("route '{name}' (#{index}): the name is already used by route #{first}")]
    DuplicateName {
        /// The later route's position.
        index: usize,
        /// The shared name.
        name: String,
        /// The position of the first route with that name.
        first: usize,
    },
    /// An earlier route has an identical match, so this one could never be chosen.
    #[error(
        "route '{name}' (#{index}) is shadowed by route '{by}' (#{by_index}): \
         their matches are identical, so '{name}' could never be chosen"
    )]
    Shadowed {
        /// The shadowed (later) route's position.
        index: usize,
        /// Its name.
        name: String,
        /// The position of the earlier route with the same match.
        by_index: usize,
        /// That route's name.
        by: String,
    },
    /// The host pattern is invalid.
    #[error("route '{name}' (#{index}): invalid host pattern {pattern:?}: {reason}")]
    InvalidHost {
        /// The route's position.
        index: usize,
        /// Its name.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The path pattern is invalid.
    #[error("route '{name}' (#{index}): invalid path pattern {pattern:?}: {reason}")]
    InvalidPath {
        /// The route's position.
        index: usize,
        /// Its name.
        name: String,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header condition's name is empty or not a token.
    #[error(
        "route '{name}' (#{index}): invalid header name {header:?}: a header name is a \
         non-empty token (letters, digits and !#$%&'*+-.^_`|~)"
    )]
    InvalidHeaderName {
        /// The route's position.
        index: usize,
        /// Its name.
        name: String,
        /// The header name as given.
        header: String,
    },
    /// The method set is present but empty; no request could match.
    #[error(
        "route '{name}' (#{index}): the method set is empty; leave it out to allow every method"
    )]
    EmptyMethodSet {
        /// The route's position.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A method is empty or not a token.
    #[error(
        "route '{name}' (#{index}): invalid method {method:?}: a method is a non-empty token \
         (letters, digits and !#$%&'*+-.^_`|~)"
    )]
    InvalidMethod {
        /// The route's position.
        index: usize,
        /// Its name.
        name: String,
        /// The method as given.
        method: String,
    },
    /// The route's action (its cluster, sticky policy, timeouts...) is invalid, as reported by
    /// the check given to [`RouterBuilder::build_checked`].
    #[error("route '{name}'{}: {reason}", index.map(|i| format!(" (#{i})")).unwrap_or_default())]
    InvalidAction {
        /// The route's position; `None` for the default action.
        index: Option<usize>,
        /// Its name (`default` for the default action).
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl RouteIssue {
    /// The position of the route concerned (`usize::MAX` for the default action).
    #[must_use]
    pub fn index(&self) -> usize {
        match self {
            Self::InvalidAction { index, .. } => index.unwrap_or(usize::MAX),
            Self::EmptyName { index }
            | Self::DuplicateName { index, .. }
            | Self::Shadowed { index, .. }
            | Self::InvalidHost { index, .. }
            | Self::InvalidPath { index, .. }
            | Self::InvalidHeaderName { index, .. }
            | Self::EmptyMethodSet { index, .. }
            | Self::InvalidMethod { index, .. } => *index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HeaderMatch, HostMatch};
    use super::*;

    fn issues(routes: Vec<(&str, RouteMatch)>) -> Vec<RouteIssue> {
        routes
            .into_iter()
            .fold(Router::builder(), |b, (name, m)| b.route(name, m, ()))
            .build()
            .expect_err("invalid table")
            .into_issues()
    }

    fn path(p: &str) -> RouteMatch {
        RouteMatch::new().with_path(PathMatch::prefix(p))
    }

    #[test]
    fn duplicate_names() {
        let found = issues(vec![
            ("a", path("/1")),
            ("b", path("/2")),
            ("a", path("/3")),
        ]);
        assert_eq!(
            found,
            [RouteIssue::DuplicateName {
                index: 2,
                name: "a".into(),
                first: 0
            }]
        );
        assert_eq!(
            issues(vec![("", path("/1"))]),
            [RouteIssue::EmptyName { index: 0 }]
        );
    }

    #[test]
    fn identical_matches_are_shadowed_after_normalisation() {
        let a = RouteMatch::new()
            .with_host(HostMatch::exact("Example.com."))
            .with_path(PathMatch::prefix("/api"))
            .with_methods(["POST", "GET"])
            .with_header(HeaderMatch::exact("X-Env", "canary"))
            .with_header(HeaderMatch::present("x-user"));
        let b = RouteMatch::new()
            .with_host(HostMatch::exact("example.com"))
            .with_path(PathMatch::prefix("/api"))
            .with_methods(["GET", "POST"])
            .with_header(HeaderMatch::prefix("X-USER", ""))
            .with_header(HeaderMatch::exact("x-env", "canary"));
        let found = issues(vec![("a", a.clone()), ("b", b), ("c", a)]);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            RouteIssue::Shadowed {
                index: 1,
                name: "b".into(),
                by_index: 0,
                by: "a".into()
            }
        );
        assert!(matches!(
            found[1],
            RouteIssue::Shadowed {
                index: 2,
                by_index: 0,
                ..
            }
        ));
        assert!(
            found[0]
                .to_string()
                .starts_with("route 'b' (#1) is shadowed by route 'a' (#0)")
        );
    }

    #[test]
    fn different_matches_are_not_shadowed() {
        let ok = [
            path("/api"),
            path("/api/"),
            RouteMatch::new().with_path(PathMatch::exact("/api")),
            path("/api").with_methods(["GET"]),
            path("/api").with_methods(["GET", "HEAD"]),
            path("/api").with_header(HeaderMatch::present("x")),
            path("/api").with_header(HeaderMatch::exact("x", "1")),
            path("/api").with_host(HostMatch::exact("example.com")),
            path("/api").with_host(HostMatch::wildcard("*.example.com")),
            RouteMatch::new(),
        ];
        let router = ok
            .into_iter()
            .enumerate()
            .fold(Router::builder(), |b, (i, m)| {
                b.route(format!("r{i}"), m, i)
            })
            .build()
            .expect("distinct matches");
        assert_eq!(router.len(), 10);
    }

    #[test]
    fn invalid_hosts() {
        let found = issues(vec![
            ("empty", RouteMatch::new().with_host(HostMatch::exact(""))),
            (
                "mid",
                RouteMatch::new().with_host(HostMatch::wildcard("a.*.com")),
            ),
            (
                "glued",
                RouteMatch::new().with_host(HostMatch::wildcard("*a.com")),
            ),
            (
                "star",
                RouteMatch::new().with_host(HostMatch::exact("*.a.com")),
            ),
            (
                "chars",
                RouteMatch::new().with_host(HostMatch::exact("a b.com")),
            ),
            (
                "slash",
                RouteMatch::new().with_host(HostMatch::exact("a/b.com")),
            ),
            (
                "port",
                RouteMatch::new().with_host(HostMatch::exact("a.com:80")),
            ),
            (
                "lone",
                RouteMatch::new().with_host(HostMatch::wildcard("*")),
            ),
        ]);
        assert_eq!(found.len(), 8);
        for (i, issue) in found.iter().enumerate() {
            assert!(
                matches!(issue, RouteIssue::InvalidHost { index, .. } if *index == i),
                "{issue}"
            );
        }
        assert!(
            found[1]
                .to_string()
                .contains("'*' must be the whole first label")
        );
    }

    #[test]
    fn invalid_paths() {
        let found = issues(vec![
            ("rel", path("api")),
            ("empty", RouteMatch::new().with_path(PathMatch::exact(""))),
            (
                "query",
                RouteMatch::new().with_path(PathMatch::exact("/a?b=1")),
            ),
            ("frag", path("/a#top")),
            ("space", path("/a b")),
        ]);
        assert_eq!(found.len(), 5);
        assert!(
            found
                .iter()
                .all(|i| matches!(i, RouteIssue::InvalidPath { .. }))
        );
    }

    #[test]
    fn invalid_methods_and_headers() {
        let found = issues(vec![
            ("none", path("/a").with_methods(Vec::<String>::new())),
            ("bad", path("/b").with_methods(["GET", "", "PO ST"])),
            (
                "hdr",
                path("/c")
                    .with_header(HeaderMatch::present(""))
                    .with_header(HeaderMatch::present("x:y"))
                    .with_header(HeaderMatch::present("ok")),
            ),
        ]);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(matches!(
            found[0],
            RouteIssue::EmptyMethodSet { index: 0, .. }
        ));
        assert!(matches!(&found[1], RouteIssue::InvalidMethod { method, .. } if method.is_empty()));
        assert!(matches!(&found[2], RouteIssue::InvalidMethod { method, .. } if method == "PO ST"));
        assert!(
            matches!(&found[3], RouteIssue::InvalidHeaderName { header, .. } if header.is_empty())
        );
        assert!(
            matches!(&found[4], RouteIssue::InvalidHeaderName { header, .. } if header == "x:y")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Router::builder()
            .route("a", path("/api"), ())
            .route("a", path("nope"), ())
            .route(
                "b",
                RouteMatch::new().with_host(HostMatch::wildcard("a.*.com")),
                (),
            )
            .route("c", path("/api"), ())
            .route("d", path("/x").with_header(HeaderMatch::present("")), ())
            .route("e", path("/y").with_methods(Vec::<String>::new()), ())
            .default(())
            .build()
            .unwrap_err();
        let kinds: Vec<(usize, &str)> = err
            .issues()
            .iter()
            .map(|i| {
                let kind = match i {
                    RouteIssue::InvalidPath { .. } => "path",
                    RouteIssue::DuplicateName { .. } => "name",
                    RouteIssue::InvalidHost { .. } => "host",
                    RouteIssue::Shadowed { .. } => "shadowed",
                    RouteIssue::InvalidHeaderName { .. } => "header",
                    RouteIssue::EmptyMethodSet { .. } => "methods",
                    _ => "other",
                };
                (i.index(), kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (1, "path"),
                (1, "name"),
                (2, "host"),
                (3, "shadowed"),
                (4, "header"),
                (5, "methods")
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with("invalid route table (6 problems):\n- "),
            "{text}"
        );
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.contains("route 'c' (#3) is shadowed by route 'a' (#0)"));
    }

    #[test]
    fn one_problem_reads_in_the_singular() {
        let err = Router::builder()
            .route("x", path("x"), ())
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid route table (1 problem):")
        );
    }
}

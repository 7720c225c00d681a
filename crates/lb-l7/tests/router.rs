//! The indexed router against a naive reference: for random route tables and random requests,
//! both must choose the same route.
//!
//! The reference below is written from the documented rules alone: it scans every route, keeps
//! those that match, computes each one's specificity as a tuple and takes the greatest, the
//! earliest declared on ties. It allocates freely and shares no code with the router.

use std::collections::BTreeSet;

use lb_l7::router::{
    HeaderMatch, HeaderValueMatch, HostMatch, PathMatch, RouteIssue, RouteMatch, RouteRequest,
    Router,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The reference.

/// The request's host as routes see it: no port, no trailing dot, lowercase.
fn ref_request_host(raw: &str) -> String {
    let host = if raw.starts_with('[') {
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        raw.split(':').next().unwrap_or("")
    };
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

fn ref_pattern(p: &str) -> String {
    p.strip_suffix('.').unwrap_or(p).to_ascii_lowercase()
}

/// `Some(rank)` when the host condition holds; greater ranks are more specific.
fn ref_host(m: &HostMatch, host: Option<&str>) -> Option<(u8, usize)> {
    match m {
        HostMatch::Any => Some((0, 0)),
        HostMatch::Exact(name) => (ref_request_host(host?) == ref_pattern(name)).then_some((2, 0)),
        HostMatch::Wildcard(pattern) => {
            let suffix = ref_pattern(pattern)[2..].to_owned();
            let host = ref_request_host(host?);
            let dotted = format!(".{suffix}");
            (host.ends_with(&dotted) && host.len() > dotted.len()).then_some((1, suffix.len()))
        }
        _ => unreachable!("no other host kinds are generated"),
    }
}

/// `Some(rank)` when the path condition holds.
fn ref_path(m: &PathMatch, target: &str) -> Option<(u8, usize)> {
    let path = target.split('?').next().unwrap_or("");
    match m {
        PathMatch::Any => Some((0, 0)),
        PathMatch::Exact(p) => (path == p).then_some((2, 0)),
        PathMatch::Prefix(p) => {
            let boundary = p.ends_with('/')
                || path.len() == p.len()
                || path.as_bytes().get(p.len()) == Some(&b'/');
            (path.starts_with(p.as_str()) && boundary).then_some((1, p.len()))
        }
        _ => unreachable!("no other path kinds are generated"),
    }
}

/// The header conditions, normalised: lowercase names, an empty prefix as `Present`, no repeats.
fn ref_conditions(headers: &[HeaderMatch]) -> BTreeSet<(String, HeaderValueMatch)> {
    headers
        .iter()
        .map(|h| {
            let value = match &h.value {
                HeaderValueMatch::Prefix(p) if p.is_empty() => HeaderValueMatch::Present,
                v => v.clone(),
            };
            (h.name.to_ascii_lowercase(), value)
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Req {
    method: String,
    host: Option<String>,
    target: String,
    headers: Vec<(String, String)>,
}

fn ref_header<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Host rank, path rank, condition count: compared as a tuple, greater is more specific.
type Specificity = ((u8, usize), (u8, usize), usize);

/// The specificity of `m` for `req`, if `m` matches it.
fn ref_specificity(m: &RouteMatch, req: &Req) -> Option<Specificity> {
    let host = ref_host(&m.host, req.host.as_deref())?;
    let path = ref_path(&m.path, &req.target)?;
    if let Some(methods) = &m.methods {
        if !methods.contains(&req.method) {
            return None;
        }
    }
    let conditions = ref_conditions(&m.headers);
    for (name, value) in &conditions {
        let actual = ref_header(req, name)?;
        let holds = match value {
            HeaderValueMatch::Present => true,
            HeaderValueMatch::Exact(v) => actual.as_bytes() == v.as_slice(),
            HeaderValueMatch::Prefix(p) => actual.as_bytes().starts_with(p),
            _ => unreachable!(),
        };
        if !holds {
            return None;
        }
    }
    Some((
        host,
        path,
        usize::from(m.methods.is_some()) + conditions.len(),
    ))
}

/// The index of the route the reference picks.
fn ref_route(routes: &[RouteMatch], req: &Req) -> Option<usize> {
    let mut best: Option<(usize, _)> = None;
    for (i, m) in routes.iter().enumerate() {
        if let Some(s) = ref_specificity(m, req) {
            if best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((i, s));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Two matches are identical when this key is equal.
type Key = (
    (u8, String),
    PathMatch,
    Option<BTreeSet<String>>,
    BTreeSet<(String, HeaderValueMatch)>,
);

fn ref_key(m: &RouteMatch) -> Key {
    let host = match &m.host {
        HostMatch::Any => (0, String::new()),
        HostMatch::Exact(n) => (2, ref_pattern(n)),
        HostMatch::Wildcard(p) => (1, ref_pattern(p)),
        _ => unreachable!(),
    };
    (
        host,
        m.path.clone(),
        m.methods.clone(),
        ref_conditions(&m.headers),
    )
}

/// The indices of routes whose match repeats an earlier one, with that earlier one's index.
fn ref_shadowed(routes: &[RouteMatch]) -> Vec<(usize, usize)> {
    let mut seen: Vec<(Key, usize)> = Vec::new();
    let mut out = Vec::new();
    for (i, m) in routes.iter().enumerate() {
        let key = ref_key(m);
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => out.push((i, *first)),
            None => seen.push((key, i)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generators: small vocabularies, so that routes overlap and collide often.

const LABELS: [&str; 5] = ["a", "b", "example", "com", "A"];
const SEGMENTS: [&str; 6] = ["a", "b", "ab", "api", "", "v1"];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "get"];
const HEADER_NAMES: [&str; 3] = ["x-env", "X-User", "cookie"];
const HEADER_VALUES: [&str; 4] = ["canary", "can", "", "u1"];

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&LABELS[..]), 1..4).prop_map(|l| l.join("."))
}

fn host_match() -> impl Strategy<Value = HostMatch> {
    prop_oneof![
        2 => Just(HostMatch::Any),
        3 => (name(), any::<bool>()).prop_map(|(n, dot)| {
            HostMatch::exact(if dot { format!("{n}.") } else { n })
        }),
        3 => name().prop_map(|n| HostMatch::wildcard(format!("*.{n}"))),
    ]
}

fn segments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&SEGMENTS[..]), 0..4)
        .prop_map(|s| format!("/{}", s.join("/")))
}

fn path_match() -> impl Strategy<Value = PathMatch> {
    prop_oneof![
        2 => Just(PathMatch::Any),
        2 => segments().prop_map(PathMatch::exact),
        4 => (segments(), any::<bool>()).prop_map(|(p, slash)| {
            PathMatch::prefix(if slash && !p.ends_with('/') { format!("{p}/") } else { p })
        }),
    ]
}

fn header_match() -> impl Strategy<Value = HeaderMatch> {
    (
        prop::sample::select(&HEADER_NAMES[..]),
        0..3_u8,
        prop::sample::select(&HEADER_VALUES[..]),
    )
        .prop_map(|(name, kind, value)| match kind {
            0 => HeaderMatch::present(name),
            1 => HeaderMatch::exact(name, value),
            _ => HeaderMatch::prefix(name, value),
        })
}

fn route_match() -> impl Strategy<Value = RouteMatch> {
    (
        host_match(),
        path_match(),
        prop::option::weighted(
            0.3,
            prop::collection::btree_set(prop::sample::select(&METHODS[..]), 1..3),
        ),
        prop::collection::vec(header_match(), 0..3),
    )
        .prop_map(|(host, path, methods, headers)| RouteMatch {
            host,
            path,
            methods: methods.map(|set| set.into_iter().map(str::to_owned).collect()),
            headers,
        })
}

fn request() -> impl Strategy<Value = Req> {
    let host = prop::option::weighted(
        0.85,
        (
            prop::sample::select(&["", "", "", ".", "[::1]"][..]),
            name(),
            prop::sample::select(&["", ".", ":8080", ".:443", ".."][..]),
            any::<bool>(),
        )
            .prop_map(|(head, n, tail, upper)| {
                let n = if upper { n.to_ascii_uppercase() } else { n };
                format!("{head}{n}{tail}")
            }),
    );
    let target = prop_oneof![
        8 => (segments(), prop::sample::select(&["", "?", "?q=/a", "/"][..]))
            .prop_map(|(p, tail)| format!("{p}{tail}")),
        1 => prop::sample::select(&["*", "", "?/a", "//a", "a/b"][..]).prop_map(str::to_owned),
    ];
    let headers = prop::collection::vec(
        (
            prop::sample::select(&["X-Env", "x-user", "Cookie", "x-other"][..]),
            prop::sample::select(&["canary", "canary-2", "can", "", "u1", "prod"][..]),
        )
            .prop_map(|(n, v)| (n.to_owned(), v.to_owned())),
        0..4,
    );
    (prop::sample::select(&METHODS[..]), host, target, headers).prop_map(
        |(method, host, target, headers)| Req {
            method: method.to_owned(),
            host,
            target,
            headers,
        },
    )
}

/// Drops every route whose match repeats an earlier one.
fn distinct(routes: Vec<RouteMatch>) -> Vec<RouteMatch> {
    let shadowed: BTreeSet<usize> = ref_shadowed(&routes).into_iter().map(|(i, _)| i).collect();
    routes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !shadowed.contains(i))
        .map(|(_, m)| m)
        .collect()
}

fn build(routes: &[RouteMatch]) -> Result<Router<usize>, lb_l7::router::RouterError> {
    routes
        .iter()
        .enumerate()
        .fold(Router::builder(), |b, (i, m)| {
            b.route(format!("r{i}"), m.clone(), i)
        })
        .build()
}

fn route(router: &Router<usize>, req: &Req) -> Option<usize> {
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let r = RouteRequest::new(req.method.as_bytes(), req.target.as_bytes())
        .with_host_opt(req.host.as_deref().map(str::as_bytes))
        .with_headers(&headers);
    router.route(&r).and_then(|x| x.index())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The key invariant: the index picks exactly what the linear scan picks.
    #[test]
    fn indexed_router_agrees_with_the_linear_reference(
        routes in prop::collection::vec(route_match(), 0..40),
        requests in prop::collection::vec(request(), 1..24),
    ) {
        let routes = distinct(routes);
        let router = build(&routes).expect("distinct, valid routes build");
        for req in &requests {
            prop_assert_eq!(route(&router, req), ref_route(&routes, req), "request {:?}", req);
        }
    }

    /// Build refuses exactly the repeated matches, naming the earlier route.
    #[test]
    fn identical_matches_are_reported_as_shadowed(
        routes in prop::collection::vec(route_match(), 0..30),
    ) {
        let expected = ref_shadowed(&routes);
        match build(&routes) {
            Ok(_) => prop_assert!(expected.is_empty()),
            Err(err) => {
                let found: Vec<(usize, usize)> = err
                    .issues()
                    .iter()
                    .map(|issue| match issue {
                        RouteIssue::Shadowed { index, by_index, .. } => Ok((*index, *by_index)),
                        other => Err(other.to_string()),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(TestCaseError::fail)?;
                prop_assert_eq!(found, expected);
            }
        }
    }
}

/// A hand-picked case through both implementations, so a broken reference shows up here too.
#[test]
fn reference_sanity() {
    let routes = vec![
        RouteMatch::new().with_path(PathMatch::prefix("/api/v1")),
        RouteMatch::new()
            .with_host(HostMatch::exact("example.com"))
            .with_path(PathMatch::prefix("/")),
        RouteMatch::new().with_host(HostMatch::wildcard("*.example.com")),
    ];
    let req = |host: &str, target: &str| Req {
        method: "GET".into(),
        host: Some(host.into()),
        target: target.into(),
        headers: Vec::new(),
    };
    let router = build(&routes).unwrap();
    for (r, want) in [
        (req("Example.com:80", "/api/v1/x"), Some(1)),
        (req("a.b.example.com.", "/api/v1/x"), Some(2)),
        (req("example.org", "/api/v1?x"), Some(0)),
        (req("example.org", "/api/v10"), None),
    ] {
        assert_eq!(ref_route(&routes, &r), want, "{r:?}");
        assert_eq!(route(&router, &r), want, "{r:?}");
    }
}

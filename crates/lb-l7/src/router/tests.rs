//! Lookup through a whole [`Router`]: every matching and specificity rule.

use super::*;

fn host(h: &str) -> HostMatch {
    if h.starts_with('*') {
        HostMatch::wildcard(h)
    } else {
        HostMatch::exact(h)
    }
}

fn on_host(h: &str) -> RouteMatch {
    RouteMatch::new().with_host(host(h))
}

fn on_prefix(p: &str) -> RouteMatch {
    RouteMatch::new().with_path(PathMatch::prefix(p))
}

fn on_exact(p: &str) -> RouteMatch {
    RouteMatch::new().with_path(PathMatch::exact(p))
}

/// A router whose route `i` has action `i`.
fn router(matches: Vec<RouteMatch>) -> Router<usize> {
    matches
        .into_iter()
        .enumerate()
        .fold(Router::builder(), |b, (i, m)| {
            b.route(format!("r{i}"), m, i)
        })
        .build()
        .expect("valid table")
}

fn pick(r: &Router<usize>, method: &str, host: Option<&str>, target: &str) -> Option<usize> {
    let req = RouteRequest::new(method.as_bytes(), target.as_bytes())
        .with_host_opt(host.map(str::as_bytes));
    r.route(&req).map(|x| *x.action())
}

fn pick_h(r: &Router<usize>, target: &str, headers: &[(&str, &str)]) -> Option<usize> {
    let req = RouteRequest::new(b"GET", target.as_bytes()).with_headers(headers);
    r.route(&req).map(|x| *x.action())
}

#[test]
fn exact_hosts_ignore_case_port_and_trailing_dot() {
    let r = router(vec![on_host("example.com"), on_host("Other.Example.com.")]);
    for h in [
        "example.com",
        "EXAMPLE.COM",
        "example.com:8080",
        "example.com.",
        "Example.Com.:1",
    ] {
        assert_eq!(pick(&r, "GET", Some(h), "/"), Some(0), "{h}");
    }
    assert_eq!(pick(&r, "GET", Some("other.example.com"), "/"), Some(1));
    assert_eq!(pick(&r, "GET", Some("OTHER.example.com.:80"), "/"), Some(1));
    assert_eq!(pick(&r, "GET", Some("a.example.com"), "/"), None);
    assert_eq!(pick(&r, "GET", None, "/"), None);
}

#[test]
fn wildcard_hosts_match_one_or_more_labels_but_not_the_apex() {
    let r = router(vec![on_host("*.example.com")]);
    for h in [
        "a.example.com",
        "a.b.example.com",
        "A.EXAMPLE.COM:443",
        "a.example.com.",
    ] {
        assert_eq!(pick(&r, "GET", Some(h), "/"), Some(0), "{h}");
    }
    for h in [
        "example.com",
        "aexample.com",
        "a.example.org",
        ".example.com",
        "",
    ] {
        assert_eq!(pick(&r, "GET", Some(h), "/"), None, "{h}");
    }
}

#[test]
fn any_host_matches_requests_without_a_host() {
    let r = router(vec![RouteMatch::new()]);
    assert_eq!(pick(&r, "GET", None, "/"), Some(0));
    assert_eq!(pick(&r, "GET", Some(""), "/"), Some(0));
    assert_eq!(pick(&r, "GET", Some("[::1]:8080"), "*"), Some(0));
}

#[test]
fn ipv6_literal_hosts() {
    let r = router(vec![on_host("[::1]")]);
    assert_eq!(pick(&r, "GET", Some("[::1]:8080"), "/"), Some(0));
    assert_eq!(pick(&r, "GET", Some("[::1]"), "/"), Some(0));
    assert_eq!(pick(&r, "GET", Some("[::2]"), "/"), None);
}

#[test]
fn host_specificity_exact_then_longer_wildcard_then_any() {
    let r = router(vec![
        RouteMatch::new(),
        on_host("*.com"),
        on_host("*.example.com"),
        on_host("*.b.example.com"),
        on_host("a.b.example.com"),
    ]);
    assert_eq!(pick(&r, "GET", Some("a.b.example.com"), "/"), Some(4));
    assert_eq!(pick(&r, "GET", Some("c.b.example.com"), "/"), Some(3));
    assert_eq!(pick(&r, "GET", Some("b.example.com"), "/"), Some(2));
    assert_eq!(pick(&r, "GET", Some("example.com"), "/"), Some(1));
    assert_eq!(pick(&r, "GET", Some("example.org"), "/"), Some(0));
}

#[test]
fn prefixes_match_on_segment_boundaries() {
    let r = router(vec![on_prefix("/api")]);
    for t in ["/api", "/api/", "/api/users", "/api?x=1", "/api/?x"] {
        assert_eq!(pick(&r, "GET", None, t), Some(0), "{t}");
    }
    for t in ["/apix", "/ap", "/", "/API", "?/api"] {
        assert_eq!(pick(&r, "GET", None, t), None, "{t}");
    }
    let r = router(vec![on_prefix("/api/")]);
    assert_eq!(pick(&r, "GET", None, "/api/x"), Some(0));
    assert_eq!(pick(&r, "GET", None, "/api/"), Some(0));
    assert_eq!(pick(&r, "GET", None, "/api"), None);
}

#[test]
fn exact_path_beats_prefix_and_longest_prefix_wins() {
    let r = router(vec![
        on_prefix("/"),
        on_prefix("/api"),
        on_prefix("/api/v1"),
        on_exact("/api/v1/users"),
        RouteMatch::new(),
    ]);
    assert_eq!(pick(&r, "GET", None, "/api/v1/users"), Some(3));
    assert_eq!(pick(&r, "GET", None, "/api/v1/users?page=2"), Some(3));
    assert_eq!(pick(&r, "GET", None, "/api/v1/users/7"), Some(2));
    assert_eq!(pick(&r, "GET", None, "/api/v2"), Some(1));
    assert_eq!(pick(&r, "GET", None, "/index.html"), Some(0));
    assert_eq!(pick(&r, "OPTIONS", None, "*"), Some(4));
}

#[test]
fn query_string_is_ignored() {
    let r = router(vec![on_exact("/search")]);
    assert_eq!(pick(&r, "GET", None, "/search?q=/other&x=?"), Some(0));
    assert_eq!(pick(&r, "GET", None, "/search/?q"), None);
}

#[test]
fn host_beats_path() {
    let r = router(vec![
        on_prefix("/api/v1/users"),
        on_host("example.com").with_path(PathMatch::prefix("/")),
        on_host("*.example.com").with_path(PathMatch::prefix("/api")),
    ]);
    assert_eq!(
        pick(&r, "GET", Some("example.com"), "/api/v1/users"),
        Some(1)
    );
    assert_eq!(
        pick(&r, "GET", Some("a.example.com"), "/api/v1/users"),
        Some(2)
    );
    assert_eq!(pick(&r, "GET", Some("other.org"), "/api/v1/users"), Some(0));
}

#[test]
fn a_more_specific_host_without_a_matching_path_falls_through() {
    let r = router(vec![
        on_prefix("/"),
        on_host("example.com").with_path(PathMatch::prefix("/admin")),
        on_host("*.com").with_path(PathMatch::exact("/x")),
    ]);
    assert_eq!(pick(&r, "GET", Some("example.com"), "/admin/a"), Some(1));
    assert_eq!(pick(&r, "GET", Some("example.com"), "/x"), Some(2));
    assert_eq!(pick(&r, "GET", Some("example.com"), "/y"), Some(0));
}

#[test]
fn methods_narrow_and_count_as_a_constraint() {
    let r = router(vec![
        on_prefix("/api"),
        on_prefix("/api").with_methods(["POST", "PUT"]),
        on_prefix("/api/v1").with_methods(["DELETE"]),
    ]);
    assert_eq!(pick(&r, "GET", None, "/api/x"), Some(0));
    assert_eq!(pick(&r, "POST", None, "/api/x"), Some(1));
    assert_eq!(pick(&r, "post", None, "/api/x"), Some(0));
    // The longer prefix beats the constrained shorter one.
    assert_eq!(pick(&r, "DELETE", None, "/api/v1/x"), Some(2));
    assert_eq!(pick(&r, "PUT", None, "/api/v1/x"), Some(1));
}

#[test]
fn headers_narrow_and_more_conditions_win() {
    let r = router(vec![
        on_prefix("/"),
        on_prefix("/").with_header(HeaderMatch::exact("x-env", "canary")),
        on_prefix("/")
            .with_header(HeaderMatch::exact("X-Env", "canary"))
            .with_header(HeaderMatch::prefix("x-user", "beta-")),
        on_prefix("/").with_header(HeaderMatch::present("x-debug")),
    ]);
    assert_eq!(pick_h(&r, "/", &[]), Some(0));
    assert_eq!(pick_h(&r, "/", &[("X-ENV", "canary")]), Some(1));
    assert_eq!(pick_h(&r, "/", &[("x-env", "Canary")]), Some(0));
    assert_eq!(
        pick_h(&r, "/", &[("x-env", "canary"), ("x-user", "beta-7")]),
        Some(2)
    );
    assert_eq!(
        pick_h(&r, "/", &[("x-env", "canary"), ("x-user", "alpha")]),
        Some(1)
    );
    assert_eq!(pick_h(&r, "/", &[("x-debug", "")]), Some(3));
    // One condition each: declaration order decides.
    assert_eq!(
        pick_h(&r, "/", &[("x-debug", "1"), ("x-env", "canary")]),
        Some(1)
    );
}

#[test]
fn declaration_order_breaks_ties() {
    let r = router(vec![
        on_prefix("/a").with_methods(["GET"]),
        on_prefix("/a").with_header(HeaderMatch::present("x")),
        on_prefix("/a").with_methods(["GET", "POST"]),
    ]);
    assert_eq!(pick_h(&r, "/a", &[("x", "1")]), Some(0));
    let req = RouteRequest::new(b"POST", b"/a").with_headers(&[("x", "1")]);
    assert_eq!(r.route(&req).map(|x| *x.action()), Some(1));
    assert_eq!(pick(&r, "POST", None, "/a"), Some(2));
}

#[test]
fn default_route_and_no_match() {
    let r = Router::builder()
        .route("api", on_prefix("/api"), 1)
        .default(0)
        .build()
        .unwrap();
    let hit = r.route(&RouteRequest::new(b"GET", b"/api")).unwrap();
    assert_eq!(
        (hit.name(), hit.index(), hit.is_default()),
        (Some("api"), Some(0), false)
    );
    assert_eq!(hit.route().map(Route::name), Some("api"));
    let miss = r.route(&RouteRequest::new(b"GET", b"/web")).unwrap();
    assert!(miss.is_default());
    assert_eq!((miss.name(), miss.index(), *miss.action()), (None, None, 0));
    assert_eq!(r.default_action(), Some(&0));

    let r = router(vec![on_prefix("/api")]);
    assert_eq!(pick(&r, "GET", None, "/web"), None);
    let empty: Router<()> = Router::builder().build().unwrap();
    assert!(empty.is_empty());
    assert!(empty.route(&RouteRequest::new(b"GET", b"/")).is_none());
}

#[test]
fn equivalent_host_spellings_share_a_group() {
    let r = router(vec![
        on_host("Example.com").with_path(PathMatch::prefix("/a")),
        on_host("example.com.").with_path(PathMatch::prefix("/b")),
    ]);
    assert_eq!(pick(&r, "GET", Some("example.com"), "/a"), Some(0));
    assert_eq!(pick(&r, "GET", Some("example.com"), "/b"), Some(1));
    assert_eq!(pick(&r, "GET", Some("example.com"), "/c"), None);
}

#[test]
fn accessors() {
    let r = router(vec![on_prefix("/a"), on_exact("/b")]);
    assert_eq!(r.len(), 2);
    assert_eq!(r.routes()[1].name(), "r1");
    assert_eq!(r.routes()[1].route_match().path, PathMatch::exact("/b"));
    assert_eq!(*r.routes()[0].action(), 0);
}

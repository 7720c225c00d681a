//! Sticky sessions through the HTTP proxy on loopback: cookie insertion keeps a client on one
//! backend, moves it (with a new cookie) when that backend dies, and two proxies built from
//! the same configuration agree on every cookie. Every wait is bounded.

mod proxy_support;

use std::collections::{BTreeMap, BTreeSet};

use lb_core::{Backend, BackendId};
use lb_l7::proxy::HttpProxyConfig;
use lb_l7::route::{RouteAction, RouteSpec, RouteTable};
use lb_l7::router::Router;
use lb_l7::sticky::{CookieInsert, StickyPolicy, TokenCodec};
use proxy_support::*;

const KEY: &[u8] = b"proxy sticky test key, 32 bytes!";
const COOKIE: &str = "srv";

fn codec() -> TokenCodec {
    TokenCodec::signed(KEY)
        .expect("key")
        .with_context(b"route:app")
}

/// The route table both proxies are built from: `/app` sticky by an inserted cookie over a
/// round-robin cluster.
fn sticky_router(backends: Vec<Backend>) -> Router<RouteAction> {
    let policy = StickyPolicy::CookieInsert(CookieInsert::new(COOKIE, codec()).expect("cookie"));
    RouteTable::new()
        .cluster(cluster("app", backends, "round-robin"))
        .route(RouteSpec {
            sticky: policy,
            ..RouteSpec::new("app", prefix("/app"), "app")
        })
        .build()
        .expect("valid")
}

/// The `srv=TOKEN` pair of a response's `Set-Cookie`, if it has one for our cookie.
fn set_cookie(r: &Response) -> Option<String> {
    let all = r.headers_named("set-cookie");
    assert!(all.len() <= 1, "several Set-Cookie: {all:?}");
    all.first().map(|v| {
        let pair = v.split(';').next().unwrap_or_default().trim().to_owned();
        assert!(pair.starts_with("srv="), "{v}");
        // The attributes a plain-HTTP proxy sets by default.
        assert!(v.contains("Path=/"), "{v}");
        assert!(v.contains("HttpOnly"), "{v}");
        assert!(!v.contains("Secure"), "no Secure over plain HTTP: {v}");
        pair
    })
}

fn token_backend(pair: &str) -> BackendId {
    let token = pair.strip_prefix("srv=").expect("srv=");
    codec().decode(token.as_bytes()).expect("a valid token")
}

async fn get_with_cookie(c: &mut Client, path: &str, cookie: Option<&str>) -> Response {
    let cookie_line = cookie.map_or_else(String::new, |c| format!("Cookie: theme=dark; {c}\r\n"));
    c.send(format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\n{cookie_line}\r\n").as_bytes())
        .await;
    c.response().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_insert_keeps_a_client_on_one_backend_and_moves_it_when_that_backend_dies() {
    let mut backends = Vec::new();
    for name in ["web-1", "web-2", "web-3"] {
        backends.push(TestBackend::start(name).await);
    }
    let router = sticky_router(backends.iter().map(TestBackend::backend).collect());
    let p = start_proxy(router, HttpProxyConfig::default()).await;

    // Without a cookie, round robin spreads requests (so what follows is not an accident).
    let mut fresh = Client::connect(p.addr).await;
    let mut spread = BTreeSet::new();
    for _ in 0..3 {
        let r = get_with_cookie(&mut fresh, "/app/x", None).await;
        assert!(set_cookie(&r).is_some(), "no cookie yet: one is issued");
        spread.insert(r.backend().to_owned());
    }
    assert_eq!(spread.len(), 3, "{spread:?}");

    // The first response sets the cookie, naming the backend that answered.
    let mut c = Client::connect(p.addr).await;
    let first = get_with_cookie(&mut c, "/app/login", None).await;
    assert_eq!(first.status, 200);
    let cookie = set_cookie(&first).expect("the first response sets the cookie");
    let pinned = first.backend().to_owned();
    assert_eq!(token_backend(&cookie), BackendId::from_name(&pinned));

    // 1000 requests with the cookie, one keep-alive connection: all on that backend, and no
    // cookie re-issued.
    let mut c = Client::connect(p.addr).await;
    for i in 0..1000 {
        let r = get_with_cookie(&mut c, &format!("/app/page/{i}"), Some(&cookie)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.backend(), pinned, "request {i} left the pinned backend");
        assert_eq!(
            set_cookie(&r),
            None,
            "request {i}: a valid cookie is not re-issued"
        );
    }

    // The pinned backend dies: listener closed, connections closed.
    let idx = backends
        .iter()
        .position(|b| b.name == pinned)
        .expect("pinned");
    backends[idx].kill().await;
    let retries_before = p.proxy.stats().totals().retries();
    let mut c2 = Client::connect(p.addr).await;
    let moved = get_with_cookie(&mut c2, "/app/after", Some(&cookie)).await;
    assert_eq!(
        moved.status, 200,
        "the request lands elsewhere: {}",
        moved.head
    );
    assert_ne!(moved.backend(), pinned);
    let new_cookie = set_cookie(&moved).expect("a new cookie naming the new backend");
    assert_ne!(new_cookie, cookie);
    assert_eq!(
        token_backend(&new_cookie),
        BackendId::from_name(moved.backend())
    );
    assert!(p.proxy.stats().totals().retries() > retries_before);
    // And the new cookie sticks.
    let new_home = moved.backend().to_owned();
    for i in 0..20 {
        let r = get_with_cookie(&mut c2, &format!("/app/next/{i}"), Some(&new_cookie)).await;
        assert_eq!(r.backend(), new_home);
        assert_eq!(set_cookie(&r), None);
    }
    // The old cookie, too, keeps landing somewhere alive (re-issued each time until replaced).
    let r = get_with_cookie(&mut c2, "/app/old", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.backend(), pinned);
    assert!(set_cookie(&r).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_built_from_the_same_config_route_a_cookie_the_same_way() {
    let mut backends = Vec::new();
    for name in ["web-1", "web-2", "web-3"] {
        backends.push(TestBackend::start(name).await);
    }
    let config = || sticky_router(backends.iter().map(TestBackend::backend).collect());
    let a = start_proxy(config(), HttpProxyConfig::default()).await;
    let b = start_proxy(config(), HttpProxyConfig::default()).await;

    // Cookies issued by each proxy, per backend (round robin visits all three).
    let mut issued = [BTreeMap::new(), BTreeMap::new()];
    for (k, p) in [&a, &b].into_iter().enumerate() {
        let mut c = Client::connect(p.addr).await;
        for _ in 0..3 {
            let r = get_with_cookie(&mut c, "/app/login", None).await;
            let cookie = set_cookie(&r).expect("issued");
            issued[k].insert(r.backend().to_owned(), cookie);
        }
        assert_eq!(issued[k].len(), 3, "{:?}", issued[k]);
    }
    assert_eq!(
        issued[0], issued[1],
        "both proxies mint the same cookie per backend"
    );

    // A cookie issued by one proxy pins the same backend on the other (and on itself).
    for (k, to) in [(0, &b), (1, &a)] {
        let mut c = Client::connect(to.addr).await;
        for (backend, cookie) in &issued[k] {
            for _ in 0..10 {
                let r = get_with_cookie(&mut c, "/app/cart", Some(cookie)).await;
                assert_eq!(r.backend(), backend);
                assert_eq!(set_cookie(&r), None);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_foreign_cookie_is_replaced_by_a_valid_one() {
    let mut backends = Vec::new();
    for name in ["web-1", "web-2"] {
        backends.push(TestBackend::start(name).await);
    }
    let p = start_proxy(
        sticky_router(backends.iter().map(TestBackend::backend).collect()),
        HttpProxyConfig::default(),
    )
    .await;
    // An unsigned token naming web-1, and one signed under another key.
    let unsigned = format!(
        "srv={}",
        TokenCodec::unsigned().encode(BackendId::from_name("web-1"))
    );
    let other_key = format!(
        "srv={}",
        TokenCodec::signed(b"some other key, 32 bytes long!!!")
            .expect("key")
            .with_context(b"route:app")
            .encode(BackendId::from_name("web-1"))
    );
    let mut c = Client::connect(p.addr).await;
    for forged in [unsigned, other_key, "srv=%%%".to_owned()] {
        let r = get_with_cookie(&mut c, "/app/x", Some(&forged)).await;
        assert_eq!(r.status, 200);
        let fresh = set_cookie(&r).expect("a forged cookie is replaced");
        assert_eq!(token_backend(&fresh), BackendId::from_name(r.backend()));
    }
}

//! Route lookup cost as the route table grows.
//!
//! Run: `cargo bench --bench route`, or e.g. `cargo bench --bench route -- 'route/deep-prefix'`.
//!
//! `route/{case}/{n}`: one `Router::route` call on a table of `n` routes (10, 100, 1000). The
//! table is a realistic mix: one exact host per ten routes (catch-all prefix, `/api`,
//! `/api/v1/users` plain, for POST/PUT and for a canary header, an exact `/healthz`), a
//! wildcard host per ten routes (`*.tN.example.com` with `/` and `/static`), and any-host
//! routes (a prefix and an exact path per ten routes). Requests carry six headers.
//!
//! - `deep-prefix`: `GET h1.example.com /api/v1/users/42/orders?page=2`, which passes over the
//!   POST/PUT and canary routes on the same prefix before matching the plain one.
//! - `exact`: `GET h1.example.com:443 /healthz`.
//! - `wildcard`: `GET cdn.t1.example.com /static/app.js`.
//! - `miss-default`: `GET www.unknown.org /nothing/here`, which falls to the default action.
//!
//! Lookups should cost the same at every `n`: nothing scans the route list.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lb::l7::router::{HeaderMatch, HostMatch, PathMatch, RouteMatch, RouteRequest, Router};

/// A table of `n` routes (`n` a multiple of 10); route `i` has action `i`, the default is
/// `usize::MAX`.
fn table(n: usize) -> Router<usize> {
    let mut builder = Router::builder().default(usize::MAX);
    for i in 0..n {
        let h = i / 10;
        let exact = || RouteMatch::new().with_host(HostMatch::exact(format!("h{h}.example.com")));
        let wildcard =
            || RouteMatch::new().with_host(HostMatch::wildcard(format!("*.t{h}.example.com")));
        let users = PathMatch::prefix("/api/v1/users");
        let m = match i % 10 {
            0 => exact().with_path(PathMatch::prefix("/")),
            1 => exact().with_path(PathMatch::prefix("/api")),
            2 => exact().with_path(users),
            3 => exact().with_path(users).with_methods(["POST", "PUT"]),
            4 => exact()
                .with_path(users)
                .with_header(HeaderMatch::exact("x-canary", "1")),
            5 => exact().with_path(PathMatch::exact("/healthz")),
            6 => wildcard().with_path(PathMatch::prefix("/")),
            7 => wildcard().with_path(PathMatch::prefix("/static")),
            8 => RouteMatch::new().with_path(PathMatch::prefix(format!("/svc{h}"))),
            _ => RouteMatch::new().with_path(PathMatch::exact(format!("/svc{h}/status"))),
        };
        builder = builder.route(format!("route-{i}"), m, i);
    }
    builder.build().expect("valid table")
}

const HEADERS: [(&str, &str); 6] = [
    ("Host", "h1.example.com"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
    ),
    ("Accept", "application/json"),
    ("Accept-Encoding", "gzip, br"),
    ("Cookie", "session=0123456789abcdef; theme=dark"),
    ("X-Request-Id", "6f1c2a9e-8d0b-4e5f-a7c3-2b9d4e6f8a10"),
];

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let cases: [(&str, &[u8], &[u8], usize); 4] = [
        (
            "deep-prefix",
            b"h1.example.com",
            b"/api/v1/users/42/orders?page=2",
            12,
        ),
        ("exact", b"h1.example.com:443", b"/healthz", 15),
        ("wildcard", b"cdn.t1.example.com", b"/static/app.js", 17),
        (
            "miss-default",
            b"www.unknown.org",
            b"/nothing/here",
            usize::MAX,
        ),
    ];
    for n in [10_usize, 100, 1000] {
        let router = table(n);
        for (case, host, target, want) in cases {
            // At n = 10 there is only host h0; aim at it instead.
            let host = if n == 10 && want != usize::MAX {
                std::str::from_utf8(host)
                    .expect("ascii")
                    .replace("h1.", "h0.")
                    .replace("t1.", "t0.")
                    .into_bytes()
            } else {
                host.to_vec()
            };
            let want = if n == 10 && want != usize::MAX {
                want - 10
            } else {
                want
            };
            let req = RouteRequest::new(b"GET", target)
                .with_host(&host)
                .with_headers(&HEADERS);
            assert_eq!(
                router.route(&req).map(|r| *r.action()),
                Some(want),
                "{case}/{n}"
            );
            group.bench_with_input(BenchmarkId::new(case, n), &req, |b, req| {
                b.iter(|| router.route(black_box(req)).map(|r| *r.action()));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);

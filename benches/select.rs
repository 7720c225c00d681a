//! Pick cost of every algorithm, and table build cost.
//!
//! Run: `cargo bench --bench select` (all), or filter, e.g.
//! `cargo bench --bench select -- 'select/maglev'`.
//!
//! - `select/{algorithm}/{n}/{all|90pct}`: one `Selector::select` call through
//!   the boxed selector a `Policy` builds (what a config-driven proxy uses),
//!   with every backend eligible or with every tenth backend ineligible. Keys
//!   vary per call, so hash lookups are not served from one cache line.
//! - `pick/{algorithm}/100`: the whole `Balancer::pick` plus dropping the
//!   lease: snapshot load, select, in-flight increment and decrement.
//! - `build/{maglev,ring}/1000`: building the selector for 1000 backends.
//! - `health/{algorithm}/{healthy|10pct-ejected}`: `Balancer::pick` plus
//!   drop at 100 backends, with every backend available or with 10 of them
//!   ejected by passive outlier detection (the health filter at work).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lb::core::health::{HealthConfig, OutlierDetection};
use lb::core::{
    Algorithm, AllEligible, Backend, Balancer, EwmaConfig, LoadTable, Maglev, Outcome, Policy,
    Request, Ring, hash::mix64,
};

fn backends(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            let addr: SocketAddr =
                format!("10.{}.{}.{}:80", i / 62_500, (i / 250) % 250, i % 250 + 1)
                    .parse()
                    .expect("address");
            Backend::new(addr)
                .with_weight(1 + (i % 4) as u32)
                .expect("weight >= 1")
        })
        .collect()
}

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_millis(900));
    for policy in Policy::all() {
        for n in [3_usize, 100, 1000] {
            let set = backends(n);
            let selector = policy.clone().with_seed(1).build(&set);
            let loads = LoadTable::new(n, EwmaConfig::default());
            // A little load, so the load-aware algorithms compare real values.
            for i in (0..n).step_by(3) {
                loads.begin(i);
            }
            let now = Instant::now();
            for i in (0..n).step_by(2) {
                loads.observe(i, Duration::from_micros(500 + i as u64), now);
            }
            let view = loads.view(now);
            let ninety = |i: usize| i % 10 != 9;
            for (label, eligible) in [
                ("all", &AllEligible as &dyn lb::core::Eligible),
                ("90pct", &ninety as &dyn lb::core::Eligible),
            ] {
                let id = BenchmarkId::new(policy.name(), format!("{n}/{label}"));
                group.bench_function(id, |b| {
                    let mut k = 0_u64;
                    b.iter(|| {
                        k = k.wrapping_add(1);
                        let req = Request::new().with_key_hash(mix64(k));
                        black_box(selector.select(black_box(&req), eligible, &view))
                    });
                });
            }
        }
    }
    group.finish();
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_millis(900));
    for policy in Policy::all() {
        let lb = Balancer::new(policy.clone().with_seed(1), backends(100)).expect("valid");
        let now = Instant::now();
        group.bench_function(BenchmarkId::new(policy.name(), 100), |b| {
            let mut k = 0_u64;
            b.iter(|| {
                k = k.wrapping_add(1);
                let req = Request::new().with_key_hash(mix64(k));
                drop(black_box(lb.pick(&req, now)));
            });
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    group.sample_size(20);
    let set = backends(1000);
    group.bench_function("maglev/1000", |b| {
        b.iter(|| black_box(Maglev::default().build(black_box(&set))));
    });
    group.bench_function("ring/1000", |b| {
        b.iter(|| black_box(Ring::default().build(black_box(&set))));
    });
    group.finish();
}

fn health(c: &mut Criterion) {
    let mut group = c.benchmark_group("health");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_millis(900));
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(1)
        .with_ejection_times(Duration::from_secs(3600), Duration::from_secs(3600))
        .expect("valid")
        .with_max_ejection_percent(10)
        .expect("valid");
    for name in [
        "round-robin",
        "weighted-round-robin",
        "p2c",
        "maglev",
        "least-conn",
    ] {
        for ejected in [0_usize, 10] {
            let policy: Policy = name.parse().expect("known");
            let set = backends(100);
            let lb = Balancer::builder(policy.with_seed(1), set.clone())
                .health(HealthConfig::default().with_outlier(outlier))
                .build()
                .expect("valid");
            let now = Instant::now();
            for b in set.iter().step_by(10).take(ejected) {
                lb.pick_filtered(&Request::new(), now, |x| x.id() == b.id())
                    .expect("eligible")
                    .finish(Outcome::Failure, now);
            }
            assert_eq!(lb.health_status().ejected, ejected);
            let label = if ejected == 0 {
                "healthy"
            } else {
                "10pct-ejected"
            };
            group.bench_function(BenchmarkId::new(name, label), |b| {
                let mut k = 0_u64;
                b.iter(|| {
                    k = k.wrapping_add(1);
                    let req = Request::new().with_key_hash(mix64(k));
                    drop(black_box(lb.pick(&req, now)));
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, select, pick, build, health);
criterion_main!(benches);

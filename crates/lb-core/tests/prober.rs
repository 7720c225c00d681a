//! The probe scheduler, on tokio's paused clock: interval, jitter, timeout,
//! shutdown.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lb_core::health::{
    ActiveCheck, EventKind, HealthConfig, Probe, ProbeConfig, ProbeError, Prober,
};
use lb_core::{Backend, BackendId, Balancer, RoundRobin};
use tokio::time::Instant;

fn backends(n: usize) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            let addr: SocketAddr = format!("10.6.0.{}:80", i + 1).parse().expect("address");
            Backend::named(&format!("q{i}"), addr)
        })
        .collect()
}

/// Records when each backend was checked (relative to its creation, when
/// the prober starts); backends in `slow` never answer.
struct Recorder {
    start: Instant,
    checks: Mutex<HashMap<BackendId, Vec<Instant>>>,
    slow: Vec<BackendId>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            checks: Mutex::default(),
            slow: Vec::new(),
        }
    }
}

impl Recorder {
    fn times(&self, id: BackendId) -> Vec<Duration> {
        let checks = self.checks.lock().expect("checks");
        checks
            .get(&id)
            .map(|v| v.iter().map(|t| *t - self.start).collect())
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.checks
            .lock()
            .expect("checks")
            .values()
            .map(Vec::len)
            .sum()
    }
}

impl Probe for Recorder {
    async fn check(&self, backend: &Backend) -> Result<(), ProbeError> {
        self.checks
            .lock()
            .expect("checks")
            .entry(backend.id())
            .or_default()
            .push(Instant::now());
        if self.slow.contains(&backend.id()) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(())
    }
}

fn config(jitter: f64) -> ProbeConfig {
    ProbeConfig::default()
        .with_timing(Duration::from_secs(1), Duration::from_millis(300))
        .expect("valid")
        .with_jitter(jitter)
        .expect("valid")
        .with_seed(3)
}

#[tokio::test(start_paused = true)]
async fn probes_run_at_the_interval() {
    let set = backends(3);
    let lb = Arc::new(Balancer::new(RoundRobin, set.clone()).expect("valid"));
    let probe = Arc::new(Recorder::default());
    let prober = Prober::spawn(Arc::clone(&lb), Arc::clone(&probe), config(0.0));
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    prober.shutdown().await;
    for b in &set {
        let times = probe.times(b.id());
        let expected: Vec<_> = (0..=10).map(Duration::from_secs).collect();
        assert_eq!(times, expected, "{}", b.name());
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_checks_within_the_round() {
    let set = backends(8);
    let lb = Arc::new(Balancer::new(RoundRobin, set.clone()).expect("valid"));
    let probe = Arc::new(Recorder::default());
    let prober = Prober::spawn(Arc::clone(&lb), Arc::clone(&probe), config(0.5));
    tokio::time::sleep(Duration::from_millis(5_900)).await;
    prober.shutdown().await;
    let mut offsets = Vec::new();
    for b in &set {
        let times = probe.times(b.id());
        assert_eq!(times.len(), 6, "{}", b.name());
        for (round, t) in times.iter().enumerate() {
            let offset = t.as_secs_f64() - round as f64;
            assert!((0.0..0.5).contains(&offset), "{}: {offset}", b.name());
            offsets.push((offset * 1000.0) as u64);
        }
    }
    offsets.sort_unstable();
    offsets.dedup();
    assert!(
        offsets.len() > 20,
        "checks are spread, not in lockstep: {offsets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_that_times_out_fails() {
    let set = backends(2);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let health = HealthConfig::default()
        .with_active(ActiveCheck::default().with_thresholds(2, 3).expect("valid"));
    let lb = Arc::new(
        Balancer::builder(RoundRobin, set.clone())
            .health(health)
            .events(move |e| sink.lock().expect("events").push((e.kind.clone(), e.at)))
            .build()
            .expect("valid"),
    );
    let probe = Arc::new(Recorder {
        slow: vec![set[1].id()],
        ..Recorder::default()
    });
    let start = Instant::now().into_std();
    let prober = Prober::spawn(Arc::clone(&lb), probe, config(0.0));
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    prober.shutdown().await;
    let events = events.lock().expect("events").clone();
    // Fall = 3: the third timed-out check (rounds at 0, 1, 2 s, each timing
    // out 300 ms later) makes it unhealthy at 2.3 s.
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].0,
        EventKind::Unhealthy {
            backend: set[1].id()
        }
    );
    assert_eq!(events[0].1 - start, Duration::from_millis(2_300));
    assert!(lb.snapshot().health(0).is_available());
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_probing_and_aborts_checks_in_flight() {
    let set = backends(2);
    let lb = Arc::new(Balancer::new(RoundRobin, set.clone()).expect("valid"));
    let probe = Arc::new(Recorder {
        slow: vec![set[0].id()],
        ..Recorder::default()
    });
    let prober = Prober::spawn(Arc::clone(&lb), Arc::clone(&probe), config(0.0));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let before = probe.count();
    prober.shutdown().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(probe.count(), before);
    // The slow backend's check was aborted, not reported: still healthy.
    assert!(lb.snapshot().health(0).is_available());
}

#[tokio::test(start_paused = true)]
async fn the_prober_follows_updates() {
    let set = backends(3);
    let lb = Arc::new(Balancer::new(RoundRobin, set[..2].to_vec()).expect("valid"));
    let probe = Arc::new(Recorder::default());
    let prober = Prober::spawn(Arc::clone(&lb), Arc::clone(&probe), config(0.0));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    lb.update(
        vec![set[1].clone(), set[2].clone()],
        Instant::now().into_std(),
    )
    .expect("valid");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    prober.shutdown().await;
    assert_eq!(probe.times(set[0].id()).len(), 2); // rounds at 0 and 1 s
    assert_eq!(probe.times(set[1].id()).len(), 4); // 0, 1, 2, 3 s
    assert_eq!(probe.times(set[2].id()).len(), 2); // 2, 3 s
}

#[tokio::test(start_paused = true)]
async fn a_hanging_backend_delays_no_other_check() {
    let set = backends(2);
    let lb = Arc::new(Balancer::new(RoundRobin, set.clone()).expect("valid"));
    let probe = Arc::new(Recorder {
        slow: vec![set[0].id()],
        ..Recorder::default()
    });
    // Jitter up to 0.5 s plus a 1 s timeout exceed the 1 s interval.
    let config = ProbeConfig::default()
        .with_timing(Duration::from_secs(1), Duration::from_secs(1))
        .expect("valid")
        .with_jitter(0.5)
        .expect("valid")
        .with_seed(4);
    let prober = Prober::spawn(Arc::clone(&lb), Arc::clone(&probe), config);
    tokio::time::sleep(Duration::from_millis(19_900)).await;
    prober.shutdown().await;
    let healthy = probe.times(set[1].id());
    assert_eq!(healthy.len(), 20, "one check per interval: {healthy:?}");
    for (round, t) in healthy.iter().enumerate() {
        let offset = t.as_secs_f64() - round as f64;
        assert!((0.0..0.5).contains(&offset), "round {round}: {t:?}");
    }
    // The hanging backend is not checked again while its check runs.
    let hanging = probe.times(set[0].id());
    assert!(hanging.len() <= 10, "{hanging:?}");
}

struct Panicky;

impl Probe for Panicky {
    async fn check(&self, backend: &Backend) -> Result<(), ProbeError> {
        assert!(backend.name() != "q0", "probe bug");
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_probe_is_a_failed_check() {
    let set = backends(2);
    let health = HealthConfig::default()
        .with_active(ActiveCheck::default().with_thresholds(1, 2).expect("valid"));
    let lb = Arc::new(
        Balancer::builder(RoundRobin, set)
            .health(health)
            .build()
            .expect("valid"),
    );
    let prober = Prober::spawn(Arc::clone(&lb), Arc::new(Panicky), config(0.0));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    prober.shutdown().await;
    let snap = lb.snapshot();
    assert!(!snap.health(0).is_available(), "two panics = two failures");
    assert!(snap.health(1).is_available());
}

/// Blocks its worker thread for a while (synchronous work), then passes.
struct Blocking;

impl Probe for Blocking {
    async fn check(&self, _: &Backend) -> Result<(), ProbeError> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_reported_after_shutdown_returns() {
    let set = backends(1);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let health = HealthConfig::default()
        .with_active(ActiveCheck::default().with_initial(lb_core::health::Initial::Unknown));
    let lb = Arc::new(
        Balancer::builder(RoundRobin, set)
            .health(health)
            .events(move |e| sink.lock().expect("events").push(e.kind.clone()))
            .build()
            .expect("valid"),
    );
    let config = ProbeConfig::default()
        .with_timing(Duration::from_secs(5), Duration::from_secs(2))
        .expect("valid")
        .with_jitter(0.0)
        .expect("valid");
    let prober = Prober::spawn(Arc::clone(&lb), Arc::new(Blocking), config);
    // The first check starts at once and blocks its worker for 300 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    prober.shutdown().await;
    let at_shutdown = events.lock().expect("events").len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events.lock().expect("events").len(), at_shutdown);
}

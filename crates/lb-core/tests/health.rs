//! The health model through the `Balancer`, with a virtual clock.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb_core::health::{
    ActiveCheck, EventKind, HealthConfig, HealthEvent, Initial, OutlierDetection, SlowStart,
    Verdict,
};
use lb_core::{Backend, BackendId, Balancer, Outcome, Policy, Request, RoundRobin};

fn backend(i: usize) -> Backend {
    let addr: SocketAddr = format!("10.4.0.{}:80", i + 1).parse().expect("address");
    Backend::named(&format!("b{i}"), addr)
}

fn set(n: usize) -> Vec<Backend> {
    (0..n).map(backend).collect()
}

type Events = Arc<Mutex<Vec<HealthEvent>>>;

fn balancer<A: lb_core::Algorithm>(
    algorithm: A,
    n: usize,
    health: HealthConfig,
) -> (Balancer<A>, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let lb = Balancer::builder(algorithm, set(n))
        .health(health)
        .events(move |e| sink.lock().expect("events").push(e.clone()))
        .seed(1)
        .build()
        .expect("valid set");
    (lb, events)
}

fn take(events: &Events) -> Vec<EventKind> {
    events
        .lock()
        .expect("events")
        .drain(..)
        .map(|e| e.kind)
        .collect()
}

fn id(i: usize) -> BackendId {
    backend(i).id()
}

/// Which backends `picks` picks at `now` land on, counted per index.
fn spread<A: lb_core::Algorithm>(lb: &Balancer<A>, picks: usize, now: Instant) -> Vec<usize> {
    let snap = lb.snapshot();
    let mut counts = vec![0; snap.backends().len()];
    for k in 0..picks {
        if let Some(lease) = lb.pick(&Request::new().with_key_hash(k as u64), now) {
            counts[snap.position(lease.backend().id()).expect("member")] += 1;
        }
    }
    counts
}

#[test]
fn rise_and_fall_exactly_at_the_thresholds() {
    let active = ActiveCheck::default().with_thresholds(2, 3).expect("valid");
    let (lb, events) = balancer(RoundRobin, 3, HealthConfig::default().with_active(active));
    let t = Instant::now();
    for k in 0..2 {
        lb.report_check(id(1), false, t);
        assert!(
            lb.snapshot().health(1).is_available(),
            "after {} failures",
            k + 1
        );
    }
    assert!(take(&events).is_empty());
    lb.report_check(id(1), false, t);
    assert_eq!(lb.snapshot().health(1).verdict(), Verdict::Unhealthy);
    assert_eq!(take(&events), [EventKind::Unhealthy { backend: id(1) }]);
    assert_eq!(spread(&lb, 300, t), [150, 0, 150]);
    lb.report_check(id(1), true, t);
    assert!(!lb.snapshot().health(1).is_available());
    lb.report_check(id(1), true, t);
    assert!(lb.snapshot().health(1).is_available());
    assert_eq!(take(&events), [EventKind::Healthy { backend: id(1) }]);
    assert!(!lb.report_check(id(9), true, t), "unknown backend");
}

#[test]
fn unknown_backends_wait_for_their_first_check() {
    let active = ActiveCheck::default().with_initial(Initial::Unknown);
    let health = HealthConfig::default()
        .with_active(active)
        .with_panic_threshold(0.0)
        .expect("valid");
    let (lb, events) = balancer(RoundRobin, 2, health);
    let t = Instant::now();
    assert!(lb.pick(&Request::new(), t).is_none(), "nothing checked yet");
    lb.report_check(id(0), true, t);
    lb.report_check(id(1), false, t);
    assert_eq!(
        take(&events),
        [
            EventKind::Healthy { backend: id(0) },
            EventKind::Unhealthy { backend: id(1) }
        ]
    );
    assert_eq!(spread(&lb, 10, t), [10, 0]);
}

fn fail<A: lb_core::Algorithm>(lb: &Balancer<A>, backend: usize, times: usize, now: Instant) {
    for _ in 0..times {
        let lease = lb
            .pick_filtered(&Request::new(), now, |b| b.id() == id(backend))
            .expect("backend is eligible");
        lease.finish(Outcome::Failure, now);
    }
}

#[test]
fn ejections_grow_cap_and_end_by_themselves() {
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(3)
        .with_ejection_times(Duration::from_secs(10), Duration::from_secs(25))
        .expect("valid")
        .with_max_ejection_percent(50)
        .expect("valid");
    let (lb, events) = balancer(RoundRobin, 4, HealthConfig::default().with_outlier(outlier));
    let mut t = Instant::now();
    let mut lengths = Vec::new();
    for round in 0..4 {
        fail(&lb, 2, 3, t);
        let ev = take(&events);
        let [
            EventKind::Ejected {
                backend,
                until,
                times,
                failures,
            },
        ] = ev.as_slice()
        else {
            panic!("round {round}: {ev:?}");
        };
        assert_eq!((*backend, *times, *failures), (id(2), round + 1, 3));
        lengths.push(until.duration_since(t).as_secs());
        // Never picked while ejected, even a nanosecond before the end.
        let just_before = *until - Duration::from_nanos(1);
        assert_eq!(spread(&lb, 30, just_before)[2], 0);
        assert!(take(&events).is_empty());
        // The first pick after the deadline releases it.
        let after = *until;
        assert!(spread(&lb, 4, after)[2] > 0);
        let ev = lb_events_at(&events);
        assert_eq!(ev, [(EventKind::Returned { backend: id(2) }, *until)]);
        t = after;
    }
    assert_eq!(lengths, [10, 20, 25, 25]);
}

fn lb_events_at(events: &Events) -> Vec<(EventKind, Instant)> {
    events
        .lock()
        .expect("events")
        .drain(..)
        .map(|e| (e.kind, e.at))
        .collect()
}

#[test]
fn success_resets_the_failure_count() {
    let outlier = OutlierDetection::default().with_consecutive_failures(3);
    let (lb, events) = balancer(RoundRobin, 2, HealthConfig::default().with_outlier(outlier));
    let t = Instant::now();
    fail(&lb, 0, 2, t);
    lb.pick_filtered(&Request::new(), t, |b| b.id() == id(0))
        .expect("eligible")
        .finish(Outcome::Success, t);
    fail(&lb, 0, 2, t);
    // Cancelled leases say nothing either way.
    drop(lb.pick_filtered(&Request::new(), t, |b| b.id() == id(0)));
    assert!(take(&events).is_empty());
    assert_eq!(lb.snapshot().health(0).consecutive_failures(), 2);
    fail(&lb, 0, 1, t);
    assert!(matches!(
        take(&events).as_slice(),
        [EventKind::Ejected { .. }]
    ));
}

#[test]
fn max_ejection_percent_is_never_exceeded() {
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(1)
        .with_max_ejection_percent(20)
        .expect("valid");
    let health = HealthConfig::default().with_outlier(outlier);
    let (lb, events) = balancer(RoundRobin, 10, health);
    let t = Instant::now();
    for b in 0..10 {
        fail(&lb, b, 1, t);
        assert!(lb.health_status().ejected <= 2);
    }
    // Backends refused ejection keep failing: still refused.
    fail(&lb, 5, 10, t);
    assert_eq!(lb.health_status().ejected, 2);
    let ejected = take(&events)
        .iter()
        .filter(|e| matches!(e, EventKind::Ejected { .. }))
        .count();
    assert_eq!(ejected, 2);
    // A small set may still eject one.
    let (small, _) = balancer(RoundRobin, 3, health);
    fail(&small, 0, 1, t);
    fail(&small, 1, 1, t);
    assert_eq!(small.health_status().ejected, 1);
}

#[test]
fn panic_mode_enters_and_leaves_at_the_threshold() {
    let active = ActiveCheck::default().with_thresholds(1, 1).expect("valid");
    let health = HealthConfig::default().with_active(active);
    let (lb, events) = balancer(RoundRobin, 4, health);
    let t = Instant::now();
    lb.report_check(id(0), false, t);
    lb.report_check(id(1), false, t);
    // 2 of 4 available: exactly 50 %, not below it.
    assert!(!lb.health_status().panic);
    assert_eq!(spread(&lb, 40, t), [0, 0, 20, 20]);
    take(&events);
    lb.report_check(id(2), false, t);
    assert_eq!(
        take(&events),
        [
            EventKind::Unhealthy { backend: id(2) },
            EventKind::PanicEntered {
                available: 1,
                candidates: 4
            }
        ]
    );
    // In panic, every non-draining backend takes traffic again.
    assert_eq!(spread(&lb, 40, t), [10, 10, 10, 10]);
    // Draining backends stay out, even in panic.
    lb.drain(id(0), t);
    assert_eq!(spread(&lb, 30, t), [0, 10, 10, 10]);
    let status = lb.health_status();
    assert!(status.panic);
    assert_eq!(
        (status.available, status.candidates, status.panic_entered),
        (1, 3, 1)
    );
    take(&events);
    lb.report_check(id(1), true, t);
    assert_eq!(
        take(&events),
        [
            EventKind::Healthy { backend: id(1) },
            EventKind::PanicLeft {
                available: 2,
                candidates: 3
            }
        ]
    );
    assert_eq!(spread(&lb, 20, t), [0, 10, 0, 10]);
}

#[test]
fn a_draining_backend_is_never_picked_while_its_leases_finish() {
    let (lb, events) = balancer(Policy::from(RoundRobin), 3, HealthConfig::default());
    let t = Instant::now();
    let leases: Vec<_> = (0..6)
        .map(|_| lb.pick(&Request::new(), t).expect("some"))
        .collect();
    assert!(lb.drain(id(1), t));
    assert!(!lb.drain(id(1), t), "already draining");
    assert_eq!(
        take(&events),
        [EventKind::Draining {
            backend: id(1),
            in_flight: 2
        }]
    );
    assert_eq!(spread(&lb, 100, t)[1], 0);
    let snap = lb.snapshot();
    let mut on_one: Vec<_> = leases
        .into_iter()
        .filter(|l| l.backend().id() == id(1))
        .collect();
    on_one.pop().expect("two").finish(Outcome::Success, t);
    assert!(take(&events).is_empty());
    assert_eq!(snap.loads().get(1).in_flight(), 1);
    drop(on_one);
    assert_eq!(take(&events), [EventKind::Drained { backend: id(1) }]);
    assert!(lb.enable(id(1), t));
    assert_eq!(take(&events), [EventKind::Enabled { backend: id(1) }]);
    assert!(spread(&lb, 30, t)[1] > 0);
}

#[test]
fn removing_a_backend_drains_it_and_adding_one_is_announced() {
    let (lb, events) = balancer(RoundRobin, 3, HealthConfig::default());
    let t = Instant::now();
    let lease = lb
        .pick_filtered(&Request::new(), t, |b| b.id() == id(2))
        .expect("eligible");
    lb.update(vec![backend(0), backend(1), backend(3)], t)
        .expect("valid");
    assert_eq!(
        take(&events),
        [
            EventKind::Added { backend: id(3) },
            EventKind::Removed {
                backend: id(2),
                in_flight: 1
            }
        ]
    );
    // The removed backend's lease finishes normally.
    lease.finish(Outcome::Success, t + Duration::from_millis(5));
    assert_eq!(lb.health_status().members, 3);
}

#[test]
fn slow_start_weight_follows_the_ramp() {
    let window = Duration::from_secs(100);
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(1)
        .with_ejection_times(Duration::from_secs(10), Duration::from_secs(10))
        .expect("valid")
        .with_max_ejection_percent(100)
        .expect("valid");
    let health = HealthConfig::default()
        .with_outlier(outlier)
        .with_slow_start(SlowStart::linear(window));
    let (lb, _events) = balancer(RoundRobin, 2, health);
    let t0 = Instant::now();
    fail(&lb, 0, 1, t0);
    let back = t0 + Duration::from_secs(10);
    let snap = lb.snapshot();
    for secs in [0_u64, 25, 50, 75, 100] {
        let now = back + Duration::from_secs(secs);
        let counts = spread(&lb, 20_000, now);
        let factor = snap.loads().view(now).weight_factor(0);
        let expected = (secs as f64 / 100.0).max(0.1);
        assert!((factor - expected).abs() < 1e-9, "{secs}: {factor}");
        // Round robin by admission: backend 0's share is f / (1 + f).
        let share = counts[0] as f64 / 20_000.0;
        let ideal = expected / (1.0 + expected);
        assert!(
            (share - ideal).abs() < 0.02,
            "{secs}s: share {share}, ideal {ideal}"
        );
    }
}

#[test]
fn least_conn_honours_slow_start_through_the_weight() {
    let health =
        HealthConfig::default().with_slow_start(SlowStart::linear(Duration::from_secs(100)));
    let (lb, _events) = balancer(
        Policy::from(lb_core::LeastConn::default().with_seed(3)),
        2,
        health,
    );
    let t0 = Instant::now();
    // b1 is added at t0, so it ramps; b0 has been there all along.
    lb.update(vec![backend(0), backend(1)], t0).expect("valid");
    let mut with_b2 = set(2);
    with_b2.push(backend(2));
    lb.update(with_b2, t0).expect("valid");
    let now = t0 + Duration::from_secs(25); // b2 at factor 0.25
    let held: Vec<_> = (0..90)
        .map(|_| lb.pick(&Request::new(), now).expect("some"))
        .collect();
    let snap = lb.snapshot();
    let in_flight: Vec<_> = (0..3).map(|i| snap.loads().get(i).in_flight()).collect();
    // load / (weight × factor) equalises: 40, 40, 10.
    assert_eq!(in_flight, [40, 40, 10], "{in_flight:?}");
    drop(held);
}

#[test]
fn unknown_backends_are_not_panic_candidates() {
    // Default panic threshold: backends waiting for their first check are
    // neither picked (not even in panic) nor counted, so no panic at all.
    let active = ActiveCheck::default().with_initial(Initial::Unknown);
    let (lb, events) = balancer(RoundRobin, 3, HealthConfig::default().with_active(active));
    let t = Instant::now();
    assert!(lb.pick(&Request::new(), t).is_none());
    let status = lb.health_status();
    assert!(!status.panic);
    assert_eq!((status.available, status.candidates), (0, 0));
    lb.report_check(id(1), true, t);
    assert_eq!(take(&events), [EventKind::Healthy { backend: id(1) }]);
    assert_eq!(spread(&lb, 9, t), [0, 9, 0]);
    // One failed first check: 1 of 2 candidates available is not below 50 %.
    lb.report_check(id(0), false, t);
    assert_eq!(take(&events), [EventKind::Unhealthy { backend: id(0) }]);
    assert!(!lb.health_status().panic);
    assert!(lb.snapshot().health(2).is_pending());
}

#[test]
fn a_removed_backend_drains_and_reports_when_its_last_lease_ends() {
    let (lb, events) = balancer(RoundRobin, 3, HealthConfig::default());
    let t = Instant::now();
    let lease = lb
        .pick_filtered(&Request::new(), t, |b| b.id() == id(2))
        .expect("eligible");
    lb.update(vec![backend(0), backend(1)], t).expect("valid");
    assert_eq!(
        take(&events),
        [EventKind::Removed {
            backend: id(2),
            in_flight: 1
        }]
    );
    let end = t + Duration::from_secs(10);
    lease.finish(Outcome::Success, end);
    assert_eq!(
        lb_events_at(&events),
        [(EventKind::Drained { backend: id(2) }, end)]
    );
    // Removing an idle backend reports it drained at once; adding it back
    // enables it.
    lb.update(vec![backend(0)], end).expect("valid");
    assert_eq!(
        take(&events),
        [
            EventKind::Removed {
                backend: id(1),
                in_flight: 0
            },
            EventKind::Drained { backend: id(1) }
        ]
    );
    lb.update(vec![backend(0), backend(2)], end).expect("valid");
    assert_eq!(take(&events), [EventKind::Added { backend: id(2) }]);
    assert_eq!(spread(&lb, 10, end), [5, 5]);
}

#[test]
fn an_update_after_ejections_ended_sees_them_ended() {
    let outlier = OutlierDetection::default()
        .with_consecutive_failures(1)
        .with_max_ejection_percent(50)
        .expect("valid");
    let (lb, events) = balancer(RoundRobin, 4, HealthConfig::default().with_outlier(outlier));
    let t = Instant::now();
    fail(&lb, 0, 1, t);
    fail(&lb, 1, 1, t);
    take(&events);
    // 60 s later both ejections (30 s) are over: the update must not think
    // only 1 of 3 is available and enter panic.
    let later = t + Duration::from_secs(60);
    lb.update(vec![backend(0), backend(1), backend(2)], later)
        .expect("valid");
    let kinds = take(&events);
    assert!(
        !kinds
            .iter()
            .any(|k| matches!(k, EventKind::PanicEntered { .. })),
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| matches!(k, EventKind::Returned { .. }))
            .count(),
        2
    );
    assert_eq!(lb.health_status().panic_entered, 0);
}

#[test]
fn a_drain_racing_a_pick_never_leaves_a_lease_on_a_drained_backend() {
    // The filter drains backend 0 on its last call, after the selector
    // chose it and before the lease is counted: the pick must move on.
    let (lb, events) = balancer(RoundRobin, 2, HealthConfig::default());
    let lb = Arc::new(lb);
    let t = Instant::now();
    let calls = std::cell::Cell::new(0);
    let filter = |i: usize| {
        calls.set(calls.get() + 1);
        if i == 0 && calls.get() == 2 {
            lb.drain(id(0), t);
        }
        true
    };
    let lease = lb
        .pick_eligible(&Request::new(), t, &filter)
        .expect("b1 is left");
    assert_eq!(lease.backend().id(), id(1));
    assert_eq!(lb.snapshot().loads().get(0).in_flight(), 0);
    assert_eq!(
        take(&events),
        [
            EventKind::Draining {
                backend: id(0),
                in_flight: 0
            },
            EventKind::Drained { backend: id(0) }
        ]
    );
}

#[test]
fn the_event_sink_may_read_health_on_every_event() {
    use std::sync::OnceLock;
    use std::sync::mpsc;
    type Lb = Balancer<RoundRobin>;
    let cell: Arc<OnceLock<std::sync::Weak<Lb>>> = Arc::default();
    let seen = Arc::clone(&cell);
    let outlier = OutlierDetection::default().with_consecutive_failures(1);
    let lb = Arc::new(
        Balancer::builder(RoundRobin, set(2))
            .health(HealthConfig::default().with_outlier(outlier))
            .events(move |e| {
                if let Some(lb) = seen.get().and_then(std::sync::Weak::upgrade) {
                    let snap = lb.snapshot();
                    for i in 0..snap.backends().len() {
                        let h = snap.health(i);
                        let _ = (h.verdict(), h.times_ejected(), e.kind.backend());
                    }
                }
            })
            .build()
            .expect("valid"),
    );
    cell.set(Arc::downgrade(&lb)).expect("set once");
    let (done, finished) = mpsc::channel();
    let worker = {
        let lb = Arc::clone(&lb);
        std::thread::spawn(move || {
            let t = Instant::now();
            fail(&lb, 0, 1, t); // Ejected
            lb.report_check(id(1), false, t); // below fall: no event
            drop(lb.pick(&Request::new(), t + Duration::from_secs(31))); // Returned
            lb.drain(id(1), t + Duration::from_secs(31)); // Draining, Drained
            done.send(()).expect("main thread waits");
        })
    };
    finished
        .recv_timeout(Duration::from_secs(10))
        .expect("no deadlock in the event sink");
    worker.join().expect("worker");
}

#[test]
fn recovery_and_enable_restart_slow_start() {
    let active = ActiveCheck::default().with_thresholds(1, 1).expect("valid");
    let health = HealthConfig::default()
        .with_active(active)
        .with_slow_start(SlowStart::linear(Duration::from_secs(10)));
    let (lb, _events) = balancer(RoundRobin, 3, health);
    let t = Instant::now();
    let factor = |i: usize, at: Instant| lb.snapshot().loads().view(at).weight_factor(i);
    assert_eq!(factor(0, t), 1.0, "the first set does not ramp");
    // Active-check recovery ramps.
    lb.report_check(id(0), false, t);
    lb.report_check(id(0), true, t + Duration::from_secs(1));
    assert!((factor(0, t + Duration::from_secs(6)) - 0.5).abs() < 1e-9);
    assert_eq!(factor(0, t + Duration::from_secs(11)), 1.0);
    // So does enabling a drained backend.
    lb.drain(id(1), t);
    lb.enable(id(1), t + Duration::from_secs(2));
    assert!((factor(1, t + Duration::from_secs(4)) - 0.2).abs() < 1e-9);
    // A passing check of a healthy backend does not.
    lb.report_check(id(2), true, t + Duration::from_secs(3));
    assert_eq!(factor(2, t + Duration::from_secs(3)), 1.0);
}

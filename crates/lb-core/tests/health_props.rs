//! Random sequences of picks, outcomes, check results, drains, updates and
//! time steps: no pick is ever ineligible (outside panic mode: unavailable;
//! in it: draining), ejections respect the cap, and every state change
//! emits exactly one event.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lb_core::health::{ActiveCheck, EventKind, HealthConfig, OutlierDetection, SlowStart, Verdict};
use lb_core::{Backend, BackendId, Balancer, Lease, Outcome, Policy, Request, Snapshot};
use proptest::prelude::*;

const N: usize = 6;

fn backend(i: usize) -> Backend {
    let addr: SocketAddr = format!("10.5.0.{}:80", i + 1).parse().expect("address");
    Backend::named(&format!("p{i}"), addr)
}

#[derive(Clone, Debug)]
enum Op {
    Pick(u64),
    Finish(usize, u8),
    Check(usize, bool),
    Drain(usize),
    Enable(usize),
    Advance(u64),
    Update(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u64>().prop_map(Op::Pick),
        6 => (any::<usize>(), 0_u8..3).prop_map(|(k, o)| Op::Finish(k, o)),
        4 => (0..N, any::<bool>()).prop_map(|(i, p)| Op::Check(i, p)),
        1 => (0..N).prop_map(Op::Drain),
        1 => (0..N).prop_map(Op::Enable),
        3 => (0_u64..40_000).prop_map(Op::Advance),
        1 => (1_u8..64).prop_map(Op::Update),
    ]
}

/// What can be observed of one backend: (verdict, ejected, draining,
/// draining with nothing in flight).
type Seen = (Verdict, bool, bool, bool);

fn observe(snap: &Snapshot, i: usize) -> Seen {
    let h = snap.health(i);
    let draining = h.is_draining();
    (
        h.verdict(),
        h.is_ejected(),
        draining,
        draining && snap.loads().get(i).in_flight() == 0,
    )
}

/// An event as (kind name, backend).
type Key = (&'static str, Option<BackendId>);

fn key(kind: &EventKind) -> Key {
    let name = match kind {
        EventKind::Healthy { .. } => "healthy",
        EventKind::Unhealthy { .. } => "unhealthy",
        EventKind::Ejected { .. } => "ejected",
        EventKind::Returned { .. } => "returned",
        EventKind::Draining { .. } => "draining",
        EventKind::Drained { .. } => "drained",
        EventKind::Enabled { .. } => "enabled",
        EventKind::Added { .. } => "added",
        EventKind::Removed { .. } => "removed",
        EventKind::PanicEntered { .. } => "panic-entered",
        EventKind::PanicLeft { .. } => "panic-left",
        _ => "other",
    };
    (name, kind.backend())
}

/// The events implied by the observed changes from `before` to `after`.
fn implied(
    before: &BTreeMap<BackendId, (bool, Seen)>,
    after: &BTreeMap<BackendId, (bool, Seen)>,
    panic: (bool, bool),
) -> Vec<Key> {
    let mut keys = Vec::new();
    for (id, &(member, seen)) in after {
        let Some(&(was_member, was)) = before.get(id) else {
            keys.push(("added", Some(*id)));
            continue;
        };
        let id = Some(*id);
        // Removal drains (the Removed event says so) and adding back enables
        // (the Added event says so): no separate Draining / Enabled.
        let moved = was_member != member;
        match (was_member, member) {
            (false, true) => keys.push(("added", id)),
            (true, false) => keys.push(("removed", id)),
            _ => {}
        }
        if was.0 != seen.0 {
            keys.push((
                if seen.0 == Verdict::Healthy {
                    "healthy"
                } else {
                    "unhealthy"
                },
                id,
            ));
        }
        if was.1 != seen.1 {
            keys.push((if seen.1 { "ejected" } else { "returned" }, id));
        }
        if was.2 != seen.2 && !moved {
            keys.push((if seen.2 { "draining" } else { "enabled" }, id));
        }
        if !was.3 && seen.3 {
            keys.push(("drained", id));
        }
    }
    if panic.0 != panic.1 {
        keys.push((
            if panic.1 {
                "panic-entered"
            } else {
                "panic-left"
            },
            None,
        ));
    }
    keys.sort();
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn eligibility_caps_and_one_event_per_change(
        policy in 0_usize..11,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let outlier = OutlierDetection::default()
            .with_consecutive_failures(2)
            .with_ejection_times(Duration::from_secs(10), Duration::from_secs(30))
            .expect("valid")
            .with_max_ejection_percent(34)
            .expect("valid");
        let health = HealthConfig::default()
            .with_active(ActiveCheck::default().with_thresholds(2, 2).expect("valid"))
            .with_outlier(outlier)
            .with_slow_start(SlowStart::linear(Duration::from_secs(20)));
        let events: Arc<Mutex<Vec<(EventKind, Instant)>>> = Arc::default();
        let sink = Arc::clone(&events);
        let policy = Policy::all()[policy].clone().with_seed(5);
        let name = policy.name();
        let lb = Balancer::builder(policy, (0..4).map(backend).collect())
            .health(health)
            .events(move |e| sink.lock().expect("events").push((e.kind.clone(), e.at)))
            .seed(9)
            .build()
            .expect("valid set");
        let mut now = Instant::now();
        let mut held: Vec<Lease> = Vec::new();
        // Every backend ever seen, with the snapshot that shows its state.
        let mut known: BTreeMap<BackendId, (Arc<Snapshot>, usize)> = BTreeMap::new();
        let remember = |known: &mut BTreeMap<BackendId, (Arc<Snapshot>, usize)>, snap: &Arc<Snapshot>| {
            for (i, b) in snap.backends().iter().enumerate() {
                known.insert(b.id(), (Arc::clone(snap), i));
            }
        };
        remember(&mut known, &lb.snapshot());
        let state = |known: &BTreeMap<BackendId, (Arc<Snapshot>, usize)>, current: &Snapshot| {
            known
                .iter()
                .map(|(id, (snap, i))| (*id, (current.position(*id).is_some(), observe(snap, *i))))
                .collect::<BTreeMap<_, _>>()
        };
        for op in ops {
            let before = state(&known, &lb.snapshot());
            let panic_before = lb.health_status().panic;
            match &op {
                Op::Pick(k) => {
                    if let Some(lease) = lb.pick(&Request::new().with_key_hash(*k), now) {
                        let snap = lb.snapshot();
                        let i = snap.position(lease.backend().id()).expect("member");
                        let h = snap.health(i);
                        if lb.health_status().panic {
                            prop_assert!(!h.is_draining(), "{}: picked a draining backend", name);
                        } else {
                            prop_assert!(h.is_available(), "{}: picked an unavailable backend", name);
                        }
                        held.push(lease);
                    } else {
                        let s = lb.health_status();
                        prop_assert!(s.candidates == 0 || (!s.panic && s.available == 0),
                            "{}: None with {:?}", name, s);
                    }
                }
                Op::Finish(k, outcome) => {
                    if !held.is_empty() {
                        let lease = held.swap_remove(k % held.len());
                        match outcome {
                            0 => lease.finish(Outcome::Success, now),
                            1 => lease.finish(Outcome::Failure, now),
                            _ => drop(lease),
                        }
                    }
                }
                Op::Check(i, passed) => {
                    lb.report_check(backend(*i).id(), *passed, now);
                }
                Op::Drain(i) => {
                    lb.drain(backend(*i).id(), now);
                }
                Op::Enable(i) => {
                    lb.enable(backend(*i).id(), now);
                }
                Op::Advance(ms) => now += Duration::from_millis(*ms),
                Op::Update(mask) => {
                    let set: Vec<Backend> = (0..N).filter(|i| mask & (1 << i) != 0).map(backend).collect();
                    lb.update(set, now).expect("non-empty, unique");
                    remember(&mut known, &lb.snapshot());
                }
            }
            let status = lb.health_status();
            let after = state(&known, &lb.snapshot());
            let drained: Vec<(EventKind, Instant)> = events.lock().expect("events").drain(..).collect();
            for (kind, at) in &drained {
                // Events carry the time of the change: now; for a return from
                // ejection the (past) end of the ejection; for a drain that a
                // dropped lease (which has no time) completed, the latest
                // time the balancer was given.
                if matches!(kind, EventKind::Returned { .. } | EventKind::Drained { .. }) {
                    prop_assert!(*at <= now, "{}: {:?} in the future", name, kind);
                } else {
                    prop_assert_eq!(*at, now, "{}: {:?}", name, kind);
                }
            }
            let mut emitted: Vec<Key> = drained.iter().map(|(k, _)| key(k)).collect();
            // Panic mode may leave and re-enter within one operation (an
            // ejection ends, then a check fails): both are real changes, but
            // the before/after view sees neither. Cancel such pairs.
            while let (Some(a), Some(b)) = (
                emitted.iter().position(|k| k.0 == "panic-entered"),
                emitted.iter().position(|k| k.0 == "panic-left"),
            ) {
                emitted.remove(a.max(b));
                emitted.remove(a.min(b));
            }
            emitted.sort();
            let expected = implied(&before, &after, (panic_before, status.panic));
            prop_assert_eq!(&emitted, &expected, "{} after {:?}", name, op);
            if emitted.iter().any(|k| k.0 == "ejected") {
                let cap = (status.members * 34 / 100).max(1);
                prop_assert!(status.ejected <= cap, "{}: {} ejected, cap {}", name, status.ejected, cap);
            }
        }
        drop(held);
        prop_assert_eq!(lb.snapshot().loads().total_in_flight(), 0);
    }
}

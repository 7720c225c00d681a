//! Concurrent updates and picks: no lost or doubled in-flight counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use lb_core::{Backend, Balancer, Outcome, Policy, Request};

fn backend(i: usize) -> Backend {
    let addr: SocketAddr = format!("10.3.0.{}:80", i + 1).parse().expect("address");
    Backend::named(&format!("b{i}"), addr)
}

#[test]
fn counts_survive_concurrent_updates() {
    for name in ["least-conn", "maglev", "weighted-round-robin"] {
        let policy: Policy = name.parse().expect("known");
        let lb = Arc::new(Balancer::new(policy, (0..6).map(backend).collect()).expect("valid"));
        let stop = Arc::new(AtomicBool::new(false));
        let updater = {
            let (lb, stop) = (Arc::clone(&lb), Arc::clone(&stop));
            thread::spawn(move || {
                let mut round = 0_usize;
                while !stop.load(Ordering::Relaxed) {
                    // Alternate between sets that share backends 2..6.
                    let set: Vec<Backend> = if round % 2 == 0 {
                        (2..8).map(backend).collect()
                    } else {
                        (0..6).map(backend).collect()
                    };
                    lb.update(set, Instant::now()).expect("valid set");
                    round += 1;
                    thread::yield_now();
                }
                round
            })
        };
        let pickers: Vec<_> = (0..3)
            .map(|t| {
                let lb = Arc::clone(&lb);
                thread::spawn(move || {
                    let now = Instant::now();
                    let mut held = Vec::new();
                    for k in 0..20_000_u64 {
                        let req = Request::new().with_key_hash(k * 3 + t);
                        // A pick racing two updates may find its choices
                        // drained under it twice and give up: rare, allowed.
                        let Some(lease) = lb.pick(&req, now) else {
                            continue;
                        };
                        held.push(lease);
                        if held.len() == 16 {
                            for (j, lease) in held.drain(..).enumerate() {
                                if j % 2 == 0 {
                                    lease.finish(Outcome::Success, now);
                                } // odd ones are dropped: cancelled
                            }
                        }
                    }
                    held
                })
            })
            .collect();
        let held: Vec<_> = pickers
            .into_iter()
            .flat_map(|p| p.join().expect("picker"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let rounds = updater.join().expect("updater");
        assert!(rounds > 0);
        // Exactly the leases still held are in flight, over all snapshots.
        let snapshot = lb.snapshot();
        assert_eq!(snapshot.loads().total_in_flight(), held.len(), "{name}");
        let on_current: usize = (0..snapshot.backends().len())
            .map(|i| snapshot.loads().get(i).in_flight())
            .sum();
        assert!(on_current <= held.len());
        drop(held);
        assert_eq!(snapshot.loads().total_in_flight(), 0, "{name}");
        for i in 0..snapshot.backends().len() {
            assert_eq!(snapshot.loads().get(i).in_flight(), 0, "{name} backend {i}");
        }
    }
}

#[test]
fn update_keeps_counters_of_staying_backends() {
    let lb = Balancer::new(
        "least-conn".parse::<Policy>().expect("known"),
        (0..3).map(backend).collect(),
    )
    .expect("valid");
    let now = Instant::now();
    let leases: Vec<_> = (0..6)
        .map(|_| lb.pick(&Request::new(), now).expect("some"))
        .collect();
    // Each backend has 2 in flight; drop b0, keep b1 and b2, add b3.
    let version = lb
        .update((1..4).map(backend).collect(), now)
        .expect("valid");
    assert_eq!(version, 1);
    let snap = lb.snapshot();
    let in_flight = |i: usize| {
        snap.loads()
            .get(snap.position(backend(i).id()).expect("present"))
            .in_flight()
    };
    assert_eq!((in_flight(1), in_flight(2), in_flight(3)), (2, 2, 0));
    // The next picks go to the new, idle backend.
    let next = lb.pick(&Request::new(), now).expect("some");
    assert_eq!(next.backend().id(), backend(3).id());
    drop(leases);
    assert_eq!((in_flight(1), in_flight(2)), (0, 0));
}

#[test]
fn invalid_update_keeps_the_old_set() {
    let lb = Balancer::new(
        "round-robin".parse::<Policy>().expect("known"),
        vec![backend(0)],
    )
    .expect("valid");
    assert!(lb.update(Vec::new(), Instant::now()).is_err());
    assert!(
        lb.update(vec![backend(1), backend(1)], Instant::now())
            .is_err()
    );
    assert_eq!(lb.snapshot().version(), 0);
    assert_eq!(lb.snapshot().backends()[0].id(), backend(0).id());
    assert!(Balancer::new("random".parse::<Policy>().expect("known"), Vec::new()).is_err());
}

#[test]
fn removed_and_readded_backend_gets_its_counts_back() {
    let lb = Balancer::new(
        "least-conn".parse::<Policy>().expect("known"),
        (0..2).map(backend).collect(),
    )
    .expect("valid");
    let now = Instant::now();
    let leases: Vec<_> = (0..10)
        .map(|_| lb.pick(&Request::new(), now).expect("some"))
        .collect();
    lb.update(vec![backend(1)], now).expect("valid");
    lb.update(vec![backend(0), backend(1)], now).expect("valid");
    let snap = lb.snapshot();
    let in_flight = |i: usize| {
        snap.loads()
            .get(snap.position(backend(i).id()).expect("present"))
            .in_flight()
    };
    assert_eq!((in_flight(0), in_flight(1)), (5, 5));
    // So least-conn does not pile new requests onto b0.
    let next: Vec<_> = (0..4)
        .map(|_| lb.pick(&Request::new(), now).expect("some"))
        .collect();
    assert_eq!((in_flight(0), in_flight(1)), (7, 7));
    drop(leases);
    drop(next);
    assert_eq!((in_flight(0), in_flight(1)), (0, 0));
    assert_eq!(snap.loads().total_in_flight(), 0);
}

#[test]
fn a_backend_gone_for_good_starts_afresh_when_it_returns() {
    let lb = Balancer::new(
        "least-conn".parse::<Policy>().expect("known"),
        (0..2).map(backend).collect(),
    )
    .expect("valid");
    let now = Instant::now();
    drop(lb.pick(&Request::new(), now));
    lb.update(vec![backend(1)], now).expect("valid");
    lb.update(vec![backend(0), backend(1)], now).expect("valid");
    let snap = lb.snapshot();
    let b0 = snap
        .loads()
        .get(snap.position(backend(0).id()).expect("present"));
    // No lease kept the old counters alive: fresh ones.
    assert_eq!((b0.in_flight(), b0.cancelled()), (0, 0));
}

//! Every algorithm, through the `Balancer`: never an ineligible backend, and
//! `None` only when no backend is eligible.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lb_core::{Backend, Balancer, Outcome, Policy, Request};
use proptest::prelude::*;

fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr: SocketAddr = format!("10.1.{}.{}:8080", i / 200, i % 200 + 1)
                .parse()
                .expect("address");
            Backend::new(addr).with_weight(w).expect("weight >= 1")
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn never_ineligible_none_only_when_none_eligible(
        weights in prop::collection::vec(1_u32..=20, 1..=24),
        mask in prop::collection::vec(any::<bool>(), 24),
        keys in prop::collection::vec(prop::option::of(any::<u64>()), 1..=40),
        held in 0_usize..=5,
        seed in any::<u64>(),
    ) {
        let n = weights.len();
        let any_eligible = mask[..n].iter().any(|&m| m);
        for policy in Policy::all() {
            let name = policy.name();
            let lb = Balancer::new(policy.with_seed(seed), backends(&weights)).expect("valid set");
            let t0 = Instant::now();
            // Some load and latency history, so load-aware paths run too.
            let mut leases = Vec::new();
            for k in 0..held {
                if let Some(l) = lb.pick(&Request::new().with_key_hash(k as u64), t0) {
                    leases.push(l);
                }
            }
            for (k, lease) in leases.drain(..).enumerate() {
                lease.finish(Outcome::Success, t0 + Duration::from_millis(k as u64 * 7));
            }
            let ids = lb.snapshot();
            let eligible = |b: &Backend| {
                let i = ids.position(b.id()).expect("backend of this set");
                mask[i]
            };
            for (attempt, key) in keys.iter().enumerate() {
                let req = key.map_or(Request::new(), |k| Request::new().with_key_hash(k))
                    .with_attempt(attempt as u32);
                let now = t0 + Duration::from_millis(attempt as u64);
                match lb.pick_filtered(&req, now, eligible) {
                    Some(lease) => {
                        prop_assert!(eligible(lease.backend()), "{} picked an ineligible backend", name);
                        leases.push(lease);
                    }
                    None => prop_assert!(!any_eligible, "{} returned None with eligible backends", name),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Extreme weights (up to u32::MAX) and large in-flight counts: no
    /// overflow, no panic, no ineligible pick. (Ring and bounded load are
    /// left to their unit tests: a u32::MAX weight builds a 2^21-point ring,
    /// slow in a debug build.)
    #[test]
    fn extreme_weights_and_loads(
        weights in prop::collection::vec(prop_oneof![1_u32..=3, Just(u32::MAX), any::<u32>().prop_map(|w| w.max(1))], 1..=12),
        mask in any::<u16>(),
        keys in prop::collection::vec(any::<u64>(), 1..=30),
        held in 0_usize..=300,
    ) {
        let n = weights.len();
        let any_eligible = (0..n).any(|i| mask & (1 << i) != 0);
        for policy in Policy::all() {
            if matches!(policy, Policy::Ring(_) | Policy::BoundedLoad(_)) {
                continue;
            }
            let name = policy.name();
            let lb = Balancer::new(policy.with_seed(7), backends(&weights)).expect("valid set");
            let now = Instant::now();
            let held: Vec<_> = (0..held)
                .filter_map(|k| lb.pick(&Request::new().with_key_hash(k as u64), now))
                .collect();
            let snap = lb.snapshot();
            let eligible = |b: &Backend| snap.position(b.id()).is_some_and(|i| mask & (1 << i) != 0);
            for &key in &keys {
                match lb.pick_filtered(&Request::new().with_key_hash(key), now, eligible) {
                    Some(lease) => prop_assert!(eligible(lease.backend()), "{}", name),
                    None => prop_assert!(!any_eligible, "{}", name),
                }
            }
            drop(held);
            prop_assert_eq!(snap.loads().total_in_flight(), 0);
        }
    }
}

#[test]
fn hash_policies_agree_across_instances() {
    // Two balancers built independently, with the set in different orders,
    // send every key to the same backend id.
    let set = backends(&[1, 2, 3, 1, 1, 4, 2]);
    let mut reversed = set.clone();
    reversed.reverse();
    for policy in Policy::all().into_iter().filter(Policy::is_hash) {
        if matches!(policy, Policy::KeyHash(_)) {
            continue; // modulo hashing depends on order by design
        }
        let a = Balancer::new(policy.clone(), set.clone()).expect("valid");
        let b = Balancer::new(policy.clone(), reversed.clone()).expect("valid");
        let now = Instant::now();
        for k in 0..2_000_u64 {
            let req = Request::new().with_key(&k.to_be_bytes());
            let (x, y) = (
                a.pick(&req, now).expect("some"),
                b.pick(&req, now).expect("some"),
            );
            assert_eq!(x.backend().id(), y.backend().id(), "{policy} key {k}");
        }
    }
}

//! Fuzzes every selection algorithm through the `Balancer` with arbitrary
//! weights, eligibility masks, keys, leases and set updates: it must never
//! panic, never pick an ineligible backend, and return `None` only when no
//! backend is eligible. In-flight counts must return to zero.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lb_core::{Backend, Balancer, Outcome, Policy, Request};
use libfuzzer_sys::fuzz_target;

/// `huge`: let one byte in sixteen ask for a weight near `u32::MAX`. Off for
/// the ring-based policies, where any such weight builds a capped 2^21-point
/// ring (~0.1 s), which would starve the fuzzer; their unit tests cover it.
fn backends(bytes: &[u8], huge: bool) -> Vec<Backend> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr = SocketAddr::from((Ipv4Addr::new(10, 9, (i >> 8) as u8, i as u8), 80));
            // Mostly small weights; one byte in sixteen asks for a huge one.
            let weight = if huge && w >= 0xf0 {
                u32::MAX - u32::from(w & 0x0f)
            } else {
                u32::from(w % 16) + 1
            };
            Backend::new(addr).with_weight(weight).expect("weight >= 1")
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let policies = Policy::all();
    let policy = policies[usize::from(head) % policies.len()]
        .clone()
        .with_seed(u64::from(head));
    let huge = !matches!(policy, Policy::Ring(_) | Policy::BoundedLoad(_));
    let n = usize::from(head >> 4) % 12 + 1;
    if rest.len() < n + 2 {
        return;
    }
    let (weights, rest) = rest.split_at(n);
    let (mask_bytes, ops) = rest.split_at(2);
    let mask = u16::from_le_bytes([mask_bytes[0], mask_bytes[1]]);
    let Ok(lb) = Balancer::new(policy, backends(weights, huge)) else {
        return;
    };
    let t0 = Instant::now();
    let mut held = Vec::new();
    for (step, chunk) in ops.chunks(3).enumerate() {
        let now = t0 + Duration::from_millis(step as u64);
        match chunk {
            [0, new_n, _] => {
                // Replace the set with a prefix of a larger one.
                let size = usize::from(*new_n) % 12 + 1;
                let ws: Vec<u8> = (0..size)
                    .map(|i| weights.get(i).copied().unwrap_or(1))
                    .collect();
                lb.update(backends(&ws, huge), now).expect("valid set");
            }
            [1, latency, ..] => {
                if let Some(lease) = held.pop() {
                    let lease: lb_core::Lease = lease;
                    lease.finish(
                        Outcome::Success,
                        now + Duration::from_millis(u64::from(*latency)),
                    );
                }
            }
            [op, a, b] => {
                let snapshot = lb.snapshot();
                let eligible = |backend: &Backend| {
                    snapshot
                        .position(backend.id())
                        .is_some_and(|i| mask & (1 << (i % 16)) != 0)
                };
                let any = (0..snapshot.backends().len()).any(|i| mask & (1 << (i % 16)) != 0);
                let req = if op % 2 == 0 {
                    Request::new().with_key(&[*a, *b])
                } else {
                    Request::new()
                };
                match lb.pick_filtered(&req.with_attempt(u32::from(*a)), now, eligible) {
                    Some(lease) => {
                        assert!(eligible(lease.backend()), "ineligible pick");
                        held.push(lease);
                    }
                    None => assert!(!any, "None with eligible backends"),
                }
            }
            _ => {}
        }
    }
    drop(held);
    assert_eq!(lb.snapshot().loads().total_in_flight(), 0);
});

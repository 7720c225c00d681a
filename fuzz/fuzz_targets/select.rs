//! Fuzzes every selection algorithm through the `Balancer` with arbitrary
//! weights, eligibility masks, keys, leases, outcomes, health checks,
//! drains, set updates and time steps: it must never panic, never pick a
//! backend that the filter or health rules out, and return `None` only when
//! no backend is eligible. In-flight counts must return to zero.
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
    let mut now = t0;
    let mut held = Vec::new();
    let mut ejected_before = 0;
    for chunk in ops.chunks(3) {
        let [op, a, b] = *chunk else {
            break;
        };
        let id_at = |i: u8| {
            let snapshot = lb.snapshot();
            let backends = snapshot.backends();
            backends[usize::from(i) % backends.len()].id()
        };
        match op % 10 {
            0 => {
                // Replace the set with a prefix of a larger one.
                let size = usize::from(a) % 12 + 1;
                let ws: Vec<u8> = (0..size)
                    .map(|i| weights.get(i).copied().unwrap_or(1))
                    .collect();
                lb.update(backends(&ws, huge), now).expect("valid set");
            }
            1 | 2 => {
                if !held.is_empty() {
                    let lease: lb_core::Lease = held.swap_remove(usize::from(a) % held.len());
                    let outcome = if op % 10 == 1 {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    };
                    lease.finish(outcome, now + Duration::from_millis(u64::from(b)));
                }
            }
            3 => {
                lb.report_check(id_at(a), b & 1 == 0, now);
            }
            4 => {
                lb.drain(id_at(a), now);
            }
            5 => {
                lb.enable(id_at(a), now);
            }
            6 => now += Duration::from_millis(u64::from(a) * 1000 + u64::from(b)),
            _ => {
                let snapshot = lb.snapshot();
                let filter = |backend: &Backend| {
                    snapshot
                        .position(backend.id())
                        .is_some_and(|i| mask & (1 << (i % 16)) != 0)
                };
                let req = if op % 2 == 0 {
                    Request::new().with_key(&[a, b])
                } else {
                    Request::new()
                };
                let picked = lb.pick_filtered(&req.with_attempt(u32::from(a)), now, filter);
                // Health as of the pick (ejections that ended are released
                // by the pick itself, so read it afterwards).
                let panic = lb.health_status().panic;
                let allowed = |i: usize| {
                    let h = snapshot.health(i);
                    mask & (1 << (i % 16)) != 0
                        && if panic {
                            !h.is_draining()
                        } else {
                            h.is_available()
                        }
                };
                match picked {
                    Some(lease) => {
                        let i = snapshot.position(lease.backend().id()).expect("member");
                        assert!(allowed(i), "ineligible pick");
                        held.push(lease);
                    }
                    None => assert!(
                        !(0..snapshot.backends().len()).any(allowed),
                        "None with eligible backends"
                    ),
                }
            }
        }
        // An ejection never takes the ejected count past the cap (Envoy's
        // default 10 %, but one may always be ejected). Updates may (a
        // backend re-added while still ejected), as in Envoy.
        let status = lb.health_status();
        if op % 10 != 0 && status.ejected > ejected_before {
            assert!(status.ejected <= (status.members / 10).max(1), "{status:?}");
        }
        ejected_before = status.ejected;
    }
    drop(held);
    assert_eq!(lb.snapshot().loads().total_in_flight(), 0);
});

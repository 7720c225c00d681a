//! A deterministic simulation (seeded RNG, simulated time) of backends of
//! unequal speed: load-aware algorithms must send less traffic to the slow one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lb_core::{Backend, Balancer, Lease, Outcome, Policy, Request};

/// Service time of each backend: backend 0 is ten times slower.
const SERVICE_US: [u64; 4] = [10_000, 1_000, 1_000, 1_000];
/// One request arrives every 400 µs: the fast backends together could serve
/// one every ~333 µs, the slow one would queue behind.
const ARRIVAL_US: u64 = 400;
const REQUESTS: usize = 20_000;

/// Runs the simulation and returns each backend's share of the requests.
fn simulate(policy: Policy) -> [f64; 4] {
    let backends: Vec<Backend> = (0..4)
        .map(|i| {
            let addr: SocketAddr = format!("10.2.0.{}:80", i + 1).parse().expect("address");
            Backend::named(&format!("b{i}"), addr)
        })
        .collect();
    let lb = Balancer::new(policy.with_seed(42), backends).expect("valid set");
    let t0 = Instant::now();
    let at = |us: u64| t0 + Duration::from_micros(us);
    // Each backend serves one request at a time, FIFO: `free_at` is when its
    // queue drains. Completions wait in a heap ordered by time.
    let mut free_at = [0_u64; 4];
    let mut completions: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut leases: Vec<Option<Lease>> = Vec::with_capacity(REQUESTS);
    let mut counts = [0_usize; 4];
    for r in 0..REQUESTS {
        let now = r as u64 * ARRIVAL_US;
        while let Some(&Reverse((done, id))) = completions.peek() {
            if done > now {
                break;
            }
            completions.pop();
            if let Some(lease) = leases[id].take() {
                lease.finish(Outcome::Success, at(done));
            }
        }
        let lease = lb.pick(&Request::new(), at(now)).expect("all eligible");
        let b = lb
            .snapshot()
            .position(lease.backend().id())
            .expect("in set");
        counts[b] += 1;
        let start = free_at[b].max(now);
        free_at[b] = start + SERVICE_US[b];
        completions.push(Reverse((free_at[b], r)));
        leases.push(Some(lease));
    }
    counts.map(|c| c as f64 / REQUESTS as f64)
}

#[test]
fn round_robin_control_splits_evenly() {
    let shares = simulate("round-robin".parse().expect("known"));
    assert!((shares[0] - 0.25).abs() < 0.001, "{shares:?}");
}

#[test]
fn load_aware_algorithms_avoid_the_slow_backend() {
    for name in ["least-conn", "p2c", "peak-ewma"] {
        let shares = simulate(name.parse().expect("known"));
        println!("{name}: shares {shares:?}");
        // The slow backend can serve at most 4% of the arrivals (one per
        // 10 ms against one per 0.4 ms); round robin gives it 25%.
        assert!(shares[0] < 0.10, "{name}: slow backend got {shares:?}");
        for fast in &shares[1..] {
            assert!(*fast > 0.25, "{name}: {shares:?}");
        }
    }
}

#[test]
fn simulation_is_deterministic() {
    for name in ["p2c", "peak-ewma", "least-conn"] {
        let a = simulate(name.parse().expect("known"));
        let b = simulate(name.parse().expect("known"));
        assert_eq!(a, b, "{name}");
    }
}

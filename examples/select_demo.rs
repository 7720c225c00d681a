//! Spreads simulated picks over a backend set and shows how each algorithm
//! shares them out; for hash algorithms, also how many keys move when one
//! backend is removed.
//!
//! How to run:
//!
//! ```text
//! cargo run --release --example select_demo                      # every algorithm
//! cargo run --release --example select_demo -- --algorithm maglev --backends 5 \
//!     --picks 100000 --weights 5,1,1,1,1
//! ```
//!
//! Picks are simulated: each lease is held while the next 63 picks are made,
//! then finished with a 1 ms latency, so load-aware algorithms see load.
//! Hash algorithms are given a distinct key per pick.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lb::core::{Algorithm, Backend, Balancer, Error, Outcome, Policy, Request};

#[derive(Parser, Debug)]
#[command(about = "Show how lb's balancing algorithms share out picks")]
struct Args {
    /// Algorithm to run (all of them when omitted). One of: round-robin,
    /// weighted-round-robin, random, least-conn, p2c, peak-ewma, hash, ring,
    /// maglev, rendezvous, bounded-load.
    #[arg(long, value_parser = parse_policy)]
    algorithm: Option<Policy>,
    /// Number of backends.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    backends: u16,
    /// Number of picks.
    #[arg(long, default_value_t = 100_000)]
    picks: u64,
    /// Comma-separated weights, one per backend (default: all 1).
    #[arg(long, value_delimiter = ',')]
    weights: Option<Vec<u32>>,
    /// Seed for the randomised algorithms.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_policy(name: &str) -> Result<Policy, Error> {
    name.parse()
}

/// How many leases stay open at once in the simulation.
const WINDOW: usize = 64;

fn main() -> ExitCode {
    let args = Args::parse();
    let weights = args
        .weights
        .clone()
        .unwrap_or_else(|| vec![1; usize::from(args.backends)]);
    if weights.len() != usize::from(args.backends) {
        eprintln!(
            "error: --weights has {} values but --backends is {}",
            weights.len(),
            args.backends
        );
        return ExitCode::from(2);
    }
    let backends: Result<Vec<Backend>, Error> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr: SocketAddr =
                SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250 + 1) as u8], 8080));
            Backend::named(&format!("backend-{i}"), addr).with_weight(w)
        })
        .collect();
    let backends = match backends {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let policies = args.algorithm.clone().map_or_else(Policy::all, |p| vec![p]);
    let detailed = policies.len() == 1;
    if !detailed {
        println!(
            "{} picks over {} backends, weights {:?}; share per backend, worst deviation from the weight share\n",
            args.picks,
            backends.len(),
            weights
        );
        println!(
            "{:<22} {:>14} {:>22}",
            "algorithm", "max deviation", "keys moved on removal"
        );
    }
    for policy in policies {
        let policy = policy.with_seed(args.seed);
        let counts = run(&policy, &backends, args.picks);
        let total_weight: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let expected = |w: u32| f64::from(w) / total_weight as f64;
        let share = |c: u64| c as f64 / args.picks.max(1) as f64;
        let deviation = counts
            .iter()
            .zip(&weights)
            .map(|(&c, &w)| (share(c) - expected(w)).abs())
            .fold(0.0, f64::max);
        let moved = (policy.is_hash() && backends.len() > 1)
            .then(|| keys_moved(&policy, &backends, args.picks.min(200_000)));
        if detailed {
            println!(
                "algorithm {}: {} picks over {} backends\n",
                policy.name(),
                args.picks,
                backends.len()
            );
            println!(
                "{:<12} {:>21} {:>6} {:>9} {:>9} {:>9}",
                "backend", "address", "weight", "expected", "picks", "share"
            );
            for ((b, &c), &w) in backends.iter().zip(&counts).zip(&weights) {
                println!(
                    "{:<12} {:>21} {:>6} {:>8.2}% {:>9} {:>8.2}%",
                    b.name(),
                    b.addr().to_string(),
                    w,
                    100.0 * expected(w),
                    c,
                    100.0 * share(c)
                );
            }
            println!(
                "\nlargest deviation from the weight share: {:.2} points",
                100.0 * deviation
            );
            if let Some(m) = moved {
                let last = backends.last().map_or("", Backend::name);
                println!(
                    "removing {last}: {:.2}% of keys moved; {:.2}% were its own (the minimum), {:.2}% belonged to others",
                    100.0 * m.moved,
                    100.0 * m.owned,
                    100.0 * m.collateral
                );
            }
        } else {
            let moved = moved.map_or_else(
                || "-".to_owned(),
                |m| format!("{:.2}% (min {:.2}%)", 100.0 * m.moved, 100.0 * m.owned),
            );
            println!(
                "{:<22} {:>12.2}pt {:>22}",
                policy.name(),
                100.0 * deviation,
                moved
            );
        }
    }
    ExitCode::SUCCESS
}

/// Picks `picks` times and counts the picks per backend.
fn run(policy: &Policy, backends: &[Backend], picks: u64) -> Vec<u64> {
    let lb = Balancer::new(policy.clone(), backends.to_vec()).expect("validated set");
    let t0 = Instant::now();
    let mut open = VecDeque::with_capacity(WINDOW);
    let mut counts = vec![0_u64; backends.len()];
    let snapshot = lb.snapshot();
    for k in 0..picks {
        let now = t0 + Duration::from_micros(k * 20);
        if open.len() == WINDOW {
            if let Some(lease) = open.pop_front() {
                let lease: lb::core::Lease = lease;
                lease.finish(Outcome::Success, now + Duration::from_millis(1));
            }
        }
        let lease = lb
            .pick(&Request::new().with_key(&k.to_le_bytes()), now)
            .expect("every backend is eligible");
        if let Some(i) = snapshot.position(lease.backend().id()) {
            counts[i] += 1;
        }
        open.push_back(lease);
    }
    counts
}

struct Moved {
    moved: f64,
    owned: f64,
    collateral: f64,
}

/// Rebuilds the selector without the last backend and compares key owners.
fn keys_moved(policy: &Policy, backends: &[Backend], keys: u64) -> Moved {
    let before = policy.build(backends);
    let after = policy.build(&backends[..backends.len() - 1]);
    let loads = lb::core::LoadTable::new(backends.len(), lb::core::EwmaConfig::default());
    let view = loads.view(Instant::now());
    let removed = backends.len() - 1;
    let (mut moved, mut owned) = (0_u64, 0_u64);
    for k in 0..keys {
        let req = Request::new().with_key(&k.to_le_bytes());
        let a = before.select(&req, &lb::core::AllEligible, &view);
        let b = after.select(&req, &lb::core::AllEligible, &view);
        if a == Some(removed) {
            owned += 1;
        }
        if a != b {
            moved += 1;
        }
    }
    let f = |x: u64| x as f64 / keys as f64;
    Moved {
        moved: f(moved),
        owned: f(owned),
        collateral: f(moved - owned),
    }
}

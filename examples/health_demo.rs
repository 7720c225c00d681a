//! A backend fails, is ejected, returns through slow start, and the traffic
//! share follows it; another fails its active checks and recovers. All in
//! simulated time, so the run is instant and reproducible.
//!
//! How to run:
//!
//! ```text
//! cargo run --release --example health_demo
//! cargo run --release --example health_demo -- --algorithm least-conn
//! ```
//!
//! Four backends take 100 requests per simulated second. From 20 s to 45 s
//! backend-2 fails every request: passive outlier detection ejects it after
//! 3 failures in a row, for 10 s, then 20 s when it fails again; after its
//! last return it ramps up over 30 s of slow start. From 60 s to 70 s
//! backend-3 fails its active checks (every 2 s, fall 3, rise 2).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use lb::core::health::{
    ActiveCheck, EventKind, HealthConfig, HealthEvent, OutlierDetection, SlowStart,
};
use lb::core::{Backend, Balancer, Error, Outcome, Policy, Request};

#[derive(Parser, Debug)]
#[command(about = "Show ejection, return and slow start over simulated time")]
struct Args {
    /// Balancing algorithm (round-robin, least-conn, p2c, random, ...).
    #[arg(long, default_value = "round-robin", value_parser = parse_policy)]
    algorithm: Policy,
    /// Seed for the randomised parts.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn parse_policy(name: &str) -> Result<Policy, Error> {
    name.parse()
}

const BACKENDS: usize = 4;
const RATE: u64 = 100; // requests per simulated second
const END: u64 = 120; // seconds
const ROW: u64 = 5; // seconds per printed row

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let backends: Vec<Backend> = (0..BACKENDS)
        .map(|i| {
            let addr = ([10, 0, 0, i as u8 + 1], 8080).into();
            Backend::named(&format!("backend-{i}"), addr)
        })
        .collect();
    let health = HealthConfig::default()
        .with_active(ActiveCheck::default().with_thresholds(2, 3)?)
        .with_outlier(
            OutlierDetection::default()
                .with_consecutive_failures(3)
                .with_ejection_times(Duration::from_secs(10), Duration::from_secs(60))?
                .with_max_ejection_percent(25)?,
        )
        .with_slow_start(SlowStart::linear(Duration::from_secs(30)));
    let t0 = Instant::now();
    let log: Arc<Mutex<Vec<HealthEvent>>> = Arc::default();
    let sink = Arc::clone(&log);
    let lb = Balancer::builder(
        args.algorithm.clone().with_seed(args.seed),
        backends.clone(),
    )
    .health(health)
    .events(move |e| sink.lock().expect("event log").push(e.clone()))
    .seed(args.seed)
    .build()?;
    println!(
        "algorithm {}: {} requests/s over {} backends\n",
        args.algorithm, RATE, BACKENDS
    );
    print!("{:>9}", "time");
    for b in &backends {
        print!(" {:>10}", b.name());
    }
    println!("   backend-2 state");
    let mut row = [0_u64; BACKENDS];
    let step = Duration::from_micros(1_000_000 / RATE);
    for tick in 0..END * RATE {
        let now = t0 + step * tick as u32;
        let secs = tick / RATE;
        if tick % (2 * RATE) == 0 {
            // Active checks every 2 s: backend-3 fails them from 60 s to 70 s.
            for b in &backends {
                let failing = b.name() == "backend-3" && (60..70).contains(&secs);
                lb.report_check(b.id(), !failing, now);
            }
        }
        if let Some(lease) = lb.pick(&Request::new().with_key_hash(tick), now) {
            let i = backends
                .iter()
                .position(|b| b.id() == lease.backend().id())
                .unwrap_or(0);
            row[i] += 1;
            let failing = i == 2 && (20..45).contains(&secs);
            let outcome = if failing {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            lease.finish(outcome, now + Duration::from_millis(2));
        }
        for event in log.lock().expect("event log").drain(..) {
            let at = event.at.saturating_duration_since(t0).as_secs_f64();
            println!("{:>8.2}s   event: {}", at, describe(&event.kind, &backends));
        }
        if (tick + 1) % (ROW * RATE) == 0 {
            let total: u64 = row.iter().sum();
            print!("{:>4}-{:>3}s", secs + 1 - ROW, secs + 1);
            for count in row {
                print!(" {:>9.1}%", 100.0 * count as f64 / total.max(1) as f64);
            }
            let snap = lb.snapshot();
            let h = snap.health(2);
            let factor = snap.loads().view(now).weight_factor(2);
            let state = if h.is_ejected() {
                "ejected".to_owned()
            } else if factor < 1.0 {
                format!("slow start, weight x{factor:.2}")
            } else {
                "in service".to_owned()
            };
            println!("   {state}");
            row = [0; BACKENDS];
        }
    }
    Ok(())
}

fn describe(kind: &EventKind, backends: &[Backend]) -> String {
    let name = |id| {
        backends
            .iter()
            .find(|b| b.id() == id)
            .map_or("?".to_owned(), |b| b.name().to_owned())
    };
    match kind {
        EventKind::Ejected {
            backend,
            times,
            failures,
            ..
        } => {
            format!(
                "{} ejected (ejection #{times}, after {failures} failures)",
                name(*backend)
            )
        }
        EventKind::Returned { backend } => format!("{} returned", name(*backend)),
        EventKind::Healthy { backend } => format!("{} healthy (active checks)", name(*backend)),
        EventKind::Unhealthy { backend } => format!("{} unhealthy (active checks)", name(*backend)),
        other => format!("{other:?}"),
    }
}

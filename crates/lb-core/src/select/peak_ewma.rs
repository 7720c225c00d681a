//! Peak EWMA: power of two choices over a latency-aware cost.
//!
//! Source: Finagle's `Balancers.aperturePeakEwma` and tower's
//! `load::PeakEwma` (both after Twitter's "peak EWMA" design). Each backend
//! carries an exponentially weighted moving average of its response latency
//! that *jumps up at once* to any slower sample (the peak) and otherwise decays
//! towards recent samples with time constant τ (see
//! [`EwmaConfig`](crate::EwmaConfig)). The cost of a backend is
//! `estimate × (in_flight + 1) / weight`; a pick draws two backends and takes
//! the cheaper (tower's `p2c` over `PeakEwma`). A slow or stalling backend is
//! avoided within one response, and is tried again once its estimate, decaying
//! while it gets no traffic, falls below the others' (kept fresh by theirs).
//!
//! Latencies come from [`Lease::finish`](crate::Lease::finish).

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::select::p2c::PowerOfTwoChoicesSelector;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};

/// Power of two choices over peak-EWMA latency × load.
#[derive(Clone, Copy, Debug, Default)]
pub struct PeakEwma {
    seed: Option<u64>,
}

impl PeakEwma {
    /// Seeds the random source.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// The selector built by [`PeakEwma`].
#[derive(Debug)]
pub struct PeakEwmaSelector {
    p2c: PowerOfTwoChoicesSelector,
}

impl Algorithm for PeakEwma {
    type Selector = PeakEwmaSelector;

    fn build(&self, backends: &[Backend]) -> PeakEwmaSelector {
        PeakEwmaSelector {
            p2c: PowerOfTwoChoicesSelector::new(backends, self.seed),
        }
    }
}

impl Selector for PeakEwmaSelector {
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Weight
    }

    fn select(&self, _: &Request, eligible: &dyn Eligible, loads: &Loads<'_>) -> Option<usize> {
        // cost(b) / w(b) < cost(a) / w(a), without division.
        let weights = self.p2c.sampler.weights();
        let scaled =
            |i: usize, by: usize| loads.cost(i) * f64::from(weights[by]) * loads.weight_factor(by);
        self.p2c
            .choose(eligible, |b, a| scaled(b, a) < scaled(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::uniform;
    use crate::{EwmaConfig, LoadTable};
    use std::time::{Duration, Instant};

    #[test]
    fn avoids_the_slow_backend_until_its_estimate_decays() {
        let cfg = EwmaConfig::default().with_decay(Duration::from_secs(1));
        let s = PeakEwma::default().with_seed(4).build(&uniform(2));
        let loads = LoadTable::new(2, cfg);
        let t0 = Instant::now();
        loads.observe(0, Duration::from_millis(5), t0);
        loads.observe(1, Duration::from_millis(500), t0);
        let view = loads.view(t0);
        for _ in 0..50 {
            assert_eq!(
                s.select(&Request::new(), &crate::AllEligible, &view),
                Some(0)
            );
        }
        // Backend 0 keeps serving at 5 ms; backend 1 gets nothing, so its
        // estimate only decays. After 2 τ (500 ms × e^-2 ≈ 68 ms) it is
        // still avoided...
        let t2 = t0 + Duration::from_secs(2);
        loads.observe(0, Duration::from_millis(5), t2);
        assert_eq!(
            s.select(&Request::new(), &crate::AllEligible, &loads.view(t2)),
            Some(0)
        );
        // ...after 10 τ (≈ 23 µs < 5 ms) it is tried again.
        let t10 = t0 + Duration::from_secs(10);
        loads.observe(0, Duration::from_millis(5), t10);
        let later = loads.view(t10);
        assert!(
            later.rtt_ns(1) < later.rtt_ns(0),
            "{} vs {}",
            later.rtt_ns(1),
            later.rtt_ns(0)
        );
        assert_eq!(
            s.select(&Request::new(), &crate::AllEligible, &later),
            Some(1)
        );
    }

    #[test]
    fn in_flight_multiplies_the_cost() {
        let s = PeakEwma::default().with_seed(4).build(&uniform(2));
        let loads = LoadTable::new(2, EwmaConfig::default());
        let t0 = Instant::now();
        loads.observe(0, Duration::from_millis(10), t0);
        loads.observe(1, Duration::from_millis(15), t0);
        for _ in 0..2 {
            loads.begin(0);
        }
        // 10 ms × 3 = 30 > 15 ms × 1.
        let view = loads.view(t0);
        assert_eq!(
            s.select(&Request::new(), &crate::AllEligible, &view),
            Some(1)
        );
    }
}

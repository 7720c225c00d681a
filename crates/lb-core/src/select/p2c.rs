//! Power of two choices over in-flight load.
//!
//! Source: Mitzenmacher, "The Power of Two Choices in Randomized Load
//! Balancing" (IEEE TPDS 2001); tower's `balance::p2c`. Draw two distinct
//! backends at random (weight-proportionally) and send the request to the one
//! with less `in_flight / weight`. Two samples already cut the maximum load
//! from `O(log n / log log n)` to `O(log log n)` while each pick stays O(1),
//! and unlike a full least-connections scan it does not herd every balancer
//! instance onto the same momentarily idle backend.
//!
//! [`PeakEwma`](super::PeakEwma) is the same choice over a latency-aware cost.

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::rng::Rng;
use crate::select::random::rng_from;
use crate::select::sampler::Sampler;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};

/// Power of two choices, comparing `in_flight / weight`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PowerOfTwoChoices {
    seed: Option<u64>,
}

impl PowerOfTwoChoices {
    /// Seeds the random source.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// The selector built by [`PowerOfTwoChoices`].
#[derive(Debug)]
pub struct PowerOfTwoChoicesSelector {
    pub(crate) sampler: Sampler,
    pub(crate) rng: Rng,
}

impl PowerOfTwoChoicesSelector {
    pub(crate) fn new(backends: &[Backend], seed: Option<u64>) -> Self {
        Self {
            sampler: Sampler::new(backends),
            rng: rng_from(seed),
        }
    }

    /// Draws two distinct eligible backends (one if only one is eligible)
    /// and returns the second if `better(second, first)`, else the first.
    #[inline]
    pub(crate) fn choose(
        &self,
        eligible: &dyn Eligible,
        better: impl Fn(usize, usize) -> bool,
    ) -> Option<usize> {
        let mut rng = self.rng.local();
        let a = self.sampler.sample_eligible(&mut rng, eligible)?;
        // The second draw excludes the first; `None` when `a` is the only
        // eligible backend.
        let others = |i: usize| i != a && eligible.is_eligible(i);
        let Some(b) = self.sampler.sample_eligible(&mut rng, &others) else {
            return Some(a);
        };
        if better(b, a) { Some(b) } else { Some(a) }
    }
}

impl Algorithm for PowerOfTwoChoices {
    type Selector = PowerOfTwoChoicesSelector;

    fn build(&self, backends: &[Backend]) -> PowerOfTwoChoicesSelector {
        PowerOfTwoChoicesSelector::new(backends, self.seed)
    }
}

impl Selector for PowerOfTwoChoicesSelector {
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Weight
    }

    fn select(&self, _: &Request, eligible: &dyn Eligible, loads: &Loads<'_>) -> Option<usize> {
        // in_flight(b) / w(b) < in_flight(a) / w(a), without division.
        let weights = self.sampler.weights();
        if !loads.ramping() {
            // Loads capped at u32::MAX so that load × weight fits in a u64.
            let scaled = |i: usize, by: usize| {
                loads.in_flight(i).min(u32::MAX as usize) as u64 * u64::from(weights[by])
            };
            return self.choose(eligible, |b, a| scaled(b, a) < scaled(a, b));
        }
        // Effective weights carry slow start; products are taken in u128.
        let scaled = |i: usize, by: usize| {
            loads.in_flight(i) as u128 * u128::from(loads.effective_weight(by, weights[by]))
        };
        self.choose(eligible, |b, a| scaled(b, a) < scaled(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{idle, uniform};
    use std::time::Instant;

    #[test]
    fn prefers_the_less_loaded_of_two() {
        // With two backends both are always drawn: the idle one must win.
        let s = PowerOfTwoChoices::default().with_seed(1).build(&uniform(2));
        let loads = idle(2);
        loads.begin(0);
        let view = loads.view(Instant::now());
        for _ in 0..100 {
            assert_eq!(
                s.select(&Request::new(), &crate::AllEligible, &view),
                Some(1)
            );
        }
    }

    #[test]
    fn busy_backend_gets_fewer_picks() {
        let s = PowerOfTwoChoices::default().with_seed(2).build(&uniform(4));
        let loads = idle(4);
        for _ in 0..10 {
            loads.begin(3);
        }
        let view = loads.view(Instant::now());
        let mut counts = [0_u32; 4];
        for _ in 0..10_000 {
            counts[s
                .select(&Request::new(), &crate::AllEligible, &view)
                .unwrap()] += 1;
        }
        // Backend 3 wins only when drawn twice, which distinct draws forbid.
        assert_eq!(counts[3], 0, "{counts:?}");
    }

    #[test]
    fn single_eligible_backend() {
        let s = PowerOfTwoChoices::default().build(&uniform(5));
        let loads = idle(5);
        let view = loads.view(Instant::now());
        assert_eq!(
            s.select(&Request::new(), &|i: usize| i == 3, &view),
            Some(3)
        );
        assert_eq!(s.select(&Request::new(), &|_: usize| false, &view), None);
    }
}

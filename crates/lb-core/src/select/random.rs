//! Random and weighted random.
//!
//! Each pick draws a backend with probability proportional to its weight
//! (uniform when weights are equal): nginx's `random`, HAProxy's `random(1)`,
//! Pingora's `Random`. Weighted draws read a Walker alias table (O(1), see
//! `sampler.rs`).
//! An ineligible draw is redrawn (rejection sampling keeps the proportions
//! exact among the eligible backends); after a few misses the pick falls back
//! to one O(n) weighted pass over the eligible backends.
//!
//! The random source is a seedable, lock-free [`Rng`]: seed it with
//! [`Random::with_seed`] for reproducible runs.

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::rng::Rng;
use crate::select::sampler::Sampler;
use crate::select::{Algorithm, Eligible, Selector};

/// Weighted random selection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Random {
    seed: Option<u64>,
}

impl Random {
    /// Seeds the random source, for reproducible sequences.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// Builds the selector's random source from an optional seed.
pub(crate) fn rng_from(seed: Option<u64>) -> Rng {
    seed.map_or_else(Rng::from_entropy, Rng::seeded)
}

/// The selector built by [`Random`].
#[derive(Debug)]
pub struct RandomSelector {
    sampler: Sampler,
    rng: Rng,
}

impl Algorithm for Random {
    type Selector = RandomSelector;

    fn build(&self, backends: &[Backend]) -> RandomSelector {
        RandomSelector::new(backends, self.seed)
    }
}

impl RandomSelector {
    /// Also the keyless fallback of the hash selectors.
    pub(crate) fn new(backends: &[Backend], seed: Option<u64>) -> Self {
        Self {
            sampler: Sampler::new(backends),
            rng: rng_from(seed),
        }
    }

    /// A weighted random eligible backend.
    #[inline]
    pub(crate) fn pick(&self, eligible: &dyn Eligible) -> Option<usize> {
        self.sampler
            .sample_eligible(&mut self.rng.local(), eligible)
    }

    /// The weight sampler.
    pub(crate) fn sampler(&self) -> &Sampler {
        &self.sampler
    }
}

impl Selector for RandomSelector {
    fn select(&self, _: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        self.pick(eligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{backends, idle, shares, uniform};
    use std::time::Instant;

    #[test]
    fn weighted_shares_follow_weights() {
        let s = Random::default().with_seed(3).build(&backends(&[1, 2, 7]));
        let counts = shares(&s, 3, 100_000);
        for (c, w) in counts.iter().zip([1.0, 2.0, 7.0]) {
            let share = *c as f64 / 100_000.0;
            assert!((share - w / 10.0).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn seeded_runs_repeat() {
        let a = Random::default().with_seed(9).build(&uniform(10));
        let b = Random::default().with_seed(9).build(&uniform(10));
        assert_eq!(shares(&a, 10, 1000), shares(&b, 10, 1000));
    }

    #[test]
    fn rejection_keeps_proportions_among_eligible() {
        let s = Random::default().with_seed(1).build(&backends(&[5, 1, 3]));
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let not_zero = |i: usize| i != 0;
        let mut counts = [0_u32; 3];
        for _ in 0..40_000 {
            counts[s.select(&Request::new(), &not_zero, &view).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0);
        let share1 = f64::from(counts[1]) / 40_000.0;
        assert!((share1 - 0.25).abs() < 0.01, "{counts:?}");
    }
}

//! Random and weighted random.
//!
//! Each pick draws a backend with probability proportional to its weight
//! (uniform when weights are equal): nginx's `random`, HAProxy's `random(1)`,
//! Pingora's `Random`. Weighted draws binary-search the cumulative weights.
//! An ineligible draw is redrawn (rejection sampling keeps the proportions
//! exact among the eligible backends); after a few misses the pick falls back
//! to one O(n) weighted pass over the eligible backends.
//!
//! The random source is a seedable, lock-free [`Rng`]: seed it with
//! [`Random::with_seed`] for reproducible runs.

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::rng::{LocalRng, Rng};
use crate::select::{Algorithm, Eligible, Selector, weighted_fallback, weights_of};

/// Draws that may miss the eligible set before the O(n) fallback.
const REDRAWS: usize = 8;

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

/// Maps a uniform 64-bit value to a backend index in proportion to weight.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    /// `cumulative[i]` = sum of weights `0..=i`; empty when weights are equal.
    cumulative: Vec<u64>,
    weights: Vec<u32>,
    total: u64,
}

impl Sampler {
    pub(crate) fn new(backends: &[Backend]) -> Self {
        let weights = weights_of(backends);
        let uniform = weights.windows(2).all(|w| w[0] == w[1]);
        let cumulative: Vec<u64> = if uniform {
            Vec::new()
        } else {
            weights
                .iter()
                .scan(0_u64, |acc, &w| {
                    *acc += u64::from(w);
                    Some(*acc)
                })
                .collect()
        };
        let total = if uniform {
            weights.len() as u64
        } else {
            cumulative.last().copied().unwrap_or(0)
        };
        Self {
            cumulative,
            weights,
            total,
        }
    }

    /// The backend weights.
    pub(crate) fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The backend that `hash` falls on, weight-proportionally. `None` only
    /// for an empty set.
    #[inline]
    pub(crate) fn sample(&self, hash: u64) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let slot = crate::hash::reduce(hash, self.total);
        if self.cumulative.is_empty() {
            Some(slot as usize)
        } else {
            Some(self.cumulative.partition_point(|&c| c <= slot))
        }
    }

    /// Draws from `rng` until an eligible backend comes up (at most
    /// [`REDRAWS`] times), then falls back to a weighted pass over the
    /// eligible ones.
    #[inline]
    pub(crate) fn sample_eligible(
        &self,
        rng: &mut LocalRng,
        eligible: &dyn Eligible,
    ) -> Option<usize> {
        for _ in 0..REDRAWS {
            let i = self.sample(rng.next_u64())?;
            if eligible.is_eligible(i) {
                return Some(i);
            }
        }
        weighted_fallback(rng.next_u64(), &self.weights, eligible)
    }
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

    #[test]
    fn sampler_maps_slots_to_cumulative_weights() {
        let s = Sampler::new(&backends(&[1, 2]));
        // reduce(h, 3): the lowest third of hashes → 0, the rest → 1.
        assert_eq!(s.sample(0), Some(0));
        assert_eq!(s.sample(u64::MAX / 3 + 1), Some(1));
        assert_eq!(s.sample(u64::MAX), Some(1));
        assert_eq!(Sampler::new(&[]).sample(5), None);
    }
}

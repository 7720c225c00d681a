//! Weighted sampling in O(1): Walker's alias method.
//!
//! Source: Walker, "An efficient method for generating discrete random
//! variables with general distributions" (ACM TOMS 1977), built with Vose's
//! O(n) construction (IEEE TSE 1991). Each of the `n` columns holds a
//! threshold and an alias; a uniform 64-bit value picks a column with its
//! high part (Lemire's multiply-shift) and, with the fractional part of the
//! same product, either the column's own backend or its alias. Integer
//! arithmetic keeps every backend's probability within 2^-64 of
//! `weight / total`. Used by weighted random, P2C, peak EWMA and key hash.

use crate::backend::Backend;
use crate::rng::LocalRng;
use crate::select::{Eligible, weighted_fallback, weights_of};

/// Draws that may miss the eligible set before the O(n) fallback.
const REDRAWS: usize = 8;

/// Maps a uniform 64-bit value to a backend index in proportion to weight.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    /// Column `i` keeps backend `i` when the fractional draw is below
    /// `threshold[i]`, else gives `alias[i]`. Both empty for equal weights.
    threshold: Vec<u64>,
    alias: Vec<u32>,
    weights: Vec<u32>,
}

impl Sampler {
    pub(crate) fn new(backends: &[Backend]) -> Self {
        let weights = weights_of(backends);
        let n = weights.len();
        if weights.windows(2).all(|w| w[0] == w[1]) {
            return Self {
                threshold: Vec::new(),
                alias: Vec::new(),
                weights,
            };
        }
        // Vose: scaled[i] = w_i × n, compared with the total W (the mean
        // column height). Columns below W borrow from one above it.
        let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let mut scaled: Vec<u128> = weights.iter().map(|&w| u128::from(w) * n as u128).collect();
        let mut threshold = vec![u64::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < total);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            // scaled[s] < total, so the threshold fits in 64 bits.
            threshold[s] = ((scaled[s] << 64) / total) as u64;
            alias[s] = l as u32;
            scaled[l] -= total - scaled[s];
            if scaled[l] < total {
                large.pop();
                small.push(l);
            }
        }
        // Whatever remains is (up to rounding) full: it keeps its backend.
        Self {
            threshold,
            alias,
            weights,
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
        let n = self.weights.len() as u128;
        if n == 0 {
            return None;
        }
        let product = u128::from(hash) * n;
        let column = (product >> 64) as usize;
        if self.threshold.is_empty() || (product as u64) < self.threshold[column] {
            Some(column)
        } else {
            Some(self.alias[column] as usize)
        }
    }

    /// Draws from `rng` until an eligible backend comes up (at most
    /// [`REDRAWS`] times), then falls back to a weighted pass over the
    /// eligible ones. Rejection keeps the proportions exact among the
    /// eligible backends.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;
    use crate::select::testing::backends;
    use proptest::prelude::*;

    /// The exact probability of each backend, from the table, in units of
    /// 2^-64 / n.
    fn exact(s: &Sampler) -> Vec<u128> {
        let n = s.weights.len();
        let mut p = vec![0_u128; n];
        for i in 0..n {
            let t = s.threshold.get(i).copied().unwrap_or(u64::MAX);
            let keep = if s.threshold.is_empty() {
                1 << 64
            } else {
                u128::from(t)
            };
            p[i] += keep;
            p[s.alias.get(i).map_or(i, |&a| a as usize)] += (1 << 64) - keep;
        }
        p
    }

    proptest! {
        #[test]
        fn alias_table_probabilities_equal_weight_shares(
            weights in prop::collection::vec(1_u32..=1000, 1..=40),
        ) {
            let s = Sampler::new(&backends(&weights));
            let n = weights.len() as f64;
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            for (p, &w) in exact(&s).iter().zip(&weights) {
                let share = *p as f64 / 2_f64.powi(64) / n;
                prop_assert!((share - f64::from(w) / total).abs() < 1e-9, "{share}");
            }
        }
    }

    #[test]
    fn empirical_shares_and_empty_set() {
        let s = Sampler::new(&backends(&[1, 2, 7]));
        let mut counts = [0_u32; 3];
        for k in 0..100_000_u64 {
            counts[s.sample(mix64(k)).expect("non-empty")] += 1;
        }
        for (c, w) in counts.iter().zip([1.0, 2.0, 7.0]) {
            assert!(
                (f64::from(*c) / 100_000.0 - w / 10.0).abs() < 0.01,
                "{counts:?}"
            );
        }
        assert_eq!(Sampler::new(&[]).sample(5), None);
        assert_eq!(Sampler::new(&backends(&[4])).sample(u64::MAX), Some(0));
    }
}

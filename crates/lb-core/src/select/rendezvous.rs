//! Rendezvous hashing, also called highest random weight (HRW).
//!
//! Source: Thaler and Ravishankar, "Using Name-Based Mappings to Increase Hit
//! Rates" (IEEE/ACM ToN 1998); weighted with the logarithmic method
//! (Schindelhauer and Schomaker, "Weighted Distributed Hash Tables", SPAA
//! 2005; popularised by J. Resch's "New Hashing Algorithms for Data
//! Storage", 2015). Every backend
//! scores the key, `−w / ln(u)` with `u` a uniform hash of (key, backend id)
//! in (0, 1), and the highest score wins; with equal weights the raw hashes
//! are compared instead (the same winner, no logarithm). Use it when the set
//! is small or changes often and you want the least disruption possible with
//! no table to rebuild and no memory per backend: removing or marking
//! ineligible a backend moves exactly its own keys, spread over all others
//! in proportion to weight, and weights are honoured exactly in expectation.
//! The price is O(N) hashing per pick; prefer [`Maglev`](super::Maglev)
//! (O(1)) or [`Ring`](super::Ring) (O(log N)) beyond a few hundred backends.

use crate::backend::Backend;
use crate::hash::combine;
use crate::load::Loads;
use crate::request::Request;
use crate::select::random::RandomSelector;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};

/// 2^-53: scales a 53-bit integer into [0, 1).
const UNIT: f64 = 1.0 / (1_u64 << 53) as f64;

/// Rendezvous (highest random weight) hashing, weighted. O(N) per pick.
///
/// # Examples
///
/// ```
/// use lb_core::select::Rendezvous;
/// use lb_core::{Backend, Balancer, Request};
///
/// let backends = vec![
///     Backend::named("a", "10.0.0.1:80".parse().unwrap()),
///     Backend::named("b", "10.0.0.2:80".parse().unwrap()),
/// ];
/// let lb = Balancer::new(Rendezvous::default(), backends).unwrap();
/// let now = std::time::Instant::now();
/// let req = Request::new().with_key(b"object-7");
/// let first = lb.pick(&req, now).unwrap().backend().id();
/// assert_eq!(lb.pick(&req, now).unwrap().backend().id(), first);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Rendezvous {
    seed: Option<u64>,
}

impl Rendezvous {
    /// Seeds the random source used for requests without a key (placement
    /// of keys never depends on the seed).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// The selector built by [`Rendezvous`]: the backends' ids and weights.
#[derive(Debug)]
pub struct RendezvousSelector {
    ids: Vec<u64>,
    weights: Vec<f64>,
    /// All weights are equal: compare raw hashes.
    equal: bool,
    keyless: RandomSelector,
}

impl Algorithm for Rendezvous {
    type Selector = RendezvousSelector;

    fn build(&self, backends: &[Backend]) -> RendezvousSelector {
        let weights: Vec<f64> = backends.iter().map(|b| f64::from(b.weight())).collect();
        RendezvousSelector {
            ids: backends.iter().map(|b| b.id().as_u64()).collect(),
            equal: weights.windows(2).all(|w| w[0] == w[1]),
            weights,
            keyless: RandomSelector::new(backends, self.seed),
        }
    }
}

/// Resh's weighted score `−w / ln(u)`, `u = (h >> 11 + ½) / 2^53 ∈ (0, 1)`:
/// the winner is backend `i` with probability `w_i / Σw`.
#[inline]
fn weighted_score(hash: u64, weight: f64) -> f64 {
    let u = ((hash >> 11) as f64 + 0.5) * UNIT;
    -weight / u.ln()
}

impl RendezvousSelector {
    /// The eligible backend with the highest score for `key`; ties are
    /// broken by hash then id, so slice order never matters.
    fn highest(&self, key: u64, eligible: &dyn Eligible, equal: bool) -> Option<usize> {
        let mut best: Option<(usize, f64, u64)> = None;
        for (i, &id) in self.ids.iter().enumerate() {
            if !eligible.is_eligible(i) {
                continue;
            }
            let hash = combine(key, id);
            if equal {
                // Same order as the weighted score (monotone in the hash),
                // refined by the low bits; ties are then impossible.
                if best.is_none_or(|(_, _, h)| hash > h) {
                    best = Some((i, 0.0, hash));
                }
            } else {
                let score = weighted_score(hash, self.weights[i]);
                // Ties (rounding) go to the larger hash, as in the fast
                // path, then to the larger id.
                let better = best.is_none_or(|(b, s, h)| {
                    score > s || (score == s && (hash, id) > (h, self.ids[b]))
                });
                if better {
                    best = Some((i, score, hash));
                }
            }
        }
        best.map(|(i, _, _)| i)
    }
}

impl Selector for RendezvousSelector {
    /// Keys map to backends, not shares: slow start does not apply.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Ignore
    }

    fn select(&self, request: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        match request.key() {
            Some(key) => self.highest(key, eligible, self.equal),
            None => self.keyless.pick(eligible),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::AllEligible;
    use crate::select::testing::{
        assert_contract, assert_ineligible_moves_only_its_keys, assert_order_independent, backends,
        idle, placement, shares, uniform,
    };
    use proptest::prelude::*;

    use std::time::Instant;

    const KEYS: u64 = 20_000;

    #[test]
    fn same_key_same_backend_in_any_slice_order() {
        assert_order_independent(&Rendezvous::default());
    }

    #[test]
    fn removing_a_backend_moves_exactly_its_keys() {
        let set = backends(&[1, 2, 3, 1, 2, 3, 1, 2]);
        let n = set.len();
        let before = placement(&Rendezvous::default().build(&set), n, KEYS, &AllEligible);
        let removed = set[5].id();
        let rest: Vec<_> = set.iter().filter(|b| b.id() != removed).cloned().collect();
        let after = placement(
            &Rendezvous::default().build(&rest),
            n - 1,
            KEYS,
            &AllEligible,
        );
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            let (b, a) = (set[b.unwrap()].id(), rest[a.unwrap()].id());
            if b == removed {
                moved += 1;
            } else {
                assert_eq!(b, a, "a key of a surviving backend moved");
            }
        }
        // Weight 3 of 15: about a fifth of the keys, all of them its own.
        let fraction = moved as f64 / KEYS as f64;
        assert!((fraction - 0.2).abs() < 0.02, "{fraction}");
    }

    #[test]
    fn ineligible_backend_spreads_its_keys_over_all_others() {
        let s = Rendezvous::default().build(&uniform(5));
        assert_eq!(assert_ineligible_moves_only_its_keys(&s, 5, 2).len(), 4);
    }

    #[test]
    fn weighted_shares_are_proportional() {
        let keys = 60_000;
        let s = Rendezvous::default().build(&backends(&[1, 2, 3]));
        let p = placement(&s, 3, keys, &AllEligible);
        for (i, want) in [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0].into_iter().enumerate() {
            let got = p.iter().filter(|&&o| o == Some(i)).count() as f64 / keys as f64;
            assert!((got - want).abs() < 0.03, "{i}: {got} vs {want}");
        }
    }

    #[test]
    fn equal_weight_fast_path_matches_the_weighted_score() {
        let s = Rendezvous::default().build(&backends(&[4; 9]));
        assert!(s.equal);
        for k in 0..5_000_u64 {
            let key = crate::hash::mix64(k);
            assert_eq!(
                s.highest(key, &AllEligible, true),
                s.highest(key, &AllEligible, false)
            );
        }
        assert!(!Rendezvous::default().build(&backends(&[1, 2])).equal);
    }

    #[test]
    fn keyless_requests_follow_weights() {
        let s = Rendezvous::default()
            .with_seed(9)
            .build(&backends(&[1, 5, 1, 1]));
        let counts = shares(&s, 4, 8_000);
        for (c, expected) in counts.iter().zip([1_000, 5_000, 1_000, 1_000]) {
            assert!(c.abs_diff(expected) < 250, "{counts:?}");
        }
    }

    #[test]
    fn extreme_keys_and_empty_sets_do_not_panic() {
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let s = Rendezvous::default().build(&backends(&[1, 7, u32::MAX]));
        for key in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63] {
            let req = Request::new().with_key_hash(key);
            assert!(s.select(&req, &AllEligible, &view).is_some());
        }
        let empty = Rendezvous::default().build(&[]);
        assert_eq!(
            empty.select(&Request::new().with_key_hash(1), &AllEligible, &view),
            None
        );
        assert_eq!(empty.select(&Request::new(), &AllEligible, &view), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn never_picks_ineligible(
            weights in prop::collection::vec(1_u32..=10, 1..=20),
            mask in any::<u32>(),
            keys in prop::collection::vec(any::<u64>(), 1..50),
        ) {
            let n = weights.len();
            let s = Rendezvous::default().with_seed(1).build(&backends(&weights));
            assert_contract(&s, &idle(n), mask, &keys);
        }
    }
}

//! Key hash (modulo): nginx's `hash $key` without `consistent`, and `ip_hash`.
//!
//! The key's 64-bit hash is mapped onto the backends in proportion to weight
//! through a Walker alias table (so a backend of weight 3 owns three times the
//! key space). One of the cheapest selectors (O(1)) but not consistent:
//! adding or removing a backend remaps most keys. Prefer
//! [`Maglev`](super::Maglev) or [`Ring`](super::Ring) when the set changes.
//!
//! When the owner is ineligible the key is rehashed, as nginx does (it tries
//! 20 times before falling back): other backends' keys never move, and the
//! ineligible backend's keys spread over the rest in proportion to weight,
//! deterministically. A request without a key gets a weighted random pick.

use crate::backend::Backend;
use crate::hash::combine;
use crate::load::Loads;
use crate::request::Request;
use crate::select::random::RandomSelector;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode, weighted_fallback};

/// Rehashes of a key whose owner is ineligible, before the O(n) fallback.
const REHASHES: u64 = 20;

/// Modulo hashing of the request key over the weighted backends.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHash {
    seed: Option<u64>,
}

impl KeyHash {
    /// Seeds the random source used for requests without a key.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// The selector built by [`KeyHash`].
#[derive(Debug)]
pub struct KeyHashSelector {
    /// Maps hashes onto weights; also serves keyless requests.
    random: RandomSelector,
}

impl Algorithm for KeyHash {
    type Selector = KeyHashSelector;

    fn build(&self, backends: &[Backend]) -> KeyHashSelector {
        KeyHashSelector {
            random: RandomSelector::new(backends, self.seed),
        }
    }
}

impl Selector for KeyHashSelector {
    /// Keys map to backends, not shares: slow start does not apply.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Ignore
    }

    fn select(&self, request: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        let Some(key) = request.key() else {
            return self.random.pick(eligible);
        };
        let mut hash = key;
        for attempt in 0..=REHASHES {
            let i = self.random.sampler().sample(hash)?;
            if eligible.is_eligible(i) {
                return Some(i);
            }
            hash = combine(key, attempt);
        }
        weighted_fallback(hash, self.random.sampler().weights(), eligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{
        assert_ineligible_moves_only_its_keys, backends, placement, uniform,
    };

    #[test]
    fn same_key_same_backend_and_weighted_space() {
        let s = KeyHash::default().build(&backends(&[1, 3]));
        let a = placement(&s, 2, 20_000, &crate::AllEligible);
        assert_eq!(a, placement(&s, 2, 20_000, &crate::AllEligible));
        let ones = a.iter().filter(|&&p| p == Some(1)).count();
        assert!((ones as f64 / 20_000.0 - 0.75).abs() < 0.02, "{ones}");
    }

    #[test]
    fn ineligible_owner_moves_only_its_keys_and_spreads_them() {
        let s = KeyHash::default().build(&uniform(5));
        assert_eq!(assert_ineligible_moves_only_its_keys(&s, 5, 2).len(), 4);
    }
}

//! Consistent hashing with bounded loads.
//!
//! Source: Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with
//! Bounded Loads" (SODA 2018), in the variant Vimeo deployed in HAProxy as
//! `hash-balance-factor`. Keys live on a [`Ring`](super::Ring), but no backend
//! may hold more than `c` times its weight share of the requests in flight:
//! the walk from the key's point skips backends at capacity and takes the
//! first with room. Use it for cache affinity under skew (hot keys, uneven
//! key popularity): keys stay on their backend while it is not overloaded and
//! spill deterministically to the next backends on the ring when it is. A
//! factor close to 1 balances tightly but moves more keys; the default 1.25
//! is HAProxy's suggestion.
//!
//! Capacity of backend `i` for the next request: `⌈c × (T + 1) × w_i / W⌉`
//! with `T` the total in flight and `W` the total weight. With every backend
//! eligible some backend always has room (the capacities sum to at least
//! `c × (T + 1) > T`). When only ineligible backends have room the eligible
//! backend with the lowest `in_flight / capacity` is picked. A request
//! without a key starts the walk at a random point, so it respects the
//! capacities too (rather than taking a plain uniform pick).

use crate::backend::Backend;
use crate::error::Error;
use crate::load::Loads;
use crate::request::Request;
use crate::rng::Rng;
use crate::select::random::rng_from;
use crate::select::ring::{Ring, RingSelector};
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};

/// HAProxy's suggested `hash-balance-factor` (125%).
const DEFAULT_FACTOR: f64 = 1.25;

/// Ring points checked before visited backends are tracked.
const UNTRACKED_STEPS: usize = 8;

/// Consistent hashing with bounded loads: a [`Ring`] whose backends refuse a
/// request once they hold `factor ×` their weight share of the load.
///
/// # Examples
///
/// ```
/// use lb_core::select::BoundedLoad;
/// use lb_core::{Backend, Balancer, Request};
///
/// let backends = vec![
///     Backend::named("a", "10.0.0.1:80".parse().unwrap()),
///     Backend::named("b", "10.0.0.2:80".parse().unwrap()),
/// ];
/// let lb = Balancer::new(BoundedLoad::with_factor(1.0).unwrap(), backends).unwrap();
/// let now = std::time::Instant::now();
/// let req = Request::new().with_key(b"hot-key");
/// // With factor 1 and the first pick still in flight, the hot key spills.
/// let first = lb.pick(&req, now).unwrap();
/// let second = lb.pick(&req, now).unwrap();
/// assert_ne!(first.backend().id(), second.backend().id());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BoundedLoad {
    factor: f64,
    ring: Ring,
    seed: Option<u64>,
}

impl Default for BoundedLoad {
    /// Factor 1.25 over [`Ring::default`].
    fn default() -> Self {
        Self {
            factor: DEFAULT_FACTOR,
            ring: Ring::default(),
            seed: None,
        }
    }
}

impl BoundedLoad {
    /// Bounded loads with balance factor `c`: no backend takes a request
    /// that would put it above `c ×` its weight share of the load. `1.0` is
    /// perfectly even (and moves the most keys).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `c` is not finite or below 1.
    pub fn with_factor(c: f64) -> Result<Self, Error> {
        if !c.is_finite() || c < 1.0 {
            return Err(Error::InvalidParameter {
                parameter: "factor",
                reason: format!("{c} must be a finite number of at least 1.0"),
            });
        }
        Ok(Self {
            factor: c,
            ..Self::default()
        })
    }

    /// Uses `ring` (its points per weight) as the underlying ring.
    #[must_use]
    pub fn with_ring(mut self, ring: Ring) -> Self {
        self.ring = ring;
        self
    }

    /// Seeds the random source used for requests without a key (placement
    /// of keys never depends on the seed).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The balance factor `c`.
    #[must_use]
    pub fn factor(&self) -> f64 {
        self.factor
    }
}

/// The selector built by [`BoundedLoad`]: a [`RingSelector`] plus the
/// weights the capacities are computed from.
#[derive(Debug)]
pub struct BoundedLoadSelector {
    ring: RingSelector,
    factor: f64,
    weights: Vec<f64>,
    total_weight: f64,
    rng: Rng,
}

impl Algorithm for BoundedLoad {
    type Selector = BoundedLoadSelector;

    fn build(&self, backends: &[Backend]) -> BoundedLoadSelector {
        let weights: Vec<f64> = backends.iter().map(|b| f64::from(b.weight())).collect();
        BoundedLoadSelector {
            ring: self.ring.build(backends),
            factor: self.factor,
            total_weight: weights.iter().sum(),
            weights,
            rng: rng_from(self.seed),
        }
    }
}

impl BoundedLoadSelector {
    /// The bounded walk from `key`'s point.
    fn place(&self, key: u64, eligible: &dyn Eligible, loads: &Loads<'_>) -> Option<usize> {
        let n = self.ring.backends();
        // Capacity per unit of weight for the request being placed.
        let per_weight =
            self.factor * (loads.total_in_flight() as f64 + 1.0) / self.total_weight.max(1.0);
        let in_flight = |i: usize| {
            if i < loads.len() {
                loads.in_flight(i)
            } else {
                0
            }
        };

        // Best over-capacity candidate: (in_flight / capacity, index).
        let mut best: Option<(f64, usize)> = None;
        let mut seen: Vec<u64> = Vec::new();
        let mut distinct = 0;
        for (step, i) in self.ring.walk(key).enumerate() {
            if step >= UNTRACKED_STEPS {
                // Rare path (the first points were full or ineligible):
                // track visited backends to stop after each was seen once.
                if seen.is_empty() {
                    seen = vec![0; n.div_ceil(64)];
                }
                let (word, bit) = (i / 64, 1_u64 << (i % 64));
                if seen[word] & bit != 0 {
                    continue;
                }
                seen[word] |= bit;
                distinct += 1;
            }
            if eligible.is_eligible(i) {
                let capacity = (per_weight * self.weights[i]).ceil().max(1.0);
                let load = in_flight(i) as f64;
                if load + 1.0 <= capacity {
                    return Some(i);
                }
                let ratio = load / capacity;
                if best.is_none_or(|(r, _)| ratio < r) {
                    best = Some((ratio, i));
                }
            }
            if distinct == n {
                break;
            }
        }
        best.map(|(_, i)| i)
    }
}

impl Selector for BoundedLoadSelector {
    /// Keys map to backends, not shares: slow start does not apply.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Ignore
    }

    fn select(
        &self,
        request: &Request,
        eligible: &dyn Eligible,
        loads: &Loads<'_>,
    ) -> Option<usize> {
        // A keyless request starts the bounded walk at a random point, so
        // it too respects the capacities.
        let key = request.key().unwrap_or_else(|| self.rng.next_u64());
        self.place(key, eligible, loads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::AllEligible;
    use crate::select::testing::{assert_contract, backends, idle, placement, uniform};
    use proptest::prelude::*;
    use std::time::Instant;

    fn small() -> BoundedLoad {
        BoundedLoad::default()
            .with_ring(Ring::with_points(40).unwrap())
            .with_seed(5)
    }

    #[test]
    fn factor_is_validated() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.99, -2.0] {
            assert!(
                matches!(
                    BoundedLoad::with_factor(bad),
                    Err(Error::InvalidParameter {
                        parameter: "factor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(BoundedLoad::with_factor(1.0).unwrap().factor(), 1.0);
        assert_eq!(BoundedLoad::default().factor(), 1.25);
    }

    #[test]
    fn idle_picks_match_the_plain_ring() {
        let set = backends(&[1, 2, 3, 1, 1, 4]);
        let n = set.len();
        let ring = Ring::default().build(&set);
        let bounded = BoundedLoad::default().build(&set);
        let not_one = |i: usize| i != 1;
        for eligible in [&AllEligible as &dyn Eligible, &not_one] {
            assert_eq!(
                placement(&bounded, n, 10_000, eligible),
                placement(&ring, n, 10_000, eligible)
            );
        }
    }

    #[test]
    fn a_hot_key_spills_in_ring_order() {
        let n = 4;
        let s = small().build(&uniform(n));
        let loads = idle(n);
        let req = Request::new().with_key(b"hot");
        let mut picked = Vec::new();
        for _ in 0..40 {
            let i = s
                .select(&req, &AllEligible, &loads.view(Instant::now()))
                .unwrap();
            loads.begin(i);
            picked.push(i);
        }
        // The owner takes the first request, and every backend ends within
        // the bound ⌈1.25 × 40 / 4⌉ = 13.
        assert_eq!(
            picked[0],
            s.ring.walk(crate::hash::hash_bytes(b"hot")).next().unwrap()
        );
        for i in 0..n {
            assert!(
                loads.get(i).in_flight() <= 13,
                "{i}: {}",
                loads.get(i).in_flight()
            );
        }
    }

    #[test]
    fn full_eligible_backends_fall_back_to_the_least_loaded_ratio() {
        // Backend 2 (weight 8, ineligible, idle) reserves most capacity, so
        // both eligible backends are over capacity: the lower ratio wins.
        let s = small().build(&backends(&[1, 1, 8]));
        let loads = idle(3);
        for _ in 0..10 {
            loads.begin(0);
        }
        for _ in 0..4 {
            loads.begin(1);
        }
        let not_two = |i: usize| i != 2;
        let view = loads.view(Instant::now());
        for k in 0..50_u64 {
            let req = Request::new().with_key_hash(crate::hash::mix64(k));
            assert_eq!(s.select(&req, &not_two, &view), Some(1));
        }
        let only_zero = |i: usize| i == 0;
        assert_eq!(
            s.select(&Request::new().with_key_hash(1), &only_zero, &view),
            Some(0)
        );
        assert_eq!(s.select(&Request::new(), &|_: usize| false, &view), None);
    }

    #[test]
    fn keyless_picks_respect_the_bound() {
        let n = 5;
        let s = small().build(&uniform(n));
        let loads = idle(n);
        for picks in 1..=200 {
            let i = s.select(&Request::new(), &AllEligible, &loads.view(Instant::now()));
            loads.begin(i.unwrap());
            let bound = (1.25 * f64::from(picks) / n as f64).ceil() as usize;
            assert!((0..n).all(|j| loads.get(j).in_flight() <= bound));
        }
        assert!((0..n).all(|j| loads.get(j).in_flight() >= 30), "all used");
    }

    #[test]
    fn empty_set_returns_none() {
        let s = small().build(&[]);
        let loads = idle(0);
        let view = loads.view(Instant::now());
        assert_eq!(
            s.select(&Request::new().with_key_hash(9), &AllEligible, &view),
            None
        );
        assert_eq!(s.select(&Request::new(), &AllEligible, &view), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn load_never_exceeds_the_bound(
            n in 1_usize..=20,
            picks in 1_usize..=300,
            seed in any::<u64>(),
            hot in 0_u64..4,
        ) {
            let s = small().build(&uniform(n));
            let loads = idle(n);
            let c = 1.25;
            for p in 0..picks as u64 {
                // Skewed keys: a quarter of the picks share a few hot keys.
                let key = if p % 4 == 0 { hot } else { crate::hash::combine(seed, p) };
                let req = Request::new().with_key_hash(key);
                let i = s.select(&req, &AllEligible, &loads.view(Instant::now()));
                let i = i.expect("all eligible");
                loads.begin(i);
                let total = loads.total_in_flight() as f64;
                let bound = (c * (total * 1.0) / n as f64).ceil() as usize;
                for j in 0..n {
                    prop_assert!(loads.get(j).in_flight() <= bound,
                        "after {} picks backend {} holds {} > {}", p + 1, j,
                        loads.get(j).in_flight(), bound);
                }
            }
        }

        #[test]
        fn never_picks_ineligible(
            weights in prop::collection::vec(1_u32..=10, 1..=20),
            mask in any::<u32>(),
            keys in prop::collection::vec(any::<u64>(), 1..50),
            held in prop::collection::vec(0_usize..6, 20),
        ) {
            let n = weights.len();
            let loads = idle(n);
            for (i, &h) in held.iter().take(n).enumerate() {
                for _ in 0..h {
                    loads.begin(i);
                }
            }
            assert_contract(&small().build(&backends(&weights)), &loads, mask, &keys);
        }
    }
}

//! Consistent hash ring, ketama style.
//!
//! Source: Karger, Lehman, Leighton, Panigrahy, Levine and Lewin, "Consistent
//! Hashing and Random Trees" (STOC 1997), as popularised by `libketama`
//! (last.fm) and used by nginx `hash ... consistent`, HAProxy
//! `hash-type consistent` and Pingora. Each backend places
//! `points_per_weight × weight` points on a 64-bit circle (each point the hash
//! of the backend's stable id and the point number); a key belongs to the
//! first point at or after its hash, clockwise. Use it when keys should stick
//! to backends across set changes: adding or removing one of N backends moves
//! only about 1/N of the keys, and none between surviving backends. Lookup is
//! a binary search (O(log points)); [`Maglev`](super::Maglev) answers in O(1)
//! with a better balance but slightly more disruption on change, and
//! [`BoundedLoad`](super::BoundedLoad) adds a load cap on top of this ring.
//!
//! When a key's owner is ineligible the walk continues clockwise to the next
//! point whose owner is eligible: no other key moves, and the ineligible
//! backend's keys spread over the backends that follow its points.

use crate::backend::Backend;
use crate::error::Error;
use crate::hash::combine;
use crate::load::Loads;
use crate::request::Request;
use crate::select::random::RandomSelector;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};

/// Points per unit of weight by default, as in libketama (160 = 40 × 4).
const DEFAULT_POINTS: u32 = 160;

/// Most points on one ring (32 MiB at 16 bytes a point), like Envoy's
/// `maximum_ring_size`: beyond it every backend's count is scaled down.
pub(crate) const MAX_POINTS: u64 = 1 << 21;

/// A consistent hash ring (ketama): `points_per_weight × weight` points per
/// backend on a 64-bit circle. See the module docs.
///
/// Memory is 16 bytes per point: 160 points per unit of weight and 1,000
/// backends of weight 1 take 2.5 MB. A ring is capped at 2^21 points (as
/// Envoy caps its ring size): when `points_per_weight × total weight` would
/// exceed that, every backend's count is scaled down in proportion (at least
/// one point each), so a weight of 10^6 costs 32 MiB, not 2.5 GB. Under the
/// cap a backend's point count depends only on its own weight, so changing
/// one backend's weight moves only keys to or from that backend.
///
/// # Examples
///
/// ```
/// use lb_core::select::Ring;
/// use lb_core::{Backend, Balancer, Request};
///
/// let backends = vec![
///     Backend::named("a", "10.0.0.1:80".parse().unwrap()),
///     Backend::named("b", "10.0.0.2:80".parse().unwrap()),
/// ];
/// let lb = Balancer::new(Ring::with_points(100).unwrap(), backends).unwrap();
/// let now = std::time::Instant::now();
/// let req = Request::new().with_key(b"user-42");
/// let first = lb.pick(&req, now).unwrap().backend().id();
/// assert_eq!(lb.pick(&req, now).unwrap().backend().id(), first);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    points_per_weight: u32,
    seed: Option<u64>,
}

impl Default for Ring {
    /// 160 points per unit of weight (libketama's density).
    fn default() -> Self {
        Self {
            points_per_weight: DEFAULT_POINTS,
            seed: None,
        }
    }
}

impl Ring {
    /// A ring with `points_per_weight` points per unit of backend weight.
    /// More points balance better (the spread of shares shrinks as
    /// 1/√points) at the cost of memory and build time.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `points_per_weight` is 0.
    pub fn with_points(points_per_weight: u32) -> Result<Self, Error> {
        if points_per_weight == 0 {
            return Err(Error::InvalidParameter {
                parameter: "points_per_weight",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(Self {
            points_per_weight,
            seed: None,
        })
    }

    /// Seeds the random source used for requests without a key (placement
    /// of keys never depends on the seed).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Points per unit of weight.
    #[must_use]
    pub fn points_per_weight(&self) -> u32 {
        self.points_per_weight
    }
}

/// The selector built by [`Ring`]: the sorted point hashes and, in a
/// parallel vector, the index of each point's backend.
#[derive(Debug)]
pub struct RingSelector {
    /// Point hashes, ascending (ties ordered by backend id).
    hashes: Vec<u64>,
    /// `owners[p]` is the backend index owning point `hashes[p]`.
    owners: Vec<usize>,
    /// Number of backends.
    n: usize,
    keyless: RandomSelector,
}

impl Algorithm for Ring {
    type Selector = RingSelector;

    fn build(&self, backends: &[Backend]) -> RingSelector {
        let per = u64::from(self.points_per_weight);
        // u128: 10^4 backends × u32::MAX points × u32::MAX weight overflow u64.
        let total: u128 = backends
            .iter()
            .map(|b| u128::from(per) * u128::from(b.weight()))
            .sum();
        let count = |weight: u32| {
            let wanted = u128::from(per) * u128::from(weight);
            if total <= u128::from(MAX_POINTS) {
                wanted as u64
            } else {
                (wanted * u128::from(MAX_POINTS) / total).max(1) as u64
            }
        };
        let capacity: u64 = backends.iter().map(|b| count(b.weight())).sum();
        let mut points: Vec<(u64, u64, usize)> =
            Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        for (index, backend) in backends.iter().enumerate() {
            let id = backend.id().as_u64();
            points.extend((0..count(backend.weight())).map(|k| (combine(id, k), id, index)));
        }
        // Sorting by (hash, id) makes the ring independent of slice order,
        // including for the (astronomically rare) colliding points.
        points.sort_unstable_by_key(|&(hash, id, _)| (hash, id));
        RingSelector {
            hashes: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.2).collect(),
            n: backends.len(),
            keyless: RandomSelector::new(backends, self.seed),
        }
    }
}

impl RingSelector {
    /// Number of points on the ring.
    #[must_use]
    pub fn points(&self) -> usize {
        self.hashes.len()
    }

    /// The position of the first point at or after `key`, wrapping to 0.
    /// The ring must be non-empty.
    #[inline]
    fn start(&self, key: u64) -> usize {
        let p = self.hashes.partition_point(|&h| h < key);
        if p == self.hashes.len() { 0 } else { p }
    }

    /// The owners of the ring's points in clockwise order, starting at the
    /// point `key` maps to: every point exactly once (empty for an empty
    /// ring). The first item is the key's plain owner.
    pub(crate) fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let len = self.owners.len();
        let start = if len == 0 { 0 } else { self.start(key) };
        self.owners[start..]
            .iter()
            .chain(&self.owners[..start])
            .copied()
    }

    /// Number of backends the ring was built over.
    pub(crate) fn backends(&self) -> usize {
        self.n
    }
}

impl Selector for RingSelector {
    /// Keys map to backends, not shares: slow start does not apply.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Ignore
    }

    fn select(&self, request: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        if self.owners.is_empty() {
            return None;
        }
        let Some(key) = request.key() else {
            return self.keyless.pick(eligible);
        };
        let owner = self.owners[self.start(key)];
        if eligible.is_eligible(owner) {
            return Some(owner);
        }
        // Slow path: bail out in O(n) rather than walk every point in vain.
        if !(0..self.n).any(|i| eligible.is_eligible(i)) {
            return None;
        }
        self.walk(key).find(|&i| eligible.is_eligible(i))
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

    fn small() -> Ring {
        Ring::with_points(40).unwrap().with_seed(1)
    }

    #[test]
    fn huge_point_counts_do_not_overflow() {
        let s = Ring::with_points(u32::MAX)
            .unwrap()
            .build(&backends(&[u32::MAX, u32::MAX]));
        assert_eq!(s.points() as u64, MAX_POINTS);
    }

    #[test]
    fn huge_weights_are_capped_in_proportion() {
        let s = Ring::default().build(&backends(&[u32::MAX, 1, 1_000_000]));
        let p = s.points() as u64;
        assert!(p <= MAX_POINTS + 3, "{p}");
        let of = |i: usize| s.owners.iter().filter(|&&o| o == i).count() as u64;
        assert_eq!(of(1), 1, "at least one point each");
        let expected = MAX_POINTS as f64 * 1e6 / (f64::from(u32::MAX) + 1e6 + 1.0);
        assert!(
            (of(2) as f64 - expected).abs() <= 1.0,
            "{} vs {expected}",
            of(2)
        );
    }

    #[test]
    fn zero_points_is_rejected() {
        assert!(matches!(
            Ring::with_points(0),
            Err(Error::InvalidParameter {
                parameter: "points_per_weight",
                ..
            })
        ));
        assert_eq!(Ring::default().points_per_weight(), 160);
    }

    #[test]
    fn points_follow_weights_and_walk_covers_the_ring() {
        let s = small().build(&backends(&[1, 2, 3]));
        assert_eq!(s.points(), 40 * 6);
        assert!(s.hashes.windows(2).all(|w| w[0] <= w[1]));
        let walked: Vec<_> = s.walk(12_345).collect();
        assert_eq!(walked.len(), s.points());
        assert_eq!(walked[0], s.owners[s.start(12_345)]);
        for (i, w) in [1, 2, 3].into_iter().enumerate() {
            assert_eq!(walked.iter().filter(|&&o| o == i).count(), 40 * w);
        }
        // Wrap-around: a key past the last point belongs to the first point.
        assert_eq!(s.start(u64::MAX), 0);
        assert_eq!(small().build(&[]).walk(7).count(), 0);
    }

    #[test]
    fn same_key_same_backend_in_any_slice_order() {
        assert_order_independent(&Ring::default());
    }

    #[test]
    fn removing_one_backend_moves_only_its_keys() {
        let n = 10;
        let set = uniform(n);
        let full = Ring::default().build(&set);
        let before = placement(&full, n, KEYS, &AllEligible);
        let removed = 3;
        let rest: Vec<_> = set
            .iter()
            .filter(|b| b.id() != set[removed].id())
            .cloned()
            .collect();
        let after = placement(&Ring::default().build(&rest), n - 1, KEYS, &AllEligible);
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            let (b, a) = (set[b.unwrap()].id(), rest[a.unwrap()].id());
            if b == set[removed].id() {
                moved += 1;
            } else {
                assert_eq!(b, a, "a key of a surviving backend moved");
            }
        }
        let fraction = moved as f64 / KEYS as f64;
        assert!(fraction <= 1.5 / n as f64 + 0.01, "moved {fraction}");
    }

    #[test]
    fn ineligible_owner_moves_only_its_keys_and_spreads_them() {
        let receivers =
            assert_ineligible_moves_only_its_keys(&Ring::default().build(&uniform(6)), 6, 2);
        assert!(receivers.len() >= 2, "{receivers:?}");
        assert!(!receivers.contains(&2));
    }

    #[test]
    fn weighted_shares_follow_weights() {
        let s = Ring::default().build(&backends(&[1, 3]));
        let p = placement(&s, 2, KEYS, &AllEligible);
        let ones = p.iter().filter(|&&o| o == Some(1)).count() as f64 / KEYS as f64;
        assert!((ones - 0.75).abs() < 0.05, "{ones}");
    }

    #[test]
    fn keyless_requests_are_uniform_and_never_ineligible() {
        let s = small().build(&uniform(4));
        for c in shares(&s, 4, 8_000) {
            assert!((1_700..2_300).contains(&c), "{c}");
        }
        let loads = idle(4);
        let view = loads.view(Instant::now());
        let only_three = |i: usize| i == 3;
        for _ in 0..100 {
            assert_eq!(s.select(&Request::new(), &only_three, &view), Some(3));
        }
        assert_eq!(s.select(&Request::new(), &|_: usize| false, &view), None);
    }

    #[test]
    fn empty_set_returns_none() {
        let s = small().build(&[]);
        let loads = idle(0);
        let view = loads.view(Instant::now());
        assert_eq!(s.select(&Request::new(), &AllEligible, &view), None);
        assert_eq!(
            s.select(&Request::new().with_key_hash(3), &AllEligible, &view),
            None
        );
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
            assert_contract(&small().build(&backends(&weights)), &idle(n), mask, &keys);
        }
    }
}

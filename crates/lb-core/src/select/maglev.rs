//! Maglev consistent hashing: a prime-sized lookup table filled from
//! per-backend permutations.
//!
//! Source: Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer" (NSDI 2016), §3.4; weighted as Envoy's `maglev_lb.cc` does
//! (a backend takes a turn at filling only while its slot count is below its
//! weight-proportional target). Use it for L4 / flow hashing where picks must
//! be O(1) (one table read) and shares must be near-exact (every backend owns
//! within one turn of its weight share of the table), and where slightly more
//! disruption than a ring on set changes is acceptable: removing one of N
//! backends moves its keys plus a small extra fraction. The table is rebuilt
//! per set change (O(M log N) for the turns, plus the permutation probes);
//! keep the size M prime and M ≥ 100 × N.
//!
//! Backends fill the table in the order of their stable ids, so independent
//! instances with the same set build the same table. When a key's owner is
//! ineligible the key is rehashed and looked up again (up to 16 times, then
//! a deterministic weighted choice): other keys never move, and the
//! ineligible backend's keys spread over the rest in proportion to their
//! table shares.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::backend::Backend;
use crate::error::Error;
use crate::hash::{combine, hash_bytes_seeded, reduce};
use crate::load::Loads;
use crate::request::Request;
use crate::select::random::RandomSelector;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode, weighted_fallback, weights_of};

/// The paper's default table size (prime).
const DEFAULT_TABLE_SIZE: usize = 65_537;

/// Largest accepted table size (256 MiB of `u32` slots would be absurd).
const MAX_TABLE_SIZE: usize = 1 << 26;

/// Rehashes of a key whose owner is ineligible, before the O(n) fallback.
const REHASHES: u64 = 16;

/// Seeds of the two independent id hashes (offset and skip).
const OFFSET_SEED: u64 = 0x6d61_676c_6576_6f66; // "maglevof"
const SKIP_SEED: u64 = 0x6d61_676c_6576_736b; // "maglevsk"

/// Marks an unfilled slot during the build.
const EMPTY: u32 = u32::MAX;

/// Maglev hashing with a table of a prime size `M` (default 65,537).
///
/// # Examples
///
/// ```
/// use lb_core::select::Maglev;
/// use lb_core::{Backend, Balancer, Request};
///
/// let backends = vec![
///     Backend::named("a", "10.0.0.1:80".parse().unwrap()),
///     Backend::named("b", "10.0.0.2:80".parse().unwrap()).with_weight(2).unwrap(),
/// ];
/// let lb = Balancer::new(Maglev::with_table_size(1_009).unwrap(), backends).unwrap();
/// let now = std::time::Instant::now();
/// let req = Request::new().with_key(b"flow-1");
/// let first = lb.pick(&req, now).unwrap().backend().id();
/// assert_eq!(lb.pick(&req, now).unwrap().backend().id(), first);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Maglev {
    table_size: usize,
    seed: Option<u64>,
}

impl Default for Maglev {
    /// A table of 65,537 slots (the paper's small size; good up to ~650
    /// backends at 1% imbalance).
    fn default() -> Self {
        Self {
            table_size: DEFAULT_TABLE_SIZE,
            seed: None,
        }
    }
}

impl Maglev {
    /// Maglev with a table of `m` slots. `m` must be prime (so that every
    /// backend's permutation visits every slot) and should be at least 100
    /// times the number of backends for shares within about 1%.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when `m` is below 2, above 2^26, or not
    /// prime.
    pub fn with_table_size(m: usize) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidParameter {
            parameter: "table_size",
            reason,
        };
        if m < 2 {
            return Err(invalid(format!("{m} is below 2")));
        }
        if m > MAX_TABLE_SIZE {
            return Err(invalid(format!("{m} exceeds the maximum {MAX_TABLE_SIZE}")));
        }
        if !is_prime(m) {
            return Err(invalid(format!(
                "{m} is not prime (try 65537, 131071 or 655373)"
            )));
        }
        Ok(Self {
            table_size: m,
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

    /// The table size M.
    #[must_use]
    pub fn table_size(&self) -> usize {
        self.table_size
    }
}

/// Trial division; `m` is at most 2^26, so at most ~4,100 odd divisors.
fn is_prime(m: usize) -> bool {
    if m < 2 {
        return false;
    }
    if m % 2 == 0 {
        return m == 2;
    }
    let mut d = 3;
    while d * d <= m {
        if m % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The selector built by [`Maglev`]: the lookup table of backend indices.
#[derive(Debug)]
pub struct MaglevSelector {
    /// `table[slot]` is the index of the backend owning `slot`.
    table: Vec<u32>,
    weights: Vec<u32>,
    keyless: RandomSelector,
}

/// One backend's state while the table is filled.
struct Fill {
    id: u64,
    index: u32,
    /// The next slot of its permutation to try.
    position: usize,
    skip: usize,
    weight: u64,
    /// The weight-scaled slot count it must reach before its next turn.
    target: u64,
}

impl Algorithm for Maglev {
    type Selector = MaglevSelector;

    fn build(&self, backends: &[Backend]) -> MaglevSelector {
        MaglevSelector {
            table: fill_table(backends, self.table_size),
            weights: weights_of(backends),
            keyless: RandomSelector::new(backends, self.seed),
        }
    }
}

/// The Maglev population loop (paper, pseudocode 1) with Envoy's weighting:
/// in round `r` a backend of weight `w` takes a slot only if `r × w` reaches
/// its target, which grows by the largest weight per slot taken, so its slot
/// count tracks `r × w / max_weight`. Backends take turns in id order. A heap
/// of the round each backend is next due makes this O(M log N) whatever the
/// weights.
fn fill_table(backends: &[Backend], m: usize) -> Vec<u32> {
    if backends.is_empty() || m == 0 {
        return Vec::new();
    }
    let m64 = m as u64;
    let mut fills: Vec<Fill> = backends
        .iter()
        .enumerate()
        .map(|(index, b)| {
            let id = b.id().as_u64();
            let bytes = id.to_le_bytes();
            let offset = hash_bytes_seeded(&bytes, OFFSET_SEED) % m64;
            let skip = if m > 1 {
                hash_bytes_seeded(&bytes, SKIP_SEED) % (m64 - 1) + 1
            } else {
                1
            };
            Fill {
                id,
                // Sets of 2^32 − 1 backends or more are not supported.
                index: index as u32,
                position: offset as usize,
                skip: skip as usize,
                weight: u64::from(b.weight()),
                target: 0,
            }
        })
        .collect();
    fills.sort_unstable_by_key(|f| f.id);
    let max_weight = fills.iter().map(|f| f.weight).max().unwrap_or(1);

    // Backends due in the earliest round first, in id order within a round:
    // the order of the paper's loop, without visiting every backend in every
    // round (which made a skewed set O(M × N)).
    let mut due: BinaryHeap<Reverse<(u64, usize)>> =
        (0..fills.len()).map(|rank| Reverse((1, rank))).collect();
    let mut table = vec![EMPTY; m];
    let mut filled = 0;
    while filled < m {
        let Some(Reverse((round, rank))) = due.pop() else {
            break;
        };
        let f = &mut fills[rank];
        // `m` is prime and 1 ≤ skip < m, so the permutation visits every
        // slot and an empty one exists while `filled < m`.
        while table[f.position] != EMPTY {
            f.position += f.skip;
            if f.position >= m {
                f.position -= m;
            }
        }
        table[f.position] = f.index;
        f.position += f.skip;
        if f.position >= m {
            f.position -= m;
        }
        filled += 1;
        // It may fill again in the first later round r with r × w ≥ target.
        f.target += max_weight;
        due.push(Reverse((f.target.div_ceil(f.weight).max(round + 1), rank)));
    }
    table
}

impl MaglevSelector {
    /// The owner of the slot `hash` maps to. The table must be non-empty.
    #[inline]
    fn lookup(&self, hash: u64) -> usize {
        self.table[reduce(hash, self.table.len() as u64) as usize] as usize
    }
}

impl Selector for MaglevSelector {
    /// Keys map to backends, not shares: slow start does not apply.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Ignore
    }

    fn select(&self, request: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let Some(key) = request.key() else {
            return self.keyless.pick(eligible);
        };
        let owner = self.lookup(key);
        if eligible.is_eligible(owner) {
            return Some(owner);
        }
        for attempt in 1..=REHASHES {
            let owner = self.lookup(combine(key, attempt));
            if eligible.is_eligible(owner) {
                return Some(owner);
            }
        }
        weighted_fallback(key, &self.weights, eligible)
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

    fn table_shares(s: &MaglevSelector, n: usize) -> Vec<usize> {
        let mut counts = vec![0; n];
        for &slot in &s.table {
            counts[slot as usize] += 1;
        }
        counts
    }

    #[test]
    fn table_size_is_validated() {
        for bad in [0, 1, 4, 9, 65_536, 65_535, (1 << 26) + 1, usize::MAX] {
            assert!(
                matches!(
                    Maglev::with_table_size(bad),
                    Err(Error::InvalidParameter {
                        parameter: "table_size",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        for good in [2, 3, 251, 65_537, 655_373] {
            assert_eq!(Maglev::with_table_size(good).unwrap().table_size(), good);
        }
        assert_eq!(Maglev::default().table_size(), 65_537);
    }

    #[test]
    fn table_shares_match_weights_within_one_percent() {
        // Relative bound: |share − weight share| ≤ 1% of the weight share,
        // for every backend, with M = 65537 ≥ 100 × N.
        for weights in [
            vec![1; 10],
            (1..=10).collect::<Vec<u32>>(),
            vec![1, 1, 5, 7, 3, 9],
        ] {
            let n = weights.len();
            let s = Maglev::default().build(&backends(&weights));
            let total: u32 = weights.iter().sum();
            let counts = table_shares(&s, n);
            for (i, &c) in counts.iter().enumerate() {
                let want = f64::from(weights[i]) / f64::from(total);
                let got = c as f64 / s.table.len() as f64;
                assert!(
                    (got - want).abs() <= 0.01 * want,
                    "{weights:?}: {i} {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn same_key_same_backend_in_any_slice_order() {
        assert_order_independent(&Maglev::with_table_size(2_003).unwrap());
    }

    #[test]
    fn removing_one_backend_moves_few_keys() {
        let n = 10;
        let set = uniform(n);
        let maglev = Maglev::default();
        let before = placement(&maglev.build(&set), n, KEYS, &AllEligible);
        let removed = set[4].id();
        let rest: Vec<_> = set.iter().filter(|b| b.id() != removed).cloned().collect();
        let after = placement(&maglev.build(&rest), n - 1, KEYS, &AllEligible);
        let (mut moved, mut collateral) = (0, 0);
        for (b, a) in before.iter().zip(&after) {
            let (b, a) = (set[b.unwrap()].id(), rest[a.unwrap()].id());
            if b != a {
                moved += 1;
                if b != removed {
                    collateral += 1;
                }
            }
        }
        let fraction = moved as f64 / KEYS as f64;
        let extra = collateral as f64 / KEYS as f64;
        assert!(
            fraction <= 2.0 / n as f64,
            "moved {fraction} (of which {extra} collateral)"
        );
    }

    #[test]
    fn ineligible_owner_moves_only_its_keys_and_spreads_them() {
        let s = Maglev::with_table_size(2_003).unwrap().build(&uniform(6));
        assert_eq!(assert_ineligible_moves_only_its_keys(&s, 6, 2).len(), 5);
    }

    #[test]
    fn rehash_exhaustion_falls_back_to_an_eligible_backend() {
        // One eligible backend owning a single slot of 2003: rehashes almost
        // always miss it, so the weighted fallback must answer.
        let s = Maglev::with_table_size(2_003)
            .unwrap()
            .build(&uniform(1_500));
        let loads = idle(1_500);
        let view = loads.view(Instant::now());
        let only = |i: usize| i == 77;
        for k in 0..200_u64 {
            let req = Request::new().with_key_hash(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert_eq!(s.select(&req, &only, &view), Some(77));
        }
    }

    #[test]
    fn builds_a_thousand_backends() {
        let s = Maglev::default().build(&uniform(1_000));
        assert_eq!(s.table.len(), 65_537);
        let counts = table_shares(&s, 1_000);
        assert!(
            counts.iter().all(|&c| c == 65 || c == 66),
            "equal weights take turns"
        );
    }

    #[test]
    fn keyless_requests_are_uniform() {
        let s = Maglev::with_table_size(251)
            .unwrap()
            .with_seed(3)
            .build(&uniform(4));
        for c in shares(&s, 4, 8_000) {
            assert!((1_700..2_300).contains(&c), "{c}");
        }
    }

    #[test]
    fn empty_set_and_tiny_tables_do_not_panic() {
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let keyed = Request::new().with_key_hash(u64::MAX);
        let empty = Maglev::default().build(&[]);
        assert_eq!(empty.select(&keyed, &AllEligible, &view), None);
        assert_eq!(empty.select(&Request::new(), &AllEligible, &view), None);
        // More backends than slots: some own no slot yet stay reachable.
        let tiny = Maglev::with_table_size(2).unwrap().build(&uniform(3));
        for i in 0..3 {
            let only = move |j: usize| j == i;
            assert_eq!(tiny.select(&keyed, &only, &view), Some(i));
        }
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
            let s = Maglev::with_table_size(2_003).unwrap().with_seed(1).build(&backends(&weights));
            assert_contract(&s, &idle(n), mask, &keys);
        }
    }

    #[test]
    fn tables_are_pinned_across_versions() {
        // Instances running different lb versions must build the same table:
        // these fingerprints were taken before the heap-ordered fill and must
        // never change silently.
        let cases: [(&[u32], u64); 4] = [
            (&[1; 7], 0x8b5d_ee4e_5f03_d6bc),
            (&[1, 2, 3, 4, 5], 0x80d4_f640_f8a6_670d),
            (&[u32::MAX, 1, 7], 0x3cdd_3603_839d_2802),
            (&[3, 1], 0xc6ac_15c7_cd08_8cb9),
        ];
        for (weights, expected) in cases {
            let t = fill_table(&backends(weights), 2_003);
            let bytes: Vec<u8> = t.iter().flat_map(|x| x.to_le_bytes()).collect();
            assert_eq!(crate::hash::hash_bytes(&bytes), expected, "{weights:?}");
        }
    }
}

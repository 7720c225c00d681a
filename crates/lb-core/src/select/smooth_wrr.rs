//! Smooth weighted round robin, nginx's algorithm.
//!
//! Source: nginx `ngx_http_upstream_get_peer` in
//! `src/http/ngx_http_upstream_round_robin.c` (2012). Each pick adds every
//! backend's weight to its `current`, picks the largest `current` and takes
//! the total weight off it. Over every cycle of `sum(weights)` picks each
//! backend is chosen exactly `weight` times, and picks of a heavy backend are
//! spread through the cycle instead of coming in a burst: weights 5, 1, 1 give
//! `a a b a c a a`, not `a a a a a b c`.
//!
//! nginx runs this under a per-worker lock. Here the sequence of one cycle is
//! computed once at build time (after dividing the weights by their greatest
//! common divisor) and each pick is one atomic increment and one table read.
//! An ineligible backend's slots are skipped by taking the next turn, so every
//! eligible backend still gets exactly its weight per cycle of the eligible
//! ones. Cycles too long to tabulate (more than [`MAX_TABLE`] picks or too
//! costly to build) run nginx's state machine under a mutex instead.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::Backend;
use crate::hash::mix64;
use crate::load::Loads;
use crate::request::Request;
use crate::select::{Algorithm, Eligible, Selector, weighted_fallback, weights_of};

/// Longest cycle tabulated (entries of 4 bytes: 256 KiB).
pub(crate) const MAX_TABLE: u64 = 1 << 16;
/// Most `cycle length × backends` steps spent tabulating at build time.
const MAX_BUILD_STEPS: u64 = 1 << 24;
/// Turns that may land on ineligible backends before the O(n) fallback.
const SKIPS: usize = 32;

/// Smooth weighted round robin (nginx).
#[derive(Clone, Copy, Debug, Default)]
pub struct SmoothWeightedRoundRobin;

/// The selector built by [`SmoothWeightedRoundRobin`].
#[derive(Debug)]
pub struct SmoothWeightedRoundRobinSelector {
    weights: Vec<u32>,
    turn: AtomicU64,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// One precomputed cycle of picks.
    Table(Vec<u32>),
    /// nginx's per-backend `current` weights, for cycles too long to table.
    Live(Mutex<Vec<i64>>),
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One step of nginx's algorithm over the backends `eligible` accepts.
/// Ties go to the lowest index, as in nginx.
fn step(current: &mut [i64], weights: &[u32], eligible: &dyn Eligible) -> Option<usize> {
    let mut total = 0_i64;
    let mut best: Option<(usize, i64)> = None;
    for (i, (cur, &w)) in current.iter_mut().zip(weights).enumerate() {
        if !eligible.is_eligible(i) {
            continue;
        }
        *cur += i64::from(w);
        total += i64::from(w);
        if best.is_none_or(|(_, b)| *cur > b) {
            best = Some((i, *cur));
        }
    }
    let (b, _) = best?;
    current[b] -= total;
    Some(b)
}

impl Algorithm for SmoothWeightedRoundRobin {
    type Selector = SmoothWeightedRoundRobinSelector;

    fn build(&self, backends: &[Backend]) -> SmoothWeightedRoundRobinSelector {
        let weights = weights_of(backends);
        let g = weights.iter().fold(0, |g, &w| gcd(g, u64::from(w))).max(1);
        let cycle: u64 = weights.iter().map(|&w| u64::from(w) / g).sum();
        let mode = if cycle <= MAX_TABLE && cycle * weights.len() as u64 <= MAX_BUILD_STEPS {
            let reduced: Vec<u32> = weights.iter().map(|&w| (u64::from(w) / g) as u32).collect();
            let mut current = vec![0_i64; weights.len()];
            let all = crate::AllEligible;
            Mode::Table(
                (0..cycle)
                    .filter_map(|_| step(&mut current, &reduced, &all).map(|i| i as u32))
                    .collect(),
            )
        } else {
            Mode::Live(Mutex::new(vec![0; weights.len()]))
        };
        SmoothWeightedRoundRobinSelector {
            weights,
            turn: AtomicU64::new(0),
            mode,
        }
    }
}

impl Selector for SmoothWeightedRoundRobinSelector {
    fn select(&self, _: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        match &self.mode {
            Mode::Table(table) => {
                let len = table.len() as u64;
                if len == 0 {
                    return None;
                }
                let mut turn = 0;
                for _ in 0..SKIPS.min(table.len()) {
                    turn = self.turn.fetch_add(1, Ordering::Relaxed);
                    let i = table[(turn % len) as usize] as usize;
                    if eligible.is_eligible(i) {
                        return Some(i);
                    }
                }
                weighted_fallback(mix64(turn), &self.weights, eligible)
            }
            Mode::Live(current) => {
                let mut current = current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                step(&mut current, &self.weights, eligible)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{backends, idle};
    use proptest::prelude::*;
    use std::time::Instant;

    fn sequence(s: &dyn Selector, n: usize, picks: usize, eligible: &dyn Eligible) -> Vec<usize> {
        let loads = idle(n);
        let view = loads.view(Instant::now());
        (0..picks)
            .map(|_| s.select(&Request::new(), eligible, &view).unwrap())
            .collect()
    }

    #[test]
    fn nginx_sequence_for_5_1_1() {
        let s = SmoothWeightedRoundRobin.build(&backends(&[5, 1, 1]));
        let seq = sequence(&s, 3, 14, &crate::AllEligible);
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn live_mode_gives_the_same_sequence() {
        // A cycle longer than the table limit runs nginx's state machine.
        let weights = [MAX_TABLE as u32, 3, 1];
        let s = SmoothWeightedRoundRobin.build(&backends(&weights));
        assert!(matches!(s.mode, Mode::Live(_)));
        let small = SmoothWeightedRoundRobin.build(&backends(&[5, 1, 1]));
        assert!(matches!(small.mode, Mode::Table(_)));
        let mut current = vec![0; 3];
        let expected: Vec<usize> = (0..50)
            .map(|_| step(&mut current, &weights, &crate::AllEligible).unwrap())
            .collect();
        assert_eq!(sequence(&s, 3, 50, &crate::AllEligible), expected);
    }

    #[test]
    fn ineligible_slots_are_skipped_exactly() {
        let s = SmoothWeightedRoundRobin.build(&backends(&[5, 2, 3]));
        let not_one = |i: usize| i != 1;
        // 8 eligible slots per cycle of 10: over 10 cycles of picks (80),
        // backend 0 gets 50 and backend 2 gets 30 exactly.
        let seq = sequence(&s, 3, 80, &not_one);
        assert_eq!(seq.iter().filter(|&&i| i == 0).count(), 50);
        assert_eq!(seq.iter().filter(|&&i| i == 2).count(), 30);
    }

    #[test]
    fn fallback_when_only_a_light_backend_is_eligible() {
        let s = SmoothWeightedRoundRobin.build(&backends(&[1000, 1]));
        let only_one = |i: usize| i == 1;
        assert_eq!(sequence(&s, 2, 5, &only_one), [1; 5]);
        let loads = idle(2);
        let view = loads.view(Instant::now());
        assert_eq!(s.select(&Request::new(), &|_: usize| false, &view), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// In every window of sum(weights) consecutive picks (cycle-aligned),
        /// each backend gets exactly its weight; and no backend ever runs
        /// further ahead of its ideal share than one pick.
        #[test]
        fn exact_proportions_per_cycle(weights in prop::collection::vec(1_u32..=12, 1..=12)) {
            let n = weights.len();
            let s = SmoothWeightedRoundRobin.build(&backends(&weights));
            let total: u32 = weights.iter().sum();
            let seq = sequence(&s, n, total as usize * 3, &crate::AllEligible);
            for cycle in seq.chunks(total as usize) {
                for (i, &w) in weights.iter().enumerate() {
                    prop_assert_eq!(cycle.iter().filter(|&&x| x == i).count(), w as usize);
                }
            }
            // Smoothness: after k picks, backend i has at most ceil(k·w/W)+1.
            let mut counts = vec![0_u64; n];
            for (k, &i) in seq.iter().enumerate() {
                counts[i] += 1;
                let ideal = ((k as u64 + 1) * u64::from(weights[i])).div_ceil(u64::from(total));
                prop_assert!(counts[i] <= ideal + 1, "burst at pick {}", k);
            }
        }
    }
}

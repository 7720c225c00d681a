//! Round robin: each backend in turn, weights ignored.
//!
//! The textbook algorithm (nginx's default *with equal weights*, HAProxy's
//! `roundrobin` with equal weights, Pingora's `RoundRobin`). One shared atomic
//! counter gives the turn, so concurrent pickers interleave without a lock.
//! A turn that lands on an ineligible backend is passed on to the next turn,
//! so the eligible backends still alternate evenly (walking on to the next
//! index instead would give an ineligible backend's share to its neighbour:
//! 1/3, 0, 2/3 over three backends). After a few passed turns the pick takes
//! the turn's position among the eligible backends, O(n). Use
//! [`SmoothWeightedRoundRobin`](super::SmoothWeightedRoundRobin) when
//! weights differ.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::select::{Algorithm, Eligible, Selector};

/// Turns that may land on ineligible backends before the O(n) fallback.
const SKIPS: usize = 8;

/// Round robin over the backends, ignoring weights.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

/// The selector built by [`RoundRobin`].
#[derive(Debug)]
pub struct RoundRobinSelector {
    n: usize,
    next: AtomicUsize,
}

impl Algorithm for RoundRobin {
    type Selector = RoundRobinSelector;

    fn build(&self, backends: &[Backend]) -> RoundRobinSelector {
        RoundRobinSelector {
            n: backends.len(),
            next: AtomicUsize::new(0),
        }
    }
}

impl Selector for RoundRobinSelector {
    fn select(&self, _: &Request, eligible: &dyn Eligible, _: &Loads<'_>) -> Option<usize> {
        if self.n == 0 {
            return None;
        }
        let mut turn = 0;
        for _ in 0..SKIPS.min(self.n) {
            turn = self.next.fetch_add(1, Ordering::Relaxed);
            let i = turn % self.n;
            if eligible.is_eligible(i) {
                return Some(i);
            }
        }
        let count = (0..self.n).filter(|&i| eligible.is_eligible(i)).count();
        if count == 0 {
            return None;
        }
        (0..self.n)
            .filter(|&i| eligible.is_eligible(i))
            .nth(turn % count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{idle, shares, uniform};
    use std::time::Instant;

    #[test]
    fn cycles_in_order() {
        let s = RoundRobin.build(&uniform(3));
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let seq: Vec<_> = (0..6)
            .map(|_| {
                s.select(&Request::new(), &crate::AllEligible, &view)
                    .unwrap()
            })
            .collect();
        assert_eq!(seq, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn equal_shares() {
        let s = RoundRobin.build(&uniform(4));
        assert_eq!(shares(&s, 4, 4000), [1000; 4]);
    }

    #[test]
    fn ineligible_backends_share_is_split_evenly() {
        let s = RoundRobin.build(&uniform(3));
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let mut counts = [0; 3];
        for _ in 0..3000 {
            counts[s
                .select(&Request::new(), &|i: usize| i != 1, &view)
                .unwrap()] += 1;
        }
        assert_eq!(counts, [1500, 0, 1500]);
        // Mostly ineligible: the O(n) fallback still rotates evenly.
        let s = RoundRobin.build(&uniform(20));
        let loads = idle(20);
        let view = loads.view(Instant::now());
        let mut counts = [0; 20];
        for _ in 0..3000 {
            counts[s
                .select(&Request::new(), &|i: usize| i >= 17, &view)
                .unwrap()] += 1;
        }
        assert!(
            counts[17..].iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn skips_ineligible() {
        let s = RoundRobin.build(&uniform(3));
        let loads = idle(3);
        let view = loads.view(Instant::now());
        let not_one = |i: usize| i != 1;
        for _ in 0..10 {
            assert_ne!(s.select(&Request::new(), &not_one, &view), Some(1));
        }
        assert_eq!(s.select(&Request::new(), &|_: usize| false, &view), None);
    }
}

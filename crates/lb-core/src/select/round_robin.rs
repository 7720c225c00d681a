//! Round robin: each backend in turn, weights ignored.
//!
//! The textbook algorithm (nginx's default *with equal weights*, HAProxy's
//! `roundrobin` with equal weights, Pingora's `RoundRobin`). One shared atomic
//! counter gives the turn, so concurrent pickers interleave without a lock.
//! An ineligible backend is skipped by walking forward to the next eligible
//! one. Use [`SmoothWeightedRoundRobin`](super::SmoothWeightedRoundRobin) when
//! weights differ.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::select::{Algorithm, Eligible, Selector};

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
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.n;
        (0..self.n)
            .map(|step| {
                let i = start + step;
                if i >= self.n { i - self.n } else { i }
            })
            .find(|&i| eligible.is_eligible(i))
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

//! Least connections, weighted.
//!
//! Source: nginx `least_conn` (`ngx_http_upstream_least_conn_module.c`) and
//! HAProxy `balance leastconn`. Each pick scans the eligible backends for the
//! lowest `in_flight / weight` (compared by cross-multiplication, so without
//! rounding); with equal weights that is plain least connections. Ties are
//! broken by weighted reservoir sampling, so tied backends are chosen in
//! proportion to their weights with no positional bias (nginx breaks ties by
//! weighted round robin; a "first lowest wins" scan would favour low indices).
//!
//! O(n) per pick. For very large sets prefer
//! [`PowerOfTwoChoices`](super::PowerOfTwoChoices), which samples two.

use crate::backend::Backend;
use crate::load::Loads;
use crate::request::Request;
use crate::rng::{LocalRng, Rng};
use crate::select::random::rng_from;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode, weights_of};

/// Weighted least connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeastConn {
    seed: Option<u64>,
}

impl LeastConn {
    /// Seeds the tie-breaking random source.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// The selector built by [`LeastConn`].
#[derive(Debug)]
pub struct LeastConnSelector {
    weights: Vec<u32>,
    rng: Rng,
}

impl Algorithm for LeastConn {
    type Selector = LeastConnSelector;

    fn build(&self, backends: &[Backend]) -> LeastConnSelector {
        LeastConnSelector {
            weights: weights_of(backends),
            rng: rng_from(self.seed),
        }
    }
}

impl Selector for LeastConnSelector {
    fn select(&self, _: &Request, eligible: &dyn Eligible, loads: &Loads<'_>) -> Option<usize> {
        // The best so far as (index, in_flight, effective weight), and the
        // total weight of the backends tied with it. Effective weights carry
        // slow start in 16 fraction bits; products are taken in u128.
        let mut best: Option<(usize, u128, u64)> = None;
        let mut tied_weight = 0_u64;
        let mut rng: Option<LocalRng> = None;
        let ramping = loads.ramping();
        for (i, &w) in self.weights.iter().enumerate() {
            if !eligible.is_eligible(i) {
                continue;
            }
            let load = loads.in_flight(i) as u128;
            let weight = if ramping {
                loads.effective_weight(i, w)
            } else {
                u64::from(w) << 16
            };
            let Some((_, best_load, best_weight)) = best else {
                best = Some((i, load, weight));
                tied_weight = weight;
                continue;
            };
            // load/weight vs best_load/best_weight, without division.
            let (lhs, rhs) = (
                load * u128::from(best_weight),
                best_load * u128::from(weight),
            );
            if lhs < rhs {
                best = Some((i, load, weight));
                tied_weight = weight;
            } else if lhs == rhs {
                // Weighted reservoir sampling over the ties.
                tied_weight += weight;
                let rng = rng.get_or_insert_with(|| self.rng.local());
                if rng.below(tied_weight) < weight {
                    best = Some((i, load, weight));
                }
            }
        }
        best.map(|(i, _, _)| i)
    }

    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::testing::{backends, idle, uniform};
    use std::time::Instant;

    #[test]
    fn picks_the_least_loaded() {
        let s = LeastConn::default().build(&uniform(3));
        let loads = idle(3);
        loads.begin(0);
        loads.begin(0);
        loads.begin(2);
        let view = loads.view(Instant::now());
        assert_eq!(
            s.select(&Request::new(), &crate::AllEligible, &view),
            Some(1)
        );
        assert_eq!(
            s.select(&Request::new(), &|i: usize| i != 1, &view),
            Some(2)
        );
    }

    #[test]
    fn weights_scale_the_load() {
        // 4 in flight on weight 4 beats 2 in flight on weight 1.
        let s = LeastConn::default().build(&backends(&[4, 1]));
        let loads = idle(2);
        for _ in 0..4 {
            loads.begin(0);
        }
        loads.begin(1);
        loads.begin(1);
        let view = loads.view(Instant::now());
        assert_eq!(
            s.select(&Request::new(), &crate::AllEligible, &view),
            Some(0)
        );
    }

    #[test]
    fn ties_are_broken_without_positional_bias() {
        let s = LeastConn::default()
            .with_seed(5)
            .build(&backends(&[1, 1, 1, 1, 2]));
        let loads = idle(5);
        let view = loads.view(Instant::now());
        let mut counts = [0_u32; 5];
        for _ in 0..60_000 {
            counts[s
                .select(&Request::new(), &crate::AllEligible, &view)
                .unwrap()] += 1;
        }
        // Weighted among ties: 1/6 each, 2/6 for the last.
        for (i, &c) in counts.iter().enumerate() {
            let expected = if i == 4 { 20_000.0 } else { 10_000.0 };
            assert!((f64::from(c) - expected).abs() < 800.0, "{counts:?}");
        }
    }

    #[test]
    fn nothing_eligible_is_none() {
        let s = LeastConn::default().build(&uniform(2));
        let loads = idle(2);
        assert_eq!(
            s.select(
                &Request::new(),
                &|_: usize| false,
                &loads.view(Instant::now())
            ),
            None
        );
    }
}

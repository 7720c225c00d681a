//! The `Selector` seam and every balancing algorithm behind it.
//!
//! An [`Algorithm`] is configuration: it [builds](Algorithm::build) a
//! [`Selector`] once per backend set, doing every expensive step (tables,
//! rings, cumulative weights) there. The selector then answers each pick from
//! three inputs:
//!
//! - the [`Request`]: an optional hashed key and the attempt number;
//! - an [`Eligible`] filter: the caller's view of which backends may take
//!   this request (healthy, not draining, not already tried). Algorithms know
//!   nothing of health; they only skip what the filter rejects;
//! - the [`Loads`]: in-flight counts and latency estimates, fed back by leases.
//!
//! and returns the *index* of a backend in the slice it was built from, or
//! `None` only when no backend is eligible.
//!
//! Hash-based selectors keep their mapping when a backend is merely
//! ineligible: keys owned by other backends do not move, and the ineligible
//! backend's keys spread deterministically over the rest.
//!
//! | name | type | source |
//! |---|---|---|
//! | `round-robin` | [`RoundRobin`] | classic; weights ignored |
//! | `weighted-round-robin` | [`SmoothWeightedRoundRobin`] | nginx `ngx_http_upstream_round_robin.c` |
//! | `random` | [`Random`] | weighted random (uniform for equal weights) |
//! | `least-conn` | [`LeastConn`] | nginx `least_conn`, HAProxy `leastconn` |
//! | `p2c` | [`PowerOfTwoChoices`] | Mitzenmacher 2001; tower `p2c` |
//! | `peak-ewma` | [`PeakEwma`] | Finagle / tower `PeakEwma` |
//! | `hash` | [`KeyHash`] | nginx `hash` / `ip_hash` (modulo) |
//! | `ring` | [`Ring`] | Karger et al. 1997; libketama |
//! | `maglev` | [`Maglev`] | Eisenbud et al., NSDI 2016 |
//! | `rendezvous` | [`Rendezvous`] | Thaler & Ravishankar 1998 (HRW) |
//! | `bounded-load` | [`BoundedLoad`] | Mirrokni, Thorup, Zadimoghaddam 2018 |

use crate::backend::Backend;
use crate::hash::reduce;
use crate::load::Loads;
use crate::request::Request;

mod bounded_load;
mod key_hash;
mod least_conn;
mod maglev;
mod p2c;
mod peak_ewma;
mod policy;
mod random;
mod rendezvous;
mod ring;
mod round_robin;
mod sampler;
mod smooth_wrr;

pub use bounded_load::{BoundedLoad, BoundedLoadSelector};
pub use key_hash::{KeyHash, KeyHashSelector};
pub use least_conn::{LeastConn, LeastConnSelector};
pub use maglev::{Maglev, MaglevSelector};
pub use p2c::{PowerOfTwoChoices, PowerOfTwoChoicesSelector};
pub use peak_ewma::{PeakEwma, PeakEwmaSelector};
pub use policy::Policy;
pub use random::{Random, RandomSelector};
pub use rendezvous::{Rendezvous, RendezvousSelector};
pub use ring::{Ring, RingSelector};
pub use round_robin::{RoundRobin, RoundRobinSelector};
pub use smooth_wrr::{SmoothWeightedRoundRobin, SmoothWeightedRoundRobinSelector};

/// The names [`Policy`] accepts, one per algorithm, in the
/// order of the table above.
pub const NAMES: [&str; 11] = [
    "round-robin",
    "weighted-round-robin",
    "random",
    "least-conn",
    "p2c",
    "peak-ewma",
    "hash",
    "ring",
    "maglev",
    "rendezvous",
    "bounded-load",
];

/// Which backends may take the request being placed, by index.
///
/// Implemented for every `Fn(usize) -> bool` and for [`AllEligible`].
pub trait Eligible {
    /// Whether backend `index` may be picked.
    fn is_eligible(&self, index: usize) -> bool;
}

impl<F: Fn(usize) -> bool + ?Sized> Eligible for F {
    #[inline]
    fn is_eligible(&self, index: usize) -> bool {
        self(index)
    }
}

/// Every backend is eligible.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllEligible;

impl Eligible for AllEligible {
    #[inline]
    fn is_eligible(&self, _index: usize) -> bool {
        true
    }
}

/// How a selector honours slow start (see [`crate::health::SlowStart`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlowStartMode {
    /// The balancer keeps a pick of a ramping backend with probability equal
    /// to its weight factor, else picks again without it (round robins,
    /// random).
    Admission,
    /// The selector reads [`Loads::weight_factor`] itself and scales the
    /// weight it divides load by (least-conn, P2C, peak EWMA).
    Weight,
    /// Slow start does not apply (hash-based selectors: keys, not shares).
    Ignore,
}

/// Picks a backend for one request. Built by an [`Algorithm`] for one
/// backend set; shared by all picking threads.
pub trait Selector: Send + Sync {
    /// The index (into the slice the selector was built from) of the backend
    /// that should take `request`, or `None` when no backend is eligible.
    ///
    /// Must never return an index that `eligible` rejects, and must return
    /// `Some` whenever at least one index is eligible.
    ///
    /// `loads` must describe the same backends, in the same order, as the
    /// slice the selector was built from ([`Balancer`](crate::Balancer)
    /// guarantees it; callers driving a selector directly build a
    /// [`LoadTable`](crate::LoadTable) of that length). The load-aware
    /// selectors index it and panic on a shorter table.
    fn select(
        &self,
        request: &Request,
        eligible: &dyn Eligible,
        loads: &Loads<'_>,
    ) -> Option<usize>;

    /// How this selector honours slow start. The default, admission, suits
    /// any selector; override it to read the weight factor yourself, or to
    /// opt out.
    fn slow_start(&self) -> SlowStartMode {
        SlowStartMode::Admission
    }
}

impl<S: Selector + ?Sized> Selector for Box<S> {
    #[inline]
    fn select(
        &self,
        request: &Request,
        eligible: &dyn Eligible,
        loads: &Loads<'_>,
    ) -> Option<usize> {
        (**self).select(request, eligible, loads)
    }

    fn slow_start(&self) -> SlowStartMode {
        (**self).slow_start()
    }
}

/// A balancing algorithm's configuration: builds a [`Selector`] per set.
pub trait Algorithm: Send + Sync {
    /// The selector this algorithm builds.
    type Selector: Selector + 'static;

    /// Builds the selector for `backends` (validated: non-empty, unique
    /// ids, weights ≥ 1). Called once per backend-set change, never per pick.
    fn build(&self, backends: &[Backend]) -> Self::Selector;
}

/// Deterministic weighted choice among the eligible backends: with `W` the
/// total eligible weight, returns the backend covering `reduce(hash, W)` in
/// the cumulative weights. O(n); the fallback of several selectors when
/// their fast path only met ineligible backends. `None` if none is eligible.
pub(crate) fn weighted_fallback(
    hash: u64,
    weights: &[u32],
    eligible: &dyn Eligible,
) -> Option<usize> {
    let total: u64 = weights
        .iter()
        .enumerate()
        .filter(|&(i, _)| eligible.is_eligible(i))
        .map(|(_, &w)| u64::from(w))
        .sum();
    if total == 0 {
        return None;
    }
    let mut target = reduce(hash, total);
    for (i, &w) in weights.iter().enumerate() {
        if !eligible.is_eligible(i) {
            continue;
        }
        let w = u64::from(w);
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    None
}

/// The weights of `backends`, in order.
pub(crate) fn weights_of(backends: &[Backend]) -> Vec<u32> {
    backends.iter().map(Backend::weight).collect()
}

#[cfg(test)]
pub(crate) mod testing;

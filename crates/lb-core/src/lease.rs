//! The guard a pick returns: it counts the request in flight until it ends.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::backend::Backend;
use crate::balancer::Snapshot;

/// How a leased request or connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The backend served it. Its latency feeds the EWMA estimate, and it
    /// resets the backend's consecutive-failure count.
    Success,
    /// The backend failed it (connect error, reset, timeout, and for L7 the
    /// gateway failures the caller classifies as the backend's). Its latency
    /// feeds the estimate only if it raises it (a backend that fails fast
    /// must not look fast), and it counts towards outlier ejection.
    Failure,
    /// It ended for reasons that say nothing about the backend (the client
    /// left, a deadline elsewhere). No latency is recorded, and health
    /// ignores it.
    Cancelled,
}

/// A picked backend, counted in flight while this guard lives.
///
/// End it with [`Lease::finish`] to record the outcome and latency. Dropping
/// it without finishing counts as [`Outcome::Cancelled`], never as a success,
/// so an early return or a panic cannot make a backend look healthy or fast.
///
/// The lease keeps the backend-set snapshot it was picked from alive, so its
/// counts stay right even if the balancer is updated meanwhile.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use lb_core::{Backend, Balancer, Outcome, Request, RoundRobin};
///
/// let lb = Balancer::new(RoundRobin, vec![Backend::new("10.0.0.1:80".parse().unwrap())]).unwrap();
/// let t0 = Instant::now();
/// let lease = lb.pick(&Request::new(), t0).expect("one backend is eligible");
/// assert_eq!(lb.snapshot().loads().get(0).in_flight(), 1);
/// lease.finish(Outcome::Success, t0 + Duration::from_millis(3));
/// assert_eq!(lb.snapshot().loads().get(0).in_flight(), 0);
/// assert_eq!(lb.snapshot().loads().get(0).successes(), 1);
/// ```
#[must_use = "dropping a lease at once counts the pick as cancelled"]
pub struct Lease {
    snapshot: Arc<Snapshot>,
    index: usize,
    started: Instant,
    finished: bool,
}

impl Lease {
    /// The guard of a request already counted on `index` with
    /// [`LoadTable::begin`](crate::LoadTable::begin).
    pub(crate) fn counted(snapshot: Arc<Snapshot>, index: usize, started: Instant) -> Self {
        Self {
            snapshot,
            index,
            started,
            finished: false,
        }
    }

    /// The picked backend.
    #[must_use]
    pub fn backend(&self) -> &Backend {
        &self.snapshot.backends()[self.index]
    }

    /// When the pick happened (the `now` given to the pick).
    #[must_use]
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Ends the request at `now`, recording its outcome and latency.
    pub fn finish(mut self, outcome: Outcome, now: Instant) {
        self.finished = true;
        let latency = match outcome {
            Outcome::Success => Some(now.saturating_duration_since(self.started)),
            Outcome::Failure => {
                let rtt = now.saturating_duration_since(self.started);
                let view = self.snapshot.loads().view(now);
                (rtt.as_secs_f64() * 1e9 > view.rtt_ns(self.index)).then_some(rtt)
            }
            Outcome::Cancelled => None,
        };
        self.snapshot
            .loads()
            .end(self.index, outcome, Some(now), latency);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            self.snapshot
                .loads()
                .end(self.index, Outcome::Cancelled, None, None);
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("backend", self.backend())
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::select::testing::uniform;
    use crate::{Balancer, Request, RoundRobin};

    fn one() -> Balancer<RoundRobin> {
        Balancer::new(RoundRobin, uniform(1)).expect("valid set")
    }

    #[test]
    fn dropping_counts_as_cancelled_not_success() {
        let lb = one();
        let lease = lb.pick(&Request::new(), Instant::now()).expect("eligible");
        assert_eq!(lb.snapshot().loads().get(0).in_flight(), 1);
        drop(lease);
        let snap = lb.snapshot();
        let load = snap.loads().get(0);
        assert_eq!(
            (load.in_flight(), load.successes(), load.cancelled()),
            (0, 0, 1)
        );
        assert_eq!(snap.loads().total_in_flight(), 0);
    }

    #[test]
    fn success_records_latency_and_fast_failure_does_not() {
        let lb = one();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        lb.pick(&Request::new(), t0)
            .expect("eligible")
            .finish(Outcome::Success, t0 + ms(8));
        let rtt = |at| lb.snapshot().loads().view(at).rtt_ns(0);
        assert!((rtt(t0 + ms(8)) - 8e6).abs() < 1.0);
        // A failure after 1 ms (connection refused) must not lower it.
        lb.pick(&Request::new(), t0 + ms(8))
            .expect("eligible")
            .finish(Outcome::Failure, t0 + ms(9));
        assert!((rtt(t0 + ms(9)) - 8e6).abs() < 1e3);
        // A failure after 500 ms (timeout) raises it at once.
        lb.pick(&Request::new(), t0 + ms(9))
            .expect("eligible")
            .finish(Outcome::Failure, t0 + ms(509));
        assert!((rtt(t0 + ms(509)) - 500e6).abs() < 1e3);
        let snap = lb.snapshot();
        assert_eq!(snap.loads().get(0).failures(), 2);
        assert_eq!(snap.loads().get(0).successes(), 1);
    }

    #[test]
    fn cancelled_records_no_latency() {
        let lb = one();
        let t0 = Instant::now();
        lb.pick(&Request::new(), t0)
            .expect("eligible")
            .finish(Outcome::Cancelled, t0 + Duration::from_secs(3));
        let snap = lb.snapshot();
        assert_eq!(snap.loads().view(t0).rtt_ns(0), 30e6, "still the default");
        assert_eq!(snap.loads().get(0).cancelled(), 1);
    }
}

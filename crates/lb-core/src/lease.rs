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
    /// The backend served it. Its latency feeds the EWMA estimate.
    Success,
    /// The backend failed it (connect error, reset, 5xx, timeout). Its latency
    /// feeds the estimate only if it raises it: a backend that fails fast must
    /// not look fast.
    Failure,
    /// It ended for reasons that say nothing about the backend (the client
    /// left, a deadline elsewhere). No latency is recorded.
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
    /// Counts a new request on `index` and returns its guard.
    pub(crate) fn begin(snapshot: Arc<Snapshot>, index: usize, started: Instant) -> Self {
        snapshot.loads().begin(index);
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
            .end(self.index, outcome, latency.map(|l| (l, now)));
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            self.snapshot
                .loads()
                .end(self.index, Outcome::Cancelled, None);
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

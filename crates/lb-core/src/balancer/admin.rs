//! Feeding the health model: check results, drain and enable, status.

use std::time::Instant;

use crate::backend::BackendId;
use crate::balancer::Balancer;
use crate::health::HealthStatus;
use crate::health::monitor::Monitor;
use crate::select::Algorithm;
use crate::state::{BackendState, Clock};

impl<A: Algorithm> Balancer<A> {
    /// Runs `f` on the state of backend `id` in the current set, with the
    /// time advanced to `now` (ending ejections that are over).
    fn with_state<R>(
        &self,
        id: BackendId,
        now: Instant,
        f: impl FnOnce(&Monitor, &BackendState, u64, &Clock) -> R,
    ) -> Option<R> {
        let current = self.current.load();
        let snapshot = &current.snapshot;
        let index = snapshot.position(id)?;
        let shared = snapshot.loads.shared();
        let ns = shared.clock.nanos(now);
        shared.monitor.tick(ns, &shared.clock);
        Some(f(
            &shared.monitor,
            snapshot.loads.state(index),
            ns,
            &shared.clock,
        ))
    }

    /// Reports an active health check of backend `id` at `now`: passed or
    /// failed. Returns false if `id` is not in the current set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use lb_core::{Backend, Balancer, RoundRobin};
    ///
    /// let b = Backend::new("10.0.0.1:80".parse().unwrap());
    /// let lb = Balancer::new(RoundRobin, vec![b.clone()]).unwrap();
    /// let now = Instant::now();
    /// for _ in 0..3 {
    ///     lb.report_check(b.id(), false, now); // fall = 3
    /// }
    /// assert!(!lb.snapshot().health(0).is_available());
    /// ```
    pub fn report_check(&self, id: BackendId, passed: bool, now: Instant) -> bool {
        self.with_state(id, now, |monitor, state, ns, clock| {
            monitor.record_check(state, passed, ns, clock)
        })
        .is_some()
    }

    /// Sets backend `id` draining at `now`: no new picks (not even in panic
    /// mode); its open leases finish, and a `Drained` event follows the last.
    /// Returns false if `id` is not in the current set or already drains.
    pub fn drain(&self, id: BackendId, now: Instant) -> bool {
        self.with_state(id, now, |monitor, state, ns, clock| {
            monitor.drain(state, ns, clock)
        })
        .unwrap_or(false)
    }

    /// Ends draining for backend `id` at `now` (it re-enters through slow
    /// start, if configured). Returns false if it was not draining.
    pub fn enable(&self, id: BackendId, now: Instant) -> bool {
        self.with_state(id, now, |monitor, state, ns, clock| {
            monitor.enable(state, ns, clock)
        })
        .unwrap_or(false)
    }

    /// How many backends are available, ejected, draining; panic mode.
    #[must_use]
    pub fn health_status(&self) -> HealthStatus {
        self.current.load().snapshot.loads.shared().monitor.status()
    }
}

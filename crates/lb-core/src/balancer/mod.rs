//! The balancer: one immutable snapshot per backend-set version, swapped
//! atomically, the health filter, and the pick that turns a selector's
//! answer into a lease.

mod admin;
mod builder;
mod snapshot;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;

pub use builder::Builder;
pub use snapshot::Snapshot;

use crate::backend::{Backend, BackendId, validate};
use crate::error::Error;
use crate::ewma::EwmaConfig;
use crate::health::HealthConfig;
use crate::lease::Lease;
use crate::load::LoadTable;
use crate::request::Request;
use crate::rng::Rng;
use crate::select::{Algorithm, Eligible, Selector, SlowStartMode};
use crate::state::{BackendState, Shared};

/// What a pick reads: the snapshot and the selector built for it.
struct Current<S> {
    snapshot: Arc<Snapshot>,
    selector: S,
    slow_start: SlowStartMode,
}

/// A set of backends and the algorithm that spreads requests over them.
///
/// Picks take no lock: they read the current [`Snapshot`] and its prebuilt
/// selector through an atomic pointer (`arc-swap`). [`Balancer::update`]
/// builds a new snapshot aside and swaps it in, so it may run concurrently
/// with picks; backends present in both sets keep their load counters.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use lb_core::{Backend, Balancer, Request, SmoothWeightedRoundRobin};
///
/// let backends = vec![
///     Backend::named("a", "10.0.0.1:80".parse().unwrap()).with_weight(5).unwrap(),
///     Backend::named("b", "10.0.0.2:80".parse().unwrap()),
///     Backend::named("c", "10.0.0.3:80".parse().unwrap()),
/// ];
/// let lb = Balancer::new(SmoothWeightedRoundRobin, backends).unwrap();
/// let now = Instant::now();
/// let order: String = (0..7)
///     .map(|_| lb.pick(&Request::new(), now).unwrap().backend().name().to_owned())
///     .collect();
/// assert_eq!(order, "aabacaa"); // nginx's smooth sequence for weights 5, 1, 1
/// ```
pub struct Balancer<A: Algorithm> {
    algorithm: A,
    current: ArcSwap<Current<A::Selector>>,
    /// Serialises updates, and remembers the state of removed backends for
    /// as long as an old snapshot (a lease) keeps it alive, so that a
    /// backend removed and added back while its requests are still in
    /// flight gets its own counts and health back.
    retired: Mutex<HashMap<BackendId, Weak<BackendState>>>,
    /// Slow-start admission draws.
    rng: Rng,
}

impl<A: Algorithm> Balancer<A> {
    /// A balancer over `backends` with default settings (see
    /// [`Balancer::builder`] for the others).
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`].
    pub fn new(algorithm: A, backends: Vec<Backend>) -> Result<Self, Error> {
        Self::builder(algorithm, backends).build()
    }

    /// A balancer over `backends` with the given latency-estimate settings.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`].
    pub fn with_ewma(
        algorithm: A,
        backends: Vec<Backend>,
        ewma: EwmaConfig,
    ) -> Result<Self, Error> {
        Self::builder(algorithm, backends).ewma(ewma).build()
    }

    /// Starts building a balancer with non-default EWMA or health settings,
    /// an event subscriber or a seed.
    ///
    /// The first backend set is no change and emits no events; a set that
    /// starts in panic mode (every backend [`Initial::Unknown`](crate::health::Initial),
    /// say) shows it in [`Balancer::health_status`].
    pub fn builder(algorithm: A, backends: Vec<Backend>) -> Builder<A> {
        Builder {
            algorithm,
            backends,
            ewma: EwmaConfig::default(),
            health: HealthConfig::default(),
            sink: None,
            seed: None,
        }
    }

    fn from_builder(b: Builder<A>) -> Result<Self, Error> {
        validate(&b.backends)?;
        let shared = Arc::new(Shared::new(b.ewma, b.health, b.sink));
        let loads = LoadTable::build(&b.backends, Arc::clone(&shared), |_| None);
        // The first set is no change: computed silently, no events.
        shared
            .monitor
            .set_members(loads.states().to_vec(), &[], &[], 0, &shared.clock, false);
        let current = build(&b.algorithm, b.backends, loads, 0);
        Ok(Self {
            algorithm: b.algorithm,
            current: ArcSwap::from_pointee(current),
            retired: Mutex::new(HashMap::new()),
            rng: b.seed.map_or_else(Rng::from_entropy, Rng::seeded),
        })
    }

    /// Picks a backend for `request` at time `now` among the backends health
    /// allows (see [`crate::health`]).
    ///
    /// Returns `None` only if no backend is eligible: every backend draining,
    /// or unavailable with panic mode off.
    pub fn pick(&self, request: &Request, now: Instant) -> Option<Lease> {
        let current = self.current.load();
        let snapshot = &current.snapshot;
        let (panic, now_ns) = self.advance(snapshot, now);
        // Health alone: one indirect call per candidate fewer than a filter.
        let allowed = |i: usize| snapshot.health_allows(i, panic);
        self.pick_in(&current, request, now, now_ns, &allowed)
    }

    /// Picks a backend for `request` among those for which `filter` returns
    /// true (healthy, not draining, not tried before in this request...).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use lb_core::{Backend, Balancer, Maglev, Request};
    ///
    /// let backends: Vec<Backend> = (1..=3)
    ///     .map(|i| Backend::new(format!("10.0.0.{i}:80").parse().unwrap()))
    ///     .collect();
    /// let lb = Balancer::new(Maglev::default(), backends).unwrap();
    /// let req = Request::new().with_key(b"user-7");
    /// let first = lb.pick(&req, Instant::now()).unwrap().backend().id();
    /// // A retry excludes the backend already tried.
    /// let retry = lb
    ///     .pick_filtered(&req.with_attempt(1), Instant::now(), |b| b.id() != first)
    ///     .unwrap();
    /// assert_ne!(retry.backend().id(), first);
    /// ```
    pub fn pick_filtered(
        &self,
        request: &Request,
        now: Instant,
        filter: impl Fn(&Backend) -> bool,
    ) -> Option<Lease> {
        let current = self.current.load();
        let snapshot = &current.snapshot;
        let (panic, now_ns) = self.advance(snapshot, now);
        let backends = snapshot.backends();
        let allowed = |i: usize| snapshot.health_allows(i, panic) && filter(&backends[i]);
        self.pick_in(&current, request, now, now_ns, &allowed)
    }

    /// Picks among the backends whose *index* in the current snapshot
    /// `eligible` accepts (and health allows). The lowest-level pick; prefer
    /// [`Balancer::pick_filtered`] unless you keep per-index state.
    pub fn pick_eligible(
        &self,
        request: &Request,
        now: Instant,
        eligible: &dyn Eligible,
    ) -> Option<Lease> {
        let current = self.current.load();
        let snapshot = &current.snapshot;
        let (panic, now_ns) = self.advance(snapshot, now);
        let allowed = |i: usize| snapshot.health_allows(i, panic) && eligible.is_eligible(i);
        self.pick_in(&current, request, now, now_ns, &allowed)
    }

    /// Brings health up to `now` (ends ejections that are over); returns
    /// whether panic mode is on and `now` in clock nanoseconds.
    #[inline]
    fn advance(&self, snapshot: &Snapshot, now: Instant) -> (bool, u64) {
        let shared = snapshot.loads.shared();
        let now_ns = shared.clock.nanos(now);
        shared.monitor.tick(now_ns, &shared.clock);
        (shared.monitor.in_panic(), now_ns)
    }

    /// Picks among the backends `allowed` accepts (health and the caller's
    /// filter, combined by the caller).
    fn pick_in(
        &self,
        current: &Current<A::Selector>,
        request: &Request,
        now: Instant,
        now_ns: u64,
        allowed: &dyn Eligible,
    ) -> Option<Lease> {
        let snapshot = &current.snapshot;
        let loads = snapshot.loads.view_at(now, now_ns);
        let mut index = current.selector.select(request, allowed, &loads)?;
        if current.slow_start == SlowStartMode::Admission {
            // A ramping backend keeps the pick with probability = its factor.
            let factor = loads.weight_factor(index);
            if factor < 1.0 && unit(self.rng.next_u64()) >= factor {
                let others = |i: usize| i != index && allowed.is_eligible(i);
                if let Some(other) = current.selector.select(request, &others, &loads) {
                    index = other;
                }
            }
        }
        // Health may change between the choice and the count (a drain, an
        // update draining a removed backend, an ejection): count, then check
        // again; a drain either saw the count (and waits for the lease) or
        // has already reported the backend drained. On a change, take the
        // count back and choose once more without that backend.
        let mut excluded = None;
        loop {
            // A selector from outside this crate could misbehave; never hand
            // out an out-of-range backend.
            if index >= snapshot.backends.len() {
                debug_assert!(false, "selector returned index {index} out of range");
                return None;
            }
            if allowed.is_eligible(index) {
                snapshot.loads.begin(index);
                if !snapshot.is_draining(index) {
                    break;
                }
                snapshot.loads.unbegin(index);
            }
            if excluded.is_some() {
                return None;
            }
            excluded = Some(index);
            let others = |i: usize| Some(i) != excluded && allowed.is_eligible(i);
            index = current.selector.select(request, &others, &loads)?;
        }
        Some(Lease::counted(Arc::clone(snapshot), index, now))
    }

    /// Replaces the backend set at `now`. Picks running meanwhile use the
    /// old or the new set, never a mix. Backends with the same id in both keep
    /// their counters and health; so does a backend removed and added back
    /// while leases on it are still open (it is no longer draining, but an
    /// ejection it still serves stands, even past the ejection cap, as in
    /// Envoy, which also enforces the cap only when ejecting). A removed
    /// backend drains: its open leases finish normally and `Drained` follows
    /// the last. New backends enter slow start, if configured. Emits
    /// `Added` / `Removed` events. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`]; the old set stays.
    pub fn update(&self, backends: Vec<Backend>, now: Instant) -> Result<u64, Error> {
        validate(&backends)?;
        let mut retired = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.current.load_full();
        let old = &old.snapshot;
        let shared = Arc::clone(old.loads.shared());
        // End the ejections that are over first, so that panic mode is
        // computed from the state as of `now`.
        let ns = shared.clock.nanos(now);
        shared.monitor.tick(ns, &shared.clock);
        let mut added = Vec::new();
        let loads = LoadTable::build(&backends, Arc::clone(&shared), |i| {
            let id = backends[i].id();
            match old.position(id) {
                Some(j) => Some(Arc::clone(old.loads.state(j))),
                None => {
                    let back = retired.remove(&id).and_then(|state| state.upgrade());
                    added.push(i);
                    back
                }
            }
        });
        let added: Vec<_> = added
            .into_iter()
            .map(|i| Arc::clone(loads.state(i)))
            .collect();
        let version = old.version + 1;
        let next = build(&self.algorithm, backends, loads, version);
        let mut removed = Vec::new();
        for (j, backend) in old.backends.iter().enumerate() {
            if next.snapshot.position(backend.id()).is_none() {
                let state = old.loads.state(j);
                retired.insert(backend.id(), Arc::downgrade(state));
                removed.push(Arc::clone(state));
            }
        }
        retired.retain(|_, state| state.strong_count() > 0);
        let members = next.snapshot.loads.states().to_vec();
        self.current.store(Arc::new(next));
        shared
            .monitor
            .set_members(members, &added, &removed, ns, &shared.clock, true);
        Ok(version)
    }

    /// The current snapshot (backends, loads, health, version).
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.load().snapshot)
    }

    /// The algorithm's configuration.
    #[must_use]
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }
}

/// A uniform value in `[0, 1)` from 64 random bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

/// Builds the snapshot and selector for a validated backend set.
fn build<A: Algorithm>(
    algorithm: &A,
    backends: Vec<Backend>,
    loads: LoadTable,
    version: u64,
) -> Current<A::Selector> {
    let positions = backends
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id(), i))
        .collect();
    let selector = algorithm.build(&backends);
    let slow_start = if loads
        .shared()
        .monitor
        .config()
        .slow_start()
        .window()
        .is_zero()
    {
        SlowStartMode::Ignore
    } else {
        selector.slow_start()
    };
    Current {
        snapshot: Arc::new(Snapshot {
            backends,
            loads,
            positions,
            version,
        }),
        selector,
        slow_start,
    }
}

impl<A: Algorithm + fmt::Debug> fmt::Debug for Balancer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        f.debug_struct("Balancer")
            .field("algorithm", &self.algorithm)
            .field("version", &current.snapshot.version)
            .field("backends", &current.snapshot.backends.len())
            .finish_non_exhaustive()
    }
}

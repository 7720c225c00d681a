//! The balancer: one immutable snapshot per backend-set version, swapped
//! atomically, and the pick that turns a selector's answer into a lease.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::backend::{Backend, BackendId, validate};
use crate::error::Error;
use crate::ewma::EwmaConfig;
use crate::lease::Lease;
use crate::load::{BackendLoad, LoadTable};
use crate::request::Request;
use crate::select::{Algorithm, AllEligible, Eligible, Selector};

/// One version of the backend set: the backends, their load counters and an
/// id → index map. Immutable once published; leases keep it alive.
#[derive(Debug)]
pub struct Snapshot {
    backends: Vec<Backend>,
    loads: LoadTable,
    positions: HashMap<BackendId, usize>,
    version: u64,
}

impl Snapshot {
    /// The backends, in configuration order (selectors return indices into
    /// this slice).
    #[must_use]
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Load counters, indexed like [`Snapshot::backends`].
    #[must_use]
    pub fn loads(&self) -> &LoadTable {
        &self.loads
    }

    /// The index of backend `id` in this version, if present.
    #[must_use]
    pub fn position(&self, id: BackendId) -> Option<usize> {
        self.positions.get(&id).copied()
    }

    /// The version number: 0 for the first set, +1 per update.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// What a pick reads: the snapshot and the selector built for it.
struct Current<S> {
    snapshot: Arc<Snapshot>,
    selector: S,
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
    /// Serialises updates, and remembers the counters of removed backends
    /// for as long as an old snapshot (a lease) keeps them alive, so that a
    /// backend removed and added back while its requests are still in
    /// flight gets its own counts back.
    retired: Mutex<HashMap<BackendId, Weak<BackendLoad>>>,
}

impl<A: Algorithm> Balancer<A> {
    /// A balancer over `backends` with default EWMA settings.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`].
    pub fn new(algorithm: A, backends: Vec<Backend>) -> Result<Self, Error> {
        Self::with_ewma(algorithm, backends, EwmaConfig::default())
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
        validate(&backends)?;
        let loads = LoadTable::new(backends.len(), ewma);
        let current = build(&algorithm, backends, loads, 0);
        Ok(Self {
            algorithm,
            current: ArcSwap::from_pointee(current),
            retired: Mutex::new(HashMap::new()),
        })
    }

    /// Picks a backend for `request` at time `now`, among all backends.
    ///
    /// Returns `None` only if no backend is eligible (never, with this method,
    /// for the algorithms of this crate).
    pub fn pick(&self, request: &Request, now: Instant) -> Option<Lease> {
        self.pick_eligible(request, now, &AllEligible)
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
        let backends = current.snapshot.backends();
        self.pick_in(&current, request, now, &|i: usize| filter(&backends[i]))
    }

    /// Picks among the backends whose *index* in the current snapshot
    /// `eligible` accepts. The lowest-level pick; prefer
    /// [`Balancer::pick_filtered`] unless you keep per-index state.
    pub fn pick_eligible(
        &self,
        request: &Request,
        now: Instant,
        eligible: &dyn Eligible,
    ) -> Option<Lease> {
        let current = self.current.load();
        self.pick_in(&current, request, now, eligible)
    }

    fn pick_in(
        &self,
        current: &Current<A::Selector>,
        request: &Request,
        now: Instant,
        eligible: &dyn Eligible,
    ) -> Option<Lease> {
        let snapshot = &current.snapshot;
        let loads = snapshot.loads().view(now);
        let index = current.selector.select(request, eligible, &loads)?;
        // A selector from outside this crate could misbehave; never hand out
        // an out-of-range or ineligible backend.
        if index >= snapshot.backends.len() || !eligible.is_eligible(index) {
            debug_assert!(false, "selector returned ineligible index {index}");
            return None;
        }
        Some(Lease::begin(Arc::clone(snapshot), index, now))
    }

    /// Replaces the backend set. Picks running meanwhile use the old or the
    /// new set, never a mix; backends with the same id in both keep their
    /// in-flight count and latency estimate, and so does a backend removed
    /// and added back while leases on it are still open. Returns the new
    /// version.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`]; the old set stays.
    pub fn update(&self, backends: Vec<Backend>) -> Result<u64, Error> {
        validate(&backends)?;
        let mut retired = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.current.load_full();
        let old = &old.snapshot;
        let loads = old.loads.remap(backends.len(), |i| {
            let id = backends[i].id();
            match old.position(id) {
                Some(j) => Some(Arc::clone(old.loads.shared_load(j))),
                None => retired.remove(&id).and_then(|load| load.upgrade()),
            }
        });
        let version = old.version + 1;
        let next = build(&self.algorithm, backends, loads, version);
        for (j, backend) in old.backends.iter().enumerate() {
            if next.snapshot.position(backend.id()).is_none() {
                retired.insert(backend.id(), Arc::downgrade(old.loads.shared_load(j)));
            }
        }
        retired.retain(|_, load| load.strong_count() > 0);
        self.current.store(Arc::new(next));
        Ok(version)
    }

    /// The current snapshot (backends, loads, version).
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
    Current {
        snapshot: Arc::new(Snapshot {
            backends,
            loads,
            positions,
            version,
        }),
        selector,
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

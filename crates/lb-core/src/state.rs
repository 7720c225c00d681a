//! What lb-core keeps per backend and per balancer, across snapshots.

use std::sync::OnceLock;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::backend::BackendId;
use crate::ewma::EwmaConfig;
use crate::health::monitor::Monitor;
use crate::health::{BackendHealth, HealthConfig, Initial};
use crate::load::BackendLoad;

/// Maps instants to nanoseconds since an epoch (the first instant seen) and
/// back, so that state can live in 64-bit atomics.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    epoch: OnceLock<Instant>,
}

impl Clock {
    /// Nanoseconds from the epoch to `now` (earlier instants count as the
    /// epoch).
    pub(crate) fn nanos(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `nanos` after the epoch.
    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        let epoch = *self.epoch.get_or_init(Instant::now);
        epoch + Duration::from_nanos(nanos)
    }
}

/// Everything tracked about one backend; shared (`Arc`) by every snapshot
/// that contains it, so it survives set updates.
#[derive(Debug)]
pub(crate) struct BackendState {
    pub(crate) id: BackendId,
    pub(crate) load: BackendLoad,
    pub(crate) health: BackendHealth,
}

impl BackendState {
    pub(crate) fn new(id: BackendId, initial: Initial) -> Self {
        Self {
            id,
            load: BackendLoad::default(),
            health: BackendHealth::new(initial),
        }
    }
}

/// State shared by every snapshot of one balancer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) total: AtomicUsize,
    pub(crate) clock: Clock,
    pub(crate) ewma: EwmaConfig,
    pub(crate) tau_ns: f64,
    pub(crate) default_rtt_ns: f64,
    pub(crate) monitor: Monitor,
}

impl Shared {
    pub(crate) fn new(
        ewma: EwmaConfig,
        health: HealthConfig,
        sink: Option<crate::health::EventSink>,
    ) -> Self {
        Self {
            total: AtomicUsize::new(0),
            clock: Clock::default(),
            ewma,
            tau_ns: ewma.decay().as_secs_f64() * 1e9,
            default_rtt_ns: ewma.default_rtt().as_secs_f64() * 1e9,
            monitor: Monitor::new(health, sink),
        }
    }
}

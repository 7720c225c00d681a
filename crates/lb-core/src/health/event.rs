//! Health events: one for every state change, delivered to a subscriber.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::backend::BackendId;

/// A change in a backend's health or in the balancer's panic mode.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthEvent {
    /// When it happened (for a return from ejection: when the ejection
    /// ended, even if it was noticed later).
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// What a [`HealthEvent`] reports.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// Active checks now pass (`rise` in a row, or the first check of an
    /// unknown backend).
    Healthy {
        /// The backend.
        backend: BackendId,
    },
    /// Active checks now fail (`fall` in a row, or the first check).
    Unhealthy {
        /// The backend.
        backend: BackendId,
    },
    /// Passive outlier detection ejected the backend.
    Ejected {
        /// The backend.
        backend: BackendId,
        /// When it returns.
        until: Instant,
        /// Its ejection count, this one included (after forgiveness).
        times: u32,
        /// The consecutive failures that tripped it.
        failures: u32,
    },
    /// An ejection ended; the backend takes traffic again (through slow
    /// start, if configured).
    Returned {
        /// The backend.
        backend: BackendId,
    },
    /// The backend was set draining: no new picks, open leases finish.
    Draining {
        /// The backend.
        backend: BackendId,
        /// Leases still open on it.
        in_flight: usize,
    },
    /// A draining backend's last lease ended (the event's time is when that
    /// lease was finished; for a lease dropped unfinished, which carries no
    /// time, the latest time the balancer was given by a drain, check,
    /// update or ejection).
    Drained {
        /// The backend.
        backend: BackendId,
    },
    /// A draining backend was enabled again.
    Enabled {
        /// The backend.
        backend: BackendId,
    },
    /// An update added the backend (one added back is no longer draining).
    Added {
        /// The backend.
        backend: BackendId,
    },
    /// An update removed the backend; it drains: its open leases finish, and
    /// `Drained` follows the last (at once if none is open).
    Removed {
        /// The backend.
        backend: BackendId,
        /// Leases still open on it.
        in_flight: usize,
    },
    /// Too few backends are available: picks now spread over every
    /// candidate (not draining, not waiting for a first check), available or
    /// not (Envoy's panic mode).
    PanicEntered {
        /// Available backends.
        available: usize,
        /// Candidates: backends neither draining nor waiting for a first
        /// check.
        candidates: usize,
    },
    /// Enough backends are available again.
    PanicLeft {
        /// Available backends.
        available: usize,
        /// Candidates.
        candidates: usize,
    },
}

impl EventKind {
    /// The backend concerned, or `None` for panic-mode changes.
    #[must_use]
    pub fn backend(&self) -> Option<BackendId> {
        match self {
            Self::Healthy { backend }
            | Self::Unhealthy { backend }
            | Self::Ejected { backend, .. }
            | Self::Returned { backend }
            | Self::Draining { backend, .. }
            | Self::Drained { backend }
            | Self::Enabled { backend }
            | Self::Added { backend }
            | Self::Removed { backend, .. } => Some(*backend),
            Self::PanicEntered { .. } | Self::PanicLeft { .. } => None,
        }
    }
}

/// Receives every [`HealthEvent`], in order, on the thread that caused it
/// (a pick, a lease's end, a check report or an update). Keep it short: log,
/// count, or forward to a channel.
///
/// It runs while the balancer's health lock is held (that is what keeps the
/// events in order), so it must not call back into the same balancer;
/// forward to a channel and act on the events elsewhere.
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(&HealthEvent) + Send + Sync>);

impl EventSink {
    /// Wraps a callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use lb_core::health::EventSink;
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let sink = EventSink::new(move |e| {
    ///     let _ = tx.lock().map(|tx| tx.send(e.clone()));
    /// });
    /// # drop((sink, rx));
    /// ```
    pub fn new(callback: impl Fn(&HealthEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }

    pub(crate) fn emit(&self, event: &HealthEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink(..)")
    }
}

//! One version of the backend set.

use std::collections::HashMap;

use crate::backend::{Backend, BackendId};
use crate::health::{BackendHealth, DRAINING, PENDING};
use crate::load::LoadTable;

/// One version of the backend set: the backends, their load and health
/// state, and an id → index map. Immutable once published (the state inside
/// is atomics); leases keep it alive.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) backends: Vec<Backend>,
    pub(crate) loads: LoadTable,
    pub(crate) positions: HashMap<BackendId, usize>,
    pub(crate) version: u64,
}

impl Snapshot {
    /// The backends, in configuration order (selectors return indices into
    /// this slice).
    #[must_use]
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Load counters and health, indexed like [`Snapshot::backends`].
    #[must_use]
    pub fn loads(&self) -> &LoadTable {
        &self.loads
    }

    /// The health of backend `index`.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    #[must_use]
    pub fn health(&self, index: usize) -> &BackendHealth {
        self.loads.health(index)
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

    /// Whether health lets backend `index` take a new request: available
    /// (healthy, not ejected, not draining), or in panic mode merely not
    /// draining and not waiting for its first check. The one place the
    /// health filter is derived.
    #[inline]
    pub(crate) fn health_allows(&self, index: usize, panic: bool) -> bool {
        let flags = self.loads.health(index).flags();
        if panic {
            flags & (DRAINING | PENDING) == 0
        } else {
            flags == 0
        }
    }

    /// Whether backend `index` is draining (checked again once a pick has
    /// counted its lease, so a concurrent drain cannot miss it).
    #[inline]
    pub(crate) fn is_draining(&self, index: usize) -> bool {
        self.loads.health(index).flags() & DRAINING != 0
    }
}

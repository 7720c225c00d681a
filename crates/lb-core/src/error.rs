//! The one error type of `lb-core`.

use crate::backend::BackendId;

/// What can go wrong when configuring backends and balancers.
///
/// Picking never fails with an error: a pick that finds no eligible backend
/// returns `None`. Errors are reserved for configuration that must be fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A backend was given weight 0. Zero weights are rejected rather than
    /// silently ignored (a zero weight crashed Pingora's ketama ring); remove
    /// the backend or mark it draining instead.
    #[error("backend {name:?} has weight 0; weights must be at least 1")]
    ZeroWeight {
        /// The configured name (or address) of the offending backend.
        name: String,
    },
    /// A backend set that must hold at least one backend was empty.
    #[error("the backend set is empty; at least one backend is required")]
    EmptySet,
    /// Two backends in one set share a [`BackendId`] (same name, or same
    /// address without a name).
    #[error("duplicate backend id {id} (name {name:?})")]
    DuplicateId {
        /// The id that occurs twice.
        id: BackendId,
        /// The name of the second backend carrying it.
        name: String,
    },
    /// An algorithm parameter is out of range (for example a Maglev table
    /// size that is not prime, or a bounded-load factor below 1).
    #[error("invalid parameter {parameter}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        parameter: &'static str,
        /// Why the value was refused.
        reason: String,
    },
    /// Text that is not a [`BackendId`] in its display form (1 to 16 hex
    /// digits), e.g. a tampered sticky-session token.
    #[error("invalid backend id {text:?}: expected 1 to 16 hex digits")]
    InvalidBackendId {
        /// The offending text (at most its first 32 characters).
        text: String,
    },
    /// An algorithm name that is not one of [`crate::select::NAMES`].
    #[error("unknown algorithm {name:?}; valid names: {}", crate::select::NAMES.join(", "))]
    UnknownAlgorithm {
        /// The name that was given.
        name: String,
    },
}

impl Error {
    /// Whether the error concerns one backend's definition (weight or id),
    /// as opposed to the set or an algorithm parameter.
    #[must_use]
    pub fn is_backend_error(&self) -> bool {
        matches!(self, Self::ZeroWeight { .. } | Self::DuplicateId { .. })
    }
}

//! Counters of the HTTP proxy: global, per route, per backend, readable while it runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use lb_core::BackendId;
use lb_l4::server::Admission;

macro_rules! counters {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$doc:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $(pub(crate) $field: AtomicU64,)*
        }

        impl $name {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(&self) -> u64 {
                    self.$field.load(Ordering::Relaxed)
                }
            )*
        }
    };
}

counters! {
    /// Request counters of one route (or of the default route).
    pub struct RouteStats {
        /// Requests matched to this route.
        requests,
        /// Responses relayed from a backend.
        relayed,
        /// Error responses the proxy generated for it (502, 503, 504, 413...).
        generated,
        /// Attempts retried on another backend.
        retries,
    }
}

counters! {
    /// Counters of one backend, across every route that reaches it.
    pub struct BackendStats {
        /// Requests sent to it (each attempt).
        requests,
        /// Responses it returned.
        responses,
        /// Attempts that failed: connect error or timeout, no response, a response timeout,
        /// an invalid response (and 5xx with `five_xx_is_failure`).
        failures,
        /// Requests sent on a reused keep-alive connection.
        reused,
    }
}

counters! {
    /// Global counters of an [`HttpProxy`](super::HttpProxy).
    pub struct Totals {
        /// Requests read from clients (valid heads).
        requests,
        /// Requests refused before routing (400, 414, 431, 501, 505, 408).
        bad_requests,
        /// Requests no route took (404).
        unrouted,
        /// Requests that found no eligible backend (503).
        no_backend,
        /// Backend connects that failed or timed out (a failed upstream TLS handshake included).
        connect_failures,
        /// Backends that did not send a response head in time (504).
        response_timeouts,
        /// Invalid or missing responses (502).
        bad_responses,
        /// Attempts retried.
        retries,
        /// Retries refused because the retry budget was spent.
        budget_exhausted,
        /// Connections switched to a tunnel after a 101.
        upgrades,
        /// Responses relayed, 1xx to 5xx by class.
        relayed,
        /// Body bytes from clients to backends.
        bytes_up,
        /// Body bytes from backends to clients.
        bytes_down,
    }
}

macro_rules! bump {
    ($stats:expr, $field:ident) => {
        $stats
            .$field
            .fetch_add(1, ::std::sync::atomic::Ordering::Relaxed)
    };
    ($stats:expr, $field:ident, $n:expr) => {
        $stats
            .$field
            .fetch_add($n, ::std::sync::atomic::Ordering::Relaxed)
    };
}
pub(crate) use bump;

/// Every counter of an [`HttpProxy`](super::HttpProxy).
#[derive(Debug)]
pub struct ProxyStats {
    pub(crate) admission: Arc<Admission>,
    pub(crate) totals: Totals,
    /// Route `i`'s counters at `i`; the default route's last.
    pub(crate) routes: Vec<RouteStats>,
    pub(crate) backends: RwLock<HashMap<BackendId, Arc<BackendStats>>>,
}

impl ProxyStats {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            admission: Arc::default(),
            totals: Totals::default(),
            routes: (0..=routes).map(|_| RouteStats::default()).collect(),
            backends: RwLock::default(),
        }
    }

    /// Client connections: accepted, rejected over the cap, open now.
    #[must_use]
    pub fn connections(&self) -> &Admission {
        &self.admission
    }

    /// The shared admission counters, for serving this proxy from another accept loop
    /// (`lb_l4::server::serve_connections`) with the same connection cap.
    #[must_use]
    pub fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }

    /// The global counters.
    #[must_use]
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The counters of route `index` (as in [`Router::routes`](crate::router::Router::routes)),
    /// or of the default route for `index == routes.len()`.
    #[must_use]
    pub fn route(&self, index: usize) -> Option<&RouteStats> {
        self.routes.get(index)
    }

    /// The counters of backend `id`, once it was sent a request.
    #[must_use]
    pub fn backend(&self, id: BackendId) -> Option<Arc<BackendStats>> {
        self.backends.read().ok()?.get(&id).cloned()
    }

    /// The counters of `id`, created on first use.
    pub(crate) fn backend_entry(&self, id: BackendId) -> Arc<BackendStats> {
        if let Some(found) = self.backends.read().ok().and_then(|m| m.get(&id).cloned()) {
            return found;
        }
        match self.backends.write() {
            Ok(mut map) => Arc::clone(map.entry(id).or_default()),
            // A panicked writer: count into a detached entry rather than fail the request.
            Err(_) => Arc::default(),
        }
    }
}

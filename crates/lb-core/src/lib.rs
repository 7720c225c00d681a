//! # lb-core
//!
//! Load-balancing algorithms and the backend model, with no sockets and no
//! runtime: time is passed in as [`std::time::Instant`], so every decision is
//! testable with simulated clocks.
//!
//! The flow of a pick:
//!
//! 1. A [`Balancer`] holds the current [`Snapshot`] (backends + load counters)
//!    and a [`Selector`] built for it by an [`Algorithm`], swapped atomically
//!    on [`Balancer::update`].
//! 2. [`Balancer::pick`] / [`Balancer::pick_filtered`] asks the selector for
//!    an eligible backend given a [`Request`] (hash key, attempt) and the
//!    current [`Loads`].
//! 3. The answer comes back as a [`Lease`], which counts the request in
//!    flight and, when [finished](Lease::finish), records its [`Outcome`] and
//!    latency: the feedback least-connections, P2C and peak EWMA feed on.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use lb_core::{Backend, Balancer, LeastConn, Outcome, Request};
//!
//! let backends = vec![
//!     Backend::named("a", "10.0.0.1:80".parse().unwrap()),
//!     Backend::named("b", "10.0.0.2:80".parse().unwrap()),
//! ];
//! let lb = Balancer::new(LeastConn::default(), backends).unwrap();
//! let now = Instant::now();
//! let first = lb.pick(&Request::new(), now).unwrap();
//! // While `first` is in flight, least-connections sends the next elsewhere.
//! let second = lb.pick(&Request::new(), now).unwrap();
//! assert_ne!(first.backend().id(), second.backend().id());
//! first.finish(Outcome::Success, now + Duration::from_millis(2));
//! ```

#![forbid(unsafe_code)]

pub mod backend;
pub mod balancer;
pub mod error;
pub mod ewma;
pub mod hash;
pub mod health;
pub mod lease;
pub mod load;
pub mod request;
pub mod rng;
pub mod select;
mod state;

pub use backend::{Backend, BackendId};
pub use balancer::{Balancer, Builder, Snapshot};
pub use error::Error;
pub use ewma::EwmaConfig;
pub use lease::{Lease, Outcome};
pub use load::{BackendLoad, LoadTable, Loads};
pub use request::Request;
pub use rng::Rng;
pub use select::{
    Algorithm, AllEligible, BoundedLoad, Eligible, KeyHash, LeastConn, Maglev, PeakEwma, Policy,
    PowerOfTwoChoices, Random, Rendezvous, Ring, RoundRobin, Selector, SlowStartMode,
    SmoothWeightedRoundRobin,
};

#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`core`]: balancing algorithms, leases and the backend model
//!   (the `lb-core` crate).
//! - [`l4`] (feature `l4`, default): the TCP forwarder, PROXY protocol and
//!   TCP health probe (the `lb-l4` crate).
//! - [`l7`] (feature `l7`, default): the strict HTTP/1.1 codec, router and
//!   sticky sessions, and the HTTP proxy runtime (the `lb-l7` crate).
//! - [`tls`] (feature `tls`, default): TLS termination and upstream TLS with
//!   rustls (the `lb-tls` crate).

#![forbid(unsafe_code)]

pub use lb_core as core;
#[cfg(feature = "l4")]
pub use lb_l4 as l4;
#[cfg(feature = "l7")]
pub use lb_l7 as l7;
#[cfg(feature = "tls")]
pub use lb_tls as tls;

#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`core`]: balancing algorithms, leases and the backend model
//!   (the `lb-core` crate).

#![forbid(unsafe_code)]

pub use lb_core as core;

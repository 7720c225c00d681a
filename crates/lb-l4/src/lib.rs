//! # lb-l4
//!
//! Layer-4 load balancing on top of `lb-core`: the TCP forwarder
//! ([`tcp::TcpProxy`]) and the TCP-connect health probe ([`TcpProbe`]).

#![forbid(unsafe_code)]

pub mod probe;
pub mod tcp;

pub use probe::TcpProbe;

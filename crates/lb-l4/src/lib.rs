//! # lb-l4
//!
//! Layer-4 load balancing on top of `lb-core`: the TCP forwarder
//! ([`tcp::TcpProxy`]), the TLS ClientHello SNI parser ([`client_hello`],
//! sans-IO, fuzzed), the UDP
//! forwarder ([`udp::UdpProxy`]), the PROXY protocol v1 and v2
//! ([`proxy_protocol`], sans-IO, fuzzed) and the TCP-connect health probe
//! ([`TcpProbe`]).

#![forbid(unsafe_code)]

pub mod client_hello;
pub mod probe;
pub mod proxy_protocol;
pub mod server;
pub mod tcp;
pub mod udp;

pub use probe::TcpProbe;

//! # lb-l4
//!
//! Layer-4 load balancing on top of `lb-core`: the TCP forwarder
//! ([`tcp::TcpProxy`]), TLS SNI passthrough routing ([`sni::SniProxy`], on
//! the sans-IO, fuzzed ClientHello parser [`client_hello`]), the UDP
//! forwarder ([`udp::UdpProxy`]), the PROXY protocol v1 and v2
//! ([`proxy_protocol`], sans-IO, fuzzed) and the TCP-connect health probe
//! ([`TcpProbe`]).

// Two `unsafe` blocks, each with its `SAFETY:` argument: registering the listener
// (`server.rs`) and setting TCP_DEFER_ACCEPT (`tcp/listen.rs`).
#![deny(unsafe_code)]

mod accepted;
pub mod client_hello;
pub mod io;
pub mod probe;
pub mod proxy_protocol;
pub mod server;
pub mod sni;
pub mod tcp;
pub mod udp;

pub use probe::TcpProbe;

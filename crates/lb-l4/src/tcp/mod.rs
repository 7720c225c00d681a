//! The TCP forwarder: accept, pick a backend, connect (with retries on other
//! backends), copy both ways with half-close and an idle timeout, and feed
//! the outcome back to the balancer's health model.

mod config;
mod copy;
mod direct;
mod listen;
mod proxy;
#[cfg(target_os = "linux")]
mod splice;

pub(crate) use config::connection_setters;
pub use config::{HashKey, TcpProxyConfig};
pub use copy::{Counters, End, bidirectional};
pub(crate) use direct::forward;
pub use listen::listen;
#[cfg(target_os = "linux")]
pub use listen::set_defer_accept;
pub(crate) use proxy::{Completed, connect_backend, now, outcome};
pub use proxy::{DrainReport, TcpProxy, TcpStats};

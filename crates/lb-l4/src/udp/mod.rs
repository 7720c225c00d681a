//! The UDP forwarder: one session per client address, one upstream socket
//! per session, replies relayed back to the right client, idle expiry and a
//! session cap (nginx `stream` with `udp`, HAProxy has none).

mod proxy;

pub use proxy::{UdpProxy, UdpProxyConfig, UdpStats};

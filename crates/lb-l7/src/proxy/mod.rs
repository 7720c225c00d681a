//! The HTTP/1.1 proxy runtime on tokio: HttpProxy, the upstream keep-alive pool, HttpProbe.

mod budget;
mod pool;
mod probe;

pub use budget::RetryBudget;
pub use pool::{Pool, PoolConfig, PoolStats};
pub use probe::{HttpProbe, ProbeConfigError};

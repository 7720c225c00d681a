//! The HTTP/1.1 proxy runtime on tokio: HttpProxy, the upstream keep-alive pool, HttpProbe.

mod budget;

pub use budget::RetryBudget;

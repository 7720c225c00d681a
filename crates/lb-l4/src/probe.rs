//! The TCP-connect health probe: a backend passes when it accepts a
//! connection (nginx Plus / HAProxy `check` without `option httpchk`).

use std::time::Duration;

use lb_core::Backend;
use lb_core::health::{Probe, ProbeError};
use tokio::net::TcpStream;

/// Checks a backend by opening (and at once closing) a TCP connection.
///
/// The [`Prober`](lb_core::health::Prober) bounds each check with its own
/// timeout; `connect_timeout` is a second bound for callers using the probe
/// directly.
///
/// # Examples
///
/// ```no_run
/// # async fn run() {
/// use std::sync::Arc;
/// use lb_core::health::{ProbeConfig, Prober};
/// use lb_core::{Backend, Balancer, RoundRobin};
/// use lb_l4::TcpProbe;
///
/// let lb = Arc::new(Balancer::new(RoundRobin, vec![Backend::new("127.0.0.1:9000".parse().unwrap())]).unwrap());
/// let prober = Prober::spawn(lb, Arc::new(TcpProbe::default()), ProbeConfig::default());
/// // ...
/// prober.shutdown().await;
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TcpProbe {
    connect_timeout: Duration,
}

impl Default for TcpProbe {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl TcpProbe {
    /// A probe whose connects give up after `connect_timeout`.
    #[must_use]
    pub fn new(connect_timeout: Duration) -> Self {
        Self { connect_timeout }
    }
}

impl Probe for TcpProbe {
    async fn check(&self, backend: &Backend) -> Result<(), ProbeError> {
        match tokio::time::timeout(self.connect_timeout, TcpStream::connect(backend.addr())).await {
            Ok(Ok(stream)) => {
                drop(stream);
                Ok(())
            }
            Ok(Err(error)) => Err(ProbeError::Io(error)),
            Err(_) => Err(ProbeError::TimedOut(self.connect_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn passes_when_listening_and_fails_when_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let probe = TcpProbe::default();
        assert!(probe.check(&Backend::new(addr)).await.is_ok());
        drop(listener);
        let err = probe.check(&Backend::new(addr)).await.expect_err("refused");
        assert!(matches!(err, ProbeError::Io(_)), "{err}");
    }
}

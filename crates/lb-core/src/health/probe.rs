//! Active health checking: the [`Probe`] trait and the scheduler that runs
//! it against every backend of a balancer (feature `tokio`).
//!
//! Every `interval` the prober checks each backend of the current set (so
//! updates are followed), each after a random delay of up to
//! `jitter × interval` (so a fleet of proxies does not probe in lockstep),
//! bounded by `timeout`, and reports the result with
//! [`Balancer::report_check`], where the rise/fall thresholds decide. Checks
//! run independently: a backend that hangs until the timeout delays nobody
//! else's checks (its own next check waits for its current one). A probe that
//! panics counts as a failed check. The TCP-connect probe comes with `lb-l4`,
//! the HTTP probe with `lb-l7`. Shutting the prober down aborts the checks in
//! flight and waits for them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{self, JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, BackendId};
use crate::balancer::Balancer;
use crate::error::Error;
use crate::rng::Rng;
use crate::select::Algorithm;

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The check did not finish within the prober's timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// An I/O error (connection refused, reset...).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend answered, but not as a healthy one should (for example
    /// an HTTP 503).
    #[error("unhealthy answer: {0}")]
    Unhealthy(String),
}

/// One way of checking a backend (TCP connect, HTTP GET...).
pub trait Probe: Send + Sync + 'static {
    /// Checks `backend` once: `Ok(())` if it passed. The prober applies its
    /// own timeout around this future.
    fn check(&self, backend: &Backend) -> impl Future<Output = Result<(), ProbeError>> + Send;
}

/// Prober settings. Defaults: every 2 s (HAProxy's `inter`), 1 s timeout,
/// 10 % jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeConfig {
    interval: Duration,
    timeout: Duration,
    jitter: f64,
    seed: Option<u64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            jitter: 0.1,
            seed: None,
        }
    }
}

impl ProbeConfig {
    /// Sets the interval between rounds and each check's timeout.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if either is zero.
    pub fn with_timing(mut self, interval: Duration, timeout: Duration) -> Result<Self, Error> {
        if interval.is_zero() || timeout.is_zero() {
            return Err(Error::InvalidParameter {
                parameter: "interval/timeout",
                reason: format!("interval {interval:?} and timeout {timeout:?} must be non-zero"),
            });
        }
        self.interval = interval;
        self.timeout = timeout;
        Ok(self)
    }

    /// Sets the jitter: each check waits a random `[0, jitter) × interval`
    /// into its round.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] outside `0..1`.
    pub fn with_jitter(mut self, jitter: f64) -> Result<Self, Error> {
        if !(0.0..1.0).contains(&jitter) {
            return Err(Error::InvalidParameter {
                parameter: "jitter",
                reason: format!("{jitter} is outside 0..1"),
            });
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// Seeds the jitter, for reproducible schedules.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

/// A running prober; stop it with [`Prober::shutdown`] (dropping it stops
/// it too, without waiting).
#[derive(Debug)]
pub struct Prober {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Prober {
    /// Starts probing every backend of `balancer` with `probe` on the
    /// current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<A, P>(balancer: Arc<Balancer<A>>, probe: Arc<P>, config: ProbeConfig) -> Self
    where
        A: Algorithm + 'static,
        P: Probe,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(balancer, probe, config, stopped));
        Self { stop, task }
    }

    /// Stops probing: checks in flight are aborted and no result is reported
    /// after this returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run<A, P>(
    balancer: Arc<Balancer<A>>,
    probe: Arc<P>,
    config: ProbeConfig,
    mut stopped: watch::Receiver<bool>,
) where
    A: Algorithm + 'static,
    P: Probe,
{
    let rng = config.seed.map_or_else(Rng::from_entropy, Rng::seeded);
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Checks run independently: a slow one delays no other backend's next
    // check, and a backend whose previous check is still running is skipped
    // for the round (it is bounded by the timeout anyway).
    let mut running: JoinSet<()> = JoinSet::new();
    let mut busy: HashMap<task::Id, BackendId> = HashMap::new();
    let mut checking: HashSet<BackendId> = HashSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => {
                // Abort and wait: nothing reports after shutdown returns.
                running.shutdown().await;
                return;
            }
            Some(done) = running.join_next_with_id() => {
                let (id, panicked) = match done {
                    Ok((id, ())) => (id, false),
                    Err(error) => (error.id(), error.is_panic()),
                };
                if let Some(backend) = busy.remove(&id) {
                    checking.remove(&backend);
                    if panicked {
                        // A probe that panics is a failed check.
                        let now = tokio::time::Instant::now().into_std();
                        balancer.report_check(backend, false, now);
                    }
                }
            }
            _ = ticker.tick() => {
                let snapshot = balancer.snapshot();
                for backend in snapshot.backends() {
                    if !checking.insert(backend.id()) {
                        continue;
                    }
                    let unit = (rng.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
                    let delay = config.interval.mul_f64(config.jitter * unit);
                    let (balancer, probe) = (Arc::clone(&balancer), Arc::clone(&probe));
                    let target = backend.clone();
                    let handle = running.spawn(async move {
                        tokio::time::sleep(delay).await;
                        let passed = matches!(
                            tokio::time::timeout(config.timeout, probe.check(&target)).await,
                            Ok(Ok(()))
                        );
                        let now = tokio::time::Instant::now().into_std();
                        balancer.report_check(target.id(), passed, now);
                    });
                    busy.insert(handle.id(), backend.id());
                }
            }
        }
    }
}

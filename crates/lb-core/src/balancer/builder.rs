//! Building a balancer with non-default settings.

use crate::backend::Backend;
use crate::balancer::Balancer;
use crate::error::Error;
use crate::ewma::EwmaConfig;
use crate::health::{EventSink, HealthConfig};
use crate::select::Algorithm;

/// Settings for a [`Balancer`]; start with [`Balancer::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_core::health::{HealthConfig, OutlierDetection, SlowStart};
/// use lb_core::{Backend, Balancer, RoundRobin};
///
/// let health = HealthConfig::default()
///     .with_outlier(OutlierDetection::default().with_consecutive_failures(3))
///     .with_slow_start(SlowStart::linear(Duration::from_secs(30)));
/// let lb = Balancer::builder(RoundRobin, vec![Backend::new("10.0.0.1:80".parse().unwrap())])
///     .health(health)
///     .events(|event| eprintln!("{event:?}"))
///     .build()
///     .unwrap();
/// assert!(!lb.health_status().panic);
/// ```
#[derive(Debug)]
#[must_use = "call build() to get the balancer"]
pub struct Builder<A: Algorithm> {
    pub(crate) algorithm: A,
    pub(crate) backends: Vec<Backend>,
    pub(crate) ewma: EwmaConfig,
    pub(crate) health: HealthConfig,
    pub(crate) sink: Option<EventSink>,
    pub(crate) seed: Option<u64>,
}

impl<A: Algorithm> Builder<A> {
    /// Sets the latency-estimate settings.
    pub fn ewma(mut self, ewma: EwmaConfig) -> Self {
        self.ewma = ewma;
        self
    }

    /// Sets the health settings.
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Subscribes `callback` to every health event.
    pub fn events(
        mut self,
        callback: impl Fn(&crate::health::HealthEvent) + Send + Sync + 'static,
    ) -> Self {
        self.sink = Some(EventSink::new(callback));
        self
    }

    /// Seeds the balancer's own random source (slow-start admission), for
    /// reproducible runs. Seed the algorithm separately.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the balancer.
    ///
    /// # Errors
    ///
    /// [`Error::EmptySet`] or [`Error::DuplicateId`].
    pub fn build(self) -> Result<Balancer<A>, Error> {
        Balancer::from_builder(self)
    }
}

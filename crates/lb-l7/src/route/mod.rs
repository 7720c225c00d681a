//! What a matched route does: the cluster it balances over, its sticky policy, timeouts,
//! retries and header edits; and [`RouteTable`], which builds a validated [`Router`] of them
//! from named clusters.
//!
//! [`Router`]: crate::router::Router

mod policy;
mod shorthand;
mod table;

use std::sync::Arc;

use lb_core::{Balancer, Policy};

pub use policy::{RetryPolicy, Timeouts};
pub use shorthand::{
    Built, RouteShorthand, ShorthandDefaults, router_from_shorthands, sticky_from_spec,
};
pub use table::{RouteSpec, RouteTable};
#[cfg(feature = "upstream-tls")]
pub(crate) use tls::ClusterTls;
#[cfg(feature = "upstream-tls")]
pub use tls::UpstreamTlsConfig;

#[cfg(feature = "upstream-tls")]
mod tls;

use crate::rewrite::HeaderEdits;
use crate::sticky::StickyPolicy;

/// A named set of backends and the balancer that picks among them (nginx's `upstream`,
/// HAProxy's `backend`, Envoy's cluster). Several routes may share one.
///
/// # Examples
///
/// ```
/// use lb_core::{Backend, Balancer, Policy};
/// use lb_l7::route::Cluster;
///
/// let backends = vec![Backend::new("127.0.0.1:9001".parse().unwrap())];
/// let users = Cluster::new("users", Balancer::new("least-conn".parse::<Policy>()?, backends)?);
/// assert_eq!(users.name(), "users");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Cluster {
    name: String,
    balancer: Arc<Balancer<Policy>>,
    /// TLS to the backends, if any.
    #[cfg(feature = "upstream-tls")]
    tls: Option<ClusterTls>,
}

impl Cluster {
    /// A cluster called `name` balanced by `balancer`.
    #[must_use]
    pub fn new(name: impl Into<String>, balancer: Balancer<Policy>) -> Self {
        Self::shared(name, Arc::new(balancer))
    }

    /// A cluster over a balancer shared with something else, such as a health
    /// prober (lb-core's `health::Prober`, which needs an `Arc`).
    #[must_use]
    pub fn shared(name: impl Into<String>, balancer: Arc<Balancer<Policy>>) -> Self {
        Self {
            name: name.into(),
            balancer,
            #[cfg(feature = "upstream-tls")]
            tls: None,
        }
    }

    /// The same cluster, reaching its backends over TLS (re-encryption): each new upstream
    /// connection runs a client handshake with `tls` (within the route's connect timeout) before
    /// the request is sent. A handshake that fails (an untrusted or expired certificate, a name
    /// that does not match, a backend that does not speak TLS) is a connect failure, retried on
    /// another backend as a refused connection is.
    ///
    /// TLS connections are pooled apart: one to a backend is only reused for this cluster.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lb_core::{Backend, Balancer, Policy};
    /// use lb_l7::route::{Cluster, UpstreamTlsConfig};
    ///
    /// // Trusted CAs (with lb-tls: `UpstreamTls::new(ca_pem)?.client_config()`).
    /// let roots = rustls::RootCertStore::empty();
    /// let client = rustls::ClientConfig::builder_with_provider(Arc::new(
    ///     rustls::crypto::ring::default_provider(),
    /// ))
    /// .with_safe_default_protocol_versions()?
    /// .with_root_certificates(roots)
    /// .with_no_client_auth();
    /// let backends = vec![Backend::new("10.0.0.1:443".parse()?)];
    /// let api = Cluster::new("api", Balancer::new("round-robin".parse::<Policy>()?, backends)?)
    ///     .with_upstream_tls(UpstreamTlsConfig::new(Arc::new(client)).with_server_name("api.internal"));
    /// assert_eq!(api.upstream_tls().and_then(|t| t.server_name.as_deref()), Some("api.internal"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "upstream-tls")]
    #[must_use]
    pub fn with_upstream_tls(mut self, tls: UpstreamTlsConfig) -> Self {
        self.tls = Some(ClusterTls::new(tls));
        self
    }

    /// Its upstream TLS settings, if its backends are reached over TLS.
    #[cfg(feature = "upstream-tls")]
    #[must_use]
    pub fn upstream_tls(&self) -> Option<&UpstreamTlsConfig> {
        self.tls.as_ref().map(ClusterTls::config)
    }

    /// Its upstream TLS, ready to connect with.
    #[cfg(feature = "upstream-tls")]
    pub(crate) fn tls(&self) -> Option<&ClusterTls> {
        self.tls.as_ref()
    }

    /// The cluster's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its balancer: picks, health, updates.
    #[must_use]
    pub fn balancer(&self) -> &Balancer<Policy> {
        &self.balancer
    }

    /// The shared handle to its balancer (for a health prober).
    #[must_use]
    pub fn balancer_arc(&self) -> &Arc<Balancer<Policy>> {
        &self.balancer
    }
}

/// Everything a route decides for the requests it matches.
#[derive(Debug, Clone)]
pub struct RouteAction {
    /// Where the requests go.
    pub cluster: Arc<Cluster>,
    /// How a client is kept on one backend, if at all.
    pub sticky: StickyPolicy,
    /// Time limits for each phase of a request.
    pub timeouts: Timeouts,
    /// When a failed attempt is tried again on another backend.
    pub retry: RetryPolicy,
    /// Fields removed from and added to requests sent upstream.
    pub request_headers: HeaderEdits,
    /// Fields removed from and added to responses sent back.
    pub response_headers: HeaderEdits,
}

impl RouteAction {
    /// Every problem with this action, in words (empty when it is valid).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.timeouts.problems();
        problems.extend(self.retry.problems());
        #[cfg(feature = "upstream-tls")]
        if let Some(tls) = self.cluster.tls() {
            problems.extend(
                tls.problems()
                    .into_iter()
                    .map(|p| format!("cluster '{}': {p}", self.cluster.name())),
            );
        }
        let hashing = self.cluster.balancer().algorithm().is_hash();
        let sticky_hash = matches!(
            self.sticky,
            StickyPolicy::CookieHash { .. }
                | StickyPolicy::HeaderHash { .. }
                | StickyPolicy::SourceIp
        );
        if sticky_hash && !hashing {
            problems.push(format!(
                "sticky {} needs a hashing algorithm (hash, ring, maglev, rendezvous, bounded-load), \
                 but cluster '{}' uses {}: the key would be ignored",
                sticky_name(&self.sticky),
                self.cluster.name(),
                self.cluster.balancer().algorithm().name()
            ));
        }
        problems
    }
}

fn sticky_name(policy: &StickyPolicy) -> &'static str {
    match policy {
        StickyPolicy::CookieHash { .. } => "cookie hash",
        StickyPolicy::HeaderHash { .. } => "header hash",
        StickyPolicy::SourceIp => "source IP",
        StickyPolicy::CookieInsert(_) => "cookie insert",
        _ => "none",
    }
}

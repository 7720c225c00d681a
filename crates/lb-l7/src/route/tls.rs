//! Upstream TLS settings of a cluster (feature `upstream-tls`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

/// TLS to a cluster's backends (re-encryption): the rustls client configuration, which holds the
/// trusted CAs (and versions, ALPN, a client certificate for mTLS), and the name the backends'
/// certificates are checked against.
///
/// Build the client configuration from a CA bundle with lb-tls
/// (`UpstreamTls::new(ca_pem)?.client_config()`), or with rustls directly. The proxy speaks
/// HTTP/1.1 to backends: offer no ALPN protocol but `http/1.1` (lb-tls's client offers exactly
/// that); [`RouteTable::build`](crate::route::RouteTable::build) refuses any other.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lb_l7::route::UpstreamTlsConfig;
///
/// let client = rustls::ClientConfig::builder_with_provider(Arc::new(
///     rustls::crypto::ring::default_provider(),
/// ))
/// .with_safe_default_protocol_versions()?
/// .with_root_certificates(rustls::RootCertStore::empty())
/// .with_no_client_auth();
/// let tls = UpstreamTlsConfig::new(Arc::new(client)).with_server_name("api.internal");
/// assert_eq!(tls.server_name.as_deref(), Some("api.internal"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UpstreamTlsConfig {
    /// The rustls client: trusted CAs, protocol versions, ALPN, client certificate.
    pub client: Arc<ClientConfig>,
    /// The name sent as SNI and that each backend's certificate must carry (a DNS name or an
    /// IP address). `None`: the backend's IP address, which its certificate must then list
    /// (an IP subject alternative name), and no SNI (SNI carries DNS names only).
    pub server_name: Option<String>,
}

impl UpstreamTlsConfig {
    /// Settings with `client`, verifying each backend by its IP address.
    #[must_use]
    pub fn new(client: Arc<ClientConfig>) -> Self {
        Self {
            client,
            server_name: None,
        }
    }

    /// The same settings, sending `name` as SNI and verifying it for every backend.
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

/// The name a cluster's handshakes use.
#[derive(Debug)]
enum Name {
    /// Each backend's IP address.
    BackendIp,
    /// One name for every backend.
    Fixed(ServerName<'static>),
    /// A configured name that is neither a DNS name nor an IP address.
    Invalid(String),
}

/// A cluster's upstream TLS, checked once: the settings, the parsed server name, and the pool
/// class that keeps its connections apart from any other cluster's.
#[derive(Debug)]
pub(crate) struct ClusterTls {
    config: UpstreamTlsConfig,
    name: Name,
    class: u64,
}

/// Pool classes for upstream TLS clusters; 0 is plain TCP.
static NEXT_CLASS: AtomicU64 = AtomicU64::new(1);

impl ClusterTls {
    pub(crate) fn new(config: UpstreamTlsConfig) -> Self {
        let name = match &config.server_name {
            None => Name::BackendIp,
            Some(name) => match ServerName::try_from(name.clone()) {
                Ok(parsed) => Name::Fixed(parsed),
                Err(_) => Name::Invalid(name.clone()),
            },
        };
        Self {
            config,
            name,
            class: NEXT_CLASS.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(crate) fn config(&self) -> &UpstreamTlsConfig {
        &self.config
    }

    /// The pool class of this cluster's connections (never 0).
    pub(crate) fn class(&self) -> u64 {
        self.class
    }

    /// The name to verify (and send, if a DNS name) for the backend at `ip`; `None` when the
    /// configured name is invalid (reported by [`problems`](Self::problems)).
    pub(crate) fn server_name(&self, ip: IpAddr) -> Option<ServerName<'static>> {
        match &self.name {
            Name::BackendIp => Some(ServerName::IpAddress(ip.into())),
            Name::Fixed(name) => Some(name.clone()),
            Name::Invalid(_) => None,
        }
    }

    /// What makes these settings unusable, in words.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Name::Invalid(name) = &self.name {
            problems.push(format!(
                "upstream TLS server name '{name}' is neither a DNS name nor an IP address"
            ));
        }
        let alpn = &self.config.client.alpn_protocols;
        if alpn.iter().any(|p| p.as_slice() != b"http/1.1") {
            let offered: Vec<String> = alpn
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            problems.push(format!(
                "upstream TLS offers ALPN {}, but the proxy speaks HTTP/1.1 to backends: \
                 offer http/1.1 only, or nothing",
                offered.join(", ")
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Cluster, RouteSpec, RouteTable};
    use crate::router::RouteMatch;
    use lb_core::{Backend, Balancer, Policy};

    fn client(alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    fn build(tls: UpstreamTlsConfig) -> Result<(), String> {
        let backends = vec![Backend::new("127.0.0.1:9443".parse().expect("addr"))];
        let balancer = Balancer::new("round-robin".parse::<Policy>().expect("policy"), backends)
            .expect("balancer");
        RouteTable::new()
            .cluster(Cluster::new("api", balancer).with_upstream_tls(tls))
            .route(RouteSpec::new("all", RouteMatch::new(), "api"))
            .build()
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn names_and_addresses_are_valid_server_names() {
        let ip = "10.0.0.7".parse().expect("ip");
        let by_ip = ClusterTls::new(UpstreamTlsConfig::new(client(&[])));
        assert_eq!(by_ip.server_name(ip), Some(ServerName::from(ip)));
        for name in ["api.internal", "10.0.0.1", "::1"] {
            let tls = ClusterTls::new(UpstreamTlsConfig::new(client(&[])).with_server_name(name));
            assert_eq!(
                tls.server_name(ip).map(|n| n.to_str().into_owned()),
                Some(name.to_owned())
            );
            assert!(tls.problems().is_empty(), "{name}");
        }
        assert!(build(UpstreamTlsConfig::new(client(&[b"http/1.1"]))).is_ok());
    }

    #[test]
    fn an_invalid_server_name_is_refused_when_the_table_is_built() {
        let tls = UpstreamTlsConfig::new(client(&[])).with_server_name("not a name");
        let error = build(tls).expect_err("refused");
        assert!(error.contains("cluster 'api'"), "{error}");
        assert!(error.contains("'not a name'"), "{error}");
    }

    #[test]
    fn alpn_other_than_http11_is_refused() {
        let error = build(UpstreamTlsConfig::new(client(&[b"h2", b"http/1.1"]))).expect_err("h2");
        assert!(error.contains("ALPN h2, http/1.1"), "{error}");
    }

    #[test]
    fn each_cluster_has_its_own_pool_class() {
        let config = UpstreamTlsConfig::new(client(&[]));
        let (a, b) = (ClusterTls::new(config.clone()), ClusterTls::new(config));
        assert_ne!(a.class(), 0);
        assert_ne!(b.class(), 0);
        assert_ne!(a.class(), b.class());
    }
}

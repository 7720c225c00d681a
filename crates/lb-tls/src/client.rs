//! [`UpstreamTls`]: TLS to backends (re-encryption), as a rustls client.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::TlsError;

/// A TLS client for connections to backends that terminate TLS themselves: verifies their
/// certificate against a CA bundle and sends SNI.
///
/// Connect with it yourself ([`connect`](Self::connect)), or hand its configuration to lb-l7's
/// proxy, which re-encrypts to a cluster's backends and pools the TLS connections
/// ([`client_config`](Self::client_config)).
///
/// # Examples
///
/// ```no_run
/// # async fn run(ca_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// let upstream = lb_tls::UpstreamTls::new(ca_pem)?;
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9443").await?;
/// let tls = upstream.connect("backend.internal", tcp).await?;
/// # drop(tls);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct UpstreamTls {
    config: Arc<ClientConfig>,
    connector: TlsConnector,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").finish_non_exhaustive()
    }
}

impl UpstreamTls {
    /// A client trusting the CAs in the PEM bundle `ca_pem`, offering ALPN `http/1.1`.
    ///
    /// # Errors
    ///
    /// [`TlsError::NoCertificate`] for an empty bundle, [`TlsError::Config`] for a CA rustls
    /// refuses.
    pub fn new(ca_pem: &[u8]) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in crate::pem::certificates(ca_pem, "CA bundle")? {
            roots
                .add(cert)
                .map_err(|e| TlsError::Config(e.to_string()))?;
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        Ok(Self {
            connector: TlsConnector::from(Arc::clone(&config)),
            config,
        })
    }

    /// The rustls client configuration (the CA bundle, ring's safe default versions, ALPN
    /// `http/1.1`), to re-encrypt to a cluster's backends through lb-l7's proxy, or to drive
    /// rustls yourself.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(ca_pem: &[u8], balancer: lb_core::Balancer<lb_core::Policy>) -> Result<(), lb_tls::TlsError> {
    /// use lb_l7::route::{Cluster, UpstreamTlsConfig};
    ///
    /// let upstream = lb_tls::UpstreamTls::new(ca_pem)?;
    /// let api = Cluster::new("api", balancer).with_upstream_tls(
    ///     UpstreamTlsConfig::new(upstream.client_config()).with_server_name("api.internal"),
    /// );
    /// # drop(api);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// Runs the client handshake on `io` for `server_name` (SNI and the name verified).
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidName`] for a name that is not a DNS name or IP address,
    /// [`TlsError::Handshake`] when the handshake or the certificate check fails.
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::InvalidName(server_name.to_owned()))?;
        self.connector
            .connect(name, io)
            .await
            .map_err(TlsError::Handshake)
    }
}

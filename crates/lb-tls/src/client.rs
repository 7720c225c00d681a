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
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
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

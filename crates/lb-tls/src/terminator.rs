//! [`TlsTerminator`]: TLS termination for any stream, with SNI certificates that reload live.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::server::{Acceptor, WebPkiClientVerifier};
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::store::{CertStore, ReloadableResolver};
use crate::{TlsError, certified_key};

/// The lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 (the default; nginx's and HAProxy's too).
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Settings of a [`TlsTerminator`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_tls::{MinVersion, TlsSettings};
/// let settings = TlsSettings { min_version: MinVersion::Tls13, ..TlsSettings::default() };
/// assert_eq!(settings.alpn, vec![b"http/1.1".to_vec()]);
/// ```
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Protocols offered through ALPN, most preferred first; only what the stack behind speaks.
    /// Default `http/1.1`. Empty: no ALPN.
    pub alpn: Vec<Vec<u8>>,
    /// Lowest version accepted. Default TLS 1.2.
    pub min_version: MinVersion,
    /// Time a client has to complete the handshake (nginx `ssl_handshake_timeout`, 60 s).
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Session resumption by tickets (stateless) and by session id (a 1024-entry cache).
    /// Default on.
    pub resumption: bool,
    /// mTLS: require a client certificate issued by one of these CAs (PEM bundle). Default none.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            alpn: vec![b"http/1.1".to_vec()],
            min_version: MinVersion::Tls12,
            handshake_timeout: Duration::from_secs(10),
            resumption: true,
            client_ca_pem: None,
        }
    }
}

/// What a completed handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub sni: Option<String>,
    /// The protocol agreed through ALPN.
    pub alpn: Option<Vec<u8>>,
    /// The TLS version.
    pub version: Option<ProtocolVersion>,
    /// The cipher suite.
    pub cipher: Option<CipherSuite>,
    /// The client's certificate (end entity), with mTLS.
    pub client_certificate: Option<CertificateDer<'static>>,
    /// Whether the session was resumed (no full handshake).
    pub resumed: bool,
}

/// Handshake counters.
#[derive(Debug, Default)]
pub struct TlsStats {
    handshakes: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    no_certificate: AtomicU64,
}

impl TlsStats {
    /// Completed handshakes (full or resumed).
    #[must_use]
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// Completed handshakes that resumed a session.
    #[must_use]
    pub fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::Relaxed)
    }

    /// Failed handshakes: not TLS, protocol errors, refused client certificates, no
    /// certificate for the name (timeouts counted apart).
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Handshakes cut at the handshake timeout.
    #[must_use]
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Handshakes refused because no certificate covers the name asked for.
    #[must_use]
    pub fn no_certificate(&self) -> u64 {
        self.no_certificate.load(Ordering::Relaxed)
    }
}

/// Terminates TLS on any stream (a `TcpStream`, or a stream after a PROXY header) and hands back
/// the plaintext stream with what was negotiated.
///
/// Certificates come from a [`CertStore`] that can be replaced or edited while connections run
/// ([`TlsTerminator::reload`], [`TlsTerminator::set_certificate`]): new handshakes see the new
/// certificates, established connections are untouched, and an invalid certificate is refused
/// before anything changes.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use lb_tls::{certified_key_from_files, CertStore, TlsSettings, TlsTerminator};
///
/// let mut store = CertStore::new();
/// store.set_default(certified_key_from_files("cert.pem", "key.pem")?);
/// let tls = TlsTerminator::new(store, TlsSettings::default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:18443").await?;
/// let (tcp, _peer) = listener.accept().await?;
/// let (stream, info) = tls.accept(tcp).await?;
/// println!("{:?} {:?}", info.sni, info.version);
/// # drop(stream);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TlsTerminator {
    config: Arc<ServerConfig>,
    resolver: Arc<ReloadableResolver>,
    handshake_timeout: Duration,
    stats: TlsStats,
}

impl TlsTerminator {
    /// A terminator serving `store`'s certificates with `settings`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] when rustls refuses the settings, [`TlsError::NoCertificate`] for an
    /// empty client CA bundle.
    pub fn new(store: CertStore, settings: TlsSettings) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &settings.client_ca_pem {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in crate::pem::certificates(pem, "client CA bundle")? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let resolver = Arc::new(ReloadableResolver::new(store));
        let mut config = builder.with_cert_resolver(Arc::clone(&resolver) as _);
        config.alpn_protocols = settings.alpn.clone();
        if settings.resumption {
            config.ticketer = rustls::crypto::ring::Ticketer::new()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
        } else {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(Self {
            config: Arc::new(config),
            resolver,
            handshake_timeout: settings.handshake_timeout,
            stats: TlsStats::default(),
        })
    }

    /// Runs the TLS handshake on `io` (bounded by the handshake timeout) and returns the
    /// plaintext stream and what was negotiated.
    ///
    /// # Errors
    ///
    /// [`TlsError::HandshakeTimeout`]; [`TlsError::UnknownServerName`] or
    /// [`TlsError::NoServerName`] when no certificate covers the client's name (the client
    /// gets an alert); [`TlsError::Handshake`] for anything else (not TLS, protocol errors, a
    /// refused client certificate). Every failure is counted in [`TlsTerminator::stats`].
    pub async fn accept<IO>(&self, io: IO) -> Result<(TlsStream<IO>, TlsInfo), TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = async {
            let start = LazyConfigAcceptor::new(Acceptor::default(), io)
                .await
                .map_err(TlsError::Handshake)?;
            let hello = start.client_hello();
            let sni = hello.server_name().map(str::to_owned);
            // Known before the handshake goes on, so the error names the problem.
            let missing = self.resolver.current().lookup(sni.as_deref()).err();
            let stream = start
                .into_stream(Arc::clone(&self.config))
                .await
                .map_err(|e| missing.unwrap_or(TlsError::Handshake(e)))?;
            let (_, conn) = stream.get_ref();
            let info = TlsInfo {
                sni,
                alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                version: conn.protocol_version(),
                cipher: conn.negotiated_cipher_suite().map(|s| s.suite()),
                client_certificate: conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.clone().into_owned()),
                resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            };
            Ok((stream, info))
        };
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok((stream, info))) => {
                self.stats.handshakes.fetch_add(1, Ordering::Relaxed);
                if info.resumed {
                    self.stats.resumed.fetch_add(1, Ordering::Relaxed);
                }
                Ok((stream, info))
            }
            Ok(Err(e)) => {
                if matches!(e, TlsError::UnknownServerName(_) | TlsError::NoServerName) {
                    self.stats.no_certificate.fetch_add(1, Ordering::Relaxed);
                }
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "TLS handshake failed");
                Err(e)
            }
            Err(_) => {
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(TlsError::HandshakeTimeout(self.handshake_timeout))
            }
        }
    }

    /// Replaces every certificate for the next handshakes.
    pub fn reload(&self, store: CertStore) {
        self.resolver.replace(store);
    }

    /// Serves the certificate in `cert_pem`/`key_pem` for `pattern` (a name, `*.suffix`, or
    /// `None` for the default), checked first: if it does not parse or the key is not the
    /// certificate's, the error is returned and the certificate in service stays.
    ///
    /// # Errors
    ///
    /// [`TlsError::NoCertificate`], [`TlsError::NoPrivateKey`], [`TlsError::BadKey`],
    /// [`TlsError::InvalidName`].
    pub fn set_certificate(
        &self,
        pattern: Option<&str>,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), TlsError> {
        let key = certified_key(cert_pem, key_pem, pattern.unwrap_or("default"))?;
        self.resolver.update(|store| match pattern {
            Some(p) => store.insert(p, Arc::clone(&key)),
            None => {
                store.set_default(Arc::clone(&key));
                Ok(())
            }
        })
    }

    /// The certificates in service.
    #[must_use]
    pub fn certificates(&self) -> Arc<CertStore> {
        self.resolver.current()
    }

    /// The handshake counters.
    #[must_use]
    pub fn stats(&self) -> &TlsStats {
        &self.stats
    }

    /// The rustls configuration (for a caller driving rustls itself).
    #[must_use]
    pub fn server_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

//! [`Upstream`]: a connection to a backend, plain TCP or TLS (feature `upstream-tls`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::route::Cluster;

/// A connection to a backend: plain TCP, or TLS over TCP for a cluster with upstream TLS
/// (`Cluster::with_upstream_tls`, feature `upstream-tls`). Reads and writes go to the plaintext
/// side. This is what the upstream [`Pool`](super::Pool) holds.
///
/// Which variants exist depends on the crate's features, so the enum is non-exhaustive.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use lb_l7::proxy::Upstream;
/// use tokio::io::AsyncWriteExt;
///
/// let mut upstream = Upstream::from(tokio::net::TcpStream::connect("10.0.0.1:80").await?);
/// assert!(!upstream.is_tls());
/// upstream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await?;
/// upstream.flush().await?; // a TLS stream may hold written bytes until flushed
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Upstream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the rustls state is large).
    #[cfg(feature = "upstream-tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Upstream {
    /// The TCP connection underneath (addresses, socket options).
    #[must_use]
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether this is a TLS connection.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            #[cfg(feature = "upstream-tls")]
            Self::Tls(_) => true,
        }
    }

    /// Whether an idle connection looks reusable: nothing to read, nothing held back. Reading
    /// anything (the end of the stream, bytes, a TLS `close_notify` record, an error) means the
    /// backend closed it or is out of step; the caller drops it, so bytes consumed here cannot
    /// be missed. See [`Pool`](super::Pool#dead-connections) for what this check can miss.
    pub(crate) fn idle_and_open(&self) -> bool {
        #[cfg(feature = "upstream-tls")]
        if let Self::Tls(tls) = self {
            let session = tls.get_ref().1;
            // Plaintext or a close_notify already taken in by rustls (it reads whole records,
            // which may have arrived behind the response's last bytes), or unsent output.
            if !session.wants_read() || session.wants_write() {
                return false;
            }
        }
        matches!(
            self.tcp().try_read(&mut [0_u8; 1]),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock
        )
    }
}

impl From<TcpStream> for Upstream {
    fn from(tcp: TcpStream) -> Self {
        Self::Plain(tcp)
    }
}

#[cfg(feature = "upstream-tls")]
impl From<tokio_rustls::client::TlsStream<TcpStream>> for Upstream {
    fn from(tls: tokio_rustls::client::TlsStream<TcpStream>) -> Self {
        Self::Tls(Box::new(tls))
    }
}

impl AsyncRead for Upstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "upstream-tls")]
            Self::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}

/// The pool class of `cluster`'s connections: 0 for plain TCP, the cluster's own for TLS.
pub(crate) fn pool_class(cluster: &Cluster) -> u64 {
    #[cfg(feature = "upstream-tls")]
    if let Some(tls) = cluster.tls() {
        return tls.class();
    }
    let _ = cluster;
    0
}

/// A new connection to `addr` for `cluster`: TCP (no Nagle), then the TLS handshake if the
/// cluster has upstream TLS. The caller bounds it with the connect timeout. Every failure,
/// the handshake's included, is a connect failure.
pub(crate) async fn connect(addr: SocketAddr, cluster: &Cluster) -> io::Result<Upstream> {
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    #[cfg(feature = "upstream-tls")]
    if let Some(tls) = cluster.tls() {
        let name = tls.server_name(addr.ip()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid upstream TLS server name",
            )
        })?;
        let connector =
            tokio_rustls::TlsConnector::from(std::sync::Arc::clone(&tls.config().client));
        let stream = connector.connect(name, tcp).await?;
        // The proxy speaks HTTP/1.1: a backend that chose anything else cannot be used.
        if let Some(protocol) = stream.get_ref().1.alpn_protocol()
            && protocol != b"http/1.1"
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "upstream TLS: the backend chose ALPN {}",
                    String::from_utf8_lossy(protocol)
                ),
            ));
        }
        return Ok(Upstream::from(stream));
    }
    let _ = cluster;
    Ok(Upstream::Plain(tcp))
}

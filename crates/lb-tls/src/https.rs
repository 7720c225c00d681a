//! [`serve_https`]: TLS termination in front of lb-l7's [`HttpProxy`], optionally behind an L4
//! tier that sends the PROXY protocol.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lb_l4::io::Prefixed;
use lb_l4::proxy_protocol::read_header;
use lb_l4::server::{DrainReport, ServeOptions, serve_connections};
use lb_l7::proxy::HttpProxy;
use tokio::net::TcpListener;

use crate::TlsTerminator;

/// How [`serve_https`] accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsOptions {
    /// Expect a PROXY protocol header (v1 or v2) before the TLS handshake, within this time:
    /// the tier in front is an L4 proxy, and the header's source is the client (for
    /// `X-Forwarded-For`, `X-Real-IP` and source-IP stickiness). `None`: no header.
    pub accept_proxy: Option<Duration>,
}

/// Serves HTTPS on `listener`: each connection is (optionally) read for a PROXY header,
/// TLS-terminated by `tls`, and handed to `proxy` as plaintext, until `shutdown` completes; then
/// drains as [`HttpProxy::serve`] does. The proxy's connection cap and drain timeout apply.
/// Failed handshakes and bad PROXY headers close that connection only (counted in
/// [`TlsTerminator::stats`]); set [`HttpProxyConfig::tls`](lb_l7::proxy::HttpProxyConfig::tls)
/// on the proxy so backends are told `X-Forwarded-Proto: https`.
///
/// # Examples
///
/// ```no_run
/// # async fn run(tls: std::sync::Arc<lb_tls::TlsTerminator>, proxy: std::sync::Arc<lb_l7::proxy::HttpProxy>) -> std::io::Result<()> {
/// use lb_tls::{serve_https, HttpsOptions};
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:18443").await?;
/// let options = HttpsOptions { accept_proxy: None };
/// serve_https(listener, async { let _ = tokio::signal::ctrl_c().await; }, tls, proxy, options).await;
/// # Ok(())
/// # }
/// ```
pub async fn serve_https(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    tls: Arc<TlsTerminator>,
    proxy: Arc<HttpProxy>,
    options: HttpsOptions,
) -> DrainReport {
    let serve = ServeOptions {
        max_connections: proxy.config().max_connections,
        drain_timeout: proxy.config().drain_timeout,
        accept_burst: proxy.config().accept_burst,
    };
    // TLS clients speak first too (the ClientHello).
    proxy.config().prepare_listener(&listener);
    let admission = Arc::clone(proxy.stats().admission());
    let drain = Arc::clone(&proxy);
    let shutdown = async move {
        shutdown.await;
        drain.start_drain();
    };
    let report = serve_connections(listener, shutdown, &admission, serve, |tcp, peer| {
        let (tls, proxy) = (Arc::clone(&tls), Arc::clone(&proxy));
        async move {
            let _ = tcp.set_nodelay(true);
            let mut tcp = tcp;
            let (client, stream) = match options.accept_proxy {
                None => (peer, Prefixed::new(Vec::new(), tcp)),
                Some(limit) => match tokio::time::timeout(limit, read_header(&mut tcp)).await {
                    Ok(Ok((header, rest))) => {
                        (header.source().unwrap_or(peer), Prefixed::new(rest, tcp))
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, error = %e, "bad PROXY header");
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "no PROXY header in time");
                        return;
                    }
                },
            };
            if let Ok((stream, _info)) = tls.accept(stream).await {
                proxy.serve_connection(stream, client).await;
            }
        }
    })
    .await;
    proxy.pool().clear();
    report
}

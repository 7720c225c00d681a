//! One client connection: read a head, prepare the request, forward it, repeat while the
//! connection is kept alive.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use lb_core::{BackendId, Lease};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::timeout;

use super::HttpProxy;
use super::forward::{self, Done};
use super::respond::error_response;
use super::stats::bump;
use crate::head::{Expect, Framing, Method, Parsed, RequestHead, Version, parse_request};
use crate::rewrite::{ClientIp, Forwarding, write_request_head};
use crate::route::RouteAction;
use crate::router::RouteRequest;
use crate::sticky::{StickyDecision, StickyInput};

/// A request ready to forward: everything taken from its head, so the client buffer is free.
pub(crate) struct Prepared<'p> {
    pub(crate) route: usize,
    pub(crate) action: &'p RouteAction,
    pub(crate) decision: StickyDecision,
    pub(crate) lease: Option<Lease>,
    pub(crate) method: Method,
    pub(crate) version: Version,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade: bool,
    /// The head to send upstream (rewritten for the first backend picked).
    pub(crate) head: Vec<u8>,
    pub(crate) started: Instant,
    pub(crate) client_ip: IpAddr,
}

/// Why a request was not forwarded: the response the proxy answers with.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    /// Whether the request was read whole, so the connection can go on.
    pub(crate) body_read: bool,
    pub(crate) keep_alive: bool,
    pub(crate) route: Option<usize>,
}

/// Serves `client` until it is done; then, if `shutdown`, ends the stream cleanly (for TLS:
/// close_notify; bounded, the peer may not read). A plain `TcpStream` skips it: closing it
/// sends the FIN, and the explicit `shutdown` would be one syscall more per connection.
pub(crate) async fn run<S>(
    proxy: &HttpProxy,
    mut client: S,
    peer: SocketAddr,
    draining: watch::Receiver<bool>,
    shutdown: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    serve(proxy, &mut client, peer, draining).await;
    if shutdown {
        let _ = timeout(std::time::Duration::from_secs(1), client.shutdown()).await;
    }
}

async fn serve<S>(
    proxy: &HttpProxy,
    client: &mut S,
    peer: SocketAddr,
    mut draining: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = &proxy.config;
    let client_ip = ClientIp::new(peer.ip());
    let mut buf = BytesMut::with_capacity(config.buffer_size);
    // The upstream side's, allocated on the first forwarded request.
    let mut ubuf = BytesMut::new();
    let mut out = Vec::with_capacity(4096);
    let mut served: u32 = 0;
    loop {
        if *draining.borrow() && buf.is_empty() {
            return;
        }
        // Wait for a request: the keep-alive timeout until its first byte (the header timeout
        // for the connection's first request), then the header timeout for the whole head.
        let first_wait = if served == 0 {
            config.header_timeout
        } else {
            config.keepalive_timeout
        };
        let mut head_deadline = None;
        let prepared = loop {
            if !buf.is_empty() {
                head_deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + config.header_timeout);
                match parse_request(&buf, &config.limits) {
                    Ok(Parsed::Complete(head, len)) => {
                        // The last request of this connection is answered with
                        // `Connection: close`, so the client knows (nginx does the same).
                        let last =
                            served + 1 >= config.max_requests_per_connection || *draining.borrow();
                        let result = prepare(proxy, &head, &client_ip, last, &mut out);
                        buf.advance(len);
                        break result;
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => {
                        bump!(proxy.stats.totals, bad_requests);
                        tracing::debug!(%peer, error = %e, "bad request");
                        refuse(client, e.status(), false, &mut out).await;
                        return;
                    }
                }
            }
            let read = client.read_buf(&mut buf);
            let outcome = match head_deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, read).await,
                None => tokio::select! {
                    r = timeout(first_wait, read) => r,
                    // Idle between requests while draining: close now.
                    _ = draining.wait_for(|&d| d) => return,
                },
            };
            match outcome {
                Ok(Ok(0)) => {
                    if !buf.is_empty() {
                        // The client closed in the middle of a head.
                        bump!(proxy.stats.totals, bad_requests);
                    }
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    if head_deadline.is_some() {
                        // Slowloris: a head that does not complete in time.
                        bump!(proxy.stats.totals, bad_requests);
                        refuse(client, 408, false, &mut out).await;
                    }
                    return;
                }
            }
        };
        served += 1;
        bump!(proxy.stats.totals, requests);
        let keep_going = match prepared {
            Ok(prepared) => {
                let route = prepared.route;
                bump!(proxy.stats.routes[route], requests);
                match forward::forward(proxy, client, (&mut buf, &mut ubuf), prepared, &mut out)
                    .await
                {
                    Done::KeepAlive => true,
                    Done::Close => false,
                }
            }
            Err(refusal) => {
                if let Some(route) = refusal.route {
                    bump!(proxy.stats.routes[route], requests);
                    bump!(proxy.stats.routes[route], generated);
                }
                let keep = refusal.body_read && refusal.keep_alive;
                refuse(client, refusal.status, keep, &mut out).await;
                keep
            }
        };
        if !keep_going || served >= config.max_requests_per_connection {
            return;
        }
    }
}

/// Writes a generated response; closes the write side unless the connection goes on.
async fn refuse<S: AsyncWrite + Unpin>(
    client: &mut S,
    status: u16,
    keep_alive: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    error_response(status, keep_alive, out);
    let _ = forward::send(client, out).await;
    if !keep_alive {
        let _ = client.shutdown().await;
    }
}

/// Routes the request, decides stickiness, picks a backend and writes the upstream head:
/// everything that needs the parsed head, done before the buffer holding it moves on.
fn prepare<'p>(
    proxy: &'p HttpProxy,
    head: &RequestHead<'_>,
    client_ip: &ClientIp,
    last: bool,
    out: &mut Vec<u8>,
) -> Result<Prepared<'p>, Refusal> {
    let config = &proxy.config;
    let framing = head.framing();
    let keep_alive = head.keep_alive() && !last;
    // Without a body there is nothing left to read: the connection can go on after a refusal.
    let body_read = framing == Framing::None;
    let refuse = |status, route| Refusal {
        status,
        body_read,
        keep_alive,
        route,
    };
    if head.method() == Method::Connect {
        // A reverse proxy, not a forward one (nginx answers the same).
        return Err(refuse(405, None));
    }
    let headers = head.headers();
    let request = RouteRequest::new(head.method_str().as_bytes(), head.path())
        .with_host_opt(head.host())
        .with_headers(headers);
    let Some(hit) = proxy.router.route(&request) else {
        bump!(proxy.stats.totals, unrouted);
        return Err(refuse(404, None));
    };
    let route = hit.index().unwrap_or(proxy.router.len());
    let action = hit.action();
    if let (Some(max), Framing::Length(n)) = (config.max_request_body, framing)
        && n > max
    {
        return Err(Refusal {
            status: 413,
            body_read: false,
            keep_alive: false,
            route: Some(route),
        });
    }
    if head.expect() == Expect::Other {
        return Err(refuse(417, Some(route)));
    }
    let decision = action.sticky.decide(
        &StickyInput::new(headers)
            .with_client_ip(client_ip.ip())
            .with_tls(config.tls),
    );
    let now = Instant::now();
    let Some(lease) = decision.pick(action.cluster.balancer(), now) else {
        bump!(proxy.stats.totals, no_backend);
        return Err(refuse(503, Some(route)));
    };
    let expect_continue = head.expect() == Expect::Continue && framing != Framing::None;
    let mut upstream_head = std::mem::take(out);
    upstream_head.clear();
    write_head(
        head,
        config,
        client_ip,
        action,
        lease.backend().addr(),
        expect_continue,
        &mut upstream_head,
    );
    Ok(Prepared {
        route,
        action,
        decision,
        lease: Some(lease),
        method: head.method(),
        version: head.version(),
        framing,
        keep_alive,
        expect_continue,
        upgrade: head.upgrade().is_some(),
        head: upstream_head,
        started: now,
        client_ip: client_ip.ip(),
    })
}

/// The upstream head. A request without Host (HTTP/1.0) is sent the cluster's name, which holds
/// whichever backend a retry reaches (nginx sends `$proxy_host`, the upstream's name).
pub(crate) fn write_head(
    head: &RequestHead<'_>,
    config: &super::HttpProxyConfig,
    client_ip: &ClientIp,
    action: &RouteAction,
    backend: SocketAddr,
    strip_expect: bool,
    out: &mut Vec<u8>,
) {
    let fallback;
    let mut fwd = Forwarding::new(*client_ip)
        .tls(config.tls)
        .append_forwarded_for(config.trust_forwarded)
        .rfc7239(config.rfc7239)
        .strip_expect(strip_expect);
    let _ = backend;
    if head.host().is_none() {
        fallback = action.cluster.name();
        fwd = fwd.fallback_host(fallback.as_bytes());
    }
    write_request_head(head, &fwd, &action.request_headers, out);
}

/// Whether `id` was tried already in this request's attempt chain.
pub(crate) fn tried(chain: &[BackendId], id: BackendId) -> bool {
    chain.contains(&id)
}

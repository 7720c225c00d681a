//! One request through a backend: connection (pooled or new, with retries), the request head
//! and body up, the response head and body down, the connection back to the pool.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use lb_core::{BackendId, Lease, Outcome};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::HttpProxy;
use super::conn::{Prepared, tried};
use super::pool::PoolKey;
use super::respond::{CONTINUE, error_response};
use super::stats::bump;
use super::upstream::{self, Upstream};
use crate::body::BodyReader;
use crate::chunked::{Decoded, Scanned};
use crate::head::{Framing, Parsed, parse_response};
use crate::rewrite::{ResponseRewrite, write_response_head};

/// How the client connection goes on after a request.
pub(crate) enum Done {
    /// Ready for the next request.
    KeepAlive,
    /// Closed (or to be closed).
    Close,
}

/// Why an attempt ended without a response to relay.
enum Failed {
    /// Connecting failed (refused, unreachable) or timed out: nothing was sent.
    Connect { timed_out: bool },
    /// A pooled connection turned out closed before any response byte.
    Stale,
    /// No response head in time.
    Timeout,
    /// Closed, reset or invalid response.
    Bad,
    /// The client went away or sent a bad body: nothing to answer.
    Client,
    /// The request body is over the limit.
    TooLarge,
    /// A 502/503/504 from the backend, not relayed because the request may be retried
    /// (`on_5xx`): the status to answer with if it is not.
    Upstream5xx(u16),
}

pub(crate) async fn forward<S>(
    proxy: &HttpProxy,
    client: &mut S,
    (buf, ubuf): (&mut BytesMut, &mut BytesMut),
    mut p: Prepared<'_>,
    out: &mut Vec<u8>,
) -> Done
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let action = p.action;
    let retry = action.retry;
    let budget = &proxy.budgets[p.route];
    let route_stats = &proxy.stats.routes[p.route];
    budget.deposit(p.started);
    if p.expect_continue {
        // Answer the client's expectation ourselves (as nginx does) and drop Expect upstream.
        if send(client, CONTINUE).await.is_err() {
            return Done::Close;
        }
    }
    let Some(mut lease) = p.lease.take() else {
        return Done::Close;
    };
    let mut chain: Vec<BackendId> = Vec::new();
    let mut attempts: u32 = 0;
    let mut fresh_only = false;
    let head = std::mem::take(&mut p.head);
    // The whole exchange's bound (`Timeouts::total`), if any.
    let deadline = action
        .timeouts
        .total
        .map(|t| tokio::time::Instant::from_std(p.started) + t);
    // Only requests that can be sent again may be: no body, and idempotent for anything that
    // reached the backend.
    let resendable = p.framing == Framing::None && p.method.is_idempotent();
    let result = loop {
        let backend_id = lease.backend().id();
        let backend_stats = proxy.stats.backend_entry(backend_id);
        bump!(backend_stats, requests);
        let ctx = Attempt {
            head: &head,
            lease: &lease,
            fresh_only,
            retry_5xx: retry.on_5xx && resendable && attempts < retry.max_retries,
            deadline,
        };
        let attempt = attempt(
            proxy,
            client,
            (&mut *buf, &mut *ubuf),
            &p,
            ctx,
            &backend_stats,
            out,
        )
        .await;
        let failure = match attempt {
            Ok(relayed) => break Ok((relayed, lease)),
            Err(failure) => failure,
        };
        let now = Instant::now();
        let (retryable, status) = match failure {
            Failed::Connect { timed_out } => {
                bump!(proxy.stats.totals, connect_failures);
                (retry.on_connect_failure, if timed_out { 504 } else { 502 })
            }
            Failed::Stale => {
                // Not the backend's fault: the same backend, on a new connection, once.
                if !fresh_only && retry.on_stale_connection {
                    fresh_only = true;
                    continue;
                }
                (false, 502)
            }
            Failed::Upstream5xx(status) => (true, status),
            Failed::Timeout => {
                bump!(proxy.stats.totals, response_timeouts);
                (false, 504)
            }
            Failed::Bad => {
                bump!(proxy.stats.totals, bad_responses);
                (false, 502)
            }
            Failed::Client => {
                lease.finish(Outcome::Cancelled, now);
                return Done::Close;
            }
            Failed::TooLarge => {
                lease.finish(Outcome::Cancelled, now);
                break Err(413);
            }
        };
        bump!(backend_stats, failures);
        lease.finish(Outcome::Failure, now);
        if !(retryable && attempts < retry.max_retries) {
            break Err(status);
        }
        if !budget.try_withdraw(now) {
            bump!(proxy.stats.totals, budget_exhausted);
            break Err(status);
        }
        chain.push(backend_id);
        let Some(next) = p
            .decision
            .pick_filtered(action.cluster.balancer(), now, |b| !tried(&chain, b.id()))
        else {
            break Err(status);
        };
        attempts += 1;
        fresh_only = false;
        bump!(proxy.stats.totals, retries);
        bump!(route_stats, retries);
        lease = next;
    };
    *out = head;
    match result {
        Ok((relayed, lease)) => {
            bump!(route_stats, relayed);
            let outcome = if relayed.status >= 500 && proxy.config.five_xx_is_failure {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            if outcome == Outcome::Failure {
                bump!(proxy.stats.backend_entry(lease.backend().id()), failures);
            }
            tracing::info!(
                target: "lb_l7::access",
                client = %p.client_ip,
                method = ?p.method,
                status = relayed.status,
                backend = %lease.backend().addr(),
                route = p.route,
                upstream_ms = p.started.elapsed().as_secs_f64() * 1e3,
                bytes = relayed.bytes,
            );
            lease.finish(outcome, Instant::now());
            relayed.done
        }
        Err(status) => {
            bump!(route_stats, generated);
            tracing::info!(target: "lb_l7::access", client = %p.client_ip, method = ?p.method, status, route = p.route, "generated");
            out.clear();
            error_response(status, false, out);
            let _ = client.write_all(out).await;
            let _ = client.shutdown().await;
            Done::Close
        }
    }
}

/// A response relayed to the client.
struct Relayed {
    status: u16,
    bytes: u64,
    done: Done,
}

/// What one attempt is given besides the request.
struct Attempt<'a> {
    head: &'a [u8],
    lease: &'a Lease,
    /// Only a new connection: a pooled one just failed.
    fresh_only: bool,
    /// A 502/503/504 response may be dropped for a retry.
    retry_5xx: bool,
    /// The end of `Timeouts::total`.
    deadline: Option<tokio::time::Instant>,
}

/// The earlier of `now + wait` and the total deadline.
fn bounded(
    wait: std::time::Duration,
    deadline: Option<tokio::time::Instant>,
) -> tokio::time::Instant {
    let by_wait = tokio::time::Instant::now() + wait;
    deadline.map_or(by_wait, |d| d.min(by_wait))
}

/// One attempt on the leased backend.
async fn attempt<S>(
    proxy: &HttpProxy,
    client: &mut S,
    (buf, ubuf): (&mut BytesMut, &mut BytesMut),
    p: &Prepared<'_>,
    ctx: Attempt<'_>,
    backend_stats: &super::BackendStats,
    out: &mut Vec<u8>,
) -> Result<Relayed, Failed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = &proxy.config;
    let timeouts = p.action.timeouts;
    let Attempt {
        head,
        lease,
        fresh_only,
        retry_5xx,
        deadline,
    } = ctx;
    let backend = lease.backend();
    let (id, addr) = (backend.id(), backend.addr());
    let cluster = &p.action.cluster;
    // TLS connections are only reused for the cluster (client settings, name) they were made for.
    let key = PoolKey {
        backend: id,
        class: upstream::pool_class(cluster),
    };
    let pooled = if fresh_only {
        None
    } else {
        proxy.pool.take(key, Instant::now())
    };
    let reused = pooled.is_some();
    let mut upstream = match pooled {
        Some(stream) => {
            bump!(backend_stats, reused);
            stream
        }
        // TCP and, for upstream TLS, the handshake, within the connect timeout: a refused
        // connection and a refused certificate are both connect failures.
        None => match tokio::time::timeout_at(
            bounded(timeouts.connect, deadline),
            upstream::connect(addr, cluster),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(backend = %addr, cluster = cluster.name(), %error, "upstream connect failed");
                return Err(Failed::Connect { timed_out: false });
            }
            Err(_) => return Err(Failed::Connect { timed_out: true }),
        },
    };

    // The head, with whatever body bytes are already here, in one write.
    let limit = config.max_request_body.unwrap_or(u64::MAX);
    let mut body = BodyReader::new(p.framing, &config.limits);
    let mut body_sent: u64 = 0;
    out.clear();
    out.extend_from_slice(head);
    let (n, mut body_state) = body.scan(buf).map_err(|_| Failed::Client)?;
    // Checked before any of it is sent (raw bytes: a chunked body counts its framing too).
    if n as u64 > limit {
        return Err(Failed::TooLarge);
    }
    out.extend_from_slice(&buf[..n]);
    let consumed_body = n > 0;
    if send(&mut upstream, out).await.is_err() {
        // Nothing was taken from the client buffer yet: a stale pooled connection is retried.
        return Err(if reused && !consumed_body {
            Failed::Stale
        } else {
            Failed::Bad
        });
    }
    buf.advance(n);
    body_sent += n as u64;
    // The rest of the request body, as it comes. If the backend stops reading (it answered
    // early and closed, RFC 9112 §9.5), its answer is looked for below.
    let mut upload_cut = false;
    while body_state == Scanned::NeedMore {
        match tokio::time::timeout_at(bounded(timeouts.body_idle, deadline), client.read_buf(buf))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(Failed::Client),
            Ok(Ok(_)) => {}
        }
        let (n, state) = body.scan(buf).map_err(|_| Failed::Client)?;
        if body_sent + n as u64 > limit {
            return Err(Failed::TooLarge);
        }
        if n > 0 {
            match tokio::time::timeout_at(
                bounded(timeouts.body_idle, deadline),
                send(&mut upstream, &buf[..n]),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    upload_cut = true;
                    break;
                }
                Err(_) => return Err(Failed::Timeout),
            }
            buf.advance(n);
            body_sent += n as u64;
        }
        body_state = state;
    }
    bump!(proxy.stats.totals, bytes_up, body_sent);

    // The response head (interim 1xx responses skipped: the proxy answered 100 itself).
    // The connection's upstream read buffer, reused request after request.
    ubuf.clear();
    ubuf.reserve(config.buffer_size);
    let head_deadline = bounded(timeouts.response_head, deadline);
    loop {
        if !ubuf.is_empty() {
            match parse_response(ubuf, p.method, &config.limits) {
                Ok(Parsed::Complete(resp, len)) => {
                    if resp.status() == 101 {
                        if !p.upgrade || resp.upgrade().is_none() {
                            return Err(Failed::Bad);
                        }
                    } else if resp.is_informational() {
                        ubuf.advance(len);
                        continue;
                    }
                    let status = resp.status();
                    if retry_5xx && matches!(status, 502..=504) {
                        bump!(backend_stats, responses);
                        return Err(Failed::Upstream5xx(status));
                    }
                    bump!(backend_stats, responses);
                    bump!(proxy.stats.totals, relayed);
                    let cookie = p.action.sticky.after_pick(&p.decision, id).map(|c| {
                        let mut v = Vec::with_capacity(c.len());
                        c.write_to(&mut v);
                        v
                    });
                    // A drain that started meanwhile, or a cut upload, ends the connection:
                    // say so in this response.
                    let keep = p.keep_alive && !upload_cut && !*proxy.draining.borrow();
                    let mut rw = ResponseRewrite::new(p.version, keep);
                    if let Some(cookie) = &cookie {
                        rw = rw.field(b"Set-Cookie", cookie);
                    }
                    if !rw.can_relay(&resp) {
                        return Err(Failed::Bad);
                    }
                    let framing = resp.framing();
                    let upstream_keep = resp.keep_alive();
                    let dechunk = rw.dechunks(&resp);
                    let client_keep = rw.keeps_alive(&resp);
                    out.clear();
                    write_response_head(&resp, &rw, &p.action.response_headers, out);
                    ubuf.advance(len);
                    if status == 101 {
                        return tunnel(proxy, client, buf, upstream, ubuf, out, timeouts.body_idle)
                            .await;
                    }
                    return relay_body(
                        proxy,
                        client,
                        &mut upstream,
                        ubuf,
                        out,
                        framing,
                        dechunk,
                        (timeouts.body_idle, deadline),
                    )
                    .await
                    .map(|(bytes, complete, reusable)| {
                        if reusable && upstream_keep && !upload_cut {
                            proxy.pool.put(key, upstream, Instant::now());
                        }
                        Relayed {
                            status,
                            bytes,
                            done: if complete && client_keep {
                                Done::KeepAlive
                            } else {
                                Done::Close
                            },
                        }
                    });
                }
                Ok(Parsed::Partial) => {}
                Err(_) => return Err(Failed::Bad),
            }
        }
        match tokio::time::timeout_at(head_deadline, upstream.read_buf(ubuf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                // The request reached the backend (it may have acted on it): only a request
                // that can be sent again is, and only if nothing came back.
                let stale = reused
                    && ubuf.is_empty()
                    && p.framing == Framing::None
                    && p.method.is_idempotent();
                return Err(if stale { Failed::Stale } else { Failed::Bad });
            }
            Ok(Ok(_)) => {}
            Err(_) => return Err(Failed::Timeout),
        }
    }
}

/// Streams the response body (the head is in `out`), its first bytes with the head.
/// Returns the body bytes relayed, whether the client got the whole response (only then may its
/// connection go on), and whether the upstream connection ended clean (only then may it be
/// pooled: not if it sent bytes past the response). Once the head is out, a failure cannot become an error
/// response: the client connection is closed, so the client sees a cut, never a fake success.
#[allow(clippy::too_many_arguments)]
async fn relay_body<S>(
    proxy: &HttpProxy,
    client: &mut S,
    upstream: &mut Upstream,
    ubuf: &mut BytesMut,
    out: &mut Vec<u8>,
    framing: Framing,
    dechunk: bool,
    (idle, deadline): (std::time::Duration, Option<tokio::time::Instant>),
) -> Result<(u64, bool, bool), Failed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut body = BodyReader::new(framing, &proxy.config.limits);
    let mut relayed: u64 = 0;
    let mut first = true;
    loop {
        // Move what is buffered.
        let done = if dechunk {
            let mut done = false;
            loop {
                match body.decode(ubuf) {
                    Ok((n, Decoded::Data(data))) => {
                        out.extend_from_slice(data);
                        relayed += data.len() as u64;
                        ubuf.advance(n);
                    }
                    Ok((n, Decoded::Trailers(_))) => ubuf.advance(n),
                    Ok((n, Decoded::NeedMore)) => {
                        ubuf.advance(n);
                        break;
                    }
                    Ok((n, Decoded::Done)) => {
                        ubuf.advance(n);
                        done = true;
                        break;
                    }
                    Err(_) => {
                        // A malformed body mid-way: pass on what was valid, then cut.
                        let _ = client.write_all(out).await;
                        return Ok((relayed, false, false));
                    }
                }
            }
            done
        } else {
            match body.scan(ubuf) {
                Ok((n, state)) => {
                    out.extend_from_slice(&ubuf[..n]);
                    relayed += n as u64;
                    ubuf.advance(n);
                    state == Scanned::Done
                }
                Err(_) => {
                    let _ = client.write_all(out).await;
                    return Ok((relayed, false, false));
                }
            }
        };
        if !out.is_empty() || first {
            first = false;
            match tokio::time::timeout_at(bounded(idle, deadline), send(client, out)).await {
                Ok(Ok(())) => {}
                _ => return Err(Failed::Client),
            }
            out.clear();
        }
        if done {
            bump!(proxy.stats.totals, bytes_down, relayed);
            if !ubuf.is_empty() {
                // Bytes after the response: the backend is out of step; do not reuse it.
                return Ok((relayed, true, false));
            }
            return Ok((relayed, true, true));
        }
        match tokio::time::timeout_at(bounded(idle, deadline), upstream.read_buf(ubuf)).await {
            Ok(Ok(0)) => {
                bump!(proxy.stats.totals, bytes_down, relayed);
                // The end of a body that runs until close; any other body is cut short.
                let complete = body.finish().is_ok();
                if !complete {
                    let _ = client.shutdown().await;
                }
                return Ok((relayed, complete, false));
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => {
                bump!(proxy.stats.totals, bytes_down, relayed);
                let _ = client.shutdown().await;
                return Ok((relayed, false, false));
            }
        }
    }
}

/// After a `101`: the response head (in `out`) and any bytes already read go first, then bytes
/// flow both ways until both sides close, one fails, or nothing moves for `idle`.
async fn tunnel<S>(
    proxy: &HttpProxy,
    client: &mut S,
    buf: &mut BytesMut,
    mut upstream: Upstream,
    ubuf: &[u8],
    out: &mut Vec<u8>,
    idle: std::time::Duration,
) -> Result<Relayed, Failed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    bump!(proxy.stats.totals, upgrades);
    out.extend_from_slice(ubuf);
    if send(client, out).await.is_err() {
        return Err(Failed::Client);
    }
    if !buf.is_empty() {
        if send(&mut upstream, buf).await.is_err() {
            return Ok(Relayed {
                status: 101,
                bytes: 0,
                done: Done::Close,
            });
        }
        buf.clear();
    }
    let counters = lb_l4::tcp::Counters {
        up: &proxy.stats.totals.bytes_up,
        down: &proxy.stats.totals.bytes_down,
    };
    let client = tokio::io::split(client);
    match upstream {
        // TCP's own halves: no lock per operation.
        Upstream::Plain(mut tcp) => {
            let _ = lb_l4::tcp::bidirectional(client, tcp.split(), idle, counters).await;
        }
        #[allow(unreachable_patterns)] // without upstream TLS, plain is all there is
        tls => {
            let _ = lb_l4::tcp::bidirectional(client, tokio::io::split(tls), idle, counters).await;
        }
    }
    Ok(Relayed {
        status: 101,
        bytes: 0,
        done: Done::Close,
    })
}

/// Writes `bytes` and flushes them. A TLS stream (a TLS upstream, or a client behind a TLS
/// terminator) may keep written bytes in its buffer when its socket is full, until the next
/// write or a flush: they must be on their way before the proxy waits for the other side.
/// Free for TCP.
pub(crate) async fn send<W>(to: &mut W, bytes: &[u8]) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    to.write_all(bytes).await?;
    to.flush().await
}

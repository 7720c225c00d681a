//! The HTTP health probe: a backend passes when it answers a `GET` with an expected status
//! (HAProxy `option httpchk` + `http-check expect status`, nginx Plus `health_check uri=`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use lb_core::Backend;
use lb_core::health::{Probe, ProbeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Limits;
use crate::head::{Method, Parsed, is_token, parse_response};

/// The `User-Agent` sent unless [`HttpProbe::with_header`] sets another.
const USER_AGENT: &str = "lb-health-check";

/// Header fields the probe writes itself, or that would change how the exchange is framed.
const RESERVED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Why an [`HttpProbe`] setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeConfigError {
    /// The path does not start with `/`, is longer than 8 KiB, or has a byte a request target
    /// cannot carry (space, control byte, `#`, non-ASCII).
    #[error("invalid health-check path {0:?}")]
    InvalidPath(String),
    /// The Host value is empty or not `host[:port]`.
    #[error("invalid Host value {0:?}")]
    InvalidHost(String),
    /// A header name that is not a token.
    #[error("invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// A header the probe sets itself (Host: use [`HttpProbe::with_host`]) or that changes the
    /// framing of the exchange (Connection, Content-Length, Transfer-Encoding...).
    #[error("header {0:?} cannot be set on a health check")]
    ReservedHeader(String),
    /// A header value with a control byte (CR, LF, NUL...) or a non-ASCII byte.
    #[error("invalid value for header {0:?}")]
    InvalidHeaderValue(String),
    /// An expected status range that contains no status.
    #[error("expected status range {start}..={end} is empty")]
    EmptyStatusRange {
        /// The range's start.
        start: u16,
        /// The range's end.
        end: u16,
    },
    /// A zero timeout: every check would fail.
    #[error("the timeout must be non-zero")]
    ZeroTimeout,
}

/// Keeps at most 64 characters of a refused value, for the error.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Checks a backend with an HTTP/1.1 `GET`: it passes when the response's status is in the
/// expected range (default `200..=399`, as HAProxy's `http-check expect status`).
///
/// Each check opens a connection to the backend's address, sends
///
/// ```text
/// GET {path} HTTP/1.1
/// Host: {host, default the backend's ip:port}
/// User-Agent: lb-health-check
/// {headers added with with_header}
/// Connection: close
/// ```
///
/// reads the response head (at most [`Limits::max_head_bytes`], skipping interim `1xx`
/// responses), judges its status and closes the connection without reading the body. Each
/// check is bounded by the probe's timeout (default 2 s, connect and response together); the
/// [`Prober`](lb_core::health::Prober) applies its own timeout too, and the shorter one wins.
///
/// How a check fails: [`ProbeError::TimedOut`] without a complete head in time,
/// [`ProbeError::Io`] when the connection is refused or reset, [`ProbeError::Unhealthy`] for a
/// status out of the range (`"status 503"`), a malformed or oversized head, or a connection
/// closed before a response (`"connection closed before a response"`).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use lb_core::health::{ProbeConfig, Prober};
/// use lb_core::{Backend, Balancer, RoundRobin};
/// use lb_l7::proxy::HttpProbe;
///
/// let probe = HttpProbe::new("/healthz")?
///     .with_host("api.internal")?
///     .with_expected_status(200..=299)?;
/// let lb = Arc::new(Balancer::new(RoundRobin, vec![Backend::new("10.0.0.1:8080".parse()?)])?);
/// let prober = Prober::spawn(lb, Arc::new(probe), ProbeConfig::default());
/// // ...
/// prober.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProbe {
    path: String,
    host: Option<String>,
    headers: Vec<(String, String)>,
    custom_user_agent: bool,
    expected: RangeInclusive<u16>,
    timeout: Duration,
}

impl HttpProbe {
    /// A probe that requests `path` (an origin-form target: `/health`, `/status?full=1`).
    ///
    /// # Errors
    ///
    /// [`ProbeConfigError::InvalidPath`] unless `path` starts with `/`, is at most 8 KiB and
    /// has only visible ASCII bytes other than `#` (no space, CR, LF or other control byte).
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::proxy::{HttpProbe, ProbeConfigError};
    ///
    /// assert!(HttpProbe::new("/health").is_ok());
    /// assert!(matches!(HttpProbe::new("health"), Err(ProbeConfigError::InvalidPath(_))));
    /// assert!(HttpProbe::new("/a\r\nX-Injected: 1").is_err());
    /// ```
    pub fn new(path: &str) -> Result<Self, ProbeConfigError> {
        let valid = path.starts_with('/')
            && path.len() <= Limits::default().max_uri_bytes
            && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if !valid {
            return Err(ProbeConfigError::InvalidPath(shown(path)));
        }
        Ok(Self {
            path: path.to_owned(),
            host: None,
            headers: Vec::new(),
            custom_user_agent: false,
            expected: 200..=399,
            timeout: Duration::from_secs(2),
        })
    }

    /// Sends `host` as the Host header instead of the backend's `ip:port` (for backends that
    /// route on it, such as virtual hosts).
    ///
    /// # Errors
    ///
    /// [`ProbeConfigError::InvalidHost`] unless `host` is a non-empty `host[:port]`: a name or
    /// IPv4 address (unreserved and sub-delim characters, `%`), or a bracketed IPv6 literal,
    /// with an optional numeric port.
    pub fn with_host(mut self, host: &str) -> Result<Self, ProbeConfigError> {
        if !is_host(host) {
            return Err(ProbeConfigError::InvalidHost(shown(host)));
        }
        self.host = Some(host.to_owned());
        Ok(self)
    }

    /// Adds a header field to the request; a `User-Agent` replaces the default one.
    ///
    /// # Errors
    ///
    /// [`ProbeConfigError::InvalidHeaderName`] for a name that is not a token,
    /// [`ProbeConfigError::ReservedHeader`] for Host, Connection, Keep-Alive, Content-Length,
    /// Transfer-Encoding, TE, Trailer, Upgrade, Expect or Proxy-Connection,
    /// [`ProbeConfigError::InvalidHeaderValue`] for a value with a control byte other than tab,
    /// or a non-ASCII byte. Surrounding whitespace is trimmed from the value.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ProbeConfigError> {
        if !is_token(name.as_bytes()) {
            return Err(ProbeConfigError::InvalidHeaderName(shown(name)));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(ProbeConfigError::ReservedHeader(name.to_owned()));
        }
        let value = value.trim_matches([' ', '\t']);
        if !value
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t')
        {
            return Err(ProbeConfigError::InvalidHeaderValue(name.to_owned()));
        }
        self.custom_user_agent |= name.eq_ignore_ascii_case("user-agent");
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sets the statuses that pass (default `200..=399`).
    ///
    /// # Errors
    ///
    /// [`ProbeConfigError::EmptyStatusRange`] when the range is empty.
    pub fn with_expected_status(
        mut self,
        expected: RangeInclusive<u16>,
    ) -> Result<Self, ProbeConfigError> {
        if expected.is_empty() {
            return Err(ProbeConfigError::EmptyStatusRange {
                start: *expected.start(),
                end: *expected.end(),
            });
        }
        self.expected = expected;
        Ok(self)
    }

    /// Sets the timeout for connecting and receiving the response head together (default
    /// 2 s).
    ///
    /// # Errors
    ///
    /// [`ProbeConfigError::ZeroTimeout`] for a zero duration.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ProbeConfigError> {
        if timeout.is_zero() {
            return Err(ProbeConfigError::ZeroTimeout);
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// The request path.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The Host sent, if set (otherwise the backend's address).
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The statuses that pass.
    #[must_use]
    pub fn expected_status(&self) -> &RangeInclusive<u16> {
        &self.expected
    }

    /// The timeout of one check.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The request sent to a backend at `addr`.
    fn request(&self, addr: SocketAddr) -> String {
        let mut request = String::with_capacity(128 + self.path.len());
        // Writing to a String cannot fail.
        let _ = write!(request, "GET {} HTTP/1.1\r\nHost: ", self.path);
        match &self.host {
            Some(host) => request.push_str(host),
            None => {
                let _ = write!(request, "{addr}");
            }
        }
        request.push_str("\r\n");
        if !self.custom_user_agent {
            let _ = write!(request, "User-Agent: {USER_AGENT}\r\n");
        }
        for (name, value) in &self.headers {
            let _ = write!(request, "{name}: {value}\r\n");
        }
        request.push_str("Connection: close\r\n\r\n");
        request
    }

    /// One exchange, without the timeout.
    async fn exchange(&self, addr: SocketAddr) -> Result<(), ProbeError> {
        let mut stream = TcpStream::connect(addr).await?;
        // The request goes in one write; a failure here changes nothing.
        let _ = stream.set_nodelay(true);
        stream.write_all(self.request(addr).as_bytes()).await?;
        let limits = Limits::default();
        let mut buf = vec![0_u8; limits.max_head_bytes];
        // The bytes received are buf[..filled]; the current head starts at `start` (after any
        // interim responses).
        let (mut start, mut filled) = (0, 0);
        loop {
            if filled > start {
                match parse_response(&buf[start..filled], Method::Get, &limits) {
                    Ok(Parsed::Complete(head, len)) => {
                        // 1xx responses (100, 103 Early Hints) come before the final one; a
                        // 101 is final (a protocol switch nobody asked for).
                        if head.is_informational() && head.status() != 101 {
                            start += len;
                            continue;
                        }
                        let status = head.status();
                        return if self.expected.contains(&status) {
                            Ok(())
                        } else {
                            Err(ProbeError::Unhealthy(format!("status {status}")))
                        };
                    }
                    Ok(Parsed::Partial) => {}
                    Err(error) => {
                        return Err(ProbeError::Unhealthy(format!("invalid response: {error}")));
                    }
                }
            }
            if filled == buf.len() {
                return Err(ProbeError::Unhealthy(format!(
                    "response head larger than {} bytes",
                    buf.len()
                )));
            }
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                let reason = if filled == start {
                    "connection closed before a response"
                } else {
                    "connection closed in the response head"
                };
                return Err(ProbeError::Unhealthy(reason.to_owned()));
            }
            filled += n;
        }
    }
}

impl Probe for HttpProbe {
    async fn check(&self, backend: &Backend) -> Result<(), ProbeError> {
        match tokio::time::timeout(self.timeout, self.exchange(backend.addr())).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::TimedOut(self.timeout)),
        }
    }
}

/// `host [":" port]`, non-empty, as the codec checks a received Host.
fn is_host(value: &str) -> bool {
    // An empty port (`host:`) is valid in a received Host, but not worth sending.
    !value.is_empty() && !value.ends_with(':') && crate::head::is_valid_authority(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    const BOUND: Duration = Duration::from_secs(5);

    /// What the test backend does with each connection.
    #[derive(Clone, Debug)]
    enum Answer {
        /// Reads the request, writes these pieces (10 ms apart), then waits for the client to
        /// close.
        Bytes(Vec<&'static [u8]>),
        /// Reads the request, writes these bytes and closes.
        Truncated(&'static [u8]),
        /// Reads the request and never answers.
        Hang,
        /// Reads the request and closes.
        CloseAfterRequest,
        /// Closes without reading anything.
        CloseAtOnce,
    }

    fn status(code: u16) -> Answer {
        let line: &'static str =
            format!("HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\n\r\n").leak();
        Answer::Bytes(vec![line.as_bytes()])
    }

    /// A loopback HTTP backend whose answer can be changed while it runs.
    struct Server {
        addr: SocketAddr,
        answer: Arc<Mutex<Answer>>,
        requests: Arc<Mutex<Vec<Vec<u8>>>>,
        task: JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Server {
        async fn start(answer: Answer) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            Self::on(listener, answer)
        }

        fn on(listener: TcpListener, answer: Answer) -> Self {
            let addr = listener.local_addr().expect("addr");
            let answer = Arc::new(Mutex::new(answer));
            let requests = Arc::new(Mutex::new(Vec::new()));
            let (a, r) = (Arc::clone(&answer), Arc::clone(&requests));
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let answer = a.lock().expect("answer").clone();
                    tokio::spawn(handle(stream, answer, Arc::clone(&r)));
                }
            });
            Self {
                addr,
                answer,
                requests,
                task,
            }
        }

        fn set(&self, answer: Answer) {
            *self.answer.lock().expect("answer") = answer;
        }

        fn backend(&self) -> Backend {
            Backend::new(self.addr)
        }

        fn requests(&self) -> Vec<Vec<u8>> {
            self.requests.lock().expect("requests").clone()
        }
    }

    async fn handle(mut stream: TcpStream, answer: Answer, requests: Arc<Mutex<Vec<Vec<u8>>>>) {
        if matches!(answer, Answer::CloseAtOnce) {
            return;
        }
        let mut request = Vec::new();
        let mut buf = [0_u8; 1024];
        while !request.ends_with(b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        requests.lock().expect("requests").push(request);
        match answer {
            Answer::Bytes(pieces) => {
                for piece in pieces {
                    if stream.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // Hold the connection open (as a server with a body to send would) until the
                // client closes it.
                let _ = stream.read(&mut buf).await;
            }
            Answer::Hang => {
                let _ = stream.read(&mut buf).await;
            }
            Answer::Truncated(bytes) => {
                let _ = stream.write_all(bytes).await;
            }
            Answer::CloseAfterRequest | Answer::CloseAtOnce => {}
        }
    }

    async fn check(probe: &HttpProbe, server: &Server) -> Result<(), ProbeError> {
        timeout(BOUND, probe.check(&server.backend()))
            .await
            .expect("the probe's own timeout bounds it")
    }

    fn unhealthy(result: Result<(), ProbeError>) -> String {
        match result {
            Err(ProbeError::Unhealthy(reason)) => reason,
            other => panic!("expected Unhealthy, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn passes_on_200_and_sends_the_documented_request() {
        let server = Server::start(status(200)).await;
        let probe = HttpProbe::new("/health?deep=1").expect("valid");
        check(&probe, &server).await.expect("healthy");
        let expected = format!(
            "GET /health?deep=1 HTTP/1.1\r\nHost: {}\r\nUser-Agent: lb-health-check\r\n\
             Connection: close\r\n\r\n",
            server.addr
        );
        assert_eq!(server.requests(), [expected.into_bytes()]);
    }

    #[tokio::test]
    async fn a_status_outside_the_range_is_unhealthy() {
        let server = Server::start(status(503)).await;
        let probe = HttpProbe::new("/").expect("valid");
        assert_eq!(unhealthy(check(&probe, &server).await), "status 503");
        // 200..=399 by default: a redirect passes, a 404 does not.
        server.set(status(301));
        check(&probe, &server).await.expect("3xx passes");
        server.set(status(404));
        assert_eq!(unhealthy(check(&probe, &server).await), "status 404");
    }

    #[tokio::test]
    async fn host_headers_and_expected_statuses_are_configurable() {
        let server = Server::start(status(204)).await;
        let probe = HttpProbe::new("/ready")
            .and_then(|p| p.with_host("api.internal:8443"))
            .and_then(|p| p.with_header("X-Check", "  deep "))
            .and_then(|p| p.with_header("user-agent", "custom/1"))
            .and_then(|p| p.with_expected_status(200..=200))
            .expect("valid");
        assert_eq!(unhealthy(check(&probe, &server).await), "status 204");
        assert_eq!(
            server.requests()[0],
            b"GET /ready HTTP/1.1\r\nHost: api.internal:8443\r\nX-Check: deep\r\n\
              user-agent: custom/1\r\nConnection: close\r\n\r\n"
        );
        let probe = probe.with_expected_status(204..=204).expect("valid");
        check(&probe, &server).await.expect("204 expected");
    }

    #[tokio::test]
    async fn garbage_is_unhealthy() {
        let server = Server::start(Answer::Bytes(vec![b"SSH-2.0-OpenSSH_9.6\r\n\r\n"])).await;
        let probe = HttpProbe::new("/").expect("valid");
        let reason = unhealthy(check(&probe, &server).await);
        assert!(reason.starts_with("invalid response"), "{reason}");
    }

    #[tokio::test]
    async fn an_oversized_head_is_unhealthy() {
        let big: &'static [u8] = format!(
            "HTTP/1.1 200 OK\r\n{}",
            "X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(500)
        )
        .into_bytes()
        .leak();
        let server = Server::start(Answer::Bytes(vec![big])).await;
        let probe = HttpProbe::new("/").expect("valid");
        let reason = unhealthy(check(&probe, &server).await);
        assert!(
            reason.contains("larger") || reason.contains("invalid response"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_head_in_pieces_and_interim_responses_are_read() {
        let server = Server::start(Answer::Bytes(vec![
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 2",
            b"00 OK\r\nContent-Le",
            b"ngth: 0\r\n",
            b"\r\n",
        ]))
        .await;
        let probe = HttpProbe::new("/").expect("valid");
        check(&probe, &server).await.expect("the final 200");
        server.set(Answer::Bytes(vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
        ]));
        assert_eq!(unhealthy(check(&probe, &server).await), "status 500");
    }

    #[tokio::test]
    async fn the_body_is_not_read() {
        // A head announcing a body that never comes: the check ends with the head.
        let server = Server::start(Answer::Bytes(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial",
        ]))
        .await;
        let probe = HttpProbe::new("/")
            .and_then(|p| p.with_timeout(Duration::from_secs(3)))
            .expect("valid");
        let started = std::time::Instant::now();
        check(&probe, &server).await.expect("healthy");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_silent_backend_times_out() {
        let server = Server::start(Answer::Hang).await;
        let limit = Duration::from_millis(100);
        let probe = HttpProbe::new("/")
            .and_then(|p| p.with_timeout(limit))
            .expect("valid");
        let err = check(&probe, &server).await.expect_err("no answer");
        assert!(
            matches!(err, ProbeError::TimedOut(d) if d == limit),
            "{err}"
        );
        // A partial head is no answer either.
        server.set(Answer::Bytes(vec![b"HTTP/1.1 200 OK\r\n"]));
        let err = check(&probe, &server).await.expect_err("no full head");
        assert!(matches!(err, ProbeError::TimedOut(_)), "{err}");
    }

    #[tokio::test]
    async fn a_connection_closed_early_fails() {
        let server = Server::start(Answer::CloseAfterRequest).await;
        let probe = HttpProbe::new("/").expect("valid");
        assert_eq!(
            unhealthy(check(&probe, &server).await),
            "connection closed before a response"
        );
        server.set(Answer::Truncated(b"HTTP/1.1 200 OK\r\nContent-"));
        assert_eq!(
            unhealthy(check(&probe, &server).await),
            "connection closed in the response head"
        );
        server.set(Answer::CloseAtOnce);
        // Closing with the request unread may reset the connection: Io or Unhealthy.
        let err = check(&probe, &server).await.expect_err("closed");
        assert!(
            matches!(err, ProbeError::Io(_) | ProbeError::Unhealthy(_)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let probe = HttpProbe::new("/").expect("valid");
        let result = timeout(BOUND, probe.check(&Backend::new(addr)))
            .await
            .expect("bounded");
        assert!(matches!(result, Err(ProbeError::Io(_))), "{result:?}");
    }

    /// Polls `condition` every 10 ms, for at most [`BOUND`].
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        timeout(BOUND, async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what} within {BOUND:?}"));
    }

    #[tokio::test]
    async fn the_prober_sees_a_backend_go_down_and_come_back() {
        use lb_core::health::{ActiveCheck, EventKind, HealthConfig, ProbeConfig, Prober};
        use lb_core::{Balancer, RoundRobin};

        let server = Server::start(status(200)).await;
        let backend = server.backend();
        let id = backend.id();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let health = HealthConfig::default()
            .with_active(ActiveCheck::default().with_thresholds(2, 2).expect("valid"));
        let lb = Arc::new(
            Balancer::builder(RoundRobin, vec![backend])
                .health(health)
                .events(move |e| sink.lock().expect("events").push(e.kind.clone()))
                .build()
                .expect("valid"),
        );
        let config = ProbeConfig::default()
            .with_timing(Duration::from_millis(30), Duration::from_millis(500))
            .and_then(|c| c.with_jitter(0.0))
            .expect("valid");
        let probe = HttpProbe::new("/health")
            .and_then(|p| p.with_timeout(Duration::from_millis(500)))
            .expect("valid");
        let prober = Prober::spawn(Arc::clone(&lb), Arc::new(probe), config);
        let available = || lb.snapshot().health(0).is_available();

        eventually("a few passing checks", || server.requests().len() >= 3).await;
        assert!(available());
        // It answers 503: down after two failed checks.
        server.set(status(503));
        eventually("unhealthy", || !available()).await;
        // It answers 200 again: back after two passed checks.
        server.set(status(200));
        eventually("healthy again", available).await;
        // It stops listening (refused), then comes back on the same port.
        let addr = server.addr;
        drop(server);
        eventually("unhealthy once refused", || !available()).await;
        let listener = TcpListener::bind(addr).await.expect("rebind the port");
        let _server = Server::on(listener, status(200));
        eventually("healthy once listening again", available).await;
        prober.shutdown().await;

        // Panic mode follows each change too (the only backend): only health changes here.
        let events: Vec<EventKind> = events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| matches!(e, EventKind::Healthy { .. } | EventKind::Unhealthy { .. }))
            .cloned()
            .collect();
        let down = EventKind::Unhealthy { backend: id };
        let up = EventKind::Healthy { backend: id };
        assert_eq!(events, [down.clone(), up.clone(), down, up]);
    }

    #[test]
    fn settings_are_validated() {
        for bad in [
            "",
            "health",
            "/a b",
            "/a\r\nX: y",
            "/\x7f",
            "/caf\u{e9}",
            "/#frag",
        ] {
            assert!(
                matches!(HttpProbe::new(bad), Err(ProbeConfigError::InvalidPath(_))),
                "{bad:?}"
            );
        }
        assert!(HttpProbe::new(&format!("/{}", "a".repeat(9000))).is_err());
        let probe = HttpProbe::new("/").expect("valid");
        for good in [
            "example.com",
            "example.com:8080",
            "10.0.0.1:80",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(probe.clone().with_host(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "a b",
            "a\r\nX: y",
            "a/b",
            "user@host",
            "host:",
            "host:123456",
            "host:8a",
            "[::1",
            "[::1]x",
            "[]",
        ] {
            assert!(
                matches!(
                    probe.clone().with_host(bad),
                    Err(ProbeConfigError::InvalidHost(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            probe.clone().with_header("Bad Name", "x"),
            Err(ProbeConfigError::InvalidHeaderName(_))
        ));
        for reserved in ["Host", "connection", "Content-Length", "Transfer-Encoding"] {
            assert!(matches!(
                probe.clone().with_header(reserved, "x"),
                Err(ProbeConfigError::ReservedHeader(_))
            ));
        }
        assert!(matches!(
            probe.clone().with_header("X-A", "1\r\nX-B: 2"),
            Err(ProbeConfigError::InvalidHeaderValue(_))
        ));
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 300..=200;
        assert_eq!(
            probe.clone().with_expected_status(empty),
            Err(ProbeConfigError::EmptyStatusRange {
                start: 300,
                end: 200
            })
        );
        assert_eq!(
            probe.clone().with_timeout(Duration::ZERO),
            Err(ProbeConfigError::ZeroTimeout)
        );
        assert_eq!(probe.path(), "/");
        assert_eq!(probe.host(), None);
        assert_eq!(probe.expected_status(), &(200..=399));
        assert_eq!(probe.timeout(), Duration::from_secs(2));
    }

    #[test]
    fn an_ipv6_backend_gets_a_bracketed_host() {
        let probe = HttpProbe::new("/").expect("valid");
        let request = probe.request("[::1]:8080".parse().expect("addr"));
        assert!(request.contains("\r\nHost: [::1]:8080\r\n"), "{request}");
    }
}

//! Per-route time limits and retry rules.

use std::time::Duration;

/// Time limits for each phase of a proxied request (defaults from nginx's `proxy_*_timeout`
/// family, tightened where nginx's 60 s is longer than a load balancer should wait).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lb_l7::route::Timeouts;
/// let t = Timeouts { connect: Duration::from_secs(1), ..Timeouts::default() };
/// assert!(t.problems().is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting to a backend (nginx `proxy_connect_timeout`). Default 5 s.
    pub connect: Duration,
    /// From the request sent to the response head received (nginx `proxy_read_timeout` for the
    /// first byte, Envoy's route `timeout` for the head). Default 30 s.
    pub response_head: Duration,
    /// Longest pause while streaming a body either way (nginx `proxy_read_timeout` /
    /// `proxy_send_timeout` between two operations). Default 60 s.
    pub body_idle: Duration,
    /// The whole exchange, head to last byte; `None` for no limit (streams, downloads). Default
    /// none.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response_head: Duration::from_secs(30),
            body_idle: Duration::from_secs(60),
            total: None,
        }
    }
}

impl Timeouts {
    /// Every problem, in words: a zero timeout would fail every request.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in [
            ("connect", Some(self.connect)),
            ("response head", Some(self.response_head)),
            ("body idle", Some(self.body_idle)),
            ("total", self.total),
        ] {
            if value == Some(Duration::ZERO) {
                problems.push(format!("the {name} timeout is zero"));
            }
        }
        problems
    }
}

/// When a failed attempt is tried again, on another eligible backend (never the same one twice
/// for one request).
///
/// Retries are bounded twice: per request by [`RetryPolicy::max_retries`], and across requests
/// by a budget (Envoy's `retry_budget`, linkerd's `retryRatio`): retries may add at most
/// [`RetryPolicy::budget_ratio`] to the request rate (plus
/// [`RetryPolicy::min_retries_per_second`]), so that retrying cannot multiply the load on a
/// cluster that is already failing.
///
/// # Examples
///
/// ```
/// use lb_l7::route::RetryPolicy;
/// let none = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
/// assert!(!none.allows_retry());
/// assert!(RetryPolicy::default().allows_retry());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first. Default 2 (nginx `proxy_next_upstream_tries` is unbounded by
    /// default; Envoy's `num_retries` default is 1).
    pub max_retries: u32,
    /// Retry when the connection to a backend fails (nothing was sent). Default on.
    pub on_connect_failure: bool,
    /// Retry an idempotent request (or any request before a byte of it was sent) when a pooled
    /// keep-alive connection turns out to be closed. Default on.
    pub on_stale_connection: bool,
    /// Retry an idempotent request that got a 502, 503 or 504 before any of it was relayed.
    /// Default off (nginx `proxy_next_upstream http_502 ...`).
    pub on_5xx: bool,
    /// Retries allowed as a fraction of requests, across the route. Default 0.2.
    pub budget_ratio: f64,
    /// Retries always allowed per second, whatever the ratio. Default 10.
    pub min_retries_per_second: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            on_connect_failure: true,
            on_stale_connection: true,
            on_5xx: false,
            budget_ratio: 0.2,
            min_retries_per_second: 10,
        }
    }
}

impl RetryPolicy {
    /// Whether any retry can happen.
    #[must_use]
    pub fn allows_retry(&self) -> bool {
        self.max_retries > 0 && (self.on_connect_failure || self.on_stale_connection || self.on_5xx)
    }

    /// Every problem, in words.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(0.0..=10.0).contains(&self.budget_ratio) {
            problems.push(format!(
                "the retry budget ratio {} is outside 0..=10",
                self.budget_ratio
            ));
        }
        if self.max_retries > 16 {
            problems.push(format!(
                "{} retries per request is more than 16: a retry storm, not resilience",
                self.max_retries
            ));
        }
        problems
    }
}

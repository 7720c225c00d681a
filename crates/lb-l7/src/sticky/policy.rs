//! The per-route sticky policy: what to ask the balancer for, and when to (re-)issue the
//! cookie.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::Instant;

use lb_core::hash::hash_bytes;
use lb_core::{Algorithm, Backend, BackendId, Balancer, Lease, Request};

use super::cookie::{ConfigError, CookieName};
use super::input::{HeaderName, StickyInput};
use super::set_cookie::{CookieInsert, SetCookie};
use super::token::TokenError;

/// How many cookies carrying the insert name are tried before giving up: a request stuffed
/// with thousands of well-formed forged tokens costs at most this many MACs.
pub const MAX_TOKENS_TRIED: usize = 4;

/// How a route keeps a client on one backend.
///
/// | policy             | key                          | when the key is missing |
/// |--------------------|------------------------------|-------------------------|
/// | [`None`](Self::None)                 | none               | plain pick |
/// | [`CookieInsert`](Self::CookieInsert) | our cookie's token names the backend | plain pick, cookie issued |
/// | [`CookieHash`](Self::CookieHash)     | an application cookie's value, hashed | plain pick |
/// | [`HeaderHash`](Self::HeaderHash)     | a header's value, hashed | plain pick |
/// | [`SourceIp`](Self::SourceIp)         | the client address, hashed | plain pick |
///
/// The hash-key policies give a key to the balancer's algorithm, so they stick only with
/// a consistent one (ring, Maglev, rendezvous, bounded load); with round robin the key is
/// ignored. Cookie insert works with any algorithm: the first pick is the algorithm's,
/// later ones follow the cookie.
///
/// Everything a policy derives is a pure function of the request and the configuration
/// (stable ids, XXH3 keys, deterministic tokens), so several load balancers behind an L4
/// tier make the same choices without sharing state.
#[derive(Debug, Clone, Default)]
pub enum StickyPolicy {
    /// No stickiness.
    #[default]
    None,
    /// Insert a cookie naming the backend (nginx `sticky cookie`, HAProxy
    /// `cookie SRV insert`).
    CookieInsert(CookieInsert),
    /// Hash an existing application cookie, such as `JSESSIONID` (Envoy's cookie hash
    /// policy without generation, nginx `hash $cookie_NAME consistent`). An empty value
    /// counts as missing.
    CookieHash {
        /// The cookie whose value is the key.
        name: CookieName,
    },
    /// Hash a request header's value, the first field of that name (Envoy's header hash
    /// policy). An empty value counts as missing.
    HeaderHash {
        /// The header whose value is the key.
        name: HeaderName,
    },
    /// Hash the client address (nginx `ip_hash` over all octets, Envoy's
    /// `connection_properties.source_ip`); see [`StickyInput`] for which address.
    SourceIp,
}

/// What to ask the balancer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// This backend if it is eligible, else a plain pick.
    Pinned(BackendId),
    /// A pick with this hash key ([`Request::with_key_hash`]).
    Key(u64),
    /// A plain pick.
    Any,
}

/// What became of the insert cookie in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieStatus {
    /// The policy does not insert cookies.
    NotUsed,
    /// The request carries no cookie of that name.
    Missing,
    /// It does, and the (first) value was rejected for this reason.
    Invalid(TokenError),
    /// A value verified; the decision is [`Target::Pinned`].
    Valid,
}

/// The outcome of [`StickyPolicy::decide`]: the balancer target, plus what
/// [`StickyPolicy::after_pick`] needs to decide on a `Set-Cookie`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickyDecision {
    target: Target,
    cookie: CookieStatus,
    tls: bool,
}

impl StickyDecision {
    /// What to ask the balancer for.
    #[must_use]
    pub fn target(&self) -> Target {
        self.target
    }

    /// The backend a valid cookie names.
    #[must_use]
    pub fn pinned(&self) -> Option<BackendId> {
        match self.target {
            Target::Pinned(id) => Some(id),
            _ => None,
        }
    }

    /// The hash key, for the hash-key policies when the key was present.
    #[must_use]
    pub fn key(&self) -> Option<u64> {
        match self.target {
            Target::Key(key) => Some(key),
            _ => None,
        }
    }

    /// What became of the insert cookie (for logs and metrics).
    #[must_use]
    pub fn cookie_status(&self) -> CookieStatus {
        self.cookie
    }

    /// The balancer request for the normal pick: with the hash key for [`Target::Key`],
    /// keyless otherwise (a pinned pick that fails falls back to a keyless pick).
    #[must_use]
    pub fn request(&self) -> Request {
        match self.target {
            Target::Key(key) => Request::new().with_key_hash(key),
            Target::Pinned(_) | Target::Any => Request::new(),
        }
    }

    /// Picks from `balancer`: the pinned backend if it is eligible (healthy, not draining,
    /// in the current set), otherwise a normal pick with [`request`](Self::request).
    /// `None` only when no backend at all is eligible.
    pub fn pick<A: Algorithm>(&self, balancer: &Balancer<A>, now: Instant) -> Option<Lease> {
        if let Target::Pinned(id) = self.target
            && let Some(lease) = balancer.pick_filtered(&Request::new(), now, |b| b.id() == id)
        {
            return Some(lease);
        }
        balancer.pick(&self.request(), now)
    }

    /// As [`pick`](Self::pick), among the backends `filter` accepts (for a retry, the ones
    /// not tried yet). A pinned backend the filter rejects is treated as ineligible.
    pub fn pick_filtered<A: Algorithm>(
        &self,
        balancer: &Balancer<A>,
        now: Instant,
        filter: impl Fn(&Backend) -> bool,
    ) -> Option<Lease> {
        if let Target::Pinned(id) = self.target
            && let Some(lease) =
                balancer.pick_filtered(&Request::new(), now, |b| b.id() == id && filter(b))
        {
            return Some(lease);
        }
        balancer.pick_filtered(&self.request(), now, filter)
    }
}

impl StickyPolicy {
    /// [`StickyPolicy::CookieHash`] on the cookie `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] if `name` is not an RFC 6265 token.
    pub fn cookie_hash(name: &str) -> Result<Self, ConfigError> {
        Ok(Self::CookieHash {
            name: CookieName::new(name)?,
        })
    }

    /// [`StickyPolicy::HeaderHash`] on the header `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HeaderName`] if `name` is not an RFC 9110 token.
    pub fn header_hash(name: &str) -> Result<Self, ConfigError> {
        Ok(Self::HeaderHash {
            name: HeaderName::new(name)?,
        })
    }

    /// Decides what to ask the balancer for. Allocates nothing; at most
    /// [`MAX_TOKENS_TRIED`] token verifications.
    ///
    /// For cookie insert, the first cookie of that name whose token decodes wins (a stale
    /// cookie from an old key or another `Domain` listed first does not shadow a valid one);
    /// with none, the target is [`Target::Any`] and [`after_pick`](Self::after_pick) will
    /// issue a cookie. Whether the pinned backend is still eligible only the balancer
    /// knows: see [`StickyDecision::pick`].
    ///
    /// # Examples
    ///
    /// The whole request flow with cookie insertion:
    ///
    /// ```
    /// use std::time::Instant;
    /// use lb_core::{Backend, Balancer, RoundRobin};
    /// use lb_l7::sticky::{CookieInsert, StickyInput, StickyPolicy, Target, TokenCodec};
    ///
    /// let backends = vec![
    ///     Backend::named("web-1", "10.0.0.1:80".parse().unwrap()),
    ///     Backend::named("web-2", "10.0.0.2:80".parse().unwrap()),
    /// ];
    /// let balancer = Balancer::new(RoundRobin, backends).unwrap();
    /// let codec = TokenCodec::signed(b"a 32-byte key from configuration")?;
    /// let policy = StickyPolicy::CookieInsert(CookieInsert::new("srv", codec)?);
    /// let now = Instant::now();
    ///
    /// // First request: no cookie. A normal pick, then a Set-Cookie.
    /// let headers: [(&str, &str); 0] = [];
    /// let decision = policy.decide(&StickyInput::new(&headers).with_tls(true));
    /// assert_eq!(decision.target(), Target::Any);
    /// let lease = decision.pick(&balancer, now).unwrap();
    /// let set_cookie = policy.after_pick(&decision, lease.backend().id()).unwrap();
    /// let mut response_header = Vec::new();
    /// set_cookie.write_to(&mut response_header);
    /// assert!(response_header.starts_with(b"srv="));
    ///
    /// // Next request: the cookie pins the same backend, and no new cookie is needed.
    /// let cookie = format!("srv={}", set_cookie.token());
    /// let headers = [("Cookie", cookie.as_str())];
    /// let decision = policy.decide(&StickyInput::new(&headers));
    /// assert_eq!(decision.pinned(), Some(lease.backend().id()));
    /// let again = decision.pick(&balancer, now).unwrap();
    /// assert_eq!(again.backend().id(), lease.backend().id());
    /// assert!(policy.after_pick(&decision, again.backend().id()).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn decide(&self, input: &StickyInput<'_>) -> StickyDecision {
        let tls = input.is_tls();
        let keyed = |key: Option<u64>| StickyDecision {
            target: key.map_or(Target::Any, Target::Key),
            cookie: CookieStatus::NotUsed,
            tls,
        };
        match self {
            Self::None => keyed(None),
            Self::CookieHash { name } => keyed(
                input
                    .cookie(name.as_str())
                    .filter(|v| !v.is_empty())
                    .map(hash_bytes),
            ),
            Self::HeaderHash { name } => keyed(
                input
                    .header(name.as_str())
                    .filter(|v| !v.is_empty())
                    .map(hash_bytes),
            ),
            Self::SourceIp => keyed(input.client_ip().map(ip_key)),
            Self::CookieInsert(insert) => {
                let mut tried = 0;
                let mut first_error = None;
                let mut pinned = None;
                input.for_each_cookie(insert.name().as_str(), &mut |value| {
                    match insert.codec().decode(value) {
                        Ok(id) => {
                            pinned = Some(id);
                            return ControlFlow::Break(());
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                    tried += 1;
                    if tried >= MAX_TOKENS_TRIED {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                let (target, cookie) = match (pinned, first_error) {
                    (Some(id), _) => (Target::Pinned(id), CookieStatus::Valid),
                    (None, Some(e)) => (Target::Any, CookieStatus::Invalid(e)),
                    (None, None) => (Target::Any, CookieStatus::Missing),
                };
                StickyDecision {
                    target,
                    cookie,
                    tls,
                }
            }
        }
    }

    /// The `Set-Cookie` to add to the response once the balancer picked `picked` for a
    /// request decided as `decision` (by this policy), if any.
    ///
    /// Only cookie insert issues cookies: when the request had no valid token, or when the
    /// pinned backend was ineligible (drained, ejected, removed) or refused by a retry
    /// filter and another was picked. A valid token for the picked backend is left alone,
    /// so most responses carry no `Set-Cookie`. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// use lb_l7::sticky::{CookieInsert, StickyInput, StickyPolicy, TokenCodec};
    ///
    /// let codec = TokenCodec::unsigned();
    /// let policy = StickyPolicy::CookieInsert(CookieInsert::new("srv", codec.clone())?);
    /// let (a, b) = (BackendId::from_name("a"), BackendId::from_name("b"));
    /// let cookie = format!("srv={}", codec.encode(a));
    /// let headers = [("cookie", cookie.as_str())];
    /// let decision = policy.decide(&StickyInput::new(&headers));
    /// assert!(policy.after_pick(&decision, a).is_none());
    /// // `a` was drained and the balancer picked `b`: re-pin the client to `b`.
    /// let reissued = policy.after_pick(&decision, b).unwrap();
    /// assert_eq!(codec.decode(reissued.token().as_bytes()), Ok(b));
    /// # Ok::<(), lb_l7::sticky::ConfigError>(())
    /// ```
    #[must_use]
    pub fn after_pick(
        &self,
        decision: &StickyDecision,
        picked: BackendId,
    ) -> Option<SetCookie<'_>> {
        let Self::CookieInsert(insert) = self else {
            return None;
        };
        if decision.pinned() == Some(picked) {
            return None;
        }
        Some(insert.set_cookie(picked, decision.tls))
    }
}

/// The hash key of a client address: all of its octets, as [`Request::with_ip`] hashes
/// them, after mapping IPv4-mapped IPv6 (`::ffff:192.0.2.7`) to IPv4 so a dual-stack
/// listener and an IPv4 one agree.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use lb_core::Request;
/// use lb_l7::sticky::ip_key;
///
/// let v4: IpAddr = "192.0.2.7".parse().unwrap();
/// assert_eq!(Some(ip_key(v4)), Request::new().with_ip(v4).key());
/// assert_eq!(ip_key("::ffff:192.0.2.7".parse().unwrap()), ip_key(v4));
/// ```
#[must_use]
pub fn ip_key(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sticky::TokenCodec;

    const KEY: &[u8] = b"0123456789abcdef";

    fn codec() -> TokenCodec {
        TokenCodec::signed(KEY).expect("key")
    }

    fn insert_policy() -> StickyPolicy {
        StickyPolicy::CookieInsert(CookieInsert::new("srv", codec()).expect("name"))
    }

    fn decide(policy: &StickyPolicy, headers: &[(&str, &str)]) -> StickyDecision {
        policy.decide(&StickyInput::new(&headers))
    }

    fn cookie_for(id: BackendId) -> String {
        format!("srv={}", codec().encode(id))
    }

    #[test]
    fn valid_token_pins_and_issues_nothing() {
        let policy = insert_policy();
        let id = BackendId::from_name("web-1");
        let cookie = cookie_for(id);
        let d = decide(&policy, &[("Cookie", &format!("a=1; {cookie}; b=2"))]);
        assert_eq!(d.target(), Target::Pinned(id));
        assert_eq!(d.pinned(), Some(id));
        assert_eq!(d.key(), None);
        assert_eq!(d.cookie_status(), CookieStatus::Valid);
        assert_eq!(d.request(), Request::new());
        assert!(policy.after_pick(&d, id).is_none());
    }

    #[test]
    fn missing_cookie_rebalances_and_issues() {
        let policy = insert_policy();
        let d = decide(&policy, &[("Cookie", "a=1; srv2=x")]);
        assert_eq!(d.target(), Target::Any);
        assert_eq!(d.cookie_status(), CookieStatus::Missing);
        let picked = BackendId::from_name("web-2");
        let set = policy.after_pick(&d, picked).expect("issued");
        assert_eq!(codec().decode(set.token().as_bytes()), Ok(picked));
        assert!(!set.is_secure());
        assert_eq!(decide(&policy, &[]).cookie_status(), CookieStatus::Missing);
    }

    #[test]
    fn tampered_token_rebalances_and_issues() {
        let policy = insert_policy();
        let id = BackendId::from_name("web-1");
        let mut cookie = cookie_for(id).into_bytes();
        let last = cookie.len() - 1;
        cookie[last] = if cookie[last] == b'A' { b'B' } else { b'A' };
        let cookie = String::from_utf8(cookie).expect("ascii");
        let d = policy.decide(&StickyInput::new(&[("Cookie", cookie.as_str())]).with_tls(true));
        assert_eq!(d.target(), Target::Any);
        assert_eq!(
            d.cookie_status(),
            CookieStatus::Invalid(TokenError::Signature)
        );
        // Even if the balancer happens to pick the backend the forged token named, the
        // client gets a genuine cookie.
        let set = policy.after_pick(&d, id).expect("issued");
        assert!(set.is_secure(), "TLS carried from the input");
        assert_eq!(codec().decode(set.token().as_bytes()), Ok(id));
    }

    #[test]
    fn other_invalid_forms_are_reported() {
        let policy = insert_policy();
        let unsigned = format!(
            "srv={}",
            TokenCodec::unsigned().encode(BackendId::from_u64(1))
        );
        for (header, status) in [
            (
                "srv=",
                TokenError::Length {
                    expected: 32,
                    found: 0,
                },
            ),
            (
                unsigned.as_str(),
                TokenError::Length {
                    expected: 32,
                    found: 11,
                },
            ),
            (
                "srv=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
                TokenError::Character {
                    index: 31,
                    byte: b'+',
                },
            ),
        ] {
            let d = decide(&policy, &[("Cookie", header)]);
            assert_eq!(d.target(), Target::Any);
            assert_eq!(d.cookie_status(), CookieStatus::Invalid(status), "{header}");
        }
    }

    #[test]
    fn picked_other_than_pinned_reissues() {
        let policy = insert_policy();
        let pinned = BackendId::from_name("web-1");
        let other = BackendId::from_name("web-2");
        let d = decide(&policy, &[("Cookie", &cookie_for(pinned))]);
        let set = policy.after_pick(&d, other).expect("re-issued");
        assert_eq!(codec().decode(set.token().as_bytes()), Ok(other));
        assert_eq!(set.name(), "srv");
    }

    #[test]
    fn first_valid_token_wins_across_headers() {
        let policy = insert_policy();
        let a = BackendId::from_name("a");
        let b = BackendId::from_name("b");
        let stale = format!(
            "srv={}",
            TokenCodec::signed(b"an older key 123")
                .expect("key")
                .encode(b)
        );
        let d = decide(
            &policy,
            &[
                ("Cookie", stale.as_str()),
                ("Cookie", &cookie_for(a)),
                ("Cookie", &cookie_for(b)),
            ],
        );
        assert_eq!(d.pinned(), Some(a));
    }

    #[test]
    fn token_attempts_are_bounded() {
        let policy = insert_policy();
        let bad = "srv=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let mut header = [bad; MAX_TOKENS_TRIED].join("; ");
        header.push_str("; ");
        header.push_str(&cookie_for(BackendId::from_name("a")));
        let d = decide(&policy, &[("Cookie", header.as_str())]);
        assert_eq!(d.target(), Target::Any, "the valid one is past the cap");
        assert_eq!(
            d.cookie_status(),
            CookieStatus::Invalid(TokenError::Signature)
        );
    }

    #[test]
    fn cookie_hash_keys() {
        let policy = StickyPolicy::cookie_hash("JSESSIONID").expect("name");
        let d = decide(&policy, &[("Cookie", "a=1; JSESSIONID=abc123")]);
        assert_eq!(d.target(), Target::Key(hash_bytes(b"abc123")));
        assert_eq!(d.request(), Request::new().with_key(b"abc123"));
        assert_eq!(d.cookie_status(), CookieStatus::NotUsed);
        assert!(policy.after_pick(&d, BackendId::from_u64(1)).is_none());
        // Quoted values hash as their content.
        let q = decide(&policy, &[("Cookie", "JSESSIONID=\"abc123\"")]);
        assert_eq!(q.key(), d.key());
        for headers in [
            &[][..],
            &[("Cookie", "jsessionid=abc")],
            &[("Cookie", "JSESSIONID=")],
        ] {
            assert_eq!(decide(&policy, headers).target(), Target::Any);
        }
        assert!(StickyPolicy::cookie_hash("bad name").is_err());
    }

    #[test]
    fn header_hash_keys() {
        let policy = StickyPolicy::header_hash("X-User").expect("name");
        let d = decide(&policy, &[("x-user", "u-42"), ("X-User", "other")]);
        assert_eq!(d.key(), Some(hash_bytes(b"u-42")));
        assert_eq!(
            decide(&policy, &[("X-Other", "u-42")]).target(),
            Target::Any
        );
        assert_eq!(decide(&policy, &[("X-User", "")]).target(), Target::Any);
        assert!(policy.after_pick(&d, BackendId::from_u64(1)).is_none());
        assert!(StickyPolicy::header_hash("X User").is_err());
    }

    #[test]
    fn source_ip_keys_match_lb_core() {
        let policy = StickyPolicy::SourceIp;
        for ip in ["192.0.2.7", "2001:db8::1", "::1", "0.0.0.0"] {
            let ip: IpAddr = ip.parse().expect("ip");
            let d = policy.decide(&StickyInput::new(&[] as &[(&str, &str); 0]).with_client_ip(ip));
            assert_eq!(d.key(), Request::new().with_ip(ip).key(), "{ip}");
            assert_eq!(d.request(), Request::new().with_ip(ip));
        }
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(ip_key(mapped), ip_key(v4));
        assert_eq!(decide(&policy, &[]).target(), Target::Any, "no address");
    }

    #[test]
    fn none_policy() {
        let policy = StickyPolicy::default();
        let d = decide(&policy, &[("Cookie", &cookie_for(BackendId::from_u64(1)))]);
        assert_eq!(d.target(), Target::Any);
        assert_eq!(d.request(), Request::new());
        assert!(policy.after_pick(&d, BackendId::from_u64(1)).is_none());
    }
}

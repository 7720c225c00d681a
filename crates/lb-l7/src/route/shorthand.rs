//! Routes from one-line command-line specs, for the examples and small proxies:
//! `[HOST]PATH=ADDR[,ADDR...][;algorithm=NAME][;sticky=SPEC]`.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use lb_core::{Backend, Balancer, Policy};

use super::{Cluster, RetryPolicy, RouteSpec, RouteTable, Timeouts};
use crate::route::RouteAction;
use crate::router::{HostMatch, PathMatch, RouteMatch, Router};
use crate::sticky::{CookieInsert, StickyPolicy, TokenCodec};

/// One route as written on a command line.
///
/// - `PATH` is a prefix on segment boundaries (`/api` takes `/api` and `/api/x`, not `/apix`);
///   `=PATH` (a leading `=`) is an exact path; `/` takes everything.
/// - `HOST` (optional, before the path): `example.com` or `*.example.com`.
/// - `algorithm=NAME` and `sticky=SPEC` override the defaults for this route; `SPEC` is
///   `cookie:NAME`, `ip`, `header:NAME`, `cookie-hash:NAME` or `none`.
///
/// # Examples
///
/// ```
/// use lb_l7::route::RouteShorthand;
/// let r: RouteShorthand = "api.example.com/api/orders=127.0.0.1:19003,127.0.0.1:19004;sticky=cookie:srv".parse()?;
/// assert_eq!(r.backends.len(), 2);
/// assert_eq!(r.sticky.as_deref(), Some("cookie:srv"));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RouteShorthand {
    /// The host condition.
    pub host: HostMatch,
    /// The path condition.
    pub path: PathMatch,
    /// The backends of the route's own cluster.
    pub backends: Vec<SocketAddr>,
    /// Its algorithm, if it names one.
    pub algorithm: Option<String>,
    /// Its sticky policy, if it names one.
    pub sticky: Option<String>,
}

impl FromStr for RouteShorthand {
    type Err = String;

    fn from_str(arg: &str) -> Result<Self, String> {
        let mut parts = arg.split(';');
        let main = parts.next().unwrap_or_default();
        let (target, addrs) = main
            .split_once('=')
            .ok_or_else(|| format!("route {arg:?}: expected [HOST]PATH=ADDR[,ADDR...]"))?;
        // `=PATH=ADDR`: an exact path (the leading `=` leaves an empty target before it).
        let (exact, target, addrs) = if target.is_empty() {
            let (t, a) = addrs
                .split_once('=')
                .ok_or_else(|| format!("route {arg:?}: expected =PATH=ADDR for an exact path"))?;
            (true, t, a)
        } else {
            (false, target, addrs)
        };
        let slash = target
            .find('/')
            .ok_or_else(|| format!("route {arg:?}: the path must start with /"))?;
        let (host, path) = target.split_at(slash);
        let host = match host {
            "" => HostMatch::Any,
            h if h.starts_with("*.") => HostMatch::wildcard(h),
            h => HostMatch::exact(h),
        };
        let path = match (exact, path) {
            (true, p) => PathMatch::exact(p),
            (false, "/") => PathMatch::Any,
            (false, p) => PathMatch::prefix(p),
        };
        let backends = addrs
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("route {arg:?}: {a:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (mut algorithm, mut sticky) = (None, None);
        for option in parts {
            match option.split_once('=') {
                Some(("algorithm", v)) => algorithm = Some(v.to_owned()),
                Some(("sticky", v)) => sticky = Some(v.to_owned()),
                _ => {
                    return Err(format!(
                        "route {arg:?}: unknown option {option:?} (algorithm=, sticky=)"
                    ));
                }
            }
        }
        Ok(Self {
            host,
            path,
            backends,
            algorithm,
            sticky,
        })
    }
}

/// What routes that name no algorithm or sticky policy get, and the policies every route shares.
#[derive(Debug, Clone)]
pub struct ShorthandDefaults {
    /// Algorithm name (as `lb_core::Policy` parses it). Routes with a hashing sticky policy and
    /// no algorithm of their own get `maglev` instead.
    pub algorithm: String,
    /// Sticky spec.
    pub sticky: String,
    /// Key for signing sticky cookies (at least 16 bytes); `None`: unsigned tokens.
    pub cookie_key: Option<Vec<u8>>,
    /// Every route's timeouts.
    pub timeouts: Timeouts,
    /// Every route's retry policy.
    pub retry: RetryPolicy,
}

impl Default for ShorthandDefaults {
    fn default() -> Self {
        Self {
            algorithm: "round-robin".to_owned(),
            sticky: "none".to_owned(),
            cookie_key: None,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// A sticky policy from its spec: `cookie:NAME`, `ip`, `header:NAME`, `cookie-hash:NAME`,
/// `none`.
///
/// # Errors
///
/// A message naming what is wrong.
pub fn sticky_from_spec(spec: &str, cookie_key: Option<&[u8]>) -> Result<StickyPolicy, String> {
    Ok(match spec.split_once(':') {
        None if spec == "none" => StickyPolicy::None,
        None if spec == "ip" => StickyPolicy::SourceIp,
        Some(("cookie", name)) => {
            let codec = match cookie_key {
                Some(key) => TokenCodec::signed(key).map_err(|e| e.to_string())?,
                None => TokenCodec::unsigned(),
            };
            StickyPolicy::CookieInsert(CookieInsert::new(name, codec).map_err(|e| e.to_string())?)
        }
        Some(("cookie-hash", name)) => {
            StickyPolicy::cookie_hash(name).map_err(|e| e.to_string())?
        }
        Some(("header", name)) => StickyPolicy::header_hash(name).map_err(|e| e.to_string())?,
        _ => {
            return Err(format!(
                "sticky {spec:?}: expected cookie:NAME, ip, header:NAME, cookie-hash:NAME or none"
            ));
        }
    })
}

/// A router and its clusters' balancers.
pub type Built = (Router<RouteAction>, Vec<Arc<Balancer<Policy>>>);

/// A router with one cluster per route, and the clusters' balancers (for health probers).
///
/// # Errors
///
/// A message for the first invalid route, algorithm or sticky spec, or the router's whole list
/// of problems.
///
/// # Examples
///
/// ```
/// use lb_l7::route::{router_from_shorthands, RouteShorthand, ShorthandDefaults};
/// let routes: Vec<RouteShorthand> = ["/api/users=127.0.0.1:19001,127.0.0.1:19002", "/api/orders=127.0.0.1:19003;sticky=ip"]
///     .iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
/// let (router, balancers) = router_from_shorthands(&routes, &ShorthandDefaults::default())?;
/// assert_eq!((router.len(), balancers.len()), (2, 2));
/// # Ok::<(), String>(())
/// ```
pub fn router_from_shorthands(
    routes: &[RouteShorthand],
    defaults: &ShorthandDefaults,
) -> Result<Built, String> {
    let mut table = RouteTable::new();
    let mut balancers = Vec::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        let sticky = sticky_from_spec(
            route.sticky.as_deref().unwrap_or(&defaults.sticky),
            defaults.cookie_key.as_deref(),
        )?;
        let hashing = matches!(
            sticky,
            StickyPolicy::SourceIp
                | StickyPolicy::HeaderHash { .. }
                | StickyPolicy::CookieHash { .. }
        );
        let algorithm = match (&route.algorithm, hashing) {
            (Some(a), _) => a.as_str(),
            (None, true) => "maglev",
            (None, false) => defaults.algorithm.as_str(),
        };
        let policy: Policy = algorithm.parse().map_err(|e| format!("route {i}: {e}"))?;
        let backends = route.backends.iter().map(|&a| Backend::new(a)).collect();
        let balancer =
            Arc::new(Balancer::new(policy, backends).map_err(|e| format!("route {i}: {e}"))?);
        balancers.push(Arc::clone(&balancer));
        let cluster = format!("route{i}");
        table = table.cluster(Cluster::shared(cluster.clone(), balancer));
        let matcher = RouteMatch::new()
            .with_host(route.host.clone())
            .with_path(route.path.clone());
        table = table.route(RouteSpec {
            sticky,
            timeouts: defaults.timeouts,
            retry: defaults.retry,
            ..RouteSpec::new(format!("route{i}"), matcher, cluster)
        });
    }
    let router = table.build().map_err(|e| e.to_string())?;
    Ok((router, balancers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_forms() {
        let r: RouteShorthand = "=/healthz=127.0.0.1:1".parse().unwrap();
        assert_eq!(r.path, PathMatch::exact("/healthz"));
        let r: RouteShorthand = "*.b.example/=127.0.0.1:1".parse().unwrap();
        assert_eq!(
            (r.host, r.path),
            (HostMatch::wildcard("*.b.example"), PathMatch::Any)
        );
        let r: RouteShorthand = "/api=127.0.0.1:1;algorithm=ring;sticky=header:X-User"
            .parse()
            .unwrap();
        assert_eq!(r.algorithm.as_deref(), Some("ring"));
        for bad in [
            "/api",
            "api=127.0.0.1:1",
            "/a=nope",
            "/a=127.0.0.1:1;weird=1",
        ] {
            assert!(bad.parse::<RouteShorthand>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hashing_sticky_gets_a_hashing_algorithm() {
        let routes: Vec<RouteShorthand> = vec!["/o=127.0.0.1:1;sticky=ip".parse().unwrap()];
        let (_, balancers) =
            router_from_shorthands(&routes, &ShorthandDefaults::default()).unwrap();
        assert_eq!(balancers[0].algorithm().name(), "maglev");
        let routes: Vec<RouteShorthand> = vec![
            "/o=127.0.0.1:1;sticky=ip;algorithm=round-robin"
                .parse()
                .unwrap(),
        ];
        let err = router_from_shorthands(&routes, &ShorthandDefaults::default()).unwrap_err();
        assert!(err.contains("needs a hashing algorithm"), "{err}");
    }
}

//! Host matching: exact names, `*.suffix` wildcards and any host, and the index over them.
//!
//! A request's host is compared after three normalisations, none of which allocates: the port is
//! dropped (`example.com:8080` → `example.com`; for an IPv6 literal, everything after the `]`),
//! one trailing dot is dropped (`example.com.` → `example.com`), and letters are compared without
//! regard to case. Patterns are normalised the same way when the router is built.

use super::hash::{HashIndex, Lengths, SEED, backward_lowercase, finish, step};
use super::to_id;

/// Which hosts a route applies to (nginx `server_name`, Envoy virtual host `domains`).
///
/// Names are compared case-insensitively, with one trailing dot ignored on both sides and the
/// request's port ignored (a pattern carries no port). Specificity, most specific first:
/// [`Exact`](Self::Exact), then [`Wildcard`](Self::Wildcard) (a longer suffix before a shorter
/// one), then [`Any`](Self::Any).
///
/// # Examples
///
/// ```
/// use lb_l7::router::HostMatch;
///
/// let api = HostMatch::exact("api.example.com");
/// let tenants = HostMatch::wildcard("*.example.com");
/// assert_ne!(api, tenants);
/// assert_eq!(HostMatch::default(), HostMatch::Any);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostMatch {
    /// Every request, including one without a host.
    #[default]
    Any,
    /// One name (`example.com`), or an IPv6 literal in brackets (`[::1]`). Letters, digits,
    /// `-` and `_` in non-empty labels separated by dots; a trailing dot is allowed and ignored.
    Exact(String),
    /// `*.suffix`: every host that ends with `.suffix` and has at least one byte before that
    /// dot (Envoy's semantics). `*.example.com` matches `a.example.com` and `a.b.example.com`,
    /// but not `example.com` itself: add an [`Exact`](Self::Exact) route for the apex. The `*`
    /// must be the whole first label: `a.*.com` and `*a.example.com` are rejected.
    Wildcard(String),
}

impl HostMatch {
    /// [`HostMatch::Exact`] for `name`.
    #[must_use]
    pub fn exact(name: impl Into<String>) -> Self {
        Self::Exact(name.into())
    }

    /// [`HostMatch::Wildcard`] for `pattern`, which must read `*.suffix`.
    #[must_use]
    pub fn wildcard(pattern: impl Into<String>) -> Self {
        Self::Wildcard(pattern.into())
    }

    /// The normalised form the index stores, or why the pattern is invalid.
    pub(super) fn key(&self) -> Result<HostKey, &'static str> {
        match self {
            Self::Any => Ok(HostKey::Any),
            Self::Exact(name) => {
                let name = strip_dot(name.as_bytes());
                if name.contains(&b'*') {
                    return Err("'*' is only allowed as the first label of a wildcard pattern");
                }
                if name.first() == Some(&b'[') {
                    check_ipv6_literal(name)?;
                } else {
                    check_name(name)?;
                }
                Ok(HostKey::Exact(name.to_ascii_lowercase().into()))
            }
            Self::Wildcard(pattern) => {
                let pattern = strip_dot(pattern.as_bytes());
                let Some(suffix) = pattern.strip_prefix(b"*.") else {
                    return Err(match pattern {
                        b"*" => "a lone '*' is not a wildcard pattern; use HostMatch::Any",
                        _ if pattern.contains(&b'*') => {
                            "'*' must be the whole first label, as in *.example.com"
                        }
                        _ => "a wildcard pattern must start with '*.'",
                    });
                };
                if suffix.contains(&b'*') {
                    return Err("'*' must be the whole first label, as in *.example.com");
                }
                if suffix.is_empty() {
                    return Err("nothing follows '*.'");
                }
                check_name(suffix)?;
                Ok(HostKey::Wildcard(suffix.to_ascii_lowercase().into()))
            }
        }
    }
}

/// A [`HostMatch`] normalised: lowercase, no trailing dot, a wildcard stored as its suffix
/// (`*.example.com` → `example.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum HostKey {
    Any,
    Exact(Box<[u8]>),
    Wildcard(Box<[u8]>),
}

fn strip_dot(name: &[u8]) -> &[u8] {
    name.strip_suffix(b".").unwrap_or(name)
}

/// A DNS-style name: non-empty labels of letters, digits, `-` and `_`, separated by dots.
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty host name; use HostMatch::Any to match every host");
    }
    if name.contains(&b':') {
        return Err("a host pattern has no port (the request's port is ignored)");
    }
    if let Some(&bad) = name
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    {
        return Err(if bad.is_ascii_whitespace() {
            "whitespace in a host name"
        } else {
            "a host name holds only letters, digits, '-', '_' and '.'"
        });
    }
    if name.split(|&b| b == b'.').any(<[u8]>::is_empty) {
        return Err("empty label (a leading dot or two dots in a row)");
    }
    Ok(())
}

/// `[` hex digits, `:` and `.` (at least one `:`) `]`.
fn check_ipv6_literal(name: &[u8]) -> Result<(), &'static str> {
    let inner = name
        .strip_prefix(b"[")
        .and_then(|n| n.strip_suffix(b"]"))
        .ok_or("an IPv6 literal is written [address], without a port")?;
    if inner.contains(&b':')
        && inner
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        Ok(())
    } else {
        Err("an IPv6 literal holds only hex digits, ':' and '.'")
    }
}

/// The part of a request's host that routes match: no port, no trailing dot. Case is left
/// alone (the index compares case-insensitively).
pub(super) fn request_host(raw: &[u8]) -> &[u8] {
    let host = if raw.first() == Some(&b'[') {
        match memchr::memchr(b']', raw) {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match memchr::memchr(b':', raw) {
            Some(colon) => &raw[..colon],
            None => raw,
        }
    };
    strip_dot(host)
}

/// One host group of the index: its normalised name, the next entry with the same hash, and
/// the next less specific group that matches every host this one matches.
#[derive(Debug)]
struct HostEntry {
    name: Box<[u8]>,
    next: Option<u32>,
    parent: Option<u32>,
}

/// Every distinct [`HostKey`] of a route table, indexed by name.
///
/// Exact names and wildcard suffixes sit in two hash maps keyed by their hash taken right to
/// left, so one right-to-left pass over a request's host computes the key of every suffix that
/// starts a label: the wildcard probes happen along the way, the exact probe at the end. Probes
/// happen only at lengths some pattern has, and the pass stops early once no pattern is long
/// enough to match, so a long host costs no more than the longest pattern.
///
/// The groups that match a given host form a chain, from most to least specific: the exact
/// name, the wildcards from the longest suffix to the shortest, any host. Each group stores its
/// successor in that chain (computed at build), so a lookup finds the head and then follows
/// links; the chain does not depend on the request beyond its head.
#[derive(Debug)]
pub(super) struct HostIndex {
    entries: Vec<HostEntry>,
    exact: HashIndex,
    exact_lengths: Lengths,
    wildcard: HashIndex,
    wildcard_lengths: Lengths,
    any: Option<u32>,
}

impl HostIndex {
    /// Indexes `keys`, which must be distinct; group `i` is `keys[i]`.
    pub(super) fn new(keys: &[HostKey]) -> Self {
        let mut index = Self {
            entries: Vec::with_capacity(keys.len()),
            exact: HashIndex::default(),
            exact_lengths: Lengths::default(),
            wildcard: HashIndex::default(),
            wildcard_lengths: Lengths::default(),
            any: None,
        };
        for (group, key) in keys.iter().enumerate() {
            let group = to_id(group);
            let (name, map, lengths): (&[u8], _, _) = match key {
                HostKey::Any => {
                    index.any = Some(group);
                    index.entries.push(HostEntry {
                        name: Box::default(),
                        next: None,
                        parent: None,
                    });
                    continue;
                }
                HostKey::Exact(name) => (name, &mut index.exact, &mut index.exact_lengths),
                HostKey::Wildcard(suffix) => {
                    (suffix, &mut index.wildcard, &mut index.wildcard_lengths)
                }
            };
            let next = map.insert(backward_lowercase(name), group);
            lengths.insert(name.len());
            index.entries.push(HostEntry {
                name: name.into(),
                next,
                parent: None,
            });
        }
        for (group, key) in keys.iter().enumerate() {
            let parent = match key {
                HostKey::Any => None,
                // The longest wildcard matching the name itself, excluding the group: an exact
                // name never probes the wildcard map at full length, and a suffix `s` only
                // probes proper suffixes of `s`.
                HostKey::Exact(name) | HostKey::Wildcard(name) => index.scan(name).1.or(index.any),
            };
            index.entries[group].parent = parent;
        }
        index
    }

    /// The most specific group matching `host` (as received), or `None` when no group does.
    pub(super) fn first(&self, host: Option<&[u8]>) -> Option<u32> {
        let Some(host) = host else {
            return self.any;
        };
        let (exact, wildcard) = self.scan(request_host(host));
        exact.or(wildcard).or(self.any)
    }

    /// The next less specific group after `group` that matches the same hosts.
    pub(super) fn parent(&self, group: u32) -> Option<u32> {
        self.entries[group as usize].parent
    }

    /// The exact group named `host` and the wildcard group with the longest suffix matching
    /// `host` (already stripped of port and trailing dot).
    fn scan(&self, host: &[u8]) -> (Option<u32>, Option<u32>) {
        let n = host.len();
        let want_exact = self.exact_lengths.contains(n);
        let stop = if want_exact {
            0
        } else {
            n.saturating_sub(self.wildcard_lengths.max())
        };
        let mut state = SEED;
        let mut wildcard = None;
        let mut i = n;
        while i > stop {
            i -= 1;
            state = step(state, host[i].to_ascii_lowercase());
            // `host[i..]` is a candidate suffix when a dot precedes it and at least one byte
            // precedes that dot. Later hits are longer, hence more specific.
            if i >= 2 && host[i - 1] == b'.' && self.wildcard_lengths.contains(n - i) {
                if let Some(group) = self.probe(&self.wildcard, finish(state), &host[i..]) {
                    wildcard = Some(group);
                }
            }
        }
        let exact = if want_exact {
            self.probe(&self.exact, finish(state), host)
        } else {
            None
        };
        (exact, wildcard)
    }

    fn probe(&self, map: &HashIndex, hash: u64, name: &[u8]) -> Option<u32> {
        let mut cursor = map.get(&hash).copied();
        while let Some(group) = cursor {
            let entry = &self.entries[group as usize];
            if entry.name.eq_ignore_ascii_case(name) {
                return Some(group);
            }
            cursor = entry.next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(m: HostMatch) -> HostKey {
        m.key().expect("valid pattern")
    }

    fn chain(index: &HostIndex, host: Option<&[u8]>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cursor = index.first(host);
        while let Some(group) = cursor {
            out.push(group);
            cursor = index.parent(group);
        }
        out
    }

    #[test]
    fn request_host_drops_port_and_trailing_dot() {
        assert_eq!(request_host(b"example.com:8080"), b"example.com");
        assert_eq!(request_host(b"example.com.:8080"), b"example.com");
        assert_eq!(request_host(b"example.com."), b"example.com");
        assert_eq!(request_host(b"Example.COM"), b"Example.COM");
        assert_eq!(request_host(b"[::1]:443"), b"[::1]");
        assert_eq!(request_host(b"[::1]"), b"[::1]");
        assert_eq!(request_host(b""), b"");
    }

    #[test]
    fn patterns_normalise_case_and_trailing_dot() {
        assert_eq!(
            key(HostMatch::exact("Example.COM.")),
            HostKey::Exact(b"example.com"[..].into())
        );
        assert_eq!(
            key(HostMatch::wildcard("*.Example.com")),
            HostKey::Wildcard(b"example.com"[..].into())
        );
        assert_eq!(
            key(HostMatch::exact("[::1]")),
            HostKey::Exact(b"[::1]"[..].into())
        );
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for bad in [
            "",
            ".",
            "a..com",
            ".example.com",
            "exa mple.com",
            "example.com:80",
            "ex*ample.com",
            "*.example.com",
            "ex/ample",
            "[::1",
            "[zz::1]",
        ] {
            assert!(HostMatch::exact(bad).key().is_err(), "exact {bad:?}");
        }
        for bad in [
            "*",
            "*.",
            "a.*.com",
            "*a.example.com",
            "example.com",
            "*.*.com",
            "**.com",
            "*.a..com",
            "*.[::1]",
        ] {
            assert!(HostMatch::wildcard(bad).key().is_err(), "wildcard {bad:?}");
        }
    }

    #[test]
    fn exact_names_ignore_case_port_and_trailing_dot() {
        let index = HostIndex::new(&[key(HostMatch::exact("example.com"))]);
        for host in [
            &b"example.com"[..],
            b"EXAMPLE.com",
            b"example.com:8080",
            b"example.com.",
            b"Example.Com.:443",
        ] {
            assert_eq!(index.first(Some(host)), Some(0), "{host:?}");
        }
        for host in [&b"a.example.com"[..], b"example.co", b"xexample.com", b""] {
            assert_eq!(index.first(Some(host)), None, "{host:?}");
        }
        assert_eq!(index.first(None), None);
    }

    #[test]
    fn wildcards_need_at_least_one_label() {
        let index = HostIndex::new(&[key(HostMatch::wildcard("*.example.com"))]);
        assert_eq!(index.first(Some(b"a.example.com")), Some(0));
        assert_eq!(index.first(Some(b"A.b.Example.com:80")), Some(0));
        assert_eq!(index.first(Some(b"example.com")), None);
        assert_eq!(index.first(Some(b".example.com")), None);
        assert_eq!(index.first(Some(b"aexample.com")), None);
        assert_eq!(index.first(Some(b"a.example.org")), None);
    }

    #[test]
    fn chains_run_exact_then_longer_suffix_then_any() {
        let keys = [
            key(HostMatch::Any),                         // 0
            key(HostMatch::wildcard("*.com")),           // 1
            key(HostMatch::exact("a.b.example.com")),    // 2
            key(HostMatch::wildcard("*.example.com")),   // 3
            key(HostMatch::wildcard("*.b.example.com")), // 4
        ];
        let index = HostIndex::new(&keys);
        assert_eq!(chain(&index, Some(b"a.b.example.com")), [2, 4, 3, 1, 0]);
        assert_eq!(chain(&index, Some(b"c.b.example.com")), [4, 3, 1, 0]);
        assert_eq!(chain(&index, Some(b"b.example.com")), [3, 1, 0]);
        assert_eq!(chain(&index, Some(b"example.com")), [1, 0]);
        assert_eq!(chain(&index, Some(b"com")), [0]);
        assert_eq!(chain(&index, Some(b"[::1]:80")), [0]);
        assert_eq!(chain(&index, None), [0]);
    }

    #[test]
    fn long_hosts_stop_at_the_longest_pattern() {
        let index = HostIndex::new(&[key(HostMatch::wildcard("*.example.com"))]);
        let mut host = "a.".repeat(5000);
        host.push_str("example.com");
        assert_eq!(index.first(Some(host.as_bytes())), Some(0));
    }
}

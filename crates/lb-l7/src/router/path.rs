//! Path matching: exact paths, segment-boundary prefixes and any path, and the index over them.
//!
//! Matching is on the raw bytes of the request target before the first `?`: no percent-decoding
//! (`/caf%C3%A9` matches only a pattern written `/caf%C3%A9`), no case folding, and no
//! resolution of `.` or `..` segments or repeated slashes (`/api/../admin` does not match
//! `/admin`, and it does match the prefix `/api`). This is Envoy's default; nginx decodes and
//! normalises before matching `location`s. A proxy that wants normalised matching normalises the
//! target first, and must then forward the normalised form, or a backend may see a path the
//! route table never judged.

use super::hash::{HashIndex, Lengths, SEED, finish, forward, step};
use super::to_id;

/// Which request paths a route applies to (nginx `location`, Envoy route `match`). No regex.
///
/// Specificity, most specific first: [`Exact`](Self::Exact), then [`Prefix`](Self::Prefix) by
/// length in bytes (longer first), then [`Any`](Self::Any). Patterns start with `/` and hold
/// neither `?` nor `#`, nor spaces or control characters.
///
/// # Examples
///
/// ```
/// use lb_l7::router::PathMatch;
///
/// assert_eq!(PathMatch::prefix("/api"), PathMatch::Prefix("/api".to_owned()));
/// assert_eq!(PathMatch::default(), PathMatch::Any);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathMatch {
    /// Every path, including `*` (an `OPTIONS *` request) and an empty one.
    #[default]
    Any,
    /// This path exactly, byte for byte: `/x` matches `/x` and `/x?q=1`, not `/x/` or `/X`.
    Exact(String),
    /// This prefix, ending on a segment boundary. A prefix without a trailing slash matches the
    /// path itself and everything under it: `/api` matches `/api`, `/api/` and `/api/users`,
    /// but not `/apix`. A prefix with a trailing slash matches only under it: `/api/` matches
    /// `/api/` and `/api/users`, but not `/api` (nginx would redirect `/api` to `/api/` for a
    /// proxied `location /api/`; add an `Exact("/api")` route for that). `/` matches every
    /// path that starts with `/`.
    Prefix(String),
}

impl PathMatch {
    /// [`PathMatch::Exact`] for `path`.
    #[must_use]
    pub fn exact(path: impl Into<String>) -> Self {
        Self::Exact(path.into())
    }

    /// [`PathMatch::Prefix`] for `prefix`.
    #[must_use]
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::Prefix(prefix.into())
    }

    /// Why the pattern is invalid, if it is.
    pub(super) fn check(&self) -> Result<(), &'static str> {
        let (Self::Exact(path) | Self::Prefix(path)) = self else {
            return Ok(());
        };
        let path = path.as_bytes();
        if path.is_empty() {
            Err("empty path; use PathMatch::Any to match every path")
        } else if path[0] != b'/' {
            Err("a path pattern starts with '/'")
        } else if path.contains(&b'?') {
            Err("'?' starts the query, which routes do not match")
        } else if path.contains(&b'#') {
            Err("'#' starts a fragment, which is never sent to a server")
        } else if path.iter().any(|&b| b <= b' ' || b == 0x7f) {
            Err("spaces and control characters never appear in a request target")
        } else {
            Ok(())
        }
    }
}

/// The part of a request target that routes match: everything before the first `?`.
pub(super) fn request_path(target: &[u8]) -> &[u8] {
    match memchr::memchr(b'?', target) {
        Some(query) => &target[..query],
        None => target,
    }
}

/// One exact path or prefix of a table: the routes using it (most specific first), the next
/// node with the same hash and, for a prefix, the next shorter prefix matching everything this
/// one matches.
#[derive(Debug)]
struct PathNode {
    pattern: Box<[u8]>,
    next: Option<u32>,
    parent: Option<u32>,
    routes: Vec<u32>,
}

/// The routes of one host group, indexed by path.
///
/// Exact paths and prefixes sit in two hash maps keyed by their hash taken left to right, so a
/// single pass over the request path computes the key of every prefix that ends on a segment
/// boundary (before each `/`, after each `/`, at the end) and probes it if some prefix has that
/// length: the last hit is the longest matching prefix. The pass stops once no pattern is long
/// enough to match.
///
/// The prefixes matching a path form a chain: if prefixes `p` and `q` both match a path and
/// `q` is shorter, `q` matches `p` itself. So each prefix stores its successor (the longest
/// shorter prefix matching it, computed at build) and a lookup walks from the longest hit down.
#[derive(Debug, Default)]
pub(super) struct PathTable {
    exact_nodes: Vec<PathNode>,
    exact: HashIndex,
    exact_lengths: Lengths,
    prefix_nodes: Vec<PathNode>,
    prefix: HashIndex,
    prefix_lengths: Lengths,
    any: Vec<u32>,
}

impl PathTable {
    /// Adds `route` under `path`. Routes must be added most specific first within each path
    /// (the builder adds them by constraint count, then declaration order).
    pub(super) fn insert(&mut self, path: &PathMatch, route: u32) {
        let (pattern, nodes, map, lengths) = match path {
            PathMatch::Any => {
                self.any.push(route);
                return;
            }
            PathMatch::Exact(p) => (
                p.as_bytes(),
                &mut self.exact_nodes,
                &mut self.exact,
                &mut self.exact_lengths,
            ),
            PathMatch::Prefix(p) => (
                p.as_bytes(),
                &mut self.prefix_nodes,
                &mut self.prefix,
                &mut self.prefix_lengths,
            ),
        };
        let hash = forward(pattern);
        let mut cursor = map.get(&hash).copied();
        while let Some(node) = cursor {
            let node = &mut nodes[node as usize];
            if *node.pattern == *pattern {
                node.routes.push(route);
                return;
            }
            cursor = node.next;
        }
        let id = to_id(nodes.len());
        nodes.push(PathNode {
            pattern: pattern.into(),
            next: map.insert(hash, id),
            parent: None,
            routes: vec![route],
        });
        lengths.insert(pattern.len());
    }

    /// Links every prefix to the next shorter one; call once, after the last insert.
    pub(super) fn link(&mut self) {
        for node in 0..self.prefix_nodes.len() {
            let pattern = &self.prefix_nodes[node].pattern;
            // Capped below the pattern's own length, so the node never finds itself.
            let (_, parent) = self.scan(pattern, pattern.len() - 1, false);
            self.prefix_nodes[node].parent = parent;
        }
    }

    /// The first route, in specificity order, whose path matches `path` and that `admits`
    /// accepts: the exact path's routes, then each matching prefix's from the longest, then
    /// the any-path routes.
    pub(super) fn find(&self, path: &[u8], mut admits: impl FnMut(u32) -> bool) -> Option<u32> {
        let (exact, prefix) = self.scan(path, usize::MAX, true);
        if let Some(node) = exact {
            if let Some(&route) = self.exact_nodes[node as usize]
                .routes
                .iter()
                .find(|&&r| admits(r))
            {
                return Some(route);
            }
        }
        let mut cursor = prefix;
        while let Some(node) = cursor {
            let node = &self.prefix_nodes[node as usize];
            if let Some(&route) = node.routes.iter().find(|&&r| admits(r)) {
                return Some(route);
            }
            cursor = node.parent;
        }
        self.any.iter().copied().find(|&r| admits(r))
    }

    /// The exact node equal to `path` (when `with_exact`) and the longest prefix node of at
    /// most `cap` bytes matching `path`.
    fn scan(&self, path: &[u8], cap: usize, with_exact: bool) -> (Option<u32>, Option<u32>) {
        let n = path.len();
        let with_exact = with_exact && self.exact_lengths.contains(n);
        let cap = cap.min(self.prefix_lengths.max());
        let mut state = SEED;
        let mut prefix = None;
        let mut try_prefix = |state: u64, len: usize| {
            if !self.prefix_lengths.contains(len) {
                return;
            }
            if let Some(node) = probe(&self.prefix_nodes, &self.prefix, state, &path[..len]) {
                prefix = Some(node);
            }
        };
        for (j, &b) in path.iter().enumerate() {
            // `path[..j]` followed by `/`: a boundary for a prefix without a trailing slash.
            if b == b'/' && j > 0 && j <= cap {
                try_prefix(state, j);
            }
            if j >= cap && !with_exact {
                return (None, prefix);
            }
            state = step(state, b);
            // `path[..=j]` ends in `/`: a prefix with a trailing slash.
            if b == b'/' && j < cap {
                try_prefix(state, j + 1);
            }
        }
        // The whole path, unless it ends in `/` and was probed above.
        if n > 0 && n <= cap && path[n - 1] != b'/' {
            try_prefix(state, n);
        }
        let exact = if with_exact {
            probe(&self.exact_nodes, &self.exact, state, path)
        } else {
            None
        };
        (exact, prefix)
    }
}

fn probe(nodes: &[PathNode], map: &HashIndex, state: u64, pattern: &[u8]) -> Option<u32> {
    let mut cursor = map.get(&finish(state)).copied();
    while let Some(id) = cursor {
        let node = &nodes[id as usize];
        if *node.pattern == *pattern {
            return Some(id);
        }
        cursor = node.next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table with route `i` under `paths[i]`; returns every route matching `path`, in order.
    fn matches(paths: &[PathMatch], path: &[u8]) -> Vec<u32> {
        let mut table = PathTable::default();
        for (i, p) in paths.iter().enumerate() {
            table.insert(p, to_id(i));
        }
        table.link();
        let mut out = Vec::new();
        table.find(path, |r| {
            out.push(r);
            false
        });
        out
    }

    fn prefix(p: &str) -> PathMatch {
        PathMatch::prefix(p)
    }

    #[test]
    fn prefixes_end_on_segment_boundaries() {
        let paths = [prefix("/api")];
        for hit in ["/api", "/api/", "/api/users", "/api/users/1"] {
            assert_eq!(matches(&paths, hit.as_bytes()), [0], "{hit}");
        }
        for miss in ["/apix", "/ap", "/", "/API", "/x/api", "", "*"] {
            assert!(matches(&paths, miss.as_bytes()).is_empty(), "{miss}");
        }
    }

    #[test]
    fn a_trailing_slash_prefix_matches_only_below_it() {
        let paths = [prefix("/api/")];
        for hit in ["/api/", "/api/users", "/api//x"] {
            assert_eq!(matches(&paths, hit.as_bytes()), [0], "{hit}");
        }
        for miss in ["/api", "/apix", "/api-x/"] {
            assert!(matches(&paths, miss.as_bytes()).is_empty(), "{miss}");
        }
    }

    #[test]
    fn the_root_prefix_matches_every_absolute_path() {
        let paths = [prefix("/")];
        for hit in ["/", "/a", "/a/b/", "//"] {
            assert_eq!(matches(&paths, hit.as_bytes()), [0], "{hit}");
        }
        for miss in ["", "*", "a/b"] {
            assert!(matches(&paths, miss.as_bytes()).is_empty(), "{miss}");
        }
    }

    #[test]
    fn exact_then_longest_prefix_then_any() {
        let paths = [
            PathMatch::Any,              // 0
            prefix("/"),                 // 1
            prefix("/api"),              // 2
            prefix("/api/v1"),           // 3
            PathMatch::exact("/api/v1"), // 4
            prefix("/api/"),             // 5
            prefix("/api/v1/users"),     // 6
            prefix("/apiv1"),            // 7
        ];
        assert_eq!(matches(&paths, b"/api/v1"), [4, 3, 5, 2, 1, 0]);
        assert_eq!(matches(&paths, b"/api/v1/"), [3, 5, 2, 1, 0]);
        assert_eq!(matches(&paths, b"/api/v1/users/7"), [6, 3, 5, 2, 1, 0]);
        assert_eq!(matches(&paths, b"/api/v10"), [5, 2, 1, 0]);
        assert_eq!(matches(&paths, b"/api"), [2, 1, 0]);
        assert_eq!(matches(&paths, b"/other"), [1, 0]);
        assert_eq!(matches(&paths, b"*"), [0]);
    }

    #[test]
    fn routes_sharing_a_pattern_keep_insertion_order() {
        let paths = [
            prefix("/a"),
            prefix("/a"),
            PathMatch::exact("/a"),
            prefix("/a"),
        ];
        assert_eq!(matches(&paths, b"/a/b"), [0, 1, 3]);
        assert_eq!(matches(&paths, b"/a"), [2, 0, 1, 3]);
    }

    #[test]
    fn matching_is_on_raw_bytes() {
        let paths = [prefix("/caf%C3%A9"), PathMatch::exact("/admin")];
        assert_eq!(matches(&paths, b"/caf%C3%A9/menu"), [0]);
        assert!(matches(&paths, b"/caf%c3%a9").is_empty());
        assert!(matches(&paths, b"/api/../admin").is_empty());
        assert!(matches(&paths, b"//admin").is_empty());
    }

    #[test]
    fn long_paths_stop_at_the_longest_pattern() {
        let paths = [prefix("/a")];
        let path = "/b".repeat(10_000);
        assert!(matches(&paths, path.as_bytes()).is_empty());
        let path = "/a".repeat(10_000);
        assert_eq!(matches(&paths, path.as_bytes()), [0]);
        let path = format!("/a{}", "/".repeat(10_000));
        assert_eq!(matches(&paths, path.as_bytes()), [0]);
    }

    #[test]
    fn request_path_drops_the_query() {
        assert_eq!(request_path(b"/a?b"), b"/a");
        assert_eq!(request_path(b"/a"), b"/a");
        assert_eq!(request_path(b"?"), b"");
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for bad in ["", "api", "/a?b", "/a#b", "/a b", "/a\tb", "*"] {
            assert!(PathMatch::exact(bad).check().is_err(), "{bad:?}");
            assert!(prefix(bad).check().is_err(), "{bad:?}");
        }
        assert!(prefix("/").check().is_ok());
        assert!(PathMatch::Any.check().is_ok());
    }
}

//! Sticky sessions: cookie-insert tokens, cookie/header hash keys, source-IP keys.
//!
//! A [`StickyPolicy`] per route turns each request into a [`StickyDecision`], the proxy
//! asks the balancer accordingly ([`StickyDecision::pick`]), and
//! [`StickyPolicy::after_pick`] says whether the response must carry a `Set-Cookie`:
//!
//! 1. [`StickyPolicy::decide`] reads the request through a [`StickyInput`] (its headers,
//!    the client address, TLS or not) and gives a [`Target`]: a [pinned](Target::Pinned)
//!    backend id (a valid cookie-insert token), a hash [key](Target::Key) for a consistent
//!    selector (application cookie, header, client address), or [any](Target::Any) backend.
//! 2. The balancer picks: the pinned backend if it is eligible, else a normal pick. Only the
//!    balancer knows eligibility (health, draining, membership), so a token for an unknown
//!    or drained backend simply fails that first pick.
//! 3. For cookie insert, [`after_pick`](StickyPolicy::after_pick) returns a [`SetCookie`]
//!    when the request had no valid token or the picked backend is not the pinned one; a
//!    valid token for the picked backend is left alone.
//!
//! Nothing here does I/O, and the per-request path (decide, encode, render into the
//! caller's buffer) allocates nothing.
//!
//! # Several load balancers, no shared state
//!
//! Cookies name a backend by its [`BackendId`](lb_core::BackendId), derived from the
//! backend's configured name (or address) with a hash fixed by specification, never by its
//! address or its position in a list. Tokens are deterministic functions of that id, the
//! key and the context ([`token`] format). Hash keys use the same stable hash as lb-core's
//! [`Request`](lb_core::Request). So every instance behind an L4 tier, configured with the
//! same backends and key, mints and accepts the same cookies and maps the same keys to the
//! same backends, with no session table to replicate.
//!
//! # Files
//!
//! - [`token`]: the token codec (unsigned, or HMAC-SHA256 signed with key rotation).
//! - `cookie`: `Cookie` header parsing and name validation.
//! - `set_cookie`: the [`CookieInsert`] settings and [`SetCookie`] rendering.
//! - `input`: [`StickyInput`] and the [`HeaderSource`] trait.
//! - `policy`: [`StickyPolicy`], [`StickyDecision`].

mod base64url;
mod cookie;
mod input;
mod policy;
mod set_cookie;
pub mod token;

pub use cookie::{
    ConfigError, CookieName, CookiePairs, cookie_pairs, find_cookie, is_token, remove_cookie,
};
pub use input::{HeaderName, HeaderSource, StickyInput};
pub use policy::{CookieStatus, MAX_TOKENS_TRIED, StickyDecision, StickyPolicy, Target, ip_key};
pub use set_cookie::{CookieInsert, SameSite, Secure, SetCookie};
pub use token::{KeyError, Token, TokenCodec, TokenError};

//! L7 load balancing for HTTP/1.1: a strict sans-IO codec, a router and sticky sessions.
//!
//! Everything in this crate but `proxy` is pure: parsers take byte slices, state machines take bytes and
//! return events, and nothing here opens a socket. The proxy runtime drives these pieces.
//!
//! - [`head`]: request and response heads on `httparse`, with RFC 9112 framing enforced.
//! - [`body`]: where a body of any framing ends ([`body::BodyReader`]).
//! - [`chunked`]: the chunked transfer-coding decoder (and encoder helpers).
//! - `proxy` (feature `proxy`, default): the runtime on tokio that drives all of the above;
//!   with feature `upstream-tls` (default), TLS to a cluster's backends with rustls
//!   (`route::Cluster::with_upstream_tls`).
//! - [`rewrite`]: the heads sent on: hop-by-hop fields out, `X-Forwarded-*` in, route edits.
//! - [`route`]: what a route does (cluster, sticky policy, timeouts, retries, header edits) and
//!   [`route::RouteTable`], a validated router of them built from named clusters.
//! - [`router`]: routes as data, most specific match wins.
//! - [`sticky`]: cookie-insert tokens, cookie/header hash keys, source-IP keys.
#![forbid(unsafe_code)]

pub mod body;
pub mod chunked;
mod error;
pub mod head;
mod limits;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod rewrite;
pub mod route;
pub mod router;
mod source;
pub mod sticky;

pub use error::ParseError;
pub use limits::Limits;
pub use source::{HeaderSource, NoHeaders};

//! The cookie value: a short, cookie-safe token naming a backend's stable [`BackendId`],
//! optionally signed with HMAC-SHA256.
//!
//! # Format
//!
//! Both modes are base64url without padding (RFC 4648 §5: `A-Z a-z 0-9 - _`), which is
//! valid in a cookie value unquoted, in a URL, and in a log line.
//!
//! | mode     | bytes encoded                       | token length |
//! |----------|-------------------------------------|--------------|
//! | unsigned | `id` (8 bytes, big-endian)          | 11 chars     |
//! | signed   | `id` (8) ‖ `tag` (16)               | 32 chars     |
//!
//! where `tag` is the first 16 bytes (128 bits) of
//!
//! ```text
//! HMAC-SHA256(key, "lb-l7 sticky v1\0" ‖ len(context) as u64 BE ‖ context ‖ id as u64 BE)
//! ```
//!
//! The `context` (empty unless set with [`TokenCodec::with_context`]) binds a token to a
//! route, a cookie name, a tenant: a token minted under one context does not verify under
//! another, so it cannot be replayed against a route that uses the same key. The mode is
//! told by the length: a signed codec rejects unsigned tokens and the reverse. The encoding
//! is canonical: every accepted token is exactly what [`TokenCodec::encode`] produces for
//! the id it decodes to (no padding, no alternative alphabets, zero unused bits).
//!
//! The token never contains a backend's address or its position in a list, only its id,
//! which [`BackendId::from_name`] derives from the configured name. Several load balancers
//! configured with the same backends and the same key therefore mint and accept the same
//! tokens without sharing any state.
//!
//! # What signing buys
//!
//! Unsigned tokens let a client pick any backend by id (ids are a public function of the
//! backend names), which is what nginx's and HAProxy's plain cookies allow too. Signed
//! tokens only name backends this deployment itself pinned a client to; verification is in
//! constant time (`hmac`'s `verify_truncated_left`, built on `subtle`). Signing is about
//! integrity, not secrecy: the id inside is readable.

use std::fmt;
use std::ops::Deref;

use hmac::{Hmac, Mac};
use lb_core::BackendId;
use sha2::Sha256;

use super::base64url::{self, DecodeError};

type HmacSha256 = Hmac<Sha256>;

/// The shortest signing key accepted, in bytes (128 bits).
pub const MIN_KEY_LEN: usize = 16;

/// The signature length kept in a signed token, in bytes (HMAC-SHA256 truncated to 128 bits,
/// as RFC 2104 §5 allows down to half the output).
pub const TAG_LEN: usize = 16;

/// Bytes of the id inside a token.
const ID_LEN: usize = 8;

/// Length of an unsigned token, in characters.
pub const UNSIGNED_TOKEN_LEN: usize = base64url::encoded_len(ID_LEN);

/// Length of a signed token, in characters.
pub const SIGNED_TOKEN_LEN: usize = base64url::encoded_len(ID_LEN + TAG_LEN);

/// The longest token either mode produces.
const MAX_TOKEN_LEN: usize = SIGNED_TOKEN_LEN;

/// Domain separation for the MAC input: a key shared with another use never yields a
/// valid sticky token, and a future format changes this string.
const DOMAIN: &[u8] = b"lb-l7 sticky v1\0";

/// Why a token was not accepted. Every variant means "re-balance and issue a new cookie".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not as long as this codec's tokens (truncated, extended, or from the
    /// other mode).
    #[error("sticky token has {found} bytes, expected {expected}")]
    Length {
        /// What this codec's tokens measure.
        expected: usize,
        /// What was given.
        found: usize,
    },
    /// A byte outside the base64url alphabet.
    #[error("sticky token has byte {byte:#04x} at {index}, outside base64url")]
    Character {
        /// Position of the first offending byte.
        index: usize,
        /// The byte.
        byte: u8,
    },
    /// The last character has non-zero unused bits: not the encoding the codec produces.
    #[error("sticky token is not canonically encoded")]
    NonCanonical,
    /// The signature does not match: the token was tampered with, signed with a key this
    /// codec does not hold, or minted for another context.
    #[error("sticky token signature does not verify")]
    Signature,
}

/// Why a signing key set was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key at all was given.
    #[error("signed sticky tokens need at least one key")]
    NoKey,
    /// A key is shorter than [`MIN_KEY_LEN`].
    #[error("sticky signing key #{index} has {len} bytes, at least {min} are required")]
    TooShort {
        /// Position of the key in the list given (0 signs).
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The minimum, [`MIN_KEY_LEN`].
        min: usize,
    },
}

/// A token as [`TokenCodec::encode`] produces it: at most 32 ASCII characters kept inline
/// (no allocation), usable as a `&str`.
///
/// # Examples
///
/// ```
/// use lb_core::BackendId;
/// use lb_l7::sticky::TokenCodec;
///
/// let token = TokenCodec::unsigned().encode(BackendId::from_u64(0x0123_4567_89ab_cdef));
/// assert_eq!(token.as_str(), "ASNFZ4mrze8");
/// assert_eq!(token.len(), 11);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    buf: [u8; MAX_TOKEN_LEN],
    len: u8,
}

impl Token {
    /// The token as text (ASCII base64url).
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Always ASCII by construction; the fallback is unreachable.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The token as bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Its length in bytes: [`UNSIGNED_TOKEN_LEN`] or [`SIGNED_TOKEN_LEN`].
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: tokens are never empty (present for API completeness).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Deref for Token {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Token {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq<str> for Token {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Token {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:?})", self.as_str())
    }
}

/// Encodes and decodes sticky tokens; see the [module docs](self) for the format.
///
/// Build once per route from configuration; [`encode`](Self::encode) and
/// [`decode`](Self::decode) then take `&self`, allocate nothing and may run concurrently.
/// Its `Debug` output never shows the keys.
///
/// # Examples
///
/// ```
/// use lb_core::BackendId;
/// use lb_l7::sticky::{TokenCodec, TokenError};
///
/// let id = BackendId::from_name("web-1");
/// let codec = TokenCodec::signed(b"0123456789abcdef0123456789abcdef")?.with_context(b"route:shop");
/// let token = codec.encode(id);
/// assert_eq!(token.len(), 32);
/// assert_eq!(codec.decode(token.as_bytes()), Ok(id));
///
/// // Another instance with the same key and context accepts it: no shared state needed.
/// let other = TokenCodec::signed(b"0123456789abcdef0123456789abcdef")?.with_context(b"route:shop");
/// assert_eq!(other.decode(token.as_bytes()), Ok(id));
///
/// // Another context (route) does not.
/// let api = TokenCodec::signed(b"0123456789abcdef0123456789abcdef")?.with_context(b"route:api");
/// assert_eq!(api.decode(token.as_bytes()), Err(TokenError::Signature));
/// # Ok::<(), lb_l7::sticky::KeyError>(())
/// ```
#[derive(Clone)]
pub struct TokenCodec {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Unsigned,
    Signed {
        /// HMAC states already keyed (the key schedule done once); the first signs.
        keys: Box<[HmacSha256]>,
        /// Bound into every MAC.
        context: Box<[u8]>,
    },
}

impl TokenCodec {
    /// A codec for unsigned tokens: the id alone, 11 characters.
    ///
    /// Any client can then name any backend id; use [`TokenCodec::signed`] unless that is
    /// acceptable (as with nginx's and HAProxy's plain server cookies).
    #[must_use]
    pub const fn unsigned() -> Self {
        Self {
            mode: Mode::Unsigned,
        }
    }

    /// A codec for tokens signed with `key` (HMAC-SHA256, tag truncated to 128 bits).
    ///
    /// # Errors
    ///
    /// [`KeyError::TooShort`] if `key` has fewer than [`MIN_KEY_LEN`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l7::sticky::{KeyError, TokenCodec};
    /// assert!(TokenCodec::signed(b"sixteen byte key").is_ok());
    /// assert_eq!(
    ///     TokenCodec::signed(b"short").err(),
    ///     Some(KeyError::TooShort { index: 0, len: 5, min: 16 })
    /// );
    /// ```
    pub fn signed(key: &[u8]) -> Result<Self, KeyError> {
        Self::signed_rotating([key])
    }

    /// A codec for signed tokens with key rotation: the first key signs, every key
    /// verifies. Roll a new key out by prepending it, and drop the old one once the cookies
    /// it signed have expired (or been re-issued: a token that verifies under an older key
    /// is still accepted as is, not re-signed).
    ///
    /// # Errors
    ///
    /// [`KeyError::NoKey`] for an empty list, [`KeyError::TooShort`] for the first key
    /// shorter than [`MIN_KEY_LEN`].
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// use lb_l7::sticky::TokenCodec;
    ///
    /// let old = TokenCodec::signed(b"the old key, 2025")?;
    /// let rotated = TokenCodec::signed_rotating([&b"the new key, 2026"[..], b"the old key, 2025"])?;
    /// let id = BackendId::from_name("web-1");
    /// // Cookies signed before the rotation still verify...
    /// assert_eq!(rotated.decode(old.encode(id).as_bytes()), Ok(id));
    /// // ...and new ones are signed with the new key.
    /// assert!(old.decode(rotated.encode(id).as_bytes()).is_err());
    /// # Ok::<(), lb_l7::sticky::KeyError>(())
    /// ```
    pub fn signed_rotating<I, K>(keys: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let keys = keys
            .into_iter()
            .enumerate()
            .map(|(index, key)| {
                let key = key.as_ref();
                if key.len() < MIN_KEY_LEN {
                    return Err(KeyError::TooShort {
                        index,
                        len: key.len(),
                        min: MIN_KEY_LEN,
                    });
                }
                // HMAC takes keys of any length; the error cannot happen.
                HmacSha256::new_from_slice(key).map_err(|_| KeyError::TooShort {
                    index,
                    len: key.len(),
                    min: MIN_KEY_LEN,
                })
            })
            .collect::<Result<Box<[_]>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::NoKey);
        }
        Ok(Self {
            mode: Mode::Signed {
                keys,
                context: Box::default(),
            },
        })
    }

    /// Binds every token to `context` (a route name, the cookie name, a tenant): tokens
    /// minted under one context fail verification under another with
    /// [`TokenError::Signature`]. Replaces any earlier context. Has no effect on an
    /// unsigned codec, whose tokens carry no MAC.
    #[must_use]
    pub fn with_context(mut self, context: &[u8]) -> Self {
        if let Mode::Signed { context: c, .. } = &mut self.mode {
            *c = context.into();
        }
        self
    }

    /// Whether tokens are signed.
    #[must_use]
    pub fn is_signed(&self) -> bool {
        matches!(self.mode, Mode::Signed { .. })
    }

    /// The length of every token this codec produces and accepts:
    /// [`UNSIGNED_TOKEN_LEN`] or [`SIGNED_TOKEN_LEN`].
    #[must_use]
    pub fn token_len(&self) -> usize {
        match self.mode {
            Mode::Unsigned => UNSIGNED_TOKEN_LEN,
            Mode::Signed { .. } => SIGNED_TOKEN_LEN,
        }
    }

    /// The token naming `id`. Deterministic: the same codec configuration gives the same
    /// token on every instance. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// use lb_l7::sticky::TokenCodec;
    ///
    /// let codec = TokenCodec::unsigned();
    /// let id = BackendId::from_name("web-1");
    /// assert_eq!(codec.decode(codec.encode(id).as_bytes()), Ok(id));
    /// ```
    #[must_use]
    pub fn encode(&self, id: BackendId) -> Token {
        let mut raw = [0_u8; ID_LEN + TAG_LEN];
        raw[..ID_LEN].copy_from_slice(&id.as_u64().to_be_bytes());
        let raw_len = match &self.mode {
            Mode::Unsigned => ID_LEN,
            Mode::Signed { keys, context } => {
                let tag = mac(&keys[0], context, id).finalize().into_bytes();
                raw[ID_LEN..].copy_from_slice(&tag[..TAG_LEN]);
                ID_LEN + TAG_LEN
            }
        };
        let mut token = Token {
            buf: [0; MAX_TOKEN_LEN],
            len: 0,
        };
        let n = base64url::encode(&raw[..raw_len], &mut token.buf);
        // n <= MAX_TOKEN_LEN = 32.
        token.len = n as u8;
        token
    }

    /// The backend id `token` names, if this codec minted it (or, signed, any codec with
    /// one of the same keys and the same context). Allocates nothing; the MAC comparison
    /// is constant-time.
    ///
    /// # Errors
    ///
    /// - [`TokenError::Length`]: not [`token_len`](Self::token_len) bytes.
    /// - [`TokenError::Character`]: a byte outside base64url.
    /// - [`TokenError::NonCanonical`]: an encoding [`encode`](Self::encode) never produces.
    /// - [`TokenError::Signature`] (signed mode): tampered, another key, another context.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_core::BackendId;
    /// use lb_l7::sticky::{TokenCodec, TokenError};
    ///
    /// let codec = TokenCodec::signed(b"a key of 16 byte")?;
    /// let token = codec.encode(BackendId::from_name("web-1"));
    /// let mut forged = token.as_bytes().to_vec();
    /// forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    /// assert_eq!(codec.decode(&forged), Err(TokenError::Signature));
    /// assert_eq!(codec.decode(b"web-1"), Err(TokenError::Length { expected: 32, found: 5 }));
    /// # Ok::<(), lb_l7::sticky::KeyError>(())
    /// ```
    pub fn decode(&self, token: &[u8]) -> Result<BackendId, TokenError> {
        let expected = self.token_len();
        if token.len() != expected {
            return Err(TokenError::Length {
                expected,
                found: token.len(),
            });
        }
        let mut raw = [0_u8; ID_LEN + TAG_LEN];
        let raw = match self.mode {
            Mode::Unsigned => &mut raw[..ID_LEN],
            Mode::Signed { .. } => &mut raw[..],
        };
        base64url::decode_exact(token, raw).map_err(|e| match e {
            DecodeError::Character { index, byte } => TokenError::Character { index, byte },
            DecodeError::NonCanonical => TokenError::NonCanonical,
        })?;
        let (id_bytes, tag) = raw.split_at(ID_LEN);
        let mut id = [0_u8; ID_LEN];
        id.copy_from_slice(id_bytes);
        let id = BackendId::from_u64(u64::from_be_bytes(id));
        if let Mode::Signed { keys, context } = &self.mode {
            // Try every key; which one matched is not secret, so stopping early is fine.
            let valid = keys
                .iter()
                .any(|key| mac(key, context, id).verify_truncated_left(tag).is_ok());
            if !valid {
                return Err(TokenError::Signature);
            }
        }
        Ok(id)
    }
}

/// The MAC over `id` in `context`, from a keyed state (see the module docs for the input).
fn mac(keyed: &HmacSha256, context: &[u8], id: BackendId) -> HmacSha256 {
    let mut mac = keyed.clone();
    mac.update(DOMAIN);
    mac.update(&(context.len() as u64).to_be_bytes());
    mac.update(context);
    mac.update(&id.as_u64().to_be_bytes());
    mac
}

impl fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Unsigned => f.write_str("TokenCodec::Unsigned"),
            Mode::Signed { keys, context } => f
                .debug_struct("TokenCodec::Signed")
                .field("keys", &format_args!("<{} redacted>", keys.len()))
                .field("context", &String::from_utf8_lossy(context))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER_KEY: &[u8] = b"fedcba9876543210fedcba9876543210";

    fn signed() -> TokenCodec {
        TokenCodec::signed(KEY).expect("valid key")
    }

    fn is_base64url(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    }

    #[test]
    fn unsigned_round_trip_and_format() {
        let codec = TokenCodec::unsigned();
        for raw in [0, 1, 0x0123_4567_89ab_cdef, u64::MAX] {
            let id = BackendId::from_u64(raw);
            let token = codec.encode(id);
            assert_eq!(token.len(), UNSIGNED_TOKEN_LEN);
            assert!(token.bytes().all(is_base64url), "{token}");
            assert_eq!(codec.decode(token.as_bytes()), Ok(id));
        }
        assert_eq!(codec.encode(BackendId::from_u64(0)), "AAAAAAAAAAA");
        assert_eq!(codec.encode(BackendId::from_u64(u64::MAX)), "__________8");
        assert!(!codec.is_signed());
    }

    #[test]
    fn signed_round_trip_and_format() {
        let codec = signed();
        assert!(codec.is_signed());
        for raw in [0, 1, 0x0123_4567_89ab_cdef, u64::MAX] {
            let id = BackendId::from_u64(raw);
            let token = codec.encode(id);
            assert_eq!(token.len(), SIGNED_TOKEN_LEN);
            assert!(token.bytes().all(is_base64url), "{token}");
            // The id is in clear at the front, as in the unsigned token (plus one char).
            let unsigned = TokenCodec::unsigned().encode(id);
            assert_eq!(token[..10], unsigned[..10]);
            assert_eq!(codec.decode(token.as_bytes()), Ok(id));
        }
    }

    #[test]
    fn signed_tokens_are_pinned_by_known_vector() {
        // The format is an interface between instances (and versions): pin one token so
        // that a change to the MAC input or the encoding cannot go unnoticed.
        let id = BackendId::from_name("web-1");
        let token = signed().encode(id);
        let mut mac = HmacSha256::new_from_slice(KEY).expect("key");
        mac.update(b"lb-l7 sticky v1\0");
        mac.update(&0_u64.to_be_bytes());
        mac.update(&id.as_u64().to_be_bytes());
        let tag = mac.finalize().into_bytes();
        let mut raw = id.as_u64().to_be_bytes().to_vec();
        raw.extend_from_slice(&tag[..16]);
        let mut expected = [0_u8; 32];
        base64url::encode(&raw, &mut expected);
        assert_eq!(token.as_bytes(), &expected);
    }

    #[test]
    fn wrong_key_and_wrong_context_are_rejected() {
        let id = BackendId::from_name("web-1");
        let token = signed().encode(id);
        let other = TokenCodec::signed(OTHER_KEY).expect("key");
        assert_eq!(other.decode(token.as_bytes()), Err(TokenError::Signature));
        let routed = signed().with_context(b"route-a");
        assert_eq!(routed.decode(token.as_bytes()), Err(TokenError::Signature));
        let routed_token = routed.encode(id);
        assert_eq!(routed.decode(routed_token.as_bytes()), Ok(id));
        assert_eq!(
            signed()
                .with_context(b"route-b")
                .decode(routed_token.as_bytes()),
            Err(TokenError::Signature)
        );
        // Context is length-prefixed: ("ab", id) and ("a", "b"‖id) cannot collide.
        assert_ne!(
            signed().with_context(b"ab").encode(id),
            signed().with_context(b"a").encode(id)
        );
    }

    #[test]
    fn modes_do_not_accept_each_other() {
        let id = BackendId::from_name("web-1");
        let unsigned = TokenCodec::unsigned().encode(id);
        assert_eq!(
            signed().decode(unsigned.as_bytes()),
            Err(TokenError::Length {
                expected: 32,
                found: 11
            })
        );
        assert_eq!(
            TokenCodec::unsigned().decode(signed().encode(id).as_bytes()),
            Err(TokenError::Length {
                expected: 11,
                found: 32
            })
        );
    }

    #[test]
    fn truncated_extended_and_foreign_tokens_are_rejected() {
        for codec in [TokenCodec::unsigned(), signed()] {
            let token = codec.encode(BackendId::from_name("web-1"));
            let bytes = token.as_bytes();
            for cut in 0..bytes.len() {
                assert!(matches!(
                    codec.decode(&bytes[..cut]),
                    Err(TokenError::Length { .. })
                ));
            }
            for extra in [&b"A"[..], b"=", b"==", b" "] {
                let long = [bytes, extra].concat();
                assert!(matches!(
                    codec.decode(&long),
                    Err(TokenError::Length { .. })
                ));
            }
            for (i, bad) in [(0, b'+'), (3, b'/'), (5, b'='), (7, b' '), (9, 0xff)] {
                let mut t = bytes.to_vec();
                t[i] = bad;
                assert_eq!(
                    codec.decode(&t),
                    Err(TokenError::Character {
                        index: i,
                        byte: bad
                    })
                );
            }
        }
    }

    #[test]
    fn unsigned_non_canonical_last_char_is_rejected() {
        // 11 chars carry 66 bits; the last 2 must be zero. 'A' is 0, 'B' is 1.
        let codec = TokenCodec::unsigned();
        assert_eq!(codec.decode(b"AAAAAAAAAAA"), Ok(BackendId::from_u64(0)));
        assert_eq!(codec.decode(b"AAAAAAAAAAB"), Err(TokenError::NonCanonical));
        assert_eq!(
            codec.decode(b"AAAAAAAAAAE"),
            Ok(BackendId::from_u64(1)),
            "'E' = 4 = 0b000100"
        );
    }

    #[test]
    fn short_and_missing_keys_are_typed_errors() {
        assert_eq!(
            TokenCodec::signed(b"fifteen bytes!!").err(),
            Some(KeyError::TooShort {
                index: 0,
                len: 15,
                min: MIN_KEY_LEN
            })
        );
        assert_eq!(
            TokenCodec::signed(b"").err(),
            Some(KeyError::TooShort {
                index: 0,
                len: 0,
                min: MIN_KEY_LEN
            })
        );
        assert_eq!(
            TokenCodec::signed_rotating(Vec::<&[u8]>::new()).err(),
            Some(KeyError::NoKey)
        );
        assert_eq!(
            TokenCodec::signed_rotating([KEY, b"short"]).err(),
            Some(KeyError::TooShort {
                index: 1,
                len: 5,
                min: MIN_KEY_LEN
            })
        );
        assert!(TokenCodec::signed(&KEY[..MIN_KEY_LEN]).is_ok());
        // Long keys (hashed by HMAC) are fine.
        assert!(TokenCodec::signed(&[7; 200]).is_ok());
    }

    #[test]
    fn key_rotation_first_signs_all_verify() {
        let id = BackendId::from_name("web-1");
        let old = TokenCodec::signed(OTHER_KEY).expect("key");
        let new = signed();
        let rotating = TokenCodec::signed_rotating([KEY, OTHER_KEY]).expect("keys");
        assert_eq!(rotating.encode(id), new.encode(id), "first key signs");
        assert_eq!(rotating.decode(old.encode(id).as_bytes()), Ok(id));
        assert_eq!(rotating.decode(new.encode(id).as_bytes()), Ok(id));
        let third = TokenCodec::signed(b"a third key, unrelated").expect("key");
        assert_eq!(
            rotating.decode(third.encode(id).as_bytes()),
            Err(TokenError::Signature)
        );
        // After the old key is retired, its tokens no longer verify.
        assert_eq!(
            new.decode(old.encode(id).as_bytes()),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn independent_instances_agree() {
        // Two codecs built separately (two lb instances behind an L4 tier) with the same
        // key produce and accept the same tokens; the id comes from the backend's name.
        let a = TokenCodec::signed(KEY).expect("key").with_context(b"srv");
        let b = TokenCodec::signed(KEY.to_vec().as_slice())
            .expect("key")
            .with_context(b"srv");
        let id_a = BackendId::from_name("web-3");
        let id_b = BackendId::from_name(&String::from("web-3"));
        assert_eq!(a.encode(id_a), b.encode(id_b));
        assert_eq!(b.decode(a.encode(id_a).as_bytes()), Ok(id_a));
        assert_eq!(a.decode(b.encode(id_b).as_bytes()), Ok(id_b));
    }

    #[test]
    fn debug_never_shows_keys() {
        let text = format!("{:?}", signed().with_context(b"route"));
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(
            text.contains("redacted") && text.contains("route"),
            "{text}"
        );
        assert_eq!(
            format!("{:?}", TokenCodec::unsigned()),
            "TokenCodec::Unsigned"
        );
    }

    proptest! {
        #[test]
        fn round_trip_for_all_ids(raw in any::<u64>()) {
            let id = BackendId::from_u64(raw);
            for codec in [TokenCodec::unsigned(), signed(), signed().with_context(b"r")] {
                let token = codec.encode(id);
                prop_assert_eq!(codec.decode(token.as_bytes()), Ok(id));
            }
        }

        #[test]
        fn any_single_byte_change_is_rejected_when_signed(
            raw in any::<u64>(),
            position in 0..SIGNED_TOKEN_LEN,
            replacement in any::<u8>(),
        ) {
            let codec = signed();
            let token = codec.encode(BackendId::from_u64(raw));
            let mut tampered = token.as_bytes().to_vec();
            prop_assume!(tampered[position] != replacement);
            tampered[position] = replacement;
            prop_assert!(codec.decode(&tampered).is_err());
        }

        #[test]
        fn any_single_alphabet_change_fails_the_signature(
            raw in any::<u64>(),
            position in 0..SIGNED_TOKEN_LEN,
            replacement in proptest::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
            ),
        ) {
            // Staying inside the alphabet gets past the decoder: only the MAC can object.
            let codec = signed();
            let token = codec.encode(BackendId::from_u64(raw));
            let mut tampered = token.as_bytes().to_vec();
            prop_assume!(tampered[position] != replacement);
            tampered[position] = replacement;
            prop_assert_eq!(codec.decode(&tampered), Err(TokenError::Signature));
        }

        #[test]
        fn decode_never_panics_and_accepts_only_canonical(
            bytes in proptest::collection::vec(any::<u8>(), 0..48),
        ) {
            for codec in [TokenCodec::unsigned(), signed()] {
                if let Ok(id) = codec.decode(&bytes) {
                    let token = codec.encode(id);
                    prop_assert_eq!(token.as_bytes(), &bytes[..]);
                }
            }
        }

        #[test]
        fn decode_of_token_sized_input_never_panics(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), UNSIGNED_TOKEN_LEN),
                proptest::collection::vec(any::<u8>(), SIGNED_TOKEN_LEN),
                "[A-Za-z0-9_-]{32}".prop_map(String::into_bytes),
            ],
        ) {
            for codec in [TokenCodec::unsigned(), signed()] {
                if let Ok(id) = codec.decode(&bytes) {
                    let token = codec.encode(id);
                    prop_assert_eq!(token.as_bytes(), &bytes[..]);
                }
            }
            // Random well-formed text never carries a valid signature.
            prop_assert!(signed().decode(&bytes).is_err());
        }

        #[test]
        fn unsigned_decode_of_well_formed_text_is_canonical(
            text in "[A-Za-z0-9_-]{11}",
        ) {
            let codec = TokenCodec::unsigned();
            match codec.decode(text.as_bytes()) {
                Ok(id) => {
                    let token = codec.encode(id);
                    prop_assert_eq!(token.as_str(), text.as_str());
                }
                Err(e) => prop_assert_eq!(e, TokenError::NonCanonical),
            }
        }
    }
}

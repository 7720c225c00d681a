//! Per-route header edits.

use thiserror::Error;

use crate::head::is_token;

/// A header edit that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EditError {
    /// The name is not an HTTP token.
    #[error("invalid header name {0:?}")]
    InvalidName(String),
    /// The value holds a control byte (CR, LF, NUL...), which would split or corrupt the head.
    #[error("invalid value for header {0:?}")]
    InvalidValue(String),
    /// A field the proxy must control: framing (`Content-Length`, `Transfer-Encoding`),
    /// connection management (`Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`, `Upgrade`),
    /// or `Host` removed without a replacement (use [`HeaderEdits::set`]).
    #[error("header {0:?} cannot be edited by a route")]
    Reserved(String),
}

/// A field to add: name and value.
type Field = (Box<[u8]>, Box<[u8]>);

/// Fields a route removes from and adds to the messages it forwards.
///
/// Removal applies to the fields received; added fields are appended after them, so `set` is a
/// removal and an addition. Removing or setting a field the proxy writes itself (`Host`,
/// `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `Forwarded`)
/// replaces the proxy's own value, as nginx's `proxy_set_header` does; `Host` can only be set.
/// Framing and connection fields cannot be edited. Names and values are checked once, when the
/// edit is built.
///
/// # Examples
///
/// ```
/// use lb_l7::rewrite::HeaderEdits;
/// let edits = HeaderEdits::new()
///     .remove("X-Internal")?
///     .set("X-Route", "users")?;
/// assert!(edits.removes(b"x-internal"));
/// assert!(edits.removes(b"X-Route"));
/// # Ok::<(), lb_l7::rewrite::EditError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    remove: Vec<Box<[u8]>>,
    add: Vec<Field>,
}

impl HeaderEdits {
    /// No edits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every field called `name` (case-insensitive).
    ///
    /// # Errors
    ///
    /// [`EditError::InvalidName`] if `name` is not a token, [`EditError::Reserved`] for a
    /// framing or connection field or `Host`.
    pub fn remove(self, name: &str) -> Result<Self, EditError> {
        if name.eq_ignore_ascii_case("host") {
            return Err(EditError::Reserved(name.to_owned()));
        }
        self.remove_any(name)
    }

    fn remove_any(mut self, name: &str) -> Result<Self, EditError> {
        check_name(name)?;
        self.remove
            .push(name.as_bytes().to_ascii_lowercase().into_boxed_slice());
        Ok(self)
    }

    /// Appends a field.
    ///
    /// # Errors
    ///
    /// [`EditError::InvalidName`], [`EditError::InvalidValue`] or [`EditError::Reserved`].
    pub fn add(mut self, name: &str, value: &str) -> Result<Self, EditError> {
        check_name(name)?;
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(EditError::InvalidValue(name.to_owned()));
        }
        self.add.push((
            name.as_bytes().into(),
            value.trim_matches([' ', '\t']).as_bytes().into(),
        ));
        Ok(self)
    }

    /// Replaces any fields called `name` with one holding `value`.
    ///
    /// # Errors
    ///
    /// As [`HeaderEdits::add`].
    pub fn set(self, name: &str, value: &str) -> Result<Self, EditError> {
        self.remove_any(name)?.add(name, value)
    }

    /// Whether a received field called `name` is removed.
    #[must_use]
    pub fn removes(&self, name: &[u8]) -> bool {
        self.remove.iter().any(|r| r.eq_ignore_ascii_case(name))
    }

    /// The fields appended, in order.
    pub fn added(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.add.iter().map(|(n, v)| (&n[..], &v[..]))
    }

    /// Whether there are no edits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

fn check_name(name: &str) -> Result<(), EditError> {
    if !is_token(name.as_bytes()) {
        return Err(EditError::InvalidName(name.to_owned()));
    }
    const RESERVED: [&str; 7] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
    ];
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(EditError::Reserved(name.to_owned()));
    }
    Ok(())
}

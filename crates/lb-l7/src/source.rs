//! [`HeaderSource`]: header lookup shared by the router and the sticky policies.

use std::ops::ControlFlow;

/// Read access to a request's header fields, without copying them.
///
/// One required method visits every value of a field in order; [`HeaderSource::header`] (the
/// first value) is derived from it. Names are compared ASCII case-insensitively.
///
/// Implemented for a parsed head's [`Headers`](crate::head::Headers), `httparse`'s parsed
/// headers, slices, arrays and vectors of `(name, value)` pairs (anything `AsRef<[u8]>`),
/// [`NoHeaders`], and references to any of these; open to a proxy's own header table.
///
/// # Examples
///
/// ```
/// use std::ops::ControlFlow;
/// use lb_l7::HeaderSource;
///
/// let headers = [("Cookie", "a=1"), ("X-User", "u7"), ("cookie", "b=2")];
/// let mut seen = Vec::new();
/// headers.for_each_value(b"COOKIE", &mut |v| {
///     seen.push(v);
///     ControlFlow::Continue(())
/// });
/// assert_eq!(seen, [&b"a=1"[..], b"b=2"]);
/// assert_eq!(headers.header(b"x-user"), Some(&b"u7"[..]));
/// assert_eq!(headers.header(b"accept"), None);
/// ```
pub trait HeaderSource {
    /// Calls `visit` with the value of every field named `name`, in order, until it returns
    /// [`ControlFlow::Break`].
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    );

    /// The value of the first field named `name`.
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        let mut found = None;
        self.for_each_value(name, &mut |v| {
            found = Some(v);
            ControlFlow::Break(())
        });
        found
    }
}

/// A header source with no headers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn for_each_value<'s>(&'s self, _: &[u8], _: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>) {}
}

impl HeaderSource for crate::head::Headers<'_> {
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        for field in self {
            if field.name.eq_ignore_ascii_case(name) && visit(field.value).is_break() {
                return;
            }
        }
    }
}

impl HeaderSource for [httparse::Header<'_>] {
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        for h in self {
            if h.name.as_bytes().eq_ignore_ascii_case(name) && visit(h.value).is_break() {
                return;
            }
        }
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> HeaderSource for [(N, V)] {
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        for (n, v) in self {
            if n.as_ref().eq_ignore_ascii_case(name) && visit(v.as_ref()).is_break() {
                return;
            }
        }
    }
}

impl<T, const K: usize> HeaderSource for [T; K]
where
    [T]: HeaderSource,
{
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        self.as_slice().for_each_value(name, visit);
    }
}

impl<T> HeaderSource for Vec<T>
where
    [T]: HeaderSource,
{
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        self.as_slice().for_each_value(name, visit);
    }
}

impl<S: HeaderSource + ?Sized> HeaderSource for &S {
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        (**self).for_each_value(name, visit);
    }
}

impl<S: HeaderSource + ?Sized> HeaderSource for &mut S {
    fn for_each_value<'s>(
        &'s self,
        name: &[u8],
        visit: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
    ) {
        (**self).for_each_value(name, visit);
    }
}

//! The client address, formatted once per connection.

use std::net::IpAddr;

/// A client IP address with its text form, formatted once per connection rather than once per
/// request.
///
/// # Examples
///
/// ```
/// use lb_l7::rewrite::ClientIp;
/// let ip = ClientIp::new("2001:db8::1".parse().unwrap());
/// assert_eq!(ip.as_bytes(), b"2001:db8::1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp {
    ip: IpAddr,
    text: [u8; 45],
    len: u8,
}

impl ClientIp {
    /// Formats `ip`.
    #[must_use]
    pub fn new(ip: IpAddr) -> Self {
        use std::io::Write;
        let mut text = [0u8; 45]; // the longest IPv6 text (IPv4-mapped) is 45 bytes
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        // Cannot fail: the buffer holds the longest form.
        let _ = write!(cursor, "{ip}");
        let len = u8::try_from(cursor.position()).unwrap_or(45);
        Self { ip, text, len }
    }

    /// The address.
    #[must_use]
    pub const fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The text form (`192.0.2.1`, `2001:db8::1`).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }
}

impl From<IpAddr> for ClientIp {
    fn from(ip: IpAddr) -> Self {
        Self::new(ip)
    }
}

//! The address pair a PROXY header carries.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use super::Error;

/// Size of one UNIX socket address in a v2 header (the size of
/// `sun_path` in Linux's `sockaddr_un`).
pub const UNIX_PATH_LEN: usize = 108;

/// The original source and destination of the proxied connection.
///
/// IPv6 addresses carry neither flow information nor a scope id on the
/// wire: the constructors of [`Header`](super::Header) set both to zero, and
/// decoding yields zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// No address: v1 `UNKNOWN`, or a v2 header with family and transport
    /// `UNSPEC` (byte `0x00`), as sent with the LOCAL command.
    Unspec,
    /// IPv4 addresses and ports (v1 `TCP4`, v2 `0x11`/`0x12`).
    Ipv4 {
        /// The client's address as the proxy saw it.
        source: SocketAddrV4,
        /// The address the client connected to.
        destination: SocketAddrV4,
    },
    /// IPv6 addresses and ports (v1 `TCP6`, v2 `0x21`/`0x22`).
    Ipv6 {
        /// The client's address as the proxy saw it.
        source: SocketAddrV6,
        /// The address the client connected to.
        destination: SocketAddrV6,
    },
    /// UNIX socket addresses (v2 `0x31`/`0x32` only), as the raw 108-byte
    /// `sun_path` fields, NUL padded. [`Addresses::unix_path`] trims one.
    Unix {
        /// The client's socket path.
        source: [u8; UNIX_PATH_LEN],
        /// The socket path the client connected to.
        destination: [u8; UNIX_PATH_LEN],
    },
}

impl Addresses {
    /// A UNIX address pair from two paths of at most 108 bytes, NUL padded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] if a path is longer than 108 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l4::proxy_protocol::Addresses;
    ///
    /// let pair = Addresses::unix(b"/run/client.sock", b"/run/app.sock").unwrap();
    /// let Addresses::Unix { destination, .. } = &pair else { unreachable!() };
    /// assert_eq!(Addresses::unix_path(destination), b"/run/app.sock");
    /// ```
    pub fn unix(source: &[u8], destination: &[u8]) -> Result<Self, Error> {
        Ok(Self::Unix {
            source: pad_path(source)?,
            destination: pad_path(destination)?,
        })
    }

    /// The bytes of a raw UNIX address up to its first NUL (all 108 bytes
    /// if there is none). An abstract socket's name starts with a NUL, so
    /// it yields an empty path: read the raw bytes for those.
    #[must_use]
    pub fn unix_path(raw: &[u8; UNIX_PATH_LEN]) -> &[u8] {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        &raw[..end]
    }

    /// The source as a socket address, for the IP families.
    #[must_use]
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            Self::Ipv4 { source, .. } => Some(SocketAddr::V4(*source)),
            Self::Ipv6 { source, .. } => Some(SocketAddr::V6(*source)),
            Self::Unspec | Self::Unix { .. } => None,
        }
    }

    /// The destination as a socket address, for the IP families.
    #[must_use]
    pub fn destination(&self) -> Option<SocketAddr> {
        match self {
            Self::Ipv4 { destination, .. } => Some(SocketAddr::V4(*destination)),
            Self::Ipv6 { destination, .. } => Some(SocketAddr::V6(*destination)),
            Self::Unspec | Self::Unix { .. } => None,
        }
    }

    /// Size of this pair's v2 address block: 0, 12, 36 or 216 bytes.
    #[must_use]
    pub fn v2_block_len(&self) -> usize {
        match self {
            Self::Unspec => 0,
            Self::Ipv4 { .. } => 12,
            Self::Ipv6 { .. } => 36,
            Self::Unix { .. } => 2 * UNIX_PATH_LEN,
        }
    }

    /// The same pair with IPv6 flow information and scope ids cleared,
    /// as they come back from the wire.
    pub(super) fn normalized(self) -> Self {
        match self {
            Self::Ipv6 {
                source,
                destination,
            } => Self::Ipv6 {
                source: SocketAddrV6::new(*source.ip(), source.port(), 0, 0),
                destination: SocketAddrV6::new(*destination.ip(), destination.port(), 0, 0),
            },
            other => other,
        }
    }
}

fn pad_path(path: &[u8]) -> Result<[u8; UNIX_PATH_LEN], Error> {
    let mut raw = [0; UNIX_PATH_LEN];
    raw.get_mut(..path.len())
        .ok_or(Error::InvalidHeader {
            what: "UNIX path longer than 108 bytes",
        })?
        .copy_from_slice(path);
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn unix_pads_and_trims() {
        let pair = Addresses::unix(b"/a", &[b'x'; 108]).unwrap();
        let Addresses::Unix {
            source,
            destination,
        } = &pair
        else {
            panic!("not unix");
        };
        assert_eq!(Addresses::unix_path(source), b"/a");
        assert_eq!(source[2..], [0; 106]);
        assert_eq!(Addresses::unix_path(destination), &[b'x'; 108][..]);
        assert_eq!(pair.v2_block_len(), 216);
        assert_eq!(pair.source(), None);
        assert!(matches!(
            Addresses::unix(&[b'x'; 109], b""),
            Err(Error::InvalidHeader { .. })
        ));
    }

    #[test]
    fn normalized_clears_flow_and_scope() {
        let ip = Ipv6Addr::LOCALHOST;
        let pair = Addresses::Ipv6 {
            source: SocketAddrV6::new(ip, 1, 7, 3),
            destination: SocketAddrV6::new(ip, 2, 0, 9),
        }
        .normalized();
        assert_eq!(
            pair,
            Addresses::Ipv6 {
                source: SocketAddrV6::new(ip, 1, 0, 0),
                destination: SocketAddrV6::new(ip, 2, 0, 0),
            }
        );
        let v4 = Addresses::Ipv4 {
            source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            destination: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2),
        };
        assert_eq!(v4.clone().normalized(), v4);
        assert_eq!(v4.v2_block_len(), 12);
        assert_eq!(pair.v2_block_len(), 36);
        assert_eq!(Addresses::Unspec.v2_block_len(), 0);
    }
}

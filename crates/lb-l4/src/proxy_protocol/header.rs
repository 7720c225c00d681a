//! The decoded form of a PROXY header, and how to build one to send.

use std::net::{SocketAddr, SocketAddrV6};

use super::{Addresses, Error, Tlv, v1, v2};

/// Which version of the protocol a header was, or is to be, written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text line `PROXY TCP4 ...\r\n`.
    V1,
    /// The binary format starting with `\r\n\r\n\0\r\nQUIT\n`.
    V2,
}

/// The v2 command (v1 headers always use [`Command::Proxy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The proxy opened the connection on its own behalf (for example a
    /// health check): the receiver must use the real connection endpoints
    /// and ignore any address in the header.
    Local,
    /// The connection is relayed for the client the addresses name.
    Proxy,
}

/// The transport protocol of the proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or unspecified (v1 `UNKNOWN`, v2 `0x00`); goes with
    /// [`Addresses::Unspec`] and only with it.
    Unspec,
    /// `SOCK_STREAM`: TCP or a UNIX stream socket.
    Stream,
    /// `SOCK_DGRAM`: UDP or a UNIX datagram socket (v2 only).
    Datagram,
}

/// A PROXY protocol header: version, command, transport, the address pair
/// and, for v2, the TLVs in the order they came.
///
/// Headers are built by [`decode`](super::decode) or by the constructors,
/// which keep the transport and the addresses consistent (an address pair
/// has a transport, and an unspecified one has none). The constructors
/// build a v2 header; [`Header::with_version`] picks the version that
/// [`Header::encode`] writes.
///
/// # Examples
///
/// ```
/// use lb_l4::proxy_protocol::{self, Header, Status, Tlv, Version};
///
/// let header = Header::tcp("192.0.2.1:56324".parse().unwrap(), "198.51.100.7:443".parse().unwrap())
///     .with_tlv(Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec()));
/// let mut wire = Vec::new();
/// header.encode_v2(&mut wire).unwrap();
/// wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
///
/// let Status::Complete(decoded, used) = proxy_protocol::decode(&wire).unwrap() else {
///     panic!("whole header expected");
/// };
/// assert_eq!(decoded, header);
/// assert_eq!(decoded.version(), Version::V2);
/// assert_eq!(decoded.source(), Some("192.0.2.1:56324".parse().unwrap()));
/// assert_eq!(&wire[used..], b"GET / HTTP/1.1\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    version: Version,
    command: Command,
    transport: Transport,
    addresses: Addresses,
    tlvs: Vec<Tlv>,
}

impl Header {
    /// A v2 header from its parts, without TLVs.
    ///
    /// IPv6 flow information and scope ids are cleared: the protocol does
    /// not carry them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHeader`] if `transport` is [`Transport::Unspec`] but
    /// `addresses` is not [`Addresses::Unspec`], or the reverse.
    pub fn new(
        command: Command,
        transport: Transport,
        addresses: Addresses,
    ) -> Result<Self, Error> {
        match (transport, &addresses) {
            (Transport::Unspec, Addresses::Unspec) => {}
            (Transport::Unspec, _) => {
                return Err(Error::InvalidHeader {
                    what: "an address pair needs a stream or datagram transport",
                });
            }
            (_, Addresses::Unspec) => {
                return Err(Error::InvalidHeader {
                    what: "unspecified addresses go with an unspecified transport",
                });
            }
            _ => {}
        }
        Ok(Self::from_parts(
            Version::V2,
            command,
            transport,
            addresses,
            Vec::new(),
        ))
    }

    /// Builds a header without checking consistency (the decoders only).
    pub(super) fn from_parts(
        version: Version,
        command: Command,
        transport: Transport,
        addresses: Addresses,
        tlvs: Vec<Tlv>,
    ) -> Self {
        Self {
            version,
            command,
            transport,
            addresses: addresses.normalized(),
            tlvs,
        }
    }

    /// A v2 PROXY header for a TCP connection from `source` to
    /// `destination`.
    ///
    /// When one address is IPv4 and the other IPv6, the IPv4 one is mapped
    /// to `::ffff:a.b.c.d` and the header is TCP over IPv6, as HAProxy does
    /// when it sends v1 and v2 headers.
    #[must_use]
    pub fn tcp(source: SocketAddr, destination: SocketAddr) -> Self {
        Self::ip(Transport::Stream, source, destination)
    }

    /// A v2 PROXY header for UDP datagrams from `source` to `destination`
    /// (mixed families as in [`Header::tcp`]). v1 cannot carry it.
    #[must_use]
    pub fn udp(source: SocketAddr, destination: SocketAddr) -> Self {
        Self::ip(Transport::Datagram, source, destination)
    }

    fn ip(transport: Transport, source: SocketAddr, destination: SocketAddr) -> Self {
        let addresses = match (source, destination) {
            (SocketAddr::V4(source), SocketAddr::V4(destination)) => Addresses::Ipv4 {
                source,
                destination,
            },
            (source, destination) => Addresses::Ipv6 {
                source: to_v6(source),
                destination: to_v6(destination),
            },
        };
        Self::from_parts(
            Version::V2,
            Command::Proxy,
            transport,
            addresses,
            Vec::new(),
        )
    }

    /// A v2 LOCAL header without addresses (family byte `0x00`), as a proxy
    /// sends on its own health checks. v1 cannot carry it.
    #[must_use]
    pub fn local() -> Self {
        Self::from_parts(
            Version::V2,
            Command::Local,
            Transport::Unspec,
            Addresses::Unspec,
            Vec::new(),
        )
    }

    /// A PROXY header with unknown addresses: v1 `PROXY UNKNOWN\r\n`, v2
    /// command PROXY with family byte `0x00`. The receiver uses the real
    /// connection endpoints.
    #[must_use]
    pub fn unknown() -> Self {
        Self::from_parts(
            Version::V2,
            Command::Proxy,
            Transport::Unspec,
            Addresses::Unspec,
            Vec::new(),
        )
    }

    /// The same header, to be written as `version` by [`Header::encode`].
    #[must_use]
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The same header with `tlv` appended (v2 only).
    #[must_use]
    pub fn with_tlv(mut self, tlv: Tlv) -> Self {
        self.tlvs.push(tlv);
        self
    }

    /// The same header with `tlvs` appended (v2 only).
    #[must_use]
    pub fn with_tlvs(mut self, tlvs: impl IntoIterator<Item = Tlv>) -> Self {
        self.tlvs.extend(tlvs);
        self
    }

    /// The version the header was decoded from, or will be encoded in.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The command (always [`Command::Proxy`] for v1).
    #[must_use]
    pub fn command(&self) -> Command {
        self.command
    }

    /// The transport protocol.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The address pair as carried, whatever the command.
    #[must_use]
    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// The TLVs, in wire order.
    #[must_use]
    pub fn tlvs(&self) -> &[Tlv] {
        &self.tlvs
    }

    /// The TLVs, to add, remove or edit some.
    pub fn tlvs_mut(&mut self) -> &mut Vec<Tlv> {
        &mut self.tlvs
    }

    /// The first TLV of type `kind`.
    #[must_use]
    pub fn tlv(&self, kind: u8) -> Option<&Tlv> {
        self.tlvs.iter().find(|tlv| tlv.kind == kind)
    }

    /// The client's address, to use in place of the connection's peer
    /// address: `Some` only for the PROXY command with an IPv4 or IPv6
    /// pair. For LOCAL (whose addresses the spec says to ignore), UNKNOWN
    /// and UNIX it is `None`, and the real endpoints apply;
    /// [`Header::addresses`] still shows what was sent.
    #[must_use]
    pub fn source(&self) -> Option<SocketAddr> {
        match self.command {
            Command::Proxy => self.addresses.source(),
            Command::Local => None,
        }
    }

    /// The address the client connected to, under the same rules as
    /// [`Header::source`].
    #[must_use]
    pub fn destination(&self) -> Option<SocketAddr> {
        match self.command {
            Command::Proxy => self.addresses.destination(),
            Command::Local => None,
        }
    }

    /// Appends the header to `out` in the version it carries
    /// ([`Header::version`]).
    ///
    /// # Errors
    ///
    /// As [`Header::encode_v1`] or [`Header::encode_v2`]; `out` is left
    /// untouched on error.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self.version {
            Version::V1 => self.encode_v1(out),
            Version::V2 => self.encode_v2(out),
        }
    }

    /// Appends the header to `out` as a v1 line (`TCP4`, `TCP6` or
    /// `UNKNOWN`), whatever its [`Header::version`].
    ///
    /// # Errors
    ///
    /// [`Error::V1Unrepresentable`] for what v1 cannot carry: TLVs, the
    /// LOCAL command, a datagram transport, UNIX addresses. `out` is left
    /// untouched on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use lb_l4::proxy_protocol::{self, Header, Status, Version};
    ///
    /// let header = Header::tcp("192.168.0.1:56324".parse().unwrap(), "192.168.0.11:443".parse().unwrap())
    ///     .with_version(Version::V1);
    /// let mut line = Vec::new();
    /// header.encode_v1(&mut line).unwrap();
    /// assert_eq!(line, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    /// assert_eq!(proxy_protocol::decode(&line), Ok(Status::Complete(header, line.len())));
    /// ```
    pub fn encode_v1(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        v1::encode(self, out)
    }

    /// Appends the header to `out` in the v2 binary format, TLVs included,
    /// whatever its [`Header::version`].
    ///
    /// # Errors
    ///
    /// [`Error::V2EncodeTooLong`] if the address block and TLVs exceed the
    /// 65535 bytes the length field can announce. `out` is left untouched
    /// on error.
    pub fn encode_v2(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        v2::encode(self, out)
    }

    /// The number of bytes [`Header::encode_v1`] appends.
    ///
    /// # Errors
    ///
    /// As [`Header::encode_v1`].
    pub fn encoded_len_v1(&self) -> Result<usize, Error> {
        v1::encoded_len(self)
    }

    /// The number of bytes [`Header::encode_v2`] appends.
    ///
    /// # Errors
    ///
    /// As [`Header::encode_v2`].
    pub fn encoded_len_v2(&self) -> Result<usize, Error> {
        v2::encoded_len(self)
    }
}

fn to_v6(addr: SocketAddr) -> SocketAddrV6 {
    match addr {
        SocketAddr::V4(v4) => SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        SocketAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tcp_keeps_one_family() {
        let h = Header::tcp(sa("10.0.0.1:1234"), sa("10.0.0.2:80"));
        assert_eq!(h.version(), Version::V2);
        assert_eq!(h.command(), Command::Proxy);
        assert_eq!(h.transport(), Transport::Stream);
        assert_eq!(
            h.addresses(),
            &Addresses::Ipv4 {
                source: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234),
                destination: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            }
        );
        assert_eq!(h.source(), Some(sa("10.0.0.1:1234")));
        assert_eq!(h.destination(), Some(sa("10.0.0.2:80")));
        let h6 = Header::udp(sa("[2001:db8::1]:5353"), sa("[2001:db8::2]:53"));
        assert_eq!(h6.transport(), Transport::Datagram);
        assert_eq!(h6.source(), Some(sa("[2001:db8::1]:5353")));
    }

    #[test]
    fn tcp_maps_mixed_families_to_v6() {
        let h = Header::tcp(sa("192.0.2.1:1"), sa("[2001:db8::2]:2"));
        assert_eq!(h.source(), Some(sa("[::ffff:192.0.2.1]:1")));
        assert_eq!(h.destination(), Some(sa("[2001:db8::2]:2")));
        let h = Header::tcp(sa("[2001:db8::2]:2"), sa("192.0.2.1:1"));
        assert_eq!(h.destination(), Some(sa("[::ffff:192.0.2.1]:1")));
    }

    #[test]
    fn tcp_clears_scope_and_flow() {
        let src = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 5, 2));
        let h = Header::tcp(src, sa("[::1]:10"));
        assert_eq!(h.source(), Some(sa("[::1]:9")));
    }

    #[test]
    fn new_checks_transport_against_addresses() {
        let v4 = Addresses::Ipv4 {
            source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            destination: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2),
        };
        assert!(matches!(
            Header::new(Command::Proxy, Transport::Unspec, v4.clone()),
            Err(Error::InvalidHeader { .. })
        ));
        assert!(matches!(
            Header::new(Command::Proxy, Transport::Stream, Addresses::Unspec),
            Err(Error::InvalidHeader { .. })
        ));
        let h = Header::new(Command::Local, Transport::Datagram, v4).unwrap();
        assert_eq!(h.command(), Command::Local);
        assert_eq!(
            Header::new(Command::Local, Transport::Unspec, Addresses::Unspec).unwrap(),
            Header::local()
        );
    }

    #[test]
    fn local_and_unknown_have_no_client_address() {
        assert_eq!(Header::local().source(), None);
        assert_eq!(Header::unknown().destination(), None);
        // LOCAL with addresses: they are kept, but not offered as the client.
        let v4 = Addresses::Ipv4 {
            source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            destination: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2),
        };
        let h = Header::new(Command::Local, Transport::Stream, v4).unwrap();
        assert_eq!(h.source(), None);
        assert_eq!(h.addresses().source(), Some(sa("127.0.0.1:1")));
    }

    #[test]
    fn tlv_accessors() {
        let mut h = Header::local()
            .with_tlv(Tlv::new(Tlv::NOOP, Vec::new()))
            .with_tlvs([
                Tlv::new(Tlv::ALPN, b"h2".to_vec()),
                Tlv::new(Tlv::ALPN, b"x".to_vec()),
            ]);
        assert_eq!(h.tlvs().len(), 3);
        assert_eq!(h.tlv(Tlv::ALPN).unwrap().value, b"h2");
        assert_eq!(h.tlv(Tlv::SSL), None);
        h.tlvs_mut().clear();
        assert!(h.tlvs().is_empty());
    }

    #[test]
    fn encode_follows_version() {
        let h = Header::tcp(sa("1.2.3.4:5"), sa("6.7.8.9:10"));
        let mut v2 = Vec::new();
        h.encode(&mut v2).unwrap();
        assert_eq!(v2.len(), h.encoded_len_v2().unwrap());
        assert_eq!(v2[12], 0x21);
        let h1 = h.with_version(Version::V1);
        let mut v1 = Vec::new();
        h1.encode(&mut v1).unwrap();
        assert_eq!(v1, b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n");
        assert_eq!(v1.len(), h1.encoded_len_v1().unwrap());
    }
}

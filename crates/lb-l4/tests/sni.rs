//! TLS SNI passthrough on loopback. The ClientHello parser on real hellos
//! from OpenSSL (captured live and saved), re-fragmented, cut and mutated;
//! then the SNI proxy in front of `openssl s_server` backends, reached with
//! curl and `openssl s_client`, and in front of plain recording backends for
//! byte-exact checks. Every wait is bounded and every child process killed.
//!
//! Tests that need the `openssl` and `curl` tools are skipped when either is
//! missing, unless the `CI` environment variable is set: then they fail.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lb_core::{Backend, Balancer, Policy};
use lb_l4::client_hello::{self, Parsed, Peek};
use lb_l4::sni::{SniProxy, SniProxyConfig, SniRoutes};
use lb_l4::tcp::DrainReport;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

const LIMIT: Duration = Duration::from_secs(20);

/// The ClientHello of `openssl s_client -tls1_2 -servername a.example` (OpenSSL 3.0.19), captured on loopback.
const TLS12_A: [u8; 206] = [
    0x16, 0x03, 0x01, 0x00, 0xc9, 0x01, 0x00, 0x00, 0xc5, 0x03, 0x03, 0xbe, 0x64, 0x27, 0xc1, 0x64,
    0xf9, 0x85, 0xf3, 0xe5, 0x45, 0x1e, 0x06, 0x00, 0xd3, 0x01, 0x2d, 0x92, 0x24, 0x97, 0x65, 0xfb,
    0xac, 0xd0, 0x03, 0x3a, 0xcd, 0x22, 0x94, 0xa7, 0xdb, 0x1d, 0x54, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
    0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c,
    0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04,
    0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
    0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
    0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
];

/// The ClientHello of `openssl s_client -noservername` (OpenSSL 3.0.19, TLS 1.3), captured on loopback.
const TLS13_NOSNI: [u8; 297] = [
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x98, 0x45, 0xbd, 0xe0, 0xac,
    0x83, 0x99, 0xd4, 0x00, 0x3a, 0x0d, 0x85, 0x71, 0xc9, 0x66, 0xab, 0x52, 0x6e, 0x42, 0x04, 0xb7,
    0x55, 0x77, 0x4f, 0x08, 0xe2, 0xec, 0xf6, 0x80, 0x8d, 0x92, 0x6e, 0x20, 0x91, 0x1d, 0x18, 0xcb,
    0x89, 0xfe, 0x95, 0x07, 0x20, 0x9c, 0x4c, 0x01, 0x46, 0xf7, 0x64, 0xa6, 0x7f, 0x4e, 0x9d, 0x47,
    0xbf, 0xf5, 0x5c, 0x0c, 0x53, 0xd7, 0xf9, 0x9b, 0x54, 0xbd, 0x50, 0xd6, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x36, 0xb8, 0x3d, 0x2d, 0xa4, 0x35, 0xfc,
    0x0d, 0x96, 0xaa, 0xaa, 0x92, 0xe3, 0x69, 0x21, 0xbb, 0x24, 0x11, 0x7e, 0xdf, 0xb7, 0x79, 0xbd,
    0x28, 0xf7, 0x29, 0x2f, 0x3f, 0x1c, 0x31, 0xb0, 0x06,
];

// ---------------------------------------------------------------------------
// The parser on real hellos.

/// The server name and ALPN protocols of a whole, valid ClientHello.
fn summary(wire: &[u8]) -> (Option<String>, Vec<Vec<u8>>) {
    match client_hello::parse(wire) {
        Ok(Parsed::Complete(hello)) => (
            hello.server_name().map(|n| n.to_string()),
            hello.alpn().map(|p| p.as_bytes().to_vec()).collect(),
        ),
        other => panic!("not a whole ClientHello: {other:?}"),
    }
}

/// The handshake bytes carried by the records of `wire`.
fn handshake_payload(wire: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut rest = wire;
    while rest.len() >= 5 {
        assert_eq!(rest[0], 22, "a handshake record");
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        payload.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    payload
}

/// The handshake bytes of `wire` in new records, of the sizes in `sizes`
/// in turn (repeating).
fn refragment(wire: &[u8], sizes: &[usize]) -> Vec<u8> {
    let payload = handshake_payload(wire);
    let mut out = Vec::new();
    let mut rest = &payload[..];
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

/// Every proper prefix of `wire` asks for more, never for more than is left.
fn assert_prefixes_incomplete(wire: &[u8]) {
    for i in 0..wire.len() {
        match client_hello::peek_sni(&wire[..i]) {
            Ok(Peek::Incomplete { needed }) => assert!(
                (1..=wire.len() - i).contains(&needed),
                "prefix {i}: needed {needed}"
            ),
            other => panic!("prefix {i} of {}: {other:?}", wire.len()),
        }
    }
}

/// `wire` is a whole ClientHello with this name and ALPN list, however it
/// is cut into records, and not before its last byte.
fn check_hello(wire: &[u8], name: Option<&str>, alpn: &[&[u8]]) {
    let want = (
        name.map(str::to_owned),
        alpn.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
    );
    assert_eq!(summary(wire), want);
    let Ok(Parsed::Complete(hello)) = client_hello::parse(wire) else {
        unreachable!()
    };
    assert_eq!(hello.end(), wire.len(), "the client sent its hello alone");
    assert_prefixes_incomplete(wire);
    for sizes in [&[1][..], &[2], &[3], &[7], &[64], &[100, 1], &[5, 300]] {
        let fragmented = refragment(wire, sizes);
        assert_eq!(summary(&fragmented), want, "records of {sizes:?}");
    }
    assert_prefixes_incomplete(&refragment(wire, &[13]));
}

#[test]
fn saved_hellos_from_openssl() {
    check_hello(&TLS12_A, Some("a.example"), &[]);
    let Ok(Parsed::Complete(hello)) = client_hello::parse(&TLS12_A) else {
        unreachable!()
    };
    assert_eq!(hello.legacy_version(), 0x0303);
    assert!(hello.server_name().unwrap().is_borrowed());
    check_hello(&TLS13_NOSNI, None, &[]);
    assert_eq!(client_hello::peek_sni(&TLS13_NOSNI), Ok(Peek::NoSni));
}

/// A child process killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `openssl` and `curl` can be run. Without them the caller skips
/// its test, unless `CI` is set: then this fails.
fn tools(test: &str) -> bool {
    let runs = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs("openssl", "version") && runs("curl", "--version") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: openssl and curl are required (CI is set)"
    );
    eprintln!("skipping {test}: openssl or curl not found (set CI to fail instead)");
    false
}

/// Runs `command` to its end (at most `LIMIT`), with its output captured.
async fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = Killed(child);
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            // The outputs are small: they fit in the pipes.
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            if let Some(mut out) = child.0.stdout.take() {
                std::io::Read::read_to_end(&mut out, &mut stdout).expect("stdout");
            }
            if let Some(mut err) = child.0.stderr.take() {
                std::io::Read::read_to_end(&mut err, &mut stderr).expect("stderr");
            }
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        assert!(Instant::now() < deadline, "{command:?} took too long");
        sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `openssl s_client` with `args` against a listener of ours and
/// returns the ClientHello it sends.
async fn capture(args: &[&str]) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        // Kept open (by the child handle) so the client waits, not quits.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn s_client");
    let _client = Killed(child);
    let (mut conn, _) = timeout(LIMIT, listener.accept())
        .await
        .expect("s_client connects in time")
        .expect("accept");
    let mut wire = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        match client_hello::peek_sni(&wire) {
            Ok(Peek::Incomplete { .. }) => {}
            Ok(_) => return wire,
            Err(e) => panic!("{args:?}: {e}"),
        }
        let n = timeout(LIMIT, conn.read(&mut chunk))
            .await
            .expect("in time")
            .expect("read");
        assert!(
            n > 0,
            "{args:?}: s_client closed before its hello was whole"
        );
        wire.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hellos_from_openssl_tls12_and_tls13() {
    if !tools("live_hellos_from_openssl_tls12_and_tls13") {
        return;
    }
    /// s_client's arguments, the name and the ALPN protocols it sends.
    type Case = (
        &'static [&'static str],
        Option<&'static str>,
        &'static [&'static [u8]],
    );
    let cases: [Case; 6] = [
        (&["-servername", "a.example"], Some("a.example"), &[]),
        (
            &["-tls1_3", "-servername", "x.b.example"],
            Some("x.b.example"),
            &[],
        ),
        (
            &["-tls1_2", "-servername", "A.Example"],
            Some("A.Example"),
            &[],
        ),
        (&["-noservername"], None, &[]),
        (&["-tls1_2", "-noservername"], None, &[]),
        (
            &["-servername", "a.example", "-alpn", "h2,http/1.1"],
            Some("a.example"),
            &[b"h2", b"http/1.1"],
        ),
    ];
    for (args, name, alpn) in cases {
        let wire = capture(args).await;
        check_hello(&wire, name, alpn);
    }
}

fn saved() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![Just(&TLS12_A[..]), Just(&TLS13_NOSNI[..])]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_conclusions_last(
        header in prop_oneof![
            Just(vec![]),
            Just(vec![22, 3, 1]),
            Just(vec![22, 3, 3, 0x01, 0x00, 1, 0, 0, 0xfc, 3, 3]),
        ],
        data in proptest::collection::vec(any::<u8>(), 0..600),
        extra in proptest::collection::vec(any::<u8>(), 1..20),
    ) {
        let input = [&header[..], &data].concat();
        let result = client_hello::peek_sni(&input);
        let _ = client_hello::parse(&input).map(|p| match p {
            Parsed::Complete(h) => h.alpn().count(),
            Parsed::Incomplete { .. } => 0,
        });
        if let Ok(Peek::Sni(_) | Peek::NoSni) | Err(_) = result {
            let longer = [&input[..], &extra].concat();
            prop_assert_eq!(client_hello::peek_sni(&longer), result);
        }
    }

    #[test]
    fn mutated_real_hellos_never_panic(
        wire in saved(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = wire.to_vec();
        for (at, value) in &edits {
            let i = at.index(input.len());
            input[i] = *value;
        }
        input.truncate(cut.index(input.len() + 1));
        match client_hello::peek_sni(&input) {
            Ok(Peek::Sni(name)) => {
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            }
            Ok(Peek::Incomplete { needed }) => prop_assert!(needed >= 1),
            Ok(Peek::NoSni) | Err(_) => {}
        }
        if let Ok(Parsed::Complete(hello)) = client_hello::parse(&input) {
            prop_assert!(hello.end() <= input.len());
            for protocol in hello.alpn() {
                prop_assert!(!protocol.as_bytes().is_empty());
            }
        }
    }

    #[test]
    fn any_record_fragmentation_gives_the_same_answer(
        wire in saved(),
        sizes in proptest::collection::vec(1_usize..400, 1..8),
    ) {
        let fragmented = refragment(wire, &sizes);
        prop_assert_eq!(summary(&fragmented), summary(wire));
        let Ok(Parsed::Complete(hello)) = client_hello::parse(&fragmented) else {
            unreachable!()
        };
        prop_assert_eq!(hello.end(), fragmented.len());
        let cut = fragmented.len() - 1;
        prop_assert!(client_hello::peek_sni(&fragmented[..cut]).unwrap().is_incomplete());
    }
}

// ---------------------------------------------------------------------------
// The proxy.

/// A directory under /tmp removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("lb-sni-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate and its key, for one DNS name (or pattern).
struct Cert {
    cert: PathBuf,
    key: PathBuf,
}

async fn cert(dir: &TempDir, file: &str, name: &str) -> Cert {
    let cert = dir.0.join(format!("{file}.pem"));
    let key = dir.0.join(format!("{file}.key"));
    let out = run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert))
    .await;
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Cert { cert, key }
}

/// An `openssl s_server -www` backend (answers an HTTP GET with a status
/// page) presenting `cert`.
struct TlsBackend {
    addr: SocketAddr,
    _server: Killed,
}

async fn tls_backend(cert: &Cert) -> TlsBackend {
    for _ in 0..5 {
        // A port free a moment ago; if s_server cannot bind it, another.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("openssl")
            .args(["s_server", "-accept", &addr.to_string(), "-www"])
            .arg("-cert")
            .arg(&cert.cert)
            .arg("-key")
            .arg(&cert.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s_server");
        let mut server = Killed(child);
        let deadline = Instant::now() + LIMIT;
        loop {
            if server.0.try_wait().expect("wait").is_some() {
                break; // could not bind: next port
            }
            if TcpStream::connect(addr).await.is_ok() {
                return TlsBackend {
                    addr,
                    _server: server,
                };
            }
            assert!(Instant::now() < deadline, "s_server did not start");
            sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("s_server could not bind a port in 5 tries");
}

/// A plain TCP backend that reads `len` bytes from each connection and
/// reports them on the channel.
async fn recorder(len: usize) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut got = vec![0_u8; len];
                if conn.read_exact(&mut got).await.is_ok() {
                    let _ = tx.send(got);
                }
            });
        }
    });
    (addr, rx)
}

fn cluster(addrs: &[SocketAddr], policy: &str) -> Arc<Balancer<Policy>> {
    let backends = addrs.iter().map(|&a| Backend::new(a)).collect();
    Arc::new(Balancer::new(policy.parse::<Policy>().expect("known"), backends).expect("valid"))
}

struct Proxy {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<DrainReport>,
    proxy: Arc<SniProxy<Policy>>,
}

impl Proxy {
    async fn start(routes: SniRoutes<Policy>, config: SniProxyConfig) -> Self {
        let proxy = Arc::new(SniProxy::new(routes, config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(Arc::clone(&proxy).serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop,
            served,
            proxy,
        }
    }

    /// Stops and drains (every test's connections are over by then).
    async fn stop(self) -> DrainReport {
        let _ = self.stop.send(());
        timeout(LIMIT, self.served)
            .await
            .expect("drained in time")
            .expect("no panic")
    }
}

/// `curl https://{host}:{port}/` through the proxy, trusting `ca`: the
/// subject of the certificate curl verified, or why it failed.
async fn curl(proxy: SocketAddr, host: &str, ca: &Cert) -> Result<String, String> {
    let port = proxy.port();
    let out = run(Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(&ca.cert)
        .arg(format!("https://{host}:{port}/")))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(stderr);
    }
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("s_server"), "the backend's page: {body}");
    stderr
        .lines()
        .find_map(|line| {
            line.split_once(" subject: ")
                .map(|(_, s)| s.trim().to_owned())
        })
        .ok_or(stderr)
}

/// The subject of the certificate `openssl s_client` receives through the
/// proxy when asking for `name` (`None`: no SNI); `None` if the handshake
/// failed.
async fn s_client_subject(proxy: SocketAddr, name: Option<&str>) -> Option<String> {
    let mut command = Command::new("openssl");
    command.args(["s_client", "-connect", &proxy.to_string()]);
    match name {
        Some(name) => command.args(["-servername", name]),
        None => command.arg("-noservername"),
    };
    let out = run(&mut command).await;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("subject=").map(str::to_owned))
}

/// Reads until the peer closes or resets; how long that took.
async fn closed_after(conn: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0_u8; 1024];
    loop {
        match timeout(LIMIT, conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after {LIMIT:?}"),
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let conn = timeout(LIMIT, TcpStream::connect(addr))
        .await
        .expect("in time")
        .expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_complete_the_handshake_by_exact_wildcard_and_default_route() {
    if !tools("backends_complete_the_handshake_by_exact_wildcard_and_default_route") {
        return;
    }
    let dir = TempDir::new();
    let a_cert = cert(&dir, "a", "a.example").await;
    let b_cert = cert(&dir, "b", "*.b.example").await;
    let d_cert = cert(&dir, "d", "default.example").await;
    let a = tls_backend(&a_cert).await;
    let b = tls_backend(&b_cert).await;
    let d = tls_backend(&d_cert).await;
    let (a_cluster, b_cluster, d_cluster) = (
        cluster(&[a.addr], "round-robin"),
        cluster(&[b.addr], "least-conn"),
        cluster(&[d.addr], "random"),
    );
    let routes = SniRoutes::builder()
        .exact("a.example", Arc::clone(&a_cluster))
        .wildcard("*.b.example", Arc::clone(&b_cluster))
        .default(Arc::clone(&d_cluster))
        .build()
        .expect("valid");
    let p = Proxy::start(routes, SniProxyConfig::default()).await;

    // curl verifies each backend's certificate for the name it asked for.
    assert_eq!(
        curl(p.addr, "a.example", &a_cert).await,
        Ok("CN=a.example".into())
    );
    assert_eq!(
        curl(p.addr, "A.EXAMPLE", &a_cert).await,
        Ok("CN=a.example".into())
    );
    assert_eq!(
        curl(p.addr, "x.b.example", &b_cert).await,
        Ok("CN=*.b.example".into())
    );
    // Deeper names route by the wildcard too (the certificate's `*.`
    // covers one label only, so look without verifying).
    assert_eq!(
        s_client_subject(p.addr, Some("y.x.b.example"))
            .await
            .as_deref(),
        Some("CN = *.b.example")
    );
    // Unknown names and no name: the default backend answers.
    assert_eq!(
        s_client_subject(p.addr, Some("unknown.example"))
            .await
            .as_deref(),
        Some("CN = default.example")
    );
    assert_eq!(
        s_client_subject(p.addr, Some("b.example")).await.as_deref(),
        Some("CN = default.example"),
        "a wildcard needs a label before its suffix"
    );
    assert_eq!(
        s_client_subject(p.addr, None).await.as_deref(),
        Some("CN = default.example")
    );
    assert_eq!(
        s_client_subject(p.addr, Some("z.b.example"))
            .await
            .as_deref(),
        Some("CN = *.b.example")
    );

    let stats = Arc::clone(p.proxy.stats());
    let index = |c: &Arc<Balancer<Policy>>| p.proxy.routes().cluster_index(c).expect("known");
    assert_eq!(stats.routed(index(&a_cluster)), 2);
    assert_eq!(stats.routed(index(&b_cluster)), 3);
    assert_eq!(stats.routed(index(&d_cluster)), 3);
    assert_eq!((stats.unknown_name(), stats.no_sni()), (2, 1));
    assert_eq!(stats.accepted(), 8);
    assert_eq!(stats.not_tls() + stats.bad_hello() + stats.unrouted(), 0);
    let report = p.stop().await;
    assert_eq!(report.cut, 0);
    assert_eq!(stats.completed(), 8);
    assert!(stats.bytes_up() > 0 && stats.bytes_down() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_default_nameless_and_unknown_hellos_are_closed() {
    let (a, mut a_got) = recorder(TLS12_A.len()).await;
    let routes = SniRoutes::builder()
        .exact("other.example", cluster(&[a], "round-robin"))
        .build()
        .expect("valid");
    let p = Proxy::start(routes, SniProxyConfig::default()).await;
    for hello in [&TLS13_NOSNI[..], &TLS12_A] {
        let mut conn = connect(p.addr).await;
        conn.write_all(hello).await.expect("write");
        assert!(closed_after(&mut conn).await < Duration::from_secs(2));
    }
    let stats = Arc::clone(p.proxy.stats());
    assert_eq!(
        (stats.no_sni(), stats.unknown_name(), stats.unrouted()),
        (1, 1, 2)
    );
    assert_eq!(stats.routed(0), 0);
    assert!(a_got.try_recv().is_err(), "nothing reached the backend");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_and_garbage_are_closed_at_once() {
    let (a, _a_got) = recorder(1).await;
    let routes = SniRoutes::builder()
        .default(cluster(&[a], "round-robin"))
        .build()
        .expect("valid");
    let config = SniProxyConfig::default().peek_timeout(Duration::from_secs(15));
    let p = Proxy::start(routes, config).await;
    // Not TLS: told by the first byte.
    let mut http = connect(p.addr).await;
    http.write_all(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await
        .expect("write");
    assert!(closed_after(&mut http).await < Duration::from_secs(2));
    // TLS, but not a ClientHello.
    let mut alert = connect(p.addr).await;
    alert
        .write_all(&[22, 3, 3, 0, 4, 2, 0, 0, 0])
        .await
        .expect("write");
    assert!(closed_after(&mut alert).await < Duration::from_secs(2));
    // A hello cut short by the client's end of stream.
    let mut cut = connect(p.addr).await;
    cut.write_all(&TLS12_A[..100]).await.expect("write");
    cut.shutdown().await.expect("half-close");
    assert!(closed_after(&mut cut).await < Duration::from_secs(2));
    let stats = Arc::clone(p.proxy.stats());
    assert_eq!((stats.not_tls(), stats.bad_hello()), (1, 2));
    assert_eq!(stats.routed(0) + stats.peek_timeouts(), 0);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_over_the_peek_limit_is_closed() {
    let (a, _a_got) = recorder(1).await;
    let routes = SniRoutes::builder()
        .default(cluster(&[a], "round-robin"))
        .build()
        .expect("valid");
    let config = SniProxyConfig::default().max_hello_bytes(150);
    let p = Proxy::start(routes, config).await;
    let mut conn = connect(p.addr).await;
    conn.write_all(&TLS12_A).await.expect("write");
    assert!(closed_after(&mut conn).await < Duration::from_secs(2));
    assert_eq!(p.proxy.stats().bad_hello(), 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_after_the_peek_timeout_without_blocking_others() {
    let (a, mut a_got) = recorder(TLS12_A.len()).await;
    let routes = SniRoutes::builder()
        .exact("a.example", cluster(&[a], "round-robin"))
        .build()
        .expect("valid");
    let peek_timeout = Duration::from_millis(1500);
    let p = Proxy::start(routes, SniProxyConfig::default().peek_timeout(peek_timeout)).await;
    let started = Instant::now();
    let mut silent = connect(p.addr).await;
    // A slow one too: half a hello, then nothing.
    let mut slow = connect(p.addr).await;
    slow.write_all(&TLS12_A[..60]).await.expect("write");
    // Meanwhile another client is served at once.
    let mut other = connect(p.addr).await;
    other.write_all(&TLS12_A).await.expect("write");
    let got = timeout(Duration::from_millis(1200), a_got.recv())
        .await
        .expect("served while the silent client waits")
        .expect("bytes");
    assert_eq!(got, TLS12_A);
    assert!(started.elapsed() < peek_timeout);
    closed_after(&mut silent).await;
    closed_after(&mut slow).await;
    let waited = started.elapsed();
    assert!(
        waited >= peek_timeout - Duration::from_millis(50) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let stats = Arc::clone(p.proxy.stats());
    assert_eq!(stats.peek_timeouts(), 2);
    assert_eq!(stats.routed(0), 1);
    drop(other);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_split_across_writes_or_records_is_routed_untouched() {
    let (a, mut a_got) = recorder(TLS12_A.len()).await;
    let (d, mut d_got) = recorder(1).await;
    let routes = |a| {
        SniRoutes::builder()
            .exact("a.example", cluster(&[a], "round-robin"))
            .default(cluster(&[d], "round-robin"))
            .build()
            .expect("valid")
    };
    let p = Proxy::start(routes(a), SniProxyConfig::default()).await;
    // Two TCP writes with a pause: at a record-header boundary, inside the
    // handshake header, and inside the server name.
    let name_at = TLS12_A
        .windows(9)
        .position(|w| w == b"a.example")
        .expect("the name is in the hello");
    for split in [5, 7, name_at + 4] {
        let mut conn = connect(p.addr).await;
        conn.write_all(&TLS12_A[..split]).await.expect("write");
        sleep(Duration::from_millis(200)).await;
        conn.write_all(&TLS12_A[split..]).await.expect("write");
        let got = timeout(LIMIT, a_got.recv())
            .await
            .expect("in time")
            .expect("bytes");
        assert_eq!(got, TLS12_A, "split at {split}: forwarded untouched");
    }
    assert_eq!(p.proxy.stats().routed(0), 3);
    p.stop().await;

    // The same hello cut into 40-byte records, sent in three writes.
    let fragmented = refragment(&TLS12_A, &[40]);
    let (f, mut f_got) = recorder(fragmented.len()).await;
    let p = Proxy::start(routes(f), SniProxyConfig::default()).await;
    let mut conn = connect(p.addr).await;
    for part in [
        &fragmented[..100],
        &fragmented[100..150],
        &fragmented[150..],
    ] {
        conn.write_all(part).await.expect("write");
        sleep(Duration::from_millis(100)).await;
    }
    let got = timeout(LIMIT, f_got.recv())
        .await
        .expect("in time")
        .expect("bytes");
    assert_eq!(got, fragmented);
    assert!(d_got.try_recv().is_err(), "nothing went to the default");
    assert_eq!(p.proxy.stats().routed(0), 1);
    drop(conn);
    assert_eq!(p.stop().await.cut, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_is_retried_and_reported_to_health() {
    let (live, mut live_got) = recorder(TLS12_A.len()).await;
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let a = cluster(&[dead, live], "round-robin");
    let routes = SniRoutes::builder()
        .exact("a.example", Arc::clone(&a))
        .build()
        .expect("valid");
    let p = Proxy::start(routes, SniProxyConfig::default()).await;
    for _ in 0..2 {
        let mut conn = connect(p.addr).await;
        conn.write_all(&TLS12_A).await.expect("write");
        let got = timeout(LIMIT, live_got.recv())
            .await
            .expect("in time")
            .expect("bytes");
        assert_eq!(got, TLS12_A);
    }
    let stats = Arc::clone(p.proxy.stats());
    assert!(stats.connect_failures() >= 1);
    assert_eq!(stats.no_backend(), 0);
    p.stop().await;
}

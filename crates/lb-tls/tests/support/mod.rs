//! Certificates, servers and real clients (curl, openssl) for the TLS tests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lb_tls::{CertStore, TlsSettings, TlsTerminator, certified_key};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A certificate and its key, in PEM.
#[derive(Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A test CA.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "lb test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names`, with CN = the first name.
    pub fn leaf(&self, names: &[&str]) -> Pem {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

pub fn store(default: &Pem, named: &[(&str, &Pem)]) -> CertStore {
    let mut store = CertStore::new();
    store.set_default(
        certified_key(default.cert.as_bytes(), default.key.as_bytes(), "default").unwrap(),
    );
    for (name, pem) in named {
        store
            .insert(
                name,
                certified_key(pem.cert.as_bytes(), pem.key.as_bytes(), name).unwrap(),
            )
            .unwrap();
    }
    store
}

/// A TLS server answering every connection's first request with `ok` and closing.
pub async fn ok_server(tls: Arc<TlsTerminator>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = Arc::clone(&tls);
            tokio::spawn(async move {
                let Ok((mut stream, _)) = tls.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
                    )
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

pub fn terminator(store: CertStore) -> Arc<TlsTerminator> {
    Arc::new(TlsTerminator::new(store, TlsSettings::default()).unwrap())
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lb-tls-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a tool is installed; without it a test is skipped outside CI and fails in CI.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        || Command::new(tool)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "{tool} is required in CI"
    );
    found
}

/// Runs a command with `stdin`, bounded by `limit` (killed past it); stdout and stderr together.
pub async fn run(mut cmd: Command, stdin: &[u8], limit: Duration) -> (bool, String) {
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(&stdin);
        }
        let deadline = std::time::Instant::now() + limit;
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("output");
        let mut text = String::from_utf8_lossy(&stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&stderr));
        (status.success(), text)
    })
    .await
    .unwrap()
}

/// `openssl s_client` against `addr` with `args`, sending one HTTP request.
pub async fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    // -ign_eof: read until the server closes (the response, and TLS 1.3 session tickets),
    // not until our stdin ends.
    cmd.arg("s_client")
        .arg("-ign_eof")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args);
    run(
        cmd,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await
    .1
}

/// `curl` for `https://NAME:PORT/PATH` resolved to `addr`, trusting `ca`.
pub async fn curl(
    addr: SocketAddr,
    name: &str,
    path: &str,
    ca: &Path,
    extra: &[&str],
) -> (bool, String) {
    let mut cmd = Command::new("curl");
    cmd.arg("-sS")
        .arg("--max-time")
        .arg("10")
        .arg("--resolve")
        .arg(format!("{name}:{}:127.0.0.1", addr.port()))
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg(format!("https://{name}:{}{path}", addr.port()));
    run(cmd, b"", Duration::from_secs(15)).await
}

//! The TCP proxy speaking the PROXY protocol: sending it to backends,
//! accepting it from a tier in front, rejecting bad headers, and interop
//! with nginx as a backend (`listen ... proxy_protocol`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_core::{Backend, Balancer, RoundRobin};
use lb_l4::proxy_protocol::{self, Header, Status, Version};
use lb_l4::tcp::{TcpProxy, TcpProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// A backend that reads a PROXY header, answers "src=ADDR version=V\n",
/// then echoes until end of stream.
async fn proxy_aware_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 512];
                let (header, rest) = loop {
                    let n = conn.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "closed before the header");
                    buf.extend_from_slice(&chunk[..n]);
                    match proxy_protocol::decode(&buf).expect("a valid PROXY header") {
                        Status::Complete(h, used) => break (h, buf.split_off(used)),
                        Status::Partial => {}
                    }
                };
                let line = format!("src={:?} version={:?}\n", header.source(), header.version());
                conn.write_all(line.as_bytes()).await.expect("write");
                conn.write_all(&rest).await.expect("write");
                let mut echo = [0_u8; 4096];
                loop {
                    match conn.read(&mut echo).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&echo[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn start(
    backend: SocketAddr,
    config: TcpProxyConfig,
) -> (SocketAddr, Arc<TcpProxy<RoundRobin>>) {
    let balancer = Arc::new(Balancer::new(RoundRobin, vec![Backend::new(backend)]).expect("valid"));
    let proxy = Arc::new(TcpProxy::new(balancer, config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(Arc::clone(&proxy).serve(listener, std::future::pending()));
    (addr, proxy)
}

async fn first_line(conn: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0_u8; 1];
    while timeout(LIMIT, conn.read_exact(&mut byte))
        .await
        .expect("in time")
        .is_ok()
    {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_see_the_real_client_address() {
    let backend = proxy_aware_backend().await;
    for version in [Version::V1, Version::V2] {
        let (addr, _) = start(backend, TcpProxyConfig::default().send_proxy(Some(version))).await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        let me = conn.local_addr().expect("local");
        assert_eq!(
            first_line(&mut conn).await,
            format!("src=Some({me}) version={version:?}")
        );
        conn.write_all(b"data").await.expect("write");
        let mut echo = [0_u8; 4];
        conn.read_exact(&mut echo).await.expect("echo");
        assert_eq!(&echo, b"data");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_from_the_tier_in_front_is_passed_on() {
    let backend = proxy_aware_backend().await;
    let config = TcpProxyConfig::default()
        .accept_proxy(true)
        .send_proxy(Some(Version::V1));
    let (addr, proxy) = start(backend, config).await;
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    // The tier in front says the client was 192.0.2.10:4242 (a documentation
    // address, never contacted), and the first bytes ride with the header.
    let original: SocketAddr = "192.0.2.10:4242".parse().expect("addr");
    let mut hello = Vec::new();
    Header::tcp(original, addr)
        .encode_v2(&mut hello)
        .expect("encode");
    hello.extend_from_slice(b"early bytes");
    conn.write_all(&hello).await.expect("write");
    assert_eq!(
        first_line(&mut conn).await,
        format!("src=Some({original}) version=V1")
    );
    let mut early = [0_u8; 11];
    conn.read_exact(&mut early)
        .await
        .expect("early bytes relayed");
    assert_eq!(&early, b"early bytes");
    assert_eq!(proxy.stats().proxy_errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_or_late_headers_close_the_connection() {
    let backend = proxy_aware_backend().await;
    let config = TcpProxyConfig::default()
        .accept_proxy(true)
        .proxy_header_timeout(Duration::from_millis(200));
    let (addr, proxy) = start(backend, config).await;
    for attempt in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
        b"",
    ] {
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        conn.write_all(attempt).await.expect("write");
        let mut rest = Vec::new();
        let read = timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "closed without data: {read:?}"
        );
    }
    assert_eq!(proxy.stats().proxy_errors(), 3);
    assert_eq!(proxy.stats().completed(), 0, "no backend was involved");
}

/// nginx as the backend, with `listen ... proxy_protocol`: it must report
/// our client's address. Needs the nginx binary: CI installs it; elsewhere
/// the test says so and passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_reads_our_proxy_headers() {
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(std::env::var_os("CI").is_none(), "CI must install nginx");
        eprintln!("nginx not installed: interop test skipped");
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = std::env::temp_dir().join(format!("lb-l4-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).expect("dir");
    let conf = format!(
        "worker_processes 1; pid {d}/nginx.pid; error_log {d}/logs/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};\n\
           fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
           server {{ listen 127.0.0.1:{port} proxy_protocol;\n\
             location / {{ return 200 \"$proxy_protocol_addr:$proxy_protocol_port\"; }} }} }}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let mut child = std::process::Command::new(nginx)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            "nginx.conf",
            "-g",
            "daemon off;",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    let backend: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(backend).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = async move {
        assert!(up, "nginx did not start");
        for version in [Version::V1, Version::V2] {
            let (addr, _) =
                start(backend, TcpProxyConfig::default().send_proxy(Some(version))).await;
            let mut conn = TcpStream::connect(addr).await.expect("connect");
            let me = conn.local_addr().expect("local");
            conn.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                .await
                .expect("write");
            let mut response = Vec::new();
            timeout(LIMIT, conn.read_to_end(&mut response))
                .await
                .expect("in time")
                .expect("read");
            let text = String::from_utf8_lossy(&response);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(
                text.ends_with(&format!("{}:{}", me.ip(), me.port())),
                "{version:?}: {text}"
            );
        }
    };
    let outcome = tokio::spawn(result).await;
    // SIGTERM: nginx's master stops its worker too (SIGKILL would orphan the worker, still
    // holding the port). SIGKILL only if it does not stop in time.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    outcome.expect("interop assertions");
}

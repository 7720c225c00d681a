//! The cost of TLS at the L7 tier: handshakes (full and resumed) and keep-alive requests through
//! `TlsTerminator` + `HttpProxy`, against plain HTTP through the same `HttpProxy`.
//!
//! Run: `cargo bench --bench tls`.
//!
//! - `tls/handshake/{full,resumed}`: a new TCP connection, a TLS 1.3 handshake (ECDSA P-256
//!   certificate, the rcgen default) and one request: full, and resuming a ticket.
//! - `tls/keepalive/{http,https}`: one request on an open connection through the L7 proxy, plain
//!   and over TLS.
//!
//! Client, terminator, proxy and backend share one 2-worker runtime on the 2-core machine.

use std::sync::Arc;
use std::time::Duration;

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use lb::tls::{CertStore, HttpsOptions, TlsSettings, TlsTerminator, certified_key, serve_https};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n";
const REQUEST: &[u8] = b"GET /api/users/42 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

/// Sends `REQUEST` and reads one response (the proxy's is exactly `RESPONSE`'s length).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut S) {
    conn.write_all(REQUEST).await.expect("write");
    let mut back = [0_u8; 64];
    let mut read = 0;
    while read < RESPONSE.len() {
        let n = conn
            .read(&mut back[read..RESPONSE.len()])
            .await
            .expect("read");
        assert!(n > 0, "closed");
        read += n;
    }
}

fn tls(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (http, https) = rt.block_on(async {
        let backend = support::backend().await;
        let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let plain_addr = plain.local_addr().expect("addr");
        tokio::spawn(support::proxy(backend, 1, false).serve(plain, std::future::pending()));
        let mut store = CertStore::new();
        store.set_default(
            certified_key(
                generated.cert.pem().as_bytes(),
                generated.signing_key.serialize_pem().as_bytes(),
                "localhost",
            )
            .expect("key"),
        );
        let terminator = Arc::new(TlsTerminator::new(store, TlsSettings::default()).expect("tls"));
        let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let secure_addr = secure.local_addr().expect("addr");
        tokio::spawn(serve_https(
            secure,
            std::future::pending(),
            terminator,
            support::proxy(backend, 1, false),
            HttpsOptions { accept_proxy: None },
        ));
        (plain_addr, secure_addr)
    });
    let mut roots = RootCertStore::empty();
    roots.add(generated.cert.der().clone()).expect("root");
    let client_config = |resume: bool| {
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        TlsConnector::from(Arc::new(config))
    };
    let name = ServerName::try_from("localhost").expect("name");
    let mut group = c.benchmark_group("tls");
    group.measurement_time(Duration::from_secs(3));
    for (label, resume) in [("full", false), ("resumed", true)] {
        let connector = client_config(resume);
        group.bench_function(format!("handshake/{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tcp = TcpStream::connect(https).await.expect("connect");
                    tcp.set_nodelay(true).expect("nodelay");
                    let mut conn = connector
                        .connect(name.clone(), tcp)
                        .await
                        .expect("handshake");
                    exchange(&mut conn).await;
                });
            });
        });
    }
    let mut plain = rt.block_on(async {
        let c = TcpStream::connect(http).await.expect("connect");
        c.set_nodelay(true).expect("nodelay");
        c
    });
    group.bench_function("keepalive/http", |b| {
        b.iter(|| rt.block_on(exchange(&mut plain)))
    });
    let connector = client_config(true);
    let mut secure = rt.block_on(async {
        let c = TcpStream::connect(https).await.expect("connect");
        c.set_nodelay(true).expect("nodelay");
        connector.connect(name.clone(), c).await.expect("handshake")
    });
    group.bench_function("keepalive/https", |b| {
        b.iter(|| rt.block_on(exchange(&mut secure)))
    });
    group.finish();
}

criterion_group!(benches, tls);
criterion_main!(benches);

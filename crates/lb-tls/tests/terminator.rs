//! The terminator against real clients: the right certificate per SNI, ALPN, TLS 1.2 and 1.3,
//! resumption, reload under load, bad clients, mTLS.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lb_tls::{TlsError, TlsSettings, TlsTerminator, UpstreamTls};
use support::{Ca, TempDir, curl, have, ok_server, s_client, store, terminator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn each_name_gets_its_certificate() {
    if !have("openssl") {
        return;
    }
    let ca = Ca::new();
    let (def, a, wild) = (
        ca.leaf(&["default.example"]),
        ca.leaf(&["a.example"]),
        ca.leaf(&["*.b.example"]),
    );
    let tls = terminator(store(&def, &[("a.example", &a), ("*.b.example", &wild)]));
    let addr = ok_server(Arc::clone(&tls)).await;
    for (sni, cn) in [
        ("a.example", "a.example"),
        ("x.b.example", "*.b.example"),
        ("other.example", "default.example"),
    ] {
        let out = s_client(addr, &["-servername", sni]).await;
        assert!(
            out.contains(&format!("subject=CN = {cn}"))
                || out.contains(&format!("subject=CN={cn}")),
            "{sni}: {out}"
        );
    }
    let out = s_client(addr, &["-noservername"]).await;
    assert!(
        out.contains("CN = default.example") || out.contains("CN=default.example"),
        "{out}"
    );
}

#[tokio::test]
async fn unknown_name_without_default_is_a_clear_error() {
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let mut only_a = lb_tls::CertStore::new();
    only_a
        .insert(
            "a.example",
            lb_tls::certified_key(a.cert.as_bytes(), a.key.as_bytes(), "a").unwrap(),
        )
        .unwrap();
    let tls = terminator(only_a);
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    let (server, client) = tokio::join!(
        tls.accept(server_end),
        client.connect("z.example", client_end)
    );
    assert!(
        matches!(server, Err(TlsError::UnknownServerName(ref n)) if n == "z.example"),
        "{server:?}"
    );
    assert!(client.is_err());
    assert_eq!(tls.stats().no_certificate(), 1);
}

#[tokio::test]
async fn alpn_and_both_versions_are_negotiated() {
    if !have("openssl") {
        return;
    }
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let addr = ok_server(terminator(store(&a, &[]))).await;
    let out = s_client(
        addr,
        &[
            "-servername",
            "a.example",
            "-alpn",
            "h2,http/1.1",
            "-tls1_3",
        ],
    )
    .await;
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("TLSv1.3"), "{out}");
    let out = s_client(addr, &["-servername", "a.example", "-tls1_2"]).await;
    assert!(
        out.contains("Protocol  : TLSv1.2") || out.contains("TLSv1.2"),
        "{out}"
    );
    // Offered only h2: no overlap, so no ALPN (the stack behind speaks HTTP/1.1 only).
    let out = s_client(addr, &["-servername", "a.example", "-alpn", "h2"]).await;
    assert!(!out.contains("ALPN protocol: h2"), "{out}");
}

#[tokio::test]
async fn tls13_minimum_refuses_tls12() {
    if !have("openssl") {
        return;
    }
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let settings = TlsSettings {
        min_version: lb_tls::MinVersion::Tls13,
        ..TlsSettings::default()
    };
    let tls = Arc::new(TlsTerminator::new(store(&a, &[]), settings).unwrap());
    let addr = ok_server(Arc::clone(&tls)).await;
    let out = s_client(addr, &["-servername", "a.example", "-tls1_2"]).await;
    assert!(out.contains("no peer certificate available"), "{out}");
    assert!(tls.stats().failed() >= 1);
    let out = s_client(addr, &["-servername", "a.example", "-tls1_3"]).await;
    assert!(out.contains("TLSv1.3") && out.contains("ok"), "{out}");
}

#[tokio::test]
async fn sessions_resume() {
    if !have("openssl") {
        return;
    }
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let tls = terminator(store(&a, &[]));
    let addr = ok_server(Arc::clone(&tls)).await;
    let dir = TempDir::new("sess");
    let sess = dir.0.join("session.pem");
    let sess = sess.to_str().unwrap();
    // TLS 1.3 tickets: save the session, then offer it. s_client saves the session only if it
    // processed a ticket before the server closed; under load it sometimes exits first, so
    // the saving run is tried a few times.
    let mut first = String::new();
    for _ in 0..5 {
        first = s_client(
            addr,
            &["-servername", "a.example", "-tls1_3", "-sess_out", sess],
        )
        .await;
        if std::path::Path::new(sess).exists() {
            break;
        }
    }
    assert!(first.contains("New, TLSv1.3"), "{first}");
    assert!(
        std::path::Path::new(sess).exists(),
        "no session saved: {first}"
    );
    let second = s_client(
        addr,
        &["-servername", "a.example", "-tls1_3", "-sess_in", sess],
    )
    .await;
    assert!(second.contains("Reused, TLSv1.3"), "{second}");
    // TLS 1.2: -reconnect resumes by session id or ticket five times.
    let again = s_client(addr, &["-servername", "a.example", "-tls1_2", "-reconnect"]).await;
    assert!(again.matches("Reused, TLSv1.2").count() >= 1, "{again}");
    assert!(
        tls.stats().resumed() >= 2,
        "resumed {}",
        tls.stats().resumed()
    );
}

#[tokio::test]
async fn curl_is_served_and_verifies_the_certificate() {
    if !have("curl") {
        return;
    }
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let addr = ok_server(terminator(store(&a, &[]))).await;
    let dir = TempDir::new("curl");
    let ca_path = dir.write("ca.pem", &ca.pem());
    let (ok, out) = curl(addr, "a.example", "/", &ca_path, &[]).await;
    assert!(ok && out.contains("ok"), "{out}");
    let other = Ca::new();
    let wrong = dir.write("other.pem", &other.pem());
    let (ok, _) = curl(addr, "a.example", "/", &wrong, &[]).await;
    assert!(!ok, "a certificate from another CA must not verify");
}

/// One request over a new TLS connection; returns the certificate the server presented.
async fn request(addr: std::net::SocketAddr, client: &UpstreamTls) -> Result<Vec<u8>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut tls = client
        .connect("a.example", tcp)
        .await
        .map_err(|e| e.to_string())?;
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if !answer.ends_with(b"ok\n") {
        return Err(String::from_utf8_lossy(&answer).into_owned());
    }
    Ok(cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_keeps_serving_and_refuses_broken_pem() {
    let ca = Ca::new();
    let first = ca.leaf(&["a.example"]);
    let tls = terminator(store(&first, &[("a.example", &first)]));
    let addr = ok_server(Arc::clone(&tls)).await;
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut served = 0;
            for _ in 0..150 {
                request(addr, &client)
                    .await
                    .expect("every request succeeds during reloads");
                served += 1;
            }
            served
        })
    };
    let mut last = first.clone();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let next = ca.leaf(&["a.example"]);
        tls.set_certificate(Some("a.example"), next.cert.as_bytes(), next.key.as_bytes())
            .unwrap();
        last = next;
    }
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(60), load)
            .await
            .unwrap()
            .unwrap(),
        150
    );
    // New handshakes get the newest certificate (a new client: a resumed session would keep
    // the certificate of the session it resumes).
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    let served = request(addr, &client).await.unwrap();
    let newest = lb_tls::certificates(last.cert.as_bytes(), "last").unwrap();
    assert_eq!(served, newest[0].to_vec());
    // A broken certificate, or a key that is not the certificate's, is refused; the old stays.
    let other = ca.leaf(&["a.example"]);
    assert!(
        tls.set_certificate(
            Some("a.example"),
            b"-----BEGIN CERTIFICATE-----\ngarbage\n",
            other.key.as_bytes()
        )
        .is_err()
    );
    assert!(matches!(
        tls.set_certificate(
            Some("a.example"),
            other.cert.as_bytes(),
            last.key.as_bytes()
        ),
        Err(TlsError::BadKey { .. })
    ));
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    assert_eq!(request(addr, &client).await.unwrap(), newest[0].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_are_closed_at_the_timeout_without_blocking_others() {
    let ca = Ca::new();
    let a = ca.leaf(&["a.example"]);
    let settings = TlsSettings {
        handshake_timeout: Duration::from_millis(800),
        ..TlsSettings::default()
    };
    let tls = Arc::new(TlsTerminator::new(store(&a, &[]), settings).unwrap());
    let addr = ok_server(Arc::clone(&tls)).await;
    let started = std::time::Instant::now();
    // Silent, truncated ClientHello (a record header promising 512 bytes, then 10), garbage.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut truncated = TcpStream::connect(addr).await.unwrap();
    truncated
        .write_all(&[22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    // Meanwhile a good client is served at once.
    let client = UpstreamTls::new(ca.pem().as_bytes()).unwrap();
    request(addr, &client).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "served while bad clients hang"
    );
    for (name, stream) in [
        ("garbage", &mut garbage),
        ("truncated", &mut truncated),
        ("silent", &mut silent),
    ] {
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "{name} was not closed");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // The connection is dropped inside the timeout, just before the count: wait for it.
    for _ in 0..100 {
        if tls.stats().timed_out() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        tls.stats().timed_out() >= 2,
        "timed out {}",
        tls.stats().timed_out()
    );
    assert!(tls.stats().failed() >= 1, "failed {}", tls.stats().failed());
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca() {
    if !have("curl") {
        return;
    }
    let ca = Ca::new();
    let server = ca.leaf(&["a.example"]);
    let client_ca = Ca::new();
    let settings = TlsSettings {
        client_ca_pem: Some(client_ca.pem().into_bytes()),
        ..TlsSettings::default()
    };
    let tls = Arc::new(TlsTerminator::new(store(&server, &[]), settings).unwrap());
    let addr = ok_server(Arc::clone(&tls)).await;
    let dir = TempDir::new("mtls");
    let ca_path = dir.write("ca.pem", &ca.pem());
    let (ok, out) = curl(addr, "a.example", "/", &ca_path, &[]).await;
    assert!(!ok, "served without a client certificate: {out}");
    let good = client_ca.leaf(&["client.example"]);
    let (cert, key) = (
        dir.write("c.pem", &good.cert),
        dir.write("c.key", &good.key),
    );
    let (ok, out) = curl(
        addr,
        "a.example",
        "/",
        &ca_path,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok && out.contains("ok"), "{out}");
    let stranger = Ca::new().leaf(&["client.example"]);
    let (cert, key) = (
        dir.write("s.pem", &stranger.cert),
        dir.write("s.key", &stranger.key),
    );
    let (ok, _) = curl(
        addr,
        "a.example",
        "/",
        &ca_path,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!ok, "a client certificate from another CA must be refused");
}

//! Large bodies through the HTTP/1.1 proxy on loopback, checked end to end by checksum: 64 MiB
//! uploads and downloads, Content-Length and chunked, with curl and with a raw client.
//!
//! In their own test binary so that their CPU use does not disturb the timing-sensitive tests.
//! Every wait is bounded.

mod proxy_support;

use std::time::Instant;

use lb_l7::head::Method;
use proxy_support::*;

const BIG: u64 = 64 << 20;

fn log(what: &str, started: Instant) {
    eprintln!("{what}: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_64_mib_with_content_length_intact() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let (file, sum) = pattern_file("upload-cl", BIG);
    let started = Instant::now();
    let out = curl([
        "-H".to_owned(),
        "Expect:".into(),
        "--data-binary".into(),
        format!("@{}", file.display()),
        url(p.addr, "/upload"),
    ])
    .await;
    log("64 MiB CL upload", started);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.stdout_text(), sum.to_string());
    assert_eq!(p.proxy.stats().totals().bytes_up(), BIG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_64_mib_chunked_intact() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let (file, sum) = pattern_file("upload-chunked", BIG);
    let started = Instant::now();
    let out = curl([
        "-H".to_owned(),
        "Expect:".into(),
        "-H".into(),
        "Transfer-Encoding: chunked".into(),
        "--data-binary".into(),
        format!("@{}", file.display()),
        url(p.addr, "/upload"),
    ])
    .await;
    log("64 MiB chunked upload", started);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.stdout_text(), sum.to_string());
}

async fn curl_download(path: &str, name: &str) {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let file = tmp_path(name);
    let started = Instant::now();
    let out = curl([
        "-o".to_owned(),
        file.display().to_string(),
        url(p.addr, path),
    ])
    .await;
    log(path, started);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.exit, 0, "{}", out.stderr);
    let got = file_sum(&file);
    let _ = std::fs::remove_file(&file);
    assert_eq!(got, pattern_sum(BIG));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_downloads_64_mib_with_content_length_intact() {
    curl_download(&format!("/bytes/{BIG}"), "download-cl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_downloads_64_mib_chunked_intact() {
    curl_download(&format!("/chunked/{BIG}"), "download-chunked").await;
}

/// Sends `n` pattern bytes as the body: raw, or chunked with chunk sizes from 1 byte to
/// 100 KB.
async fn send_pattern_body(c: &mut Client, n: u64, chunked: bool) {
    const SIZES: [usize; 7] = [1, 3, 100_000, 8192, 65_536, 777, 16_384];
    let mut block = vec![0_u8; 100_000];
    let mut out = Vec::with_capacity(1 << 20);
    let (mut off, mut k) = (0_u64, 0);
    while off < n {
        let size = if chunked {
            SIZES[k % SIZES.len()]
        } else {
            block.len()
        };
        k += 1;
        let len = (n - off).min(size as u64) as usize;
        pattern_fill(off, &mut block[..len]);
        if chunked {
            out.extend_from_slice(format!("{len:X}\r\n").as_bytes());
        }
        out.extend_from_slice(&block[..len]);
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
        off += len as u64;
        if out.len() >= 1 << 20 {
            c.send(&out).await;
            out.clear();
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    c.send(&out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_64_mib_up_and_down_in_both_framings_on_one_connection() {
    let b = TestBackend::start("b").await;
    let p = proxy_for(&[&b]).await;
    let mut c = Client::connect(p.addr).await;
    let expected = pattern_sum(BIG);
    let limit = std::time::Duration::from_secs(60);
    for chunked in [false, true] {
        let started = Instant::now();
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {BIG}")
        };
        c.send(format!("PUT /upload HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n").as_bytes())
            .await;
        send_pattern_body(&mut c, BIG, chunked).await;
        let r = c.response_within(Method::Put, limit).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), expected.to_string(), "upload, chunked: {chunked}");
        log(&format!("raw upload, chunked {chunked}"), started);
    }
    for path in [format!("/bytes/{BIG}"), format!("/chunked/{BIG}")] {
        let started = Instant::now();
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await;
        let r = c.response_within(Method::Get, limit).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.sum, expected, "download {path}");
        log(&format!("raw download {path}"), started);
    }
    // Still in step after 256 MiB.
    assert!(
        c.get("/done")
            .await
            .text()
            .starts_with("GET /done HTTP/1.1\r\n")
    );
    assert_eq!(b.accepted(), 1);
}

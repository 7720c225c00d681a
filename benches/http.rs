//! The cost of lb-l7's request-head handling against bare `httparse` on the same bytes.
//!
//! `cargo bench --bench http`. Three requests (a small GET, a browser-like GET with 15 fields
//! and cookies, a POST with a body length); for each: `httparse` alone (tokenising into a header
//! table), `parse` (lb-l7: tokenise + validate framing, Host, limits), and `parse+rewrite`
//! (also writing the upstream head: hop-by-hop out, X-Forwarded-* in). The target is
//! `parse+rewrite` within 2x of `httparse` for the browser-like request.

use std::hint::black_box;
use std::mem::MaybeUninit;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lb::l7::Limits;
use lb::l7::head::parse_request;
use lb::l7::rewrite::{ClientIp, Forwarding, HeaderEdits, write_request_head};

const SMALL_GET: &[u8] =
    b"GET /api/users/42 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n";

const BROWSER_GET: &[u8] = b"GET /shop/catalog/item?id=12345&ref=home HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"130\", \"Google Chrome\";v=\"130\", \"Not?A_Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/shop/catalog\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; lbsrv=3f2a9c0d11e4b7a8.9b1c; theme=dark; _ga=GA1.2.123456789.1700000000\r\n\r\n";

const POST_CL: &[u8] =
    b"POST /api/orders HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\n\
Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: 48\r\n\r\n";

fn head(c: &mut Criterion) {
    let limits = Limits::default();
    let client = ClientIp::new("192.0.2.33".parse().unwrap());
    let fwd = Forwarding::new(client);
    let edits = HeaderEdits::new();
    for (name, raw) in [
        ("small_get", SMALL_GET),
        ("browser_get", BROWSER_GET),
        ("post_cl", POST_CL),
    ] {
        let mut g = c.benchmark_group(format!("http_head/{name}"));
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function("httparse", |b| {
            b.iter(|| {
                let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 100];
                let mut req = httparse::Request::new(&mut []);
                black_box(
                    req.parse_with_uninit_headers(black_box(raw), &mut headers)
                        .unwrap(),
                );
                black_box(req.headers.len());
            });
        });
        g.bench_function("parse", |b| {
            b.iter(|| black_box(parse_request(black_box(raw), &limits).unwrap()));
        });
        let mut out = Vec::with_capacity(4096);
        g.bench_function("parse+rewrite", |b| {
            b.iter(|| {
                out.clear();
                let (head, _) = parse_request(black_box(raw), &limits)
                    .unwrap()
                    .complete()
                    .unwrap();
                write_request_head(&head, &fwd, &edits, &mut out);
                black_box(out.len());
            });
        });
        g.finish();
    }
}

criterion_group!(benches, head);
criterion_main!(benches);

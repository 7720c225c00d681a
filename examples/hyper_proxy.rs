//! For comparison only: a minimal reverse proxy written directly on hyper 1 and hyper-util's
//! pooled client, round robin over the backends, what a Rust user might write instead of using
//! lb. `benches/peers` runs it next to lb-l7, nginx and HAProxy (scenario `hyper-l7`).
//!
//! ```text
//! cargo run --release --example hyper_proxy -- 127.0.0.1:18080 127.0.0.1:19001 127.0.0.1:19002
//! ```
//!
//! No routing, no header rewriting, no health, no limits beyond hyper's own: a floor, not a
//! product.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .ok_or("usage: hyper_proxy LISTEN BACKEND...")?
        .parse()?;
    let backends: Vec<String> = args.collect();
    if backends.is_empty() {
        return Err("usage: hyper_proxy LISTEN BACKEND...".into());
    }
    // One thread, as the other proxies in the comparison.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(512)
            .build(connector);
        let state = Arc::new((client, backends, AtomicUsize::new(0)));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = service_fn(move |mut req: Request<Incoming>| {
                    let state = Arc::clone(&state);
                    async move {
                        let (client, backends, next) = &*state;
                        let backend =
                            &backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
                        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                        *req.uri_mut() = format!("http://{backend}{path}")
                            .parse::<Uri>()
                            .map_err(std::io::Error::other)?;
                        let response: Response<Incoming> =
                            client.request(req).await.map_err(std::io::Error::other)?;
                        Ok::<_, std::io::Error>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    })
}

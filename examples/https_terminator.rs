//! HTTPS in front of HTTP backends: TLS termination (rustls) → lb-l7 routing → plain HTTP.
//!
//! ```text
//! cargo run --release --example https_terminator -- --listen 127.0.0.1:18443 \
//!     [--cert cert.pem --key key.pem] [--sni a.example=a.pem,a.key]... \
//!     --route /=127.0.0.1:19001,127.0.0.1:19002 [--accept-proxy] [--client-ca ca.pem] \
//!     [--min-tls 1.3] [--threads N]
//! ```
//!
//! Without `--cert`, a self-signed certificate for `localhost` and 127.0.0.1 is generated and
//! written to a temporary file, and the `curl --cacert` command that trusts it is printed.
//! `--route` takes the same `[HOST]PATH=ADDR[,ADDR...][;algorithm=NAME][;sticky=SPEC]` as
//! `http_router`. SIGHUP reloads the certificate files (a broken one is refused and the old one
//! stays); Ctrl-C or SIGTERM drains and exits.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Layer, run_with_threads, shutdown_signal};
use lb::l7::proxy::{HttpProxy, HttpProxyConfig};
use lb::l7::route::{RouteShorthand, ShorthandDefaults, router_from_shorthands};
use lb::tls::{
    CertStore, HttpsOptions, MinVersion, TlsSettings, TlsTerminator, certified_key, serve_https,
};

#[derive(Parser, Debug)]
#[command(about = "An HTTPS load balancer: rustls termination in front of lb-l7")]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// Default certificate chain (PEM); without it a self-signed one is generated.
    #[arg(long, requires = "key")]
    cert: Option<String>,
    /// Private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    key: Option<String>,
    /// A certificate for one server name: NAME=CERT.pem,KEY.pem (NAME may be *.suffix; repeat).
    #[arg(long = "sni")]
    sni: Vec<String>,
    /// A route, as in http_router: [HOST]PATH=ADDR[,ADDR...][;algorithm=NAME][;sticky=SPEC].
    #[arg(long = "route", required = true)]
    routes: Vec<String>,
    /// Balancing algorithm for routes that name none.
    #[arg(long, default_value = "round-robin")]
    algorithm: String,
    /// Sticky sessions for routes that name none (cookie:NAME, ip, header:NAME, none).
    #[arg(long, default_value = "none")]
    sticky: String,
    /// Expect a PROXY protocol header before TLS (behind an L4 tier).
    #[arg(long)]
    accept_proxy: bool,
    /// Require client certificates issued by this CA bundle (mTLS).
    #[arg(long)]
    client_ca: Option<String>,
    /// Lowest TLS version: 1.2 or 1.3.
    #[arg(long, default_value = "1.2")]
    min_tls: String,
    /// Worker threads (default: one per core); 1 runs on the current thread.
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    run_with_threads(args.threads, Layer::L7, run(args))
}

/// The default certificate files: given, or generated self-signed (and how to trust them).
fn default_certificate(args: &Args) -> Result<(String, String), Box<dyn std::error::Error>> {
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        return Ok((cert.clone(), key.clone()));
    }
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let dir = std::env::temp_dir().join(format!("lb-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    eprintln!(
        "https_terminator: self-signed certificate for localhost in {}\n  try: curl --cacert {} https://localhost:{}/",
        dir.display(),
        cert.display(),
        args.listen.port()
    );
    Ok((cert.display().to_string(), key.display().to_string()))
}

/// Reads every certificate file into a store (the default and each --sni).
fn load_store(
    default: &(String, String),
    sni: &[String],
) -> Result<CertStore, Box<dyn std::error::Error>> {
    let mut store = CertStore::new();
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("{path}: {e}"));
    store.set_default(certified_key(
        &read(&default.0)?,
        &read(&default.1)?,
        &default.0,
    )?);
    for spec in sni {
        let (name, files) = spec
            .split_once('=')
            .ok_or_else(|| format!("--sni {spec:?}: expected NAME=CERT,KEY"))?;
        let (cert, key) = files
            .split_once(',')
            .ok_or_else(|| format!("--sni {spec:?}: expected NAME=CERT,KEY"))?;
        store.insert(name, certified_key(&read(cert)?, &read(key)?, name)?)?;
    }
    Ok(store)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let routes = args
        .routes
        .iter()
        .map(|r| r.parse::<RouteShorthand>())
        .collect::<Result<Vec<_>, _>>()?;
    let defaults = ShorthandDefaults {
        algorithm: args.algorithm.clone(),
        sticky: args.sticky.clone(),
        ..ShorthandDefaults::default()
    };
    let (router, _balancers) = router_from_shorthands(&routes, &defaults)?;
    let default_cert = default_certificate(&args)?;
    let settings = TlsSettings {
        min_version: match args.min_tls.as_str() {
            "1.2" => MinVersion::Tls12,
            "1.3" => MinVersion::Tls13,
            other => return Err(format!("--min-tls {other:?}: expected 1.2 or 1.3").into()),
        },
        client_ca_pem: args.client_ca.as_ref().map(std::fs::read).transpose()?,
        ..TlsSettings::default()
    };
    let tls = Arc::new(TlsTerminator::new(
        load_store(&default_cert, &args.sni)?,
        settings,
    )?);
    let proxy = Arc::new(HttpProxy::new(
        router,
        HttpProxyConfig {
            tls: true,
            ..HttpProxyConfig::default()
        },
    ));
    // SIGHUP: reload the certificate files; a broken one leaves the old ones in service.
    #[cfg(unix)]
    {
        let (tls, sni) = (Arc::clone(&tls), args.sni.clone());
        let default_cert = default_cert.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match load_store(&default_cert, &sni) {
                        Ok(store) => {
                            tls.reload(store);
                            eprintln!("https_terminator: certificates reloaded");
                        }
                        Err(e) => eprintln!(
                            "https_terminator: reload refused, old certificates kept: {e}"
                        ),
                    }
                }
            });
        }
    }
    // SO_REUSEADDR and a 1024-connection backlog (the std default is 128).
    let listener = lb::l4::tcp::listen(args.listen, false)?;
    eprintln!(
        "https_terminator: {} with {} routes",
        args.listen,
        args.routes.len()
    );
    let options = HttpsOptions {
        accept_proxy: args.accept_proxy.then_some(Duration::from_secs(5)),
    };
    let report = serve_https(
        listener,
        shutdown_signal(),
        Arc::clone(&tls),
        Arc::clone(&proxy),
        options,
    )
    .await;
    let (s, t) = (tls.stats(), proxy.stats().totals());
    eprintln!(
        "https_terminator: drained ({} finished, {} cut); {} handshakes ({} resumed, {} failed, {} timed out), {} requests",
        report.finished,
        report.cut,
        s.handshakes(),
        s.resumed(),
        s.failed(),
        s.timed_out(),
        t.requests()
    );
    Ok(())
}

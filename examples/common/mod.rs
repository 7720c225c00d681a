//! What the proxy examples share: the runtime from `--threads`, duration flags, and shutdown on
//! Ctrl-C or SIGTERM. (A module of the examples, not an example: `examples/common/mod.rs`.)
//! Each example uses some of it.
#![allow(dead_code)]

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// How often (in tasks run) a one-thread runtime polls for I/O: what suits each layer,
/// measured with `benches/peers` (docs/PERFORMANCE.md).
#[derive(Clone, Copy)]
pub(crate) enum Layer {
    /// Tokio's default, 61. With a new connection per request and the cycle client, 61 served
    /// 3 % more requests than 16 at a shorter p90 and p99; keep-alive was level.
    L4,
    /// 16: the L7 router's keep-alive p99 went 0.91 → 0.72 ms at the same requests/s (wrk);
    /// connection per request was level.
    L7,
}

/// Runs `main` on a runtime sized by `--threads`: one thread runs on the current thread (a
/// one-worker proxy, as the peer comparisons use), more a multi-thread runtime, none one
/// worker per core. Prints the error and fails if `main` does.
pub(crate) fn run_with_threads<F>(threads: Option<usize>, layer: Layer, main: F) -> ExitCode
where
    F: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let mut builder = match threads {
        Some(1) => {
            let mut b = tokio::runtime::Builder::new_current_thread();
            // LB_EVENT_INTERVAL overrides it, for measuring.
            let interval = std::env::var("LB_EVENT_INTERVAL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(match layer {
                    Layer::L4 => 61,
                    Layer::L7 => 16,
                });
            b.event_interval(interval);
            b
        }
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// "500ms", "2s", "10m", "1h".
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 500ms, 2s, 10m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?}: the unit must be ms, s, m or h")),
    }
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

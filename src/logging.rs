//! Process-wide logging: human-readable lines on stderr, plus JSON lines in daily-rolling
//! files when a log directory is configured. Secrets never reach the log: request logging
//! records method, path, status and latency only, and secret config values are `Secret`s.

use std::path::Path;

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Keeps the file writer flushing; drop it last (at process exit) so no line is lost.
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

/// Installs the global subscriber. `level` is a tracing filter (`info`, `rampart=debug`…),
/// already validated by the config loader.
pub fn init(level: &str, dir: Option<&Path>) -> anyhow::Result<LogGuard> {
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(EnvFilter::new(level));
    let (file_layer, guard) = match dir {
        Some(dir) => {
            crate::crypto::ensure_private_dir(dir)
                .with_context(|| format!("creating log directory {}", dir.display()))?;
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("rampart")
                .filename_suffix("log")
                .build(dir)
                .with_context(|| format!("opening log files in {}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .json()
                .with_writer(writer)
                .with_current_span(false)
                .with_filter(EnvFilter::new(level));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    // A second init (tests calling run twice in-process) is harmless: keep the first.
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    Ok(LogGuard(guard))
}

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
            let (writer, guard) = tracing_appender::non_blocking(ReportingWriter {
                inner: appender,
                dir: dir.to_path_buf(),
                failing: false,
            });
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

/// The log file writer, reporting on stderr (the journal) when log lines cannot be written
/// (log volume full, directory removed) and when writing works again. The appender's own
/// worker drops errors silently; an operator must learn that the file log has a gap.
struct ReportingWriter<W> {
    inner: W,
    dir: std::path::PathBuf,
    failing: bool,
}

impl<W: std::io::Write> ReportingWriter<W> {
    fn outcome<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        match &result {
            Err(e) if !self.failing => {
                self.failing = true;
                eprintln!(
                    "rampart: cannot write log files in {}: {e}; file log lines are dropped until it works again (this stderr log continues)",
                    self.dir.display()
                );
            }
            Ok(_) if self.failing => {
                self.failing = false;
                eprintln!(
                    "rampart: writing log files in {} works again (lines from the failure until now are missing there)",
                    self.dir.display()
                );
            }
            _ => {}
        }
        result
    }
}

impl<W: std::io::Write> std::io::Write for ReportingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.outcome(r)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let r = self.inner.write_all(buf);
        self.outcome(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.outcome(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Fails while `full` is set, like a file on a full volume.
    struct Volume {
        full: bool,
        written: Vec<u8>,
    }

    impl Write for Volume {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.full {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_log_volume_is_reported_once_and_recovery_too() {
        let mut w = ReportingWriter {
            inner: Volume {
                full: false,
                written: Vec::new(),
            },
            dir: "/logs".into(),
            failing: false,
        };
        w.write_all(b"a\n").expect("write");
        w.inner.full = true;
        assert!(w.write_all(b"b\n").is_err());
        assert!(w.failing);
        assert!(w.write_all(b"c\n").is_err());
        w.inner.full = false;
        w.write_all(b"d\n").expect("write");
        assert!(!w.failing);
        assert_eq!(w.inner.written, b"a\nd\n");
    }
}

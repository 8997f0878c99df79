//! The host's `tracing` subscriber: human on a terminal, plain without colours otherwise
//! (journald), or JSON lines. `RUST_LOG` filters (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::run_log::CaptureLayer;

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human on a terminal, plain (no colours) otherwise.
    Auto,
    /// Plain text without colours (journald).
    Plain,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber, writing to stderr; runs being captured
/// ([`crate::run_log`]) get their events too.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(CaptureLayer);
    let result = match format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Plain => registry.with(layer.with_ansi(false)).try_init(),
        LogFormat::Auto => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .try_init(),
    };
    // Already installed (tests calling twice): keep the first.
    let _ = result;
}

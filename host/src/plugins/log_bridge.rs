//! Plugins' log events, relayed by their worker process, re-emitted as host `tracing`
//! events tagged with the plugin's kind, secrets masked.

use sauvegarde_plugin_api::ffi::LogLevel;

use crate::redact;

/// The most verbose level the host records: the plugin drops the rest unformatted.
pub fn max_level() -> LogLevel {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF | LevelFilter::ERROR => LogLevel::Error,
        LevelFilter::WARN => LogLevel::Warn,
        LevelFilter::INFO => LogLevel::Info,
        LevelFilter::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// Re-emits an event a worker relayed from the plugin of `kind` (`level` 1 error … 5
/// trace), secrets masked.
pub fn emit(kind: &str, level: u8, target: &str, message: &str) {
    let message = redact::scrub(message);
    let plugin = kind;
    match level {
        0 | 1 => tracing::error!(target: "plugin", plugin, module = target, "{message}"),
        2 => tracing::warn!(target: "plugin", plugin, module = target, "{message}"),
        3 => tracing::info!(target: "plugin", plugin, module = target, "{message}"),
        4 => tracing::debug!(target: "plugin", plugin, module = target, "{message}"),
        _ => tracing::trace!(target: "plugin", plugin, module = target, "{message}"),
    }
}

//! Receives plugins' log events and re-emits them as host `tracing` events tagged with
//! the plugin's kind, secrets masked.

use sauvegarde_plugin_api::ffi::{HostLogger, LogLevel, RStr};

use crate::redact;

/// The logger handed to the plugin of `kind`.
pub fn logger_for(kind: &str) -> HostLogger {
    // One small leak per loaded plugin: plugins are never unloaded.
    let tag: &'static str = Box::leak(kind.to_string().into_boxed_str());
    HostLogger {
        plugin: RStr::from(tag),
        max_level: max_level(),
        log: receive,
    }
}

fn max_level() -> LogLevel {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF | LevelFilter::ERROR => LogLevel::Error,
        LevelFilter::WARN => LogLevel::Warn,
        LevelFilter::INFO => LogLevel::Info,
        LevelFilter::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

extern "C" fn receive(plugin: RStr<'static>, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    let plugin = plugin.as_str();
    let target = target.as_str();
    let message = redact::scrub(message.as_str());
    match level {
        LogLevel::Error => tracing::error!(target: "plugin", plugin, module = target, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "plugin", plugin, module = target, "{message}"),
        LogLevel::Info => tracing::info!(target: "plugin", plugin, module = target, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "plugin", plugin, module = target, "{message}"),
        LogLevel::Trace => tracing::trace!(target: "plugin", plugin, module = target, "{message}"),
    }
}

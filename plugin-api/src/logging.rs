//! Forwards a plugin's `tracing` events to the host.
//!
//! A plugin is a separate shared library with its own copy of `tracing`, so its events do
//! not reach the host's subscriber by themselves. The host hands a [`HostLogger`] at load
//! time; the plugin installs a subscriber that sends every event through it.

use std::fmt::{self, Write as _};

use abi_stable::{std_types::RStr, StableAbi};
use tracing::{
    field::{Field, Visit},
    level_filters::LevelFilter,
    Event, Level, Metadata, Subscriber,
};
use tracing_subscriber::{
    layer::{Context, SubscriberExt},
    Layer,
};

/// Severity of a log event from a plugin.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something is wrong but the operation goes on.
    Warn = 2,
    /// Normal progress worth a line in the log.
    Info = 3,
    /// Detail for diagnosing problems.
    Debug = 4,
    /// Very verbose detail.
    Trace = 5,
}

impl From<&Level> for LogLevel {
    fn from(level: &Level) -> Self {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// The host's log sink, handed to a plugin once at load time.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct HostLogger {
    /// A tag the host chose for this plugin; passed back with every event.
    pub plugin: RStr<'static>,
    /// The most verbose level the host records; the plugin drops the rest without
    /// formatting them.
    pub max_level: LogLevel,
    /// Receives one event: `(plugin, level, target, message)`, where `target` is the
    /// plugin module that logged and `message` has the event's fields appended as
    /// `key=value`.
    pub log: extern "C" fn(RStr<'static>, LogLevel, RStr<'_>, RStr<'_>),
}

pub(crate) extern "C" fn set_logger(logger: HostLogger) {
    let subscriber = tracing_subscriber::registry().with(ForwardLayer { logger });
    // Only the first logger of a library is kept; the host loads each file once.
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(target: "panic", "{info}");
        }));
    }
}

struct ForwardLayer {
    logger: HostLogger,
}

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        LogLevel::from(metadata.level()) <= self.logger.max_level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.logger.max_level.into())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut text = EventText::default();
        event.record(&mut text);
        (self.logger.log)(
            self.logger.plugin,
            metadata.level().into(),
            RStr::from(metadata.target()),
            RStr::from(text.finish().as_str()),
        );
    }
}

/// Collects an event's message and its other fields as `key=value`.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl EventText {
    fn finish(mut self) -> String {
        if !self.fields.is_empty() {
            if !self.message.is_empty() {
                self.message.push(' ');
            }
            self.message.push_str(&self.fields);
        }
        self.message
    }
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}

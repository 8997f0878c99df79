//! The log of one run, kept in memory for a notification that carries it (the Healthchecks
//! ping body): [`CaptureLayer`] is part of the host's `tracing` subscriber; a run started
//! with [`Capture::start`] enters a span, and every event inside it (on that thread, or on
//! a thread that enters the span too, as each export's does) is formatted, scrubbed of
//! secrets and kept in a ring buffer of at most [`MAX_BYTES`].

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The most a run's captured log holds; older lines go first.
pub const MAX_BYTES: usize = 10_000;

/// Name of the span of a captured run.
const SPAN: &str = "sauvegarde_run";

/// The lines of one run, newest last, at most [`MAX_BYTES`] in all.
#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Ring {
    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.bytes > MAX_BYTES && self.lines.len() > 1 {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len() + 1;
            }
        }
    }
}

type Buffer = Arc<Mutex<Ring>>;

/// Runs being captured, by id, until their span picks their buffer up.
static OPEN: Mutex<Option<HashMap<u64, Buffer>>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A run being captured: events on this thread go to it until it is dropped.
pub struct Capture {
    id: u64,
    buffer: Buffer,
    _span: tracing::span::EnteredSpan,
}

impl Capture {
    /// Starts capturing the events of the current thread (for `job`).
    pub fn start(job: &str) -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let buffer = Buffer::default();
        OPEN.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(id, Arc::clone(&buffer));
        let span = tracing::info_span!(SPAN, capture = id, job = job).entered();
        Capture {
            id,
            buffer,
            _span: span,
        }
    }

    /// The lines captured so far, oldest first, one per line.
    pub fn text(&self) -> String {
        let ring = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(ring.bytes);
        for line in &ring.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(open) = OPEN.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            open.remove(&self.id);
        }
    }
}

/// Formats an event's fields: the message first, then `key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    capture: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "capture" {
            self.capture = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// The `tracing` layer that feeds captured runs.
#[derive(Debug, Default)]
pub struct CaptureLayer;

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != SPAN {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let Some(capture) = fields.capture else {
            return;
        };
        let buffer = OPEN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|open| open.get(&capture).cloned());
        if let (Some(buffer), Some(span)) = (buffer, ctx.span(id)) {
            span.extensions_mut().insert(buffer);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(buffer) = scope
            .from_root()
            .find_map(|span| span.extensions().get::<Buffer>().cloned())
        else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        let line = format!(
            "{time} {} {}{}",
            event.metadata().level(),
            fields.message,
            fields.rest
        );
        let line = crate::redact::scrub(&line).into_owned();
        buffer.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_run_keeps_its_own_events_newest_last_within_the_limit() {
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before the run");
            let capture = Capture::start("prod");
            tracing::info!(job = "prod", "backup started");
            for i in 0..2000 {
                tracing::warn!("line {i}");
            }
            tracing::error!("backup failed: disk full");
            let text = capture.text();
            assert!(text.len() <= MAX_BYTES, "{}", text.len());
            assert!(!text.contains("before the run"));
            assert!(!text.contains("backup started"), "the oldest lines went");
            assert!(text.ends_with("ERROR backup failed: disk full\n"), "{text}");
            drop(capture);
            tracing::info!("after the run");
        });
    }
}

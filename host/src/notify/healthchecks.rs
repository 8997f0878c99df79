//! Healthchecks channel (<https://healthchecks.io> or any server speaking its ping
//! protocol): `POST <url>/start` when a backup starts, `POST <url>` when it succeeded,
//! `POST <url>/fail` when it (or an export) failed, the last lines of the run's log as the
//! body (at most [`crate::run_log::MAX_BYTES`], secrets masked). Unlike the other channels
//! it pings whatever `notify.on` says: Healthchecks needs every run to tell a silent server
//! from a healthy one. Short timeout, a few retries, and never a failed backup.

use std::time::Duration;

use super::{Event, EventState, NotifyConfig, NotifyError};
use crate::config::HealthchecksConfig;
use crate::run_log::{Capture, MAX_BYTES};

const CHANNEL: &str = "healthchecks";

/// How long one ping may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Pauses before the retries of a ping that failed (connection, timeout, 5xx, 429).
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Which ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// The run starts: `<url>/start`.
    Start,
    /// The run succeeded: `<url>`.
    Success,
    /// The run failed: `<url>/fail`.
    Fail,
}

impl Ping {
    fn url(self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Ping::Start => format!("{base}/start"),
            Ping::Success => base.to_string(),
            Ping::Fail => format!("{base}/fail"),
        }
    }
}

/// Sends one ping with `body`, retrying transient failures. Blocking.
pub fn ping(config: &HealthchecksConfig, which: Ping, body: &str) -> Result<(), NotifyError> {
    // The URL holds the check's key: name the host only.
    let parsed = reqwest::Url::parse(&config.url).map_err(|e| {
        NotifyError::new(
            CHANNEL,
            format!("`notify.healthchecks.url` is not a URL: {e}"),
        )
    })?;
    let shown = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("?"));
    let client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("sauvegarde/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::new(CHANNEL, format!("cannot create the HTTP client: {e}")))?;
    let url = which.url(&config.url);
    let mut attempt = 0;
    loop {
        let result = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_string())
            .send();
        let (problem, transient) = match result {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let s = r.status();
                (
                    format!("{shown} answered {s}"),
                    s.is_server_error() || s == reqwest::StatusCode::TOO_MANY_REQUESTS,
                )
            }
            Err(e) => (format!("ping to {shown} failed: {}", e.without_url()), true),
        };
        match BACKOFF.get(attempt) {
            Some(pause) if transient => {
                tracing::debug!(url = shown, "{problem}; retrying in {pause:?}");
                std::thread::sleep(*pause);
                attempt += 1;
            }
            _ => {
                return Err(NotifyError::new(
                    CHANNEL,
                    format!(
                        "{problem} (after {} attempt(s)); check `notify.healthchecks.url`",
                        attempt + 1
                    ),
                ))
            }
        }
    }
}

/// The Healthchecks side of one backup run: `/start` sent, its log captured until
/// [`RunPings::finish`].
pub struct RunPings {
    job: String,
    config: Option<HealthchecksConfig>,
    capture: Option<Capture>,
}

impl RunPings {
    /// Sends `/start` (when `settings` has a Healthchecks check) and starts capturing the
    /// run's log on this thread. A failed ping is a warning.
    pub fn start(settings: &NotifyConfig, job: &str) -> Self {
        let Some(config) = settings.healthchecks.clone() else {
            return RunPings {
                job: job.to_string(),
                config: None,
                capture: None,
            };
        };
        if let Err(e) = ping(&config, Ping::Start, "") {
            tracing::warn!(job, "{e}; the backup itself is not affected");
        }
        RunPings {
            job: job.to_string(),
            config: Some(config),
            capture: Some(Capture::start(job)),
        }
    }

    /// Sends one ping for the run's `events` (one per database): `/fail` when any failed,
    /// else the success ping (also for a retry that found nothing left to do, so the
    /// check never stays started); the run's last log lines and each event's line as body.
    pub fn finish(self, events: &[Event]) {
        let (Some(config), Some(capture)) = (self.config, self.capture) else {
            return;
        };
        let job = self.job;
        let mut body = capture.text();
        drop(capture);
        for event in events {
            body.push_str(&format!(
                "{}: {}\n",
                event.state.as_str(),
                crate::redact::scrub(&event.message)
            ));
        }
        let body = crate::redact::scrub(tail(&body, MAX_BYTES)).into_owned();
        let failed = events
            .iter()
            .any(|e| matches!(e.state, EventState::Failure));
        let which = if failed { Ping::Fail } else { Ping::Success };
        match ping(&config, which, &body) {
            Ok(()) => tracing::info!(job, "healthchecks pinged"),
            Err(e) => tracing::warn!(job, "{e}; the backup itself is not affected"),
        }
    }
}

/// The last `max` bytes of `text`, cut at a line start (or a character boundary).
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    match text[cut..].find('\n') {
        Some(nl) if nl + 1 < text.len() - cut => &text[cut + nl + 1..],
        _ => &text[cut..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls_follow_the_protocol() {
        let base = "https://hc-ping.com/0a1b2c3d/";
        assert_eq!(Ping::Start.url(base), "https://hc-ping.com/0a1b2c3d/start");
        assert_eq!(Ping::Success.url(base), "https://hc-ping.com/0a1b2c3d");
        assert_eq!(Ping::Fail.url(base), "https://hc-ping.com/0a1b2c3d/fail");
    }

    #[test]
    fn the_tail_keeps_whole_lines_within_the_limit() {
        let text = "première ligne\nsecond\nthird\n";
        assert_eq!(tail(text, 13), "third\n");
        assert_eq!(tail(text, 100), text);
        assert!(tail(&"é".repeat(100), 11).len() <= 11);
    }
}

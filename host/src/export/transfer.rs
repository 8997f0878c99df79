//! Uploads with retries: transient and connection failures are retried with exponential
//! backoff; anything else fails at once. A cancelled run stops between and during attempts.

use std::time::{Duration, Instant};

use sauvegarde_plugin_api::PluginError;

use crate::cancel::CancelFlag;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            first_backoff: Duration::from_secs(2),
        }
    }
}

/// What [`upload_with_retries`] tells its caller about each attempt.
pub enum Attempt<'a> {
    /// Attempt `n` (from 1) starts.
    Started(u32),
    /// Attempt `n` ended.
    Ended(u32, &'a Result<(), PluginError>),
}

/// The error of an upload stopped by `cancel`.
pub fn interrupted() -> PluginError {
    PluginError::cancelled("interrupted: the export was cancelled (SIGINT/SIGTERM or daemon stop)")
}

/// One upload attempt, given the progress callback to pass to the plugin.
pub type UploadAttempt<'a> =
    dyn FnMut(&mut dyn FnMut(u64, u64) -> bool) -> Result<(), PluginError> + 'a;

/// Runs `upload` (one attempt, given the progress callback to pass to the plugin),
/// retrying per `policy`; returns the number of attempts. `on_attempt` hears of every
/// attempt (for logs and history); `progress(done, total)` sees the bytes; raising
/// `cancel` stops the upload and the waits between attempts.
pub fn upload_with_retries(
    upload: &mut UploadAttempt<'_>,
    policy: RetryPolicy,
    cancel: &CancelFlag,
    progress: &mut dyn FnMut(u64, u64),
    on_attempt: &mut dyn FnMut(Attempt<'_>),
) -> Result<u32, PluginError> {
    let mut backoff = policy.first_backoff;
    let mut attempt = 1;
    loop {
        if cancel.is_cancelled() {
            return Err(interrupted());
        }
        on_attempt(Attempt::Started(attempt));
        let mut report = |done: u64, total: u64| {
            progress(done, total);
            !cancel.is_cancelled()
        };
        let result = upload(&mut report);
        let result = match result {
            Err(_) if cancel.is_cancelled() => Err(interrupted()),
            other => other,
        };
        on_attempt(Attempt::Ended(attempt, &result));
        match result {
            Ok(()) => return Ok(attempt),
            Err(e) if e.kind().is_retryable() && attempt <= policy.retries => {
                tracing::warn!(
                    attempt,
                    "upload failed, retrying in {backoff:?}: {}",
                    crate::redact::scrub(e.message())
                );
                if !sleep_unless_cancelled(backoff, cancel) {
                    return Err(interrupted());
                }
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps `duration` in short steps; `false` when `cancel` was raised meanwhile.
fn sleep_unless_cancelled(duration: Duration, cancel: &CancelFlag) -> bool {
    let end = Instant::now() + duration;
    while !cancel.is_cancelled() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_wait_ends_early() {
        let cancel = CancelFlag::new();
        let c = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        let start = Instant::now();
        assert!(!sleep_unless_cancelled(Duration::from_secs(30), &cancel));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        assert!(sleep_unless_cancelled(Duration::ZERO, &CancelFlag::new()));
    }
}

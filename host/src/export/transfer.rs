//! Uploads with retries: transient and connection failures are retried with exponential
//! backoff; anything else fails at once.

use std::path::Path;
use std::time::Duration;

use sauvegarde_plugin_api::{host::HostDestination, PluginError};

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

/// Uploads `archive` as its file name, retrying per `policy`. `on_attempt(n, result)` is
/// told about every attempt (for logs and history). `progress` may cancel.
pub fn upload_with_retries(
    destination: &HostDestination,
    archive: &Path,
    policy: RetryPolicy,
    progress: &mut dyn FnMut(u64, u64) -> bool,
    on_attempt: &mut dyn FnMut(u32, &Result<(), PluginError>),
) -> Result<u32, PluginError> {
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            PluginError::config(format!("{} has no UTF-8 file name", archive.display()))
        })?;
    let mut backoff = policy.first_backoff;
    let mut attempt = 1;
    loop {
        let result = destination.upload(archive, name, progress);
        on_attempt(attempt, &result);
        match result {
            Ok(()) => return Ok(attempt),
            Err(e) if e.kind().is_retryable() && attempt <= policy.retries => {
                tracing::warn!(
                    attempt,
                    "upload failed, retrying in {backoff:?}: {}",
                    crate::redact::scrub(e.message())
                );
                std::thread::sleep(backoff);
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

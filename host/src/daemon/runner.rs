//! One scheduled backup: the engine's job runner on a blocking thread, then the
//! notifications. Never panics the daemon: every outcome comes back as a [`Finished`].

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;

use crate::cancel::CancelFlag;
use crate::config::Config;
use crate::job::{run_backup, BackupError, BackupOptions, BackupOutcome};
use crate::notify::event::{host_name, DestinationState};
use crate::notify::{self, Event, EventState};
use crate::plugins::PluginRegistry;

/// The end of one backup, reported to the loop.
#[derive(Debug)]
pub struct Finished {
    /// Job id.
    pub job: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Whether it stopped because the daemon cancelled it.
    pub cancelled: bool,
}

/// Runs a backup of `job_id` and sends its notifications (not for a backup cancelled by
/// the daemon's shutdown: that is recorded in the history, it is not an incident).
/// Blocking: run it in `spawn_blocking`.
pub fn run_job(
    config: Arc<Config>,
    plugins: Arc<PluginRegistry>,
    job_id: String,
    cancel: CancelFlag,
) -> Finished {
    let started = Timestamp::now();
    let clock = Instant::now();
    tracing::info!(job = job_id, "scheduled backup starting");
    let options = BackupOptions {
        registry: Some(plugins),
        ..BackupOptions::default()
    };
    let result = run_backup(&config, &job_id, &options, &cancel);
    let duration = clock.elapsed().as_secs_f64();
    // Stopped by the daemon's shutdown, during the backup or its exports.
    let cancelled = cancel.is_cancelled() || matches!(result, Err(BackupError::Cancelled { .. }));
    let ok = result.is_ok();
    match &result {
        Ok(o) => {
            tracing::info!(job = job_id, archive = %o.path.display(), size = o.size, "scheduled backup done")
        }
        Err(e) => tracing::error!(
            job = job_id,
            "scheduled backup failed: {}",
            crate::redact::scrub(&e.to_string())
        ),
    }
    if !cancelled {
        let event = event_for(&config, &job_id, started, duration, &result);
        notify::send(notify::settings_for(&config, &job_id), &event);
    }
    Finished {
        job: job_id,
        ok,
        cancelled,
    }
}

/// The notification event of one backup result.
pub fn event_for(
    config: &Config,
    job_id: &str,
    started: Timestamp,
    duration_secs: f64,
    result: &Result<BackupOutcome, BackupError>,
) -> Event {
    let job = config.jobs.get(job_id);
    let (state, archive, size, sha256, message) = match result {
        Ok(o) if o.exports_ok() => (
            EventState::Success,
            Some(o.path.display().to_string()),
            Some(o.size),
            Some(o.sha256.clone()),
            format!("Backup of job `{job_id}` written to {}.", o.path.display()),
        ),
        Ok(o) => {
            let failed: Vec<&str> = o
                .exports
                .iter()
                .filter(|d| !d.is_done())
                .map(|d| d.destination.as_str())
                .collect();
            (
                EventState::Failure,
                Some(o.path.display().to_string()),
                Some(o.size),
                Some(o.sha256.clone()),
                format!(
                    "Backup of job `{job_id}` written to {}, but its export to {} failed.",
                    o.path.display(),
                    failed.join(", ")
                ),
            )
        }
        Err(e) => (EventState::Failure, None, None, None, e.to_string()),
    };
    let destinations = match result {
        Ok(o) => o
            .exports
            .iter()
            .map(|d| DestinationState {
                name: d.destination.clone(),
                state: d.status.as_str().to_string(),
                message: d.message.clone(),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Event {
        event: "backup",
        job: job_id.to_string(),
        job_name: job
            .map(|j| j.display_name(job_id).to_string())
            .unwrap_or_else(|| job_id.to_string()),
        database: job.map(|j| j.database.clone()).unwrap_or_default(),
        state,
        archive,
        size,
        sha256,
        started: started
            .round(jiff::Unit::Second)
            .unwrap_or(started)
            .to_string(),
        duration_secs,
        destinations,
        message,
        host: host_name(),
    }
    .scrubbed()
}

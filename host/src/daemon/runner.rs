//! One scheduled backup or restore drill on a blocking thread, then its notifications.
//! Never panics the daemon: every outcome comes back as a [`Finished`].

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;

use crate::cancel::CancelFlag;
use crate::config::Config;
use crate::job::{run_backup, BackupError, BackupOptions};
use crate::notify::{self, Event};
use crate::plugins::PluginRegistry;

/// What a daemon task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// A backup of the job.
    Backup,
    /// A restore drill of the job's newest archives.
    Drill,
}

/// The end of one backup or drill, reported to the loop.
#[derive(Debug)]
pub struct Finished {
    /// Job id.
    pub job: String,
    /// Backup or drill.
    pub kind: TaskKind,
    /// A drill that could not start (lock busy, history or odoo.conf unreadable): retried
    /// after a backoff, not after the drill interval.
    pub not_run: bool,
    /// Whether it succeeded.
    pub ok: bool,
    /// Whether it stopped because the daemon cancelled it.
    pub cancelled: bool,
    /// When it started.
    pub started: Timestamp,
}

/// Runs a backup of `job_id` and sends its notifications (not for a backup cancelled by
/// the daemon's shutdown: that is recorded in the history, it is not an incident). A
/// `retry` backs up only the databases whose latest backup did not succeed: the others
/// were backed up in this cycle, and backing them up again would only push older archives
/// out of a `keep_count`. Blocking: run it in `spawn_blocking`.
pub fn run_job(
    config: Arc<Config>,
    plugins: Arc<PluginRegistry>,
    job_id: String,
    cancel: CancelFlag,
    retry: bool,
) -> Finished {
    let started = Timestamp::now();
    let clock = Instant::now();
    if retry && !crate::job::retry_pending(&config, &job_id) {
        tracing::info!(
            job = job_id,
            "retry not needed: every database of the job was backed up since it failed"
        );
        return Finished {
            job: job_id,
            kind: TaskKind::Backup,
            not_run: false,
            ok: true,
            cancelled: false,
            started,
        };
    }
    tracing::info!(
        job = job_id,
        "{}",
        if retry {
            "scheduled retry starting, for the databases whose last backup failed"
        } else {
            "scheduled backup starting"
        }
    );
    let options = BackupOptions {
        registry: Some(plugins),
        retry,
        ..BackupOptions::default()
    };
    let pings = notify::RunPings::start(notify::settings_for(&config, &job_id), &job_id);
    let result = run_backup(&config, &job_id, &options, &cancel);
    let duration = clock.elapsed().as_secs_f64();
    // Stopped by the daemon's shutdown, during the backup or its exports.
    let cancelled = cancel.is_cancelled()
        || match &result {
            Err(e) => matches!(e, BackupError::Cancelled { .. }),
            Ok(run) => run
                .databases
                .iter()
                .any(|d| matches!(d.result, Err(BackupError::Cancelled { .. }))),
        };
    let ok = matches!(&result, Ok(run) if run.all_backed_up());
    match &result {
        Ok(run) => {
            for d in &run.databases {
                match &d.result {
                    Ok(o) => {
                        tracing::info!(job = job_id, database = d.database, archive = %o.path.display(), size = o.size, "scheduled backup done")
                    }
                    Err(e) => tracing::error!(
                        job = job_id,
                        database = d.database,
                        "scheduled backup failed: {}",
                        crate::redact::scrub(&e.to_string())
                    ),
                }
            }
        }
        Err(e) => tracing::error!(
            job = job_id,
            "scheduled backup failed: {}",
            crate::redact::scrub(&e.to_string())
        ),
    }
    crate::metrics::refresh(&config);
    if !cancelled {
        let events = Event::for_run(&config, &job_id, started, duration, &result);
        pings.finish(&events);
        for event in &events {
            notify::send(notify::settings_for(&config, &job_id), event);
        }
    }
    Finished {
        job: job_id,
        kind: TaskKind::Backup,
        not_run: false,
        ok,
        cancelled,
        started,
    }
}

/// Runs a restore drill of `job_id`'s newest archives and sends its notifications.
/// Blocking: run it in `spawn_blocking`.
pub fn run_drill(config: Arc<Config>, job_id: String, cancel: CancelFlag) -> Finished {
    let started = Timestamp::now();
    tracing::info!(job = job_id, "scheduled restore drill starting");
    let (ok, cancelled, not_run) = match crate::drill::run(&config, &job_id, None, None, &cancel) {
        Ok(run) => {
            if run.interrupted {
                crate::metrics::refresh(&config);
            } else {
                crate::drill::report(&config, &job_id, &run);
            }
            (run.all_ok(), run.interrupted, false)
        }
        Err(e) => {
            tracing::error!(
                job = job_id,
                "restore drill not run: {}; retrying later",
                crate::redact::scrub(&e.to_string())
            );
            (false, false, true)
        }
    };
    Finished {
        job: job_id,
        kind: TaskKind::Drill,
        not_run,
        ok,
        cancelled,
        started,
    }
}

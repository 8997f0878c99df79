//! One backup of a job, start to end: lock, claim a name, record the start, write the
//! archive under its partial name (mode 0600), fsync, rename, fsync the directory, record
//! size and checksum, local retention, exports. Any failure or cancellation removes the
//! partial this run created and records the reason. The history is a record, never a gate:
//! when it is unavailable the archive is still written, and retention waits.

use std::path::Path;

use super::claim::claim;
use super::record::JobHistory;
use super::recovery::{recover_stale, remove_if_exists};
use super::retention::{apply_retention, Protect};
use super::write::Run;
use super::{backup_dir, io_err, job_of, BackupError, BackupOptions, BackupOutcome};
use crate::cancel::CancelFlag;
use crate::config::Config;
use crate::export::{DestinationOutcome, ExportObserver, ExportRun, Quiet};
use crate::lock::JobLock;
use crate::odoo_conf::OdooConf;
use crate::plugins::PluginRegistry;

/// Runs one backup of `job_id` now.
pub fn run_backup(
    config: &Config,
    job_id: &str,
    options: &BackupOptions,
    cancel: &CancelFlag,
) -> Result<BackupOutcome, BackupError> {
    let job = job_of(config, job_id)?;
    // The lock lives in state_dir; a state_dir that cannot even be created fails loudly.
    std::fs::create_dir_all(&config.state_dir).map_err(io_err(
        job_id,
        "cannot create state_dir",
        &config.state_dir,
    ))?;
    let _lock = JobLock::try_acquire(&config.state_dir, job_id)?;
    let mut history = JobHistory::open(config, Some(job_id));
    if let Some(h) = history.get() {
        recover_stale(h, &config.state_dir, Some(job_id));
    }

    let odoo = match &job.odoo_conf {
        Some(p) => Some(OdooConf::read(p).map_err(|source| BackupError::OdooConf {
            job: job_id.into(),
            source,
        })?),
        None => None,
    };
    let dir = backup_dir(config, job);
    std::fs::create_dir_all(&dir).map_err(io_err(
        job_id,
        "cannot create backup directory",
        &dir,
    ))?;
    let claimed = claim(
        &dir,
        job_id,
        &job.database,
        job.format,
        job.encrypt.is_some(),
    )?;
    let (final_path, partial) = (claimed.final_path.clone(), claimed.partial.clone());
    let id = history.write(|h| {
        h.start_backup(
            job_id,
            &claimed.name,
            &final_path,
            &claimed.started.to_string(),
        )
    });
    tracing::info!(job = job_id, archive = %final_path.display(), "backup started");

    let ctx = Run {
        job_id,
        job,
        odoo: odoo.as_ref(),
        options,
        cancel,
        started: claimed.started,
    };
    match ctx.write(claimed.file, &partial, &final_path) {
        Ok((size, sha256, filestore)) => {
            if let Some(id) = id {
                history.write(|h| h.finish_backup(id, size, &sha256));
            }
            crate::verify::after_backup::run(job_id, job, &final_path, history.get(), id, cancel)?;
            tracing::info!(job = job_id, archive = %final_path.display(), size, sha256, "backup done");
            let deleted = match history.get() {
                Some(h) => {
                    let protect = Protect::just_written(&final_path);
                    match apply_retention(config, job_id, h, &protect, &[], false) {
                        Ok(report) => report.into_deleted(),
                        Err(e) => {
                            tracing::error!(job = job_id, "retention failed: {e}");
                            Vec::new()
                        }
                    }
                }
                None => {
                    tracing::warn!(
                        job = job_id,
                        "retention skipped: the history is unavailable, and nothing is deleted without proof of ownership"
                    );
                    Vec::new()
                }
            };
            let exports = export_backup(config, job_id, &final_path, id, options, cancel);
            Ok(BackupOutcome {
                job: job_id.into(),
                path: final_path,
                size,
                sha256,
                history_id: id,
                filestore,
                deleted,
                exports,
                history_unavailable: history.unavailable().map(str::to_string),
            })
        }
        Err(e) => {
            remove_if_exists(&partial);
            let message = crate::redact::scrub(&e.to_string()).into_owned();
            tracing::error!(job = job_id, "backup failed: {message}");
            if let Some(id) = id {
                history.write(|h| h.fail_backup(id, &message));
            }
            Err(e)
        }
    }
}

/// Exports a fresh archive to the job's destinations, under the job's lock (held by the
/// caller). Unless `no_export`; a missing plugin registry fails every destination.
fn export_backup(
    config: &Config,
    job_id: &str,
    archive: &Path,
    backup_id: Option<i64>,
    options: &BackupOptions,
    cancel: &CancelFlag,
) -> Vec<DestinationOutcome> {
    let Some(job) = config.jobs.get(job_id) else {
        return Vec::new();
    };
    if options.no_export || job.destinations.is_empty() {
        return Vec::new();
    }
    let empty = PluginRegistry::default();
    let registry = options.registry.as_deref().unwrap_or(&empty);
    let observer = options.export_observer.as_deref();
    ExportRun {
        config,
        registry,
        job_id,
        archive,
        backup_id,
        cancel,
        observer: observer.map_or(&Quiet as &dyn ExportObserver, |o| o as &dyn ExportObserver),
    }
    .run(None)
}

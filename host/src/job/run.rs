//! One backup of a job, start to end: lock, find the databases (`database = "*"` lists
//! them at each run), then for each database in turn: the free-space check, claim a name,
//! record the start, write the archive under its partial name (mode 0600), fsync, rename,
//! fsync the directory, record size and checksum, local retention, exports. Any failure or
//! cancellation removes the partial this run created and records the reason; one
//! database failing never stops the others. The history is a record, never a gate: when
//! it is unavailable the archive is still written, and retention waits.

use std::path::Path;

use jiff::Timestamp;

use super::claim::claim;
use super::databases::{self, Target};
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

/// One run of a job: a result per database, in order.
#[derive(Debug)]
pub struct JobRun {
    /// The job id.
    pub job: String,
    /// Each database's backup.
    pub databases: Vec<DatabaseRun>,
}

/// The backup of one database within a run.
#[derive(Debug)]
pub struct DatabaseRun {
    /// The database.
    pub database: String,
    /// When its backup started.
    pub started: Timestamp,
    /// How long it took, seconds.
    pub duration_secs: f64,
    /// Its outcome.
    pub result: Result<BackupOutcome, BackupError>,
}

impl JobRun {
    /// Whether every database was backed up (exports aside).
    pub fn all_backed_up(&self) -> bool {
        self.databases.iter().all(|d| d.result.is_ok())
    }

    /// The databases whose backup failed.
    pub fn failed(&self) -> impl Iterator<Item = &DatabaseRun> {
        self.databases.iter().filter(|d| d.result.is_err())
    }
}

/// Runs one backup of each of `job_id`'s databases now. `Err` when the run could not
/// start at all (unknown job, lock held, odoo.conf or the database listing unusable);
/// otherwise each database's own result, a failure of one never stopping the next.
pub fn run_backup(
    config: &Config,
    job_id: &str,
    options: &BackupOptions,
    cancel: &CancelFlag,
) -> Result<JobRun, BackupError> {
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
    let odoo = crate::odoo_conf::with_data_dir(odoo, job.data_dir.as_deref());
    let targets = databases::resolve(job_id, job, odoo.as_ref(), cancel)?;
    if targets.is_empty() {
        return Err(BackupError::NoDatabase {
            job: job_id.into(),
            selection: job.database.to_string(),
        });
    }
    let mut run = JobRun {
        job: job_id.into(),
        databases: Vec::new(),
    };
    for target in targets {
        if cancel.is_cancelled() {
            break;
        }
        let started = Timestamp::now();
        let clock = std::time::Instant::now();
        let database = target.database().to_string();
        let result = match target {
            Target::Ready(db) => {
                let narrowed = config.for_database(job_id, &db);
                backup_database(
                    &narrowed,
                    job_id,
                    &db,
                    odoo.as_ref(),
                    &mut history,
                    options,
                    cancel,
                )
            }
            Target::Unreachable { database, reason } => Err(BackupError::Unreachable {
                job: job_id.into(),
                database,
                reason,
            }),
        };
        if let Err(e) = &result {
            let message = crate::redact::scrub(&e.to_string()).into_owned();
            tracing::error!(job = job_id, database, "backup failed: {message}");
            if matches!(
                e,
                BackupError::Unreachable { .. } | BackupError::NoSpace { .. }
            ) {
                // Failed before an archive name was claimed: no row yet.
                let at = started.round(jiff::Unit::Second).unwrap_or(started);
                history.write(|h| h.record_failure(job_id, &database, &at.to_string(), &message));
            }
        }
        run.databases.push(DatabaseRun {
            database,
            started,
            duration_secs: clock.elapsed().as_secs_f64(),
            result,
        });
    }
    Ok(run)
}

/// The backup of one database; `config` is narrowed to it ([`Config::for_database`]).
fn backup_database(
    config: &Config,
    job_id: &str,
    database: &str,
    odoo: Option<&OdooConf>,
    history: &mut JobHistory,
    options: &BackupOptions,
    cancel: &CancelFlag,
) -> Result<BackupOutcome, BackupError> {
    let job = job_of(config, job_id)?;
    let dir = backup_dir(config, job);
    std::fs::create_dir_all(&dir).map_err(io_err(
        job_id,
        "cannot create backup directory",
        &dir,
    ))?;
    let last_size = history
        .get()
        .and_then(|h| h.last_good_of(job_id, database, job.format).ok().flatten())
        .and_then(|row| row.size);
    super::space::check(job_id, database, &dir, last_size, job.min_free_mib)?;
    let claimed = claim(&dir, job_id, database, job.format, job.encrypt.is_some())?;
    let (final_path, partial) = (claimed.final_path.clone(), claimed.partial.clone());
    let id = history.write(|h| {
        let id = h.start_backup(
            job_id,
            &claimed.name,
            &final_path,
            &claimed.started.to_string(),
        )?;
        h.set_database(id, database)?;
        Ok(id)
    });
    tracing::info!(job = job_id, database, archive = %final_path.display(), "backup started");

    let ctx = Run {
        job_id,
        job,
        odoo,
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

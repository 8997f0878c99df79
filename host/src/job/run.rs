//! One backup of a job, start to end: lock, find the databases (`database = "*"` lists
//! them at each run), then for each database in turn: the free-space check, claim a name,
//! record the start, write the archive under its partial name (mode 0600), fsync, rename,
//! fsync the directory, record size and checksum, local retention, exports. Any failure or
//! cancellation removes the partial this run created and records the reason; one
//! database failing never stops the others. The history is a record, never a gate: when
//! it is unavailable the archive is still written, and retention waits.

use std::collections::HashSet;
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
use crate::config::{Config, JobConfig};
use crate::export::{DestinationOutcome, ExportObserver, ExportRun, Quiet};
use crate::history::{BackupState, History};
use crate::lock::JobLock;
use crate::odoo_conf::OdooConf;
use crate::plugins::PluginRegistry;
use crate::retention::Occasion;

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

    let started = Timestamp::now();
    let (odoo, targets) = match targets_of(job_id, job, cancel) {
        Ok(found) => found,
        Err(e) => {
            record_run_failure(config, job_id, &mut history, started, &e);
            return Err(e);
        }
    };
    let targets = if options.retry {
        still_to_back_up(history.get(), job_id, targets)
    } else {
        targets
    };
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
            Target::UnsafeName { database, reason } => Err(BackupError::UnsafeDatabaseName {
                job: job_id.into(),
                database,
                reason,
            }),
        };
        if let Err(e) = &result {
            let message = crate::redact::scrub(&e.to_string()).into_owned();
            tracing::error!(job = job_id, database = ?database, "backup failed: {message}");
            if matches!(
                e,
                BackupError::Unreachable { .. } | BackupError::UnsafeDatabaseName { .. }
            ) {
                history.record_failure(job_id, &database, started, e);
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
    let started = Timestamp::now();
    let claimed = match make_room(config, job_id, job, database, history) {
        Ok(claimed) => claimed,
        Err(e) => {
            // Failed before an archive name was claimed: no row yet.
            history.record_failure(job_id, database, started, &e);
            return Err(e);
        }
    };
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
            let (deleted, warnings) = match history.get() {
                Some(h) => {
                    let protect = Protect::just_written(&final_path);
                    match apply_retention(config, job_id, h, &protect, &[], Occasion::Backup) {
                        Ok(report) => (report.deleted, report.warnings),
                        Err(e) => {
                            tracing::error!(job = job_id, "retention failed: {e}");
                            (Vec::new(), vec![format!("retention failed: {e}")])
                        }
                    }
                }
                None => {
                    tracing::warn!(
                        job = job_id,
                        "retention skipped: the history is unavailable, and nothing is deleted without proof of ownership"
                    );
                    (Vec::new(), Vec::new())
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
                warnings,
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

/// The databases whose latest backup by `job_id` succeeded (`done`, or since deleted).
fn backed_up_last(history: &History, job_id: &str) -> HashSet<String> {
    history
        .last_per_database(job_id)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| matches!(r.state, BackupState::Done | BackupState::Deleted))
        .filter_map(|r| r.database)
        .collect()
}

/// For a retry: `targets` without the databases whose latest backup succeeded. All of
/// them when the history is unavailable.
fn still_to_back_up(history: Option<&History>, job_id: &str, targets: Vec<Target>) -> Vec<Target> {
    let Some(h) = history else {
        return targets;
    };
    let done = backed_up_last(h, job_id);
    let (skipped, left): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| done.contains(t.database()));
    for t in &skipped {
        tracing::info!(
            job = job_id,
            database = t.database(),
            "retry: skipped, its latest backup succeeded"
        );
    }
    left
}

/// Whether a retry of `job_id` has anything to do: a database it backs up (known without
/// connecting) whose latest backup did not succeed. True when the history cannot tell.
pub fn retry_pending(config: &Config, job_id: &str) -> bool {
    let Ok(Some(h)) = History::open_read_only(&config.state_dir) else {
        return true;
    };
    let known = databases::known_without_listing(config, job_id, &h);
    let done = backed_up_last(&h, job_id);
    known.is_empty() || known.iter().any(|d| !done.contains(d))
}

/// The odoo.conf and the databases of this run; an error here fails the whole run.
fn targets_of(
    job_id: &str,
    job: &JobConfig,
    cancel: &CancelFlag,
) -> Result<(Option<OdooConf>, Vec<Target>), BackupError> {
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
    Ok((odoo, targets))
}

/// Records a run that failed before reaching any database as a failure of each database
/// the job backs up (the listed ones, or for `"*"` those its history knows), so `history`,
/// `jobs` and the metrics do not go on showing the last success. An interrupted run is
/// not a failure; a `"*"` job that never listed its databases has none to record.
fn record_run_failure(
    config: &Config,
    job_id: &str,
    history: &mut JobHistory,
    started: Timestamp,
    error: &BackupError,
) {
    if matches!(error, BackupError::Cancelled { .. }) {
        return;
    }
    let known = match history.get() {
        Some(h) => databases::known_without_listing(config, job_id, h),
        None => return,
    };
    for database in known {
        history.record_failure(job_id, &database, started, error);
    }
}

/// The backup directory made, room checked and an archive name claimed for `database`.
fn make_room(
    config: &Config,
    job_id: &str,
    job: &JobConfig,
    database: &str,
    history: &JobHistory,
) -> Result<super::claim::Claim, BackupError> {
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
    claim(&dir, job_id, database, job.format, job.encrypt.is_some())
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

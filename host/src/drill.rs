//! Restore drills (`drill = { every = 1, unit = "weeks" }`): the newest archive of each of
//! a job's databases is verified (the checks of `verify`, its SHA-256 against the
//! history's), restored into a scratch database as `verify --restore` does, its row counts
//! compared with the dump's, and the scratch database dropped. Each result is a `drills`
//! history row with its time to recover (the whole drill, verification included); a drill
//! slower than `max_minutes` fails even when the archive was restored whole. The caller
//! notifies and refreshes the metrics.
//!
//! A drill holds the job's lock: retention never deletes the archive under it, and a
//! backup of the job waits for it (the daemon) or is told the job is busy (`backup`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use jiff::Timestamp;

use crate::cancel::CancelFlag;
use crate::config::{Config, DrillConfig, JobConfig};
use crate::history::{BackupRow, History, NewDrill};
use crate::lock::{JobLock, LockError};
use crate::odoo_conf::OdooConf;
use crate::restore::{scratch, RestoreError, Server};
use crate::verify::{checks, encrypted, verify_for_restore, VerifyOptions};

/// Why no drill could run for a job at all (a drill that fails is a [`DrillOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// No such job.
    #[error("no job `{0}` in the configuration")]
    NoJob(String),
    /// `--database` names a database the job does not back up.
    #[error("job `{job}` has no archive of database `{database}` in the history")]
    NoDatabase {
        /// The job.
        job: String,
        /// The database asked for.
        database: String,
    },
    /// A backup, prune or drill of the job holds its lock.
    #[error(transparent)]
    Busy(#[from] LockError),
    /// The history cannot be read: it alone says which archives are the job's.
    #[error("job `{job}`: no drill without the history, which says which archives are the job's: {reason}")]
    History {
        /// The job.
        job: String,
        /// Why it cannot be opened.
        reason: String,
    },
    /// The job's odoo.conf cannot be read (it holds the connection settings).
    #[error("job `{job}`: {reason}")]
    OdooConf {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
}

/// The drill of one database's newest archive.
#[derive(Debug, Clone)]
pub struct DrillOutcome {
    /// The database.
    pub database: String,
    /// The archive drilled.
    pub archive: PathBuf,
    /// Its backup row.
    pub backup: BackupRow,
    /// When the drill started.
    pub started: Timestamp,
    /// How long it took, in seconds: the time to recover.
    pub duration_secs: f64,
    /// Connections that loaded the scratch database.
    pub jobs: usize,
    /// Tables and rows restored, or why the drill failed (secrets masked).
    pub result: Result<Restored, String>,
}

/// What a successful drill restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Tables in the scratch database.
    pub tables: u64,
    /// Rows in them.
    pub rows: u64,
}

impl DrillOutcome {
    /// One line: what was restored, or why it failed.
    pub fn message(&self) -> String {
        match &self.result {
            Ok(r) => format!(
                "{} restored into a scratch database and dropped: {} tables, {} rows, every table with the rows of its dump",
                self.archive.display(),
                r.tables,
                r.rows
            ),
            Err(why) => format!("{}: {why}", self.archive.display()),
        }
    }
}

/// The result of a drill run: one outcome per database with an archive; `interrupted`
/// when SIGTERM/SIGINT stopped it (the drill under way is neither recorded nor counted).
#[derive(Debug, Default)]
pub struct DrillRun {
    /// Outcomes, in database order.
    pub outcomes: Vec<DrillOutcome>,
    /// Databases without an archive yet (nothing to drill).
    pub without_archive: Vec<String>,
    /// Stopped by a signal.
    pub interrupted: bool,
}

impl DrillRun {
    /// Whether every drilled archive was restored whole.
    pub fn all_ok(&self) -> bool {
        !self.interrupted && self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// The databases whose newest archive a drill of `job` restores: the listed ones, or for
/// `"*"` every database the history has archives of (a database dropped since keeps being
/// drilled while its archives are kept: they may be its only copy).
fn databases(history: &History, job_id: &str, job: &JobConfig) -> Result<Vec<String>, String> {
    match job.database.fixed() {
        Some(list) => Ok(list),
        None => history.databases_of(job_id).map_err(|e| e.to_string()),
    }
}

/// Drills the newest archive of each database of `job_id` (only `only`, when given) over
/// `jobs` connections (default: the job's `drill.jobs`, else the number of cores, at
/// most 8) and records each result in the history.
pub fn run(
    config: &Config,
    job_id: &str,
    only: Option<&str>,
    jobs: Option<usize>,
    cancel: &CancelFlag,
) -> Result<DrillRun, DrillError> {
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| DrillError::NoJob(job_id.to_string()))?;
    let _lock = JobLock::try_acquire(&config.state_dir, job_id)?;
    let history_err = |reason: String| DrillError::History {
        job: job_id.to_string(),
        reason: crate::redact::scrub(&reason).into_owned(),
    };
    // The history is a record, not a gate: one that cannot be written (newer schema, full
    // or read-only disk) still says which archives are the job's; the result is then
    // logged and notified, not recorded.
    let history = match History::open(&config.state_dir) {
        Ok(h) => h,
        Err(e) => match History::open_read_only(&config.state_dir) {
            Ok(Some(h)) => {
                tracing::warn!(
                    job = job_id,
                    "{}; the drill runs, its result is not recorded",
                    crate::redact::scrub(&e.to_string())
                );
                h
            }
            _ => return Err(history_err(e.to_string())),
        },
    };
    let mut names = databases(&history, job_id, job).map_err(history_err)?;
    if let Some(only) = only {
        if !names.iter().any(|n| n == only) {
            return Err(DrillError::NoDatabase {
                job: job_id.to_string(),
                database: only.to_string(),
            });
        }
        names = vec![only.to_string()];
    }
    let odoo = match &job.odoo_conf {
        Some(p) => Some(OdooConf::read(p).map_err(|e| DrillError::OdooConf {
            job: job_id.to_string(),
            reason: crate::redact::scrub(&e.to_string()).into_owned(),
        })?),
        None => None,
    };
    let settings = job.drill.clone().unwrap_or_default();
    let jobs = jobs
        .or(settings.jobs.map(usize::from))
        .unwrap_or_else(crate::restore::parallel::default_jobs);
    let server = Server::for_job(job, odoo.as_ref(), &settings.maintenance_db);
    let mut run = DrillRun::default();
    for database in names {
        let newest = history
            .newest_kept_of(job_id, &database, job.format)
            .map_err(|e| history_err(e.to_string()))?;
        let Some(backup) = newest else {
            tracing::info!(job = job_id, database, "no archive to drill yet");
            run.without_archive.push(database);
            continue;
        };
        let started = Timestamp::now();
        let clock = Instant::now();
        let archive = PathBuf::from(&backup.path);
        tracing::info!(job = job_id, database, archive = %archive.display(), "restore drill starting");
        let result = match drill_archive(
            &server,
            &archive,
            (&settings, jobs),
            &history,
            &config.state_dir,
            cancel,
        ) {
            Err(Drilled::Interrupted) => {
                run.interrupted = true;
                tracing::warn!(job = job_id, database, "restore drill interrupted");
                break;
            }
            Ok(r) => Ok(r),
            Err(Drilled::Failed(why)) => Err(crate::redact::scrub(&why).into_owned()),
        };
        let duration_secs = clock.elapsed().as_secs_f64();
        let result = result.and_then(|r| within_limit(r, duration_secs, settings.max_minutes));
        let outcome = DrillOutcome {
            database,
            archive,
            backup,
            started,
            duration_secs,
            jobs,
            result,
        };
        record(&history, job_id, &outcome);
        run.outcomes.push(outcome);
    }
    Ok(run)
}

fn record(history: &History, job_id: &str, o: &DrillOutcome) {
    let message = o.message();
    match &o.result {
        Ok(_) => tracing::info!(job = job_id, database = o.database, "{message}"),
        Err(_) => tracing::error!(job = job_id, database = o.database, "{message}"),
    }
    let started = o.started.round(jiff::Unit::Second).unwrap_or(o.started);
    let restored = o.result.as_ref().ok();
    let recorded = history.record_drill(&NewDrill {
        job: job_id,
        database: &o.database,
        backup_id: Some(o.backup.id),
        archive: &o.backup.path,
        started: &started.to_string(),
        ok: o.result.is_ok(),
        tables: restored.map(|r| r.tables),
        rows: restored.map(|r| r.rows),
        message: &message,
        seconds: o.duration_secs,
        bytes: o.backup.size,
        jobs: o.jobs,
    });
    if let Err(e) = recorded {
        tracing::error!(
            job = job_id,
            database = o.database,
            "the drill's result is not recorded: {e}"
        );
    }
}

/// A drill that restored the archive whole in `seconds`: still a failure past
/// `max_minutes`.
fn within_limit(
    restored: Restored,
    seconds: f64,
    max_minutes: Option<u32>,
) -> Result<Restored, String> {
    match max_minutes {
        Some(max) if seconds > f64::from(max) * 60.0 => Err(format!(
            "restored whole, but the drill took {}: over its max_minutes = {max}. The time to recover has grown past what the job allows: restore with more connections (`drill.jobs`), on a faster server, or raise max_minutes",
            crate::restore::recovery::duration_text(seconds)
        )),
        _ => Ok(restored),
    }
}

enum Drilled {
    Failed(String),
    Interrupted,
}

/// Verifies `archive`, restores it into a scratch database and compares its row counts.
fn drill_archive(
    server: &Server,
    archive: &Path,
    (settings, jobs): (&DrillConfig, usize),
    history: &History,
    state_dir: &Path,
    cancel: &CancelFlag,
) -> Result<Restored, Drilled> {
    let failed = |e: &dyn std::fmt::Display| Drilled::Failed(e.to_string());
    if !archive.is_file() {
        return Err(Drilled::Failed(
            "the archive the history records as kept is missing".into(),
        ));
    }
    let options = VerifyOptions {
        pg_restore: &server.pg_restore,
        history: Some(history),
        strict: false,
        cancel,
        encrypted: None,
    };
    let is_age = crate::crypt::is_age_file(archive).map_err(|e| failed(&e))?;
    let plaintext = if is_age {
        let Some(identity) = &settings.identity else {
            return Err(Drilled::Failed(
                "the archive is encrypted and the job's `drill` has no `identity` to decrypt it"
                    .into(),
            ));
        };
        let identities = crate::crypt::load_identities(identity).map_err(|e| failed(&e))?;
        match crate::crypt::decrypt_to_temp(archive, &identities, state_dir, cancel) {
            Ok(p) => Some(p),
            Err(_) if cancel.is_cancelled() => return Err(Drilled::Interrupted),
            Err(e) => return Err(failed(&e)),
        }
    } else {
        None
    };
    let verified = match &plaintext {
        Some(plain) => verify_for_restore(
            plain.path(),
            &VerifyOptions {
                encrypted: Some(archive),
                ..options
            },
        )
        .map(|inner| encrypted::as_encrypted(inner, archive, 0)),
        None => verify_for_restore(archive, &options),
    };
    let mut report = match verified {
        Ok(r) => r,
        Err(_) if cancel.is_cancelled() => return Err(Drilled::Interrupted),
        Err(e) => return Err(failed(&e)),
    };
    let format = match report.format {
        Some(f) if report.ok => f,
        _ => {
            return Err(Drilled::Failed(format!(
                "the archive fails verification: {}",
                report.failures()
            )))
        }
    };
    let restorable = plaintext.as_ref().map_or(archive, |p| p.path());
    let units = report.units.take();
    crate::pause::point("drill-restore", restorable);
    let tables = match scratch::test_restore(server, restorable, format, units, jobs, cancel) {
        Ok(t) => t,
        Err(RestoreError::Cancelled) => return Err(Drilled::Interrupted),
        Err(_) if cancel.is_cancelled() => return Err(Drilled::Interrupted),
        Err(e) => return Err(Drilled::Failed(format!("test restore: {e}"))),
    };
    checks::restored_counts(&mut report, &tables, false);
    if !report.ok {
        return Err(Drilled::Failed(report.failures()));
    }
    Ok(Restored {
        tables: tables.len() as u64,
        rows: tables.values().sum(),
    })
}

/// Sends one notification per drilled archive (the channels' `on` decides which), and
/// rewrites the metrics file.
pub fn report(config: &Config, job_id: &str, run: &DrillRun) {
    crate::metrics::refresh(config);
    for outcome in &run.outcomes {
        let event = crate::notify::Event::for_drill(config, job_id, outcome);
        crate::notify::send(crate::notify::settings_for(config, job_id), &event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_slower_than_max_minutes_fails() {
        let r = Restored { tables: 3, rows: 9 };
        assert_eq!(within_limit(r, 59.0, Some(1)), Ok(r));
        assert_eq!(within_limit(r, 3600.0, None), Ok(r));
        let why = within_limit(r, 61.0, Some(1)).unwrap_err();
        assert!(
            why.contains("took 1 min 01 s: over its max_minutes = 1"),
            "{why}"
        );
    }
}

//! The backup engine's job level: one run of a job (claim a name, write the archive, record
//! it, apply retention, export), crash recovery of runs that died, local retention by proven
//! ownership, and `prune`. Nothing here knows the command line: errors are typed, and the
//! command layer turns them into text and exit codes.
//!
//! - [`run`]: [`run_backup`], the whole run.
//! - [`claim`]: archive names claimed atomically, so two runs never share a file.
//! - [`write`]: writing the archive (pg_dump, filestore, manifest) under its partial name.
//! - [`record`]: the history as the engine uses it: a record, never a gate.
//! - [`recovery`]: rows and partial files left by a process that died.
//! - [`retention`]: local retention on the archives this job is proven to own.
//! - [`adopt`]: archives claimed for the job (re-adopted from manifests, `prune --adopt`).
//! - [`prune`]: `prune` locally and on every destination.

pub mod adopt;
mod claim;
pub mod databases;
pub mod prune;
pub mod record;
pub mod recovery;
pub mod retention;
mod run;
pub mod space;
mod write;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::archive::{ArchiveError, ProgressFn};
use crate::config::{Config, JobConfig};
use crate::dump::query::QueryError;
use crate::export::{DestinationOutcome, ExportObserver};
use crate::filestore::FilestoreError;
use crate::history::HistoryError;
use crate::lock::LockError;
use crate::naming::PARTIAL_SUFFIX;
use crate::odoo_conf::OdooConfError;
use crate::plugins::PluginRegistry;

pub use prune::{prune, PruneOptions, PruneReport, RemotePrune};
pub use record::JobHistory;
pub use recovery::recover_stale;
pub use retention::apply_retention;
pub use run::{retry_pending, run_backup, DatabaseRun, JobRun};

/// Options of one backup run.
#[derive(Clone, Default)]
pub struct BackupOptions {
    /// Skip the exports to the job's destinations.
    pub no_export: bool,
    /// Called with the bytes written to the archive so far.
    pub progress: Option<Arc<ProgressFn>>,
    /// The loaded plugins, for the exports (required when the job has destinations).
    pub registry: Option<Arc<PluginRegistry>>,
    /// Progress of the exports (default: none).
    pub export_observer: Option<Arc<dyn ExportObserver + Send>>,
    /// A retry after a run some of whose databases failed: back up only the databases
    /// whose latest backup did not succeed (the history decides; all when it cannot).
    pub retry: bool,
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The job id.
    pub job: String,
    /// The archive.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// History row id (`None` when the history was unavailable).
    pub history_id: Option<i64>,
    /// Filestore archived, if any.
    pub filestore: Option<PathBuf>,
    /// Archives removed by retention.
    pub deleted: Vec<PathBuf>,
    /// What local retention warns of (archives kept because age is not counted across a
    /// gap in their dates, archives dated in the future, retention that failed): logged,
    /// printed by `backup`, and in the run's notification.
    pub warnings: Vec<String>,
    /// The exports to the job's destinations (empty with `no_export`).
    pub exports: Vec<DestinationOutcome>,
    /// Why the history could not record this run, when it could not (local retention was
    /// skipped: nothing is deleted without proof of ownership).
    pub history_unavailable: Option<String>,
}

impl BackupOutcome {
    /// Whether every export reached its destination.
    pub fn exports_ok(&self) -> bool {
        self.exports.iter().all(DestinationOutcome::is_done)
    }
}

/// Why a backup failed. Every variant names the job; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No such job in the configuration.
    #[error("unknown job `{job}`: there is no [jobs.{job}] table in the configuration")]
    UnknownJob {
        /// The job id asked for.
        job: String,
    },
    /// The job's odoo.conf is unusable.
    #[error("job `{job}`: `odoo_conf`: {source}")]
    OdooConf {
        /// The job.
        job: String,
        /// What is wrong.
        source: OdooConfError,
    },
    /// Another backup of the job runs.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// A directory could not be created or used.
    #[error("job `{job}`: {what} {path}: {source}")]
    Io {
        /// The job.
        job: String,
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No pg_dump program was found.
    #[error("job `{job}`: no pg_dump found (looked in /usr/lib/postgresql/*/bin and PATH); install the PostgreSQL client or set `pg_dump`")]
    NoPgDump {
        /// The job.
        job: String,
    },
    /// pg_dump could not be started.
    #[error("job `{job}`: cannot start {program}: {source}; check `pg_dump`")]
    Spawn {
        /// The job.
        job: String,
        /// The program.
        program: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// pg_dump failed.
    #[error("job `{job}`: pg_dump failed ({status}): {stderr}")]
    PgDump {
        /// The job.
        job: String,
        /// Its exit status.
        status: String,
        /// Its stderr, secrets masked.
        stderr: String,
    },
    /// A catalogue query failed.
    #[error("job `{job}`: {source}")]
    Query {
        /// The job.
        job: String,
        /// The query error.
        source: QueryError,
    },
    /// The filestore is unusable.
    #[error("job `{job}`: {source}")]
    Filestore {
        /// The job.
        job: String,
        /// What is wrong.
        source: FilestoreError,
    },
    /// Writing the archive failed.
    #[error("job `{job}`: archive {path}: {source}{hint}", hint = archive_hint(.source))]
    Archive {
        /// The job.
        job: String,
        /// The partial archive.
        path: PathBuf,
        /// What went wrong.
        source: ArchiveError,
    },
    /// The job's `encrypt` recipients cannot be used (the file changed since `config check`).
    #[error("job `{job}`: `encrypt`: {source}")]
    Encrypt {
        /// The job.
        job: String,
        /// What is wrong with the recipients.
        source: crate::crypt::RecipientError,
    },
    /// Every archive name tried was taken.
    #[error("job `{job}`: no free archive name in {dir} (each second tried was taken by another run or a stale `.partial` file)")]
    NoFreeName {
        /// The job.
        job: String,
        /// The backup directory.
        dir: PathBuf,
    },
    /// SIGINT/SIGTERM or the daemon's cancel.
    #[error("job `{job}`: interrupted; the partial archive was removed")]
    Cancelled {
        /// The job.
        job: String,
    },
    /// `prune --adopt --from-job` names a job whose archives may not be claimed.
    #[error("job `{job}`: --from-job `{from}` {why}")]
    ClaimRefused {
        /// The job.
        job: String,
        /// The job named by --from-job.
        from: String,
        /// Why not.
        why: &'static str,
    },
    /// The history is needed (to prove ownership before deleting) and unavailable.
    #[error("job `{job}`: history unavailable: {reason}; nothing was deleted, since ownership cannot be proven without it")]
    HistoryUnavailable {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
    /// `database = "*"` listed a database that cannot be examined (connection refused).
    #[error("job `{job}`: database `{database}` cannot be backed up: {reason}; grant the job's role CONNECT on it, or add it to `exclude`")]
    Unreachable {
        /// The job.
        job: String,
        /// The database.
        database: String,
        /// Why (secrets masked).
        reason: String,
    },
    /// A database whose name is no safe file name (`"*"` listed it, or it was configured
    /// before the configuration checked names): neither read nor written.
    #[error("job `{job}`: database {database:?} cannot be backed up: its name is no safe file name ({reason}), and archives and filestore directories are named after it; rename the database (ALTER DATABASE … RENAME TO …) or add it to `exclude`")]
    UnsafeDatabaseName {
        /// The job.
        job: String,
        /// The database.
        database: String,
        /// What is wrong with the name.
        reason: crate::naming::UnsafeDatabaseName,
    },
    /// No database to back up: every one excluded, or `"*"` found none.
    #[error("job `{job}`: no database to back up: `database` = \"{selection}\" with `exclude` leaves none (\"*\" takes only databases with Odoo's `ir_module_module` table that the job's role can see)")]
    NoDatabase {
        /// The job.
        job: String,
        /// The `database` setting.
        selection: String,
    },
    /// `backup_dir` lacks room for the backup (checked before anything is written).
    #[error("job `{job}`: database `{database}`: not enough free space in {dir}: {free} free, {needed} needed; nothing was written and older archives were kept — free space, or point `backup_dir` elsewhere")]
    NoSpace {
        /// The job.
        job: String,
        /// The database.
        database: String,
        /// The backup directory.
        dir: PathBuf,
        /// Free bytes, readable.
        free: String,
        /// Needed bytes, readable, and the rule that asks for them.
        needed: String,
    },
    /// The history database failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// `verify_after_backup`: the fresh archive is not sound (it was renamed away).
    #[error(transparent)]
    Verify(#[from] crate::verify::after_backup::VerifyFailed),
}

fn archive_hint(e: &ArchiveError) -> &'static str {
    match e {
        ArchiveError::Write(io) if io.raw_os_error() == Some(libc::ENOSPC) => {
            " — the disk is full: free space or point `backup_dir` elsewhere; older archives were kept"
        }
        ArchiveError::Write(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            " — check the permissions of `backup_dir`"
        }
        _ => "",
    }
}

impl BackupError {
    /// Whether the configuration is at fault (unknown job, unusable odoo.conf), rather than
    /// the run.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            BackupError::UnknownJob { .. }
                | BackupError::OdooConf { .. }
                | BackupError::ClaimRefused { .. }
        )
    }
}

/// The directory a job writes to.
pub fn backup_dir(config: &Config, job: &JobConfig) -> PathBuf {
    job.backup_dir
        .clone()
        .unwrap_or_else(|| config.backup_dir.clone())
}

fn job_of<'a>(config: &'a Config, job_id: &str) -> Result<&'a JobConfig, BackupError> {
    config
        .jobs
        .get(job_id)
        .ok_or_else(|| BackupError::UnknownJob { job: job_id.into() })
}

fn io_err(
    job: &str,
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackupError {
    let (job, path) = (job.to_string(), path.to_path_buf());
    move |source| BackupError::Io {
        job,
        what,
        path,
        source,
    }
}

/// `<final>.partial`.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(PARTIAL_SUFFIX);
    PathBuf::from(s)
}

/// Size and SHA-256 of a file, read in chunks.
pub fn checksum(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; crate::archive::CHUNK];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

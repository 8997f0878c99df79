//! Running one backup of a job: lock, history row, archive written as `<name>.partial`
//! (mode 0600), fsync, rename, fsync of the directory, checksum, retention. Any failure or
//! cancellation removes the partial file and records the reason.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::archive::manifest;
use crate::archive::zip::ZipArchiveWriter;
use crate::archive::{copy_stream, ArchiveError, ProgressFn, WriteContext};
use crate::cancel::CancelFlag;
use crate::config::{ArchiveFormat, Config, JobConfig};
use crate::dump::query::{self, DatabaseInfo, QueryError};
use crate::dump::{spawn_pg_dump, Connection, DumpFormat, PgTools};
use crate::export::{DestinationOutcome, ExportObserver, ExportRun, Quiet};
use crate::filestore::{self, FilestoreError};
use crate::history::{History, HistoryError};
use crate::lock::{JobLock, LockError};
use crate::naming::{archive_name, PARTIAL_SUFFIX};
use crate::odoo_conf::{OdooConf, OdooConfError};
use crate::plugins::PluginRegistry;
use crate::retention::{self, Archive, Policy};

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
    /// History row id.
    pub history_id: i64,
    /// Filestore archived, if any.
    pub filestore: Option<PathBuf>,
    /// Archives removed by retention.
    pub deleted: Vec<PathBuf>,
    /// The exports to the job's destinations (empty with `no_export`).
    pub exports: Vec<DestinationOutcome>,
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
    /// SIGINT/SIGTERM or the daemon's cancel.
    #[error("job `{job}`: interrupted; the partial archive was removed")]
    Cancelled {
        /// The job.
        job: String,
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
    /// Exit code of the command line: 2 for configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            BackupError::UnknownJob { .. } | BackupError::OdooConf { .. } => {
                crate::commands::exit::USAGE
            }
            _ => crate::commands::exit::FAILED,
        }
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

/// Runs one backup of `job_id` now.
pub fn run_backup(
    config: &Config,
    job_id: &str,
    options: &BackupOptions,
    cancel: &CancelFlag,
) -> Result<BackupOutcome, BackupError> {
    let job = job_of(config, job_id)?;
    std::fs::create_dir_all(&config.state_dir).map_err(io_err(
        job_id,
        "cannot create state_dir",
        &config.state_dir,
    ))?;
    let _lock = JobLock::try_acquire(&config.state_dir, job_id)?;
    let history = History::open(&config.state_dir)?;
    recover_stale(&history, &config.state_dir, Some(job_id));

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
    let (started, name) = free_name(&dir, job)?;
    let final_path = dir.join(&name);
    let partial = partial_path(&final_path);
    let id = history.start_backup(job_id, &name, &final_path, &started.to_string())?;
    tracing::info!(job = job_id, archive = %final_path.display(), "backup started");

    let ctx = Run {
        job_id,
        job,
        odoo: odoo.as_ref(),
        options,
        cancel,
        started,
    };
    match ctx.write(&partial, &final_path) {
        Ok((size, sha256, filestore)) => {
            history.finish_backup(id, size, &sha256)?;
            crate::verify::after_backup::run(job_id, job, &final_path, &history, id, cancel)?;
            tracing::info!(job = job_id, archive = %final_path.display(), size, sha256, "backup done");
            let deleted = match apply_retention(config, job_id, false, Some(&history)) {
                Ok(d) => d.into_iter().map(|a| a.path).collect(),
                Err(e) => {
                    tracing::error!(job = job_id, "retention failed: {e}");
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
            })
        }
        Err(e) => {
            remove_if_exists(&partial);
            let message = crate::redact::scrub(&e.to_string()).into_owned();
            tracing::error!(job = job_id, "backup failed: {message}");
            if let Err(h) = history.fail_backup(id, &message) {
                tracing::error!("{h}");
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
    backup_id: i64,
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
        backup_id: Some(backup_id),
        cancel,
        observer: observer.map_or(&Quiet as &dyn ExportObserver, |o| o as &dyn ExportObserver),
    }
    .run(None)
}

/// `<final>.partial`.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(PARTIAL_SUFFIX);
    PathBuf::from(s)
}

fn remove_if_exists(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!(file = %path.display(), "partial archive removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(file = %path.display(), "cannot remove partial archive: {e}"),
    }
}

/// A start time (whole seconds) whose archive name is not taken yet in `dir`.
fn free_name(dir: &Path, job: &JobConfig) -> Result<(Timestamp, String), BackupError> {
    loop {
        let now = Timestamp::now();
        let started = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let name = archive_name(&job.database, started, job.format);
        let taken = dir.join(&name);
        if !taken.exists() && !partial_path(&taken).exists() {
            return Ok((started, name));
        }
        // Two backups within one second: wait for the next second.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Marks `running` history rows of processes that died as failed and removes their
/// partial files. A row is stale when its job's lock is free (or is `own_job`, whose
/// lock the caller holds).
pub fn recover_stale(history: &History, state_dir: &Path, own_job: Option<&str>) {
    let rows = match history.running() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    for row in rows {
        let stale = Some(row.job.as_str()) == own_job || !JobLock::is_held(state_dir, &row.job);
        if !stale {
            continue;
        }
        remove_if_exists(&partial_path(Path::new(&row.path)));
        let pid = row
            .pid
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into());
        let message = format!("interrupted: the process (pid {pid}) running this backup died; partial archive removed");
        tracing::warn!(job = row.job, archive = row.path, "{message}");
        if let Err(e) = history.fail_backup(row.id, &message) {
            tracing::error!("{e}");
        }
    }
    let jobs = history.jobs_with_running_exports().unwrap_or_else(|e| {
        tracing::error!("{e}");
        Vec::new()
    });
    for job in jobs {
        if Some(job.as_str()) != own_job && JobLock::is_held(state_dir, &job) {
            continue;
        }
        let message = "interrupted: the process running this export died";
        match history.fail_running_exports(&job, message) {
            Ok(n) => tracing::warn!(job, attempts = n, "{message}"),
            Err(e) => tracing::error!("{e}"),
        }
    }
}

/// Applies the job's local retention (the lock must be held by the caller, or `dry_run`).
/// Returns the archives deleted (or that would be).
pub fn apply_retention(
    config: &Config,
    job_id: &str,
    dry_run: bool,
    history: Option<&History>,
) -> Result<Vec<Archive>, BackupError> {
    let job = job_of(config, job_id)?;
    let dir = backup_dir(config, job);
    let archives = match retention::scan(&dir, &job.database, job.format) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(job_id, "cannot list backup directory", &dir)(e)),
    };
    let policy = Policy {
        keep_days: job.keep_days,
        keep_count: job.keep_count,
    };
    let doomed = retention::plan(&archives, policy, Timestamp::now());
    if dry_run {
        return Ok(doomed);
    }
    let mut deleted = Vec::new();
    for archive in doomed {
        match std::fs::remove_file(&archive.path) {
            Ok(()) => {
                tracing::info!(job = job_id, archive = %archive.path.display(), "deleted by retention");
                if let Some(h) = history {
                    h.mark_deleted(&archive.path)?;
                }
                deleted.push(archive);
            }
            Err(e) => {
                tracing::error!(job = job_id, archive = %archive.path.display(), "cannot delete: {e}")
            }
        }
    }
    Ok(deleted)
}

/// `prune <job>`: retention now, under the job's lock.
pub fn prune(config: &Config, job_id: &str, dry_run: bool) -> Result<Vec<Archive>, BackupError> {
    job_of(config, job_id)?;
    if dry_run {
        return apply_retention(config, job_id, true, None);
    }
    std::fs::create_dir_all(&config.state_dir).map_err(io_err(
        job_id,
        "cannot create state_dir",
        &config.state_dir,
    ))?;
    let _lock = JobLock::try_acquire(&config.state_dir, job_id)?;
    let history = History::open(&config.state_dir)?;
    apply_retention(config, job_id, false, Some(&history))
}

/// One backup being written.
struct Run<'a> {
    job_id: &'a str,
    job: &'a JobConfig,
    odoo: Option<&'a OdooConf>,
    options: &'a BackupOptions,
    cancel: &'a CancelFlag,
    started: Timestamp,
}

impl Run<'_> {
    fn err_archive(&self, path: &Path) -> impl Fn(ArchiveError) -> BackupError + '_ {
        let path = path.to_path_buf();
        move |source| match source {
            ArchiveError::Cancelled => BackupError::Cancelled {
                job: self.job_id.into(),
            },
            source => BackupError::Archive {
                job: self.job_id.into(),
                path: path.clone(),
                source,
            },
        }
    }

    /// Writes the archive to `partial`, then moves it to `final_path`. Returns size,
    /// SHA-256 and the filestore used.
    fn write(
        &self,
        partial: &Path,
        final_path: &Path,
    ) -> Result<(u64, String, Option<PathBuf>), BackupError> {
        let tools = PgTools::discover(self.job.pg_dump.as_deref()).ok_or_else(|| {
            BackupError::NoPgDump {
                job: self.job_id.into(),
            }
        })?;
        let conn = Connection::for_job(self.job, self.odoo);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(partial)
            .map_err(io_err(self.job_id, "cannot create archive", partial))?;
        let ctx = WriteContext {
            cancel: self.cancel,
            progress: self.options.progress.as_deref(),
        };
        let (file, filestore) = match self.job.format {
            ArchiveFormat::Zip => self.write_zip(file, &tools, &conn, partial, &ctx)?,
            ArchiveFormat::Dump => (self.write_dump(file, &tools, &conn, partial, &ctx)?, None),
        };
        file.sync_all()
            .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e)))?;
        drop(file);
        if self.cancel.is_cancelled() {
            return Err(BackupError::Cancelled {
                job: self.job_id.into(),
            });
        }
        let (size, sha256) =
            checksum(partial).map_err(io_err(self.job_id, "cannot read back archive", partial))?;
        std::fs::rename(partial, final_path).map_err(io_err(
            self.job_id,
            "cannot rename archive to",
            final_path,
        ))?;
        if let Some(dir) = final_path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(
                self.job_id,
                "cannot sync directory",
                dir,
            ))?;
        }
        Ok((size, sha256, filestore))
    }

    fn write_zip(
        &self,
        file: File,
        tools: &PgTools,
        conn: &Connection,
        partial: &Path,
        ctx: &WriteContext<'_>,
    ) -> Result<(File, Option<PathBuf>), BackupError> {
        let filestore = filestore::resolve(&self.job.filestore, &self.job.database, self.odoo)
            .map_err(|source| BackupError::Filestore {
                job: self.job_id.into(),
                source,
            })?;
        // Both run client programs (psql, the configured pg_dump) that are stopped when
        // the backup is cancelled.
        let query_err = |source| match source {
            QueryError::Cancelled { .. } => BackupError::Cancelled {
                job: self.job_id.into(),
            },
            source => BackupError::Query {
                job: self.job_id.into(),
                source,
            },
        };
        let info =
            DatabaseInfo::read_cancellable(&tools.psql, conn, self.cancel).map_err(query_err)?;
        let pg_dump_version =
            query::pg_dump_version(&tools.pg_dump, self.cancel).map_err(query_err)?;
        let time = zip_time(self.started);
        let mut zip = ZipArchiveWriter::new(file, time);

        tracing::info!(job = self.job_id, pg_dump = %tools.pg_dump.display(), "dumping database {}", self.job.database);
        self.dump_into(tools, conn, DumpFormat::Plain, |stdout| {
            zip.add_stream("dump.sql", stdout, ctx)
                .map_err(self.err_archive(partial))
        })?;

        if let Some(root) = &filestore {
            let links = if self.job.follow_links {
                filestore::Links::Follow
            } else {
                filestore::Links::Skip
            };
            let entries =
                filestore::list(root, links).map_err(|source| BackupError::Filestore {
                    job: self.job_id.into(),
                    source,
                })?;
            tracing::info!(job = self.job_id, filestore = %root.display(), files = entries.len(), "adding filestore");
            zip.add_filestore(&entries, ctx)
                .map_err(self.err_archive(partial))?;
        }
        let created = self.started.to_string();
        let manifest = manifest::build(
            &self.job.database,
            &info,
            pg_dump_version.as_deref(),
            &created,
        );
        zip.add_bytes("manifest.json", &manifest::to_bytes(&manifest))
            .map_err(self.err_archive(partial))?;
        let file = zip.finish().map_err(self.err_archive(partial))?;
        Ok((file, filestore))
    }

    fn write_dump(
        &self,
        file: File,
        tools: &PgTools,
        conn: &Connection,
        partial: &Path,
        ctx: &WriteContext<'_>,
    ) -> Result<File, BackupError> {
        let mut counting = crate::archive::Counting::new(std::io::BufWriter::with_capacity(
            crate::archive::CHUNK,
            file,
        ));
        let counter = counting.counter();
        self.dump_into(tools, conn, DumpFormat::Custom, |stdout| {
            copy_stream(stdout, "pg_dump output", &mut counting, &counter, ctx)
                .map_err(self.err_archive(partial))
        })?;
        counting
            .into_inner()
            .into_inner()
            .map_err(|e| self.err_archive(partial)(ArchiveError::Write(e.into_error())))
    }

    /// Runs pg_dump, hands its stdout to `consume`, and checks how it ended. pg_dump is
    /// terminated when the backup is cancelled, and killed if `consume` fails.
    fn dump_into(
        &self,
        tools: &PgTools,
        conn: &Connection,
        format: DumpFormat,
        consume: impl FnOnce(&mut dyn Read) -> Result<u64, BackupError>,
    ) -> Result<(), BackupError> {
        let mut dump =
            spawn_pg_dump(&tools.pg_dump, conn, format).map_err(|source| BackupError::Spawn {
                job: self.job_id.into(),
                program: tools.pg_dump.clone(),
                source,
            })?;
        let mut stdout = dump.take_stdout();
        // Once cancelled, pg_dump's group is signalled until the reader sees the end of
        // the stream.
        let result = dump.while_watching(self.cancel, || match stdout.as_mut() {
            Some(stdout) => consume(stdout),
            None => Ok(0),
        });
        drop(stdout);
        let bytes = result?;
        let exit = dump.finish().map_err(|source| BackupError::Spawn {
            job: self.job_id.into(),
            program: tools.pg_dump.clone(),
            source,
        })?;
        if self.cancel.is_cancelled() {
            return Err(BackupError::Cancelled {
                job: self.job_id.into(),
            });
        }
        if !exit.status.success() {
            let stderr = if exit.stderr.is_empty() {
                "(no error output)".to_string()
            } else {
                exit.stderr
            };
            return Err(BackupError::PgDump {
                job: self.job_id.into(),
                status: exit.status.to_string(),
                stderr,
            });
        }
        for line in exit.stderr.lines().filter(|l| !l.trim().is_empty()) {
            tracing::warn!(job = self.job_id, "pg_dump: {line}");
        }
        tracing::info!(job = self.job_id, bytes, "database dumped");
        Ok(())
    }
}

fn zip_time(at: Timestamp) -> ::zip::DateTime {
    let dt = at.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    ::zip::DateTime::from_date_and_time(
        u16::try_from(dt.year()).unwrap_or(1980),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
    )
    .unwrap_or_default()
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

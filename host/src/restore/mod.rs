//! `restore`: an archive into a new database and its filestore. Refuses an existing
//! database or a non-empty filestore directory; checks every entry name before writing
//! anything (zip-slip); verifies the archive first; creates the database, extracts the
//! filestore into a staging directory, streams the SQL into psql (or runs pg_restore), and
//! only then renames the filestore into place. Any failure or interruption after the
//! database was created drops it and removes the staged files.

pub mod download;
pub mod extract;
pub mod load;
pub mod origin;
pub mod parallel;
pub mod recovery;
pub mod scratch;
pub mod server;
pub mod space;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ::zip::ZipArchive;

pub use server::{check_name, Server};

use crate::cancel::CancelFlag;
use crate::dump::query::QueryError;
use crate::export::ExportError;
use crate::verify::names::UnsafeName;
use crate::verify::psql::split::Unit;
use crate::verify::{
    detect_format, verify_for_restore, Format, VerifyError, VerifyOptions, VerifyReport,
};
use sauvegarde_plugin_api::human_bytes;

/// Why a restore failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The new database's name is not acceptable.
    #[error("`{name}` is not a valid database name: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The database exists already.
    #[error("database `{database}` already exists ({server}): restore never overwrites a database; choose another --database, or drop it first")]
    DatabaseExists {
        /// The database.
        database: String,
        /// Where.
        server: String,
    },
    /// The filestore directory exists and is not empty.
    #[error("filestore directory {path} already exists and is not empty: restore never mixes filestores; choose another --database or --filestore-dir, or remove it")]
    FilestoreExists {
        /// The directory.
        path: PathBuf,
    },
    /// The archive has a filestore and nothing says where it goes.
    #[error("the archive holds a filestore: say where it goes with --filestore-dir DIR, or --data-dir DIR (Odoo's data_dir: DIR/filestore/<database>), or --odoo-conf FILE (its data_dir), or a --job whose filestore is known; or restore the database only with --no-filestore")]
    NoFilestoreTarget,
    /// A command-line or configuration problem.
    #[error("{0}")]
    Usage(String),
    /// The archive cannot be opened.
    #[error("cannot open archive {path}: {source}")]
    Open {
        /// The archive.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither ZIP nor custom format.
    #[error("{path} is neither a ZIP nor a pg_dump custom-format archive")]
    NotAnArchive {
        /// The file.
        path: PathBuf,
    },
    /// An entry name would escape the target (zip-slip) or is a symbolic link.
    #[error("archive {path} refused: entry {entry:?} is unsafe ({reason}); nothing was written")]
    UnsafeEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        reason: UnsafeName,
    },
    /// The verification before the restore failed.
    #[error("archive {path} failed verification, nothing was restored: {failures}")]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// The failed checks.
        failures: String,
    },
    /// `dump.sql` holds psql meta-commands pg_dump never writes.
    #[error("archive {path} refused: its dump.sql holds psql meta-commands that pg_dump never writes and that psql would run (shell commands, files): {lines}; none of them was run. The archive was not made by pg_dump, or was altered")]
    MetaCommands {
        /// The archive.
        path: PathBuf,
        /// The refused lines.
        lines: String,
    },
    /// The filestore does not fit on the target's file system.
    #[error("not enough space for the filestore at {path}: its {files} files need {} and only {} are free; nothing was written. Free space, or choose another --filestore-dir / --data-dir", human_bytes(*needed), human_bytes(*available))]
    NoSpace {
        /// The directory whose file system was measured.
        path: PathBuf,
        /// Filestore files.
        files: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// An entry declares a size its compression cannot produce.
    #[error("archive {path} refused: entry {entry} {reason}; the archive is damaged or crafted, nothing was written")]
    ImplausibleSize {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What is impossible.
        reason: String,
    },
    /// The verification could not run.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Reading an entry failed (CRC-32 mismatch, corrupt data).
    #[error("archive {path}: {entry}: {message}")]
    ArchiveRead {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What went wrong.
        message: String,
    },
    /// A query on the server failed (connection, permission, CREATE DATABASE).
    #[error("PostgreSQL ({server}): {source}")]
    Server {
        /// Connection summary.
        server: String,
        /// The query error, secrets masked.
        source: QueryError,
    },
    /// A client program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// psql or pg_restore failed.
    #[error("{program} failed loading database `{database}`: {detail}")]
    Load {
        /// The program.
        program: PathBuf,
        /// The database.
        database: String,
        /// Its exit status and stderr, secrets masked.
        detail: String,
    },
    /// Writing the filestore failed.
    #[error("filestore {path}: {source}")]
    Filestore {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Downloading from a destination failed.
    #[error(transparent)]
    Download(ExportError),
    /// SIGINT/SIGTERM.
    #[error("interrupted")]
    Cancelled,
    /// A failure after the database was created, and what was cleaned up.
    #[error("{source}; {cleanup}")]
    RolledBack {
        /// The failure.
        source: Box<RestoreError>,
        /// What was removed (or could not be).
        cleanup: String,
    },
    /// The scratch database of a test restore could not be dropped.
    #[error("the scratch database `{database}` could not be dropped, drop it by hand: {source}")]
    ScratchNotDropped {
        /// The scratch database.
        database: String,
        /// Why.
        source: Box<RestoreError>,
    },
}

impl RestoreError {
    /// Whether the restore refused before anything was created (the archive is
    /// unreadable, unsafe, altered or too big; the target exists). Failures, and anything
    /// found after the database was created (rolled back), are not refusals.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RestoreError::InvalidName { .. }
                | RestoreError::DatabaseExists { .. }
                | RestoreError::FilestoreExists { .. }
                | RestoreError::NoFilestoreTarget
                | RestoreError::Open { .. }
                | RestoreError::NotAnArchive { .. }
                | RestoreError::UnsafeEntry { .. }
                | RestoreError::Corrupt { .. }
                | RestoreError::ArchiveRead { .. }
                | RestoreError::MetaCommands { .. }
                | RestoreError::NoSpace { .. }
                | RestoreError::ImplausibleSize { .. }
                | RestoreError::Usage(_)
        )
    }
}

/// Where the filestore goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilestoreTarget {
    /// Not restored.
    Skip,
    /// Exactly this directory (it must be absent or empty).
    Dir(PathBuf),
    /// Not known: a restore of an archive with a filestore is refused.
    Unknown,
}

/// One restore.
pub struct RestoreRequest<'a> {
    /// The local archive.
    pub archive: &'a Path,
    /// The new database.
    pub database: &'a str,
    /// Where it is created.
    pub server: &'a Server,
    /// Where the filestore goes.
    pub filestore: FilestoreTarget,
    /// Verify the archive before touching anything (`None`: skip, the data is still
    /// checked as it is read).
    pub verify: Option<VerifyOptions<'a>>,
    /// Checked between chunks and files.
    pub cancel: &'a CancelFlag,
    /// Connections loading `dump.sql` at most (`pg_restore -j` for a `.dump`).
    pub jobs: usize,
}

/// A finished restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreOutcome {
    /// The new database.
    pub database: String,
    /// The archive's format.
    pub format: Format,
    /// Bytes of SQL loaded (ZIP archives).
    pub sql_bytes: u64,
    /// The filestore directory written, if any.
    pub filestore: Option<PathBuf>,
    /// Filestore files written.
    pub filestore_files: u64,
    /// Their total size.
    pub filestore_bytes: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Connections that loaded the database.
    pub connections: usize,
    /// The verification done first.
    #[serde(skip)]
    pub report: Option<VerifyReport>,
}

/// Opens a ZIP archive for reading.
pub fn open_zip(path: &Path) -> Result<ZipArchive<BufReader<File>>, RestoreError> {
    let file = File::open(path).map_err(|source| RestoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    ZipArchive::new(BufReader::with_capacity(crate::archive::CHUNK, file)).map_err(|e| {
        RestoreError::ArchiveRead {
            path: path.to_path_buf(),
            entry: "central directory".into(),
            message: format!("{e}: the archive is truncated or damaged"),
        }
    })
}

/// An open ZIP archive.
type Zip = ZipArchive<BufReader<File>>;

/// Runs a restore: every refusal first (the archive, its checks, the targets), then the
/// database created and filled, and rolled back on any failure.
pub fn run(request: &RestoreRequest<'_>) -> Result<RestoreOutcome, RestoreError> {
    let started = Instant::now();
    let path = request.archive;
    check_name(request.database)?;
    let (format, mut zip) = open_archive(path)?;
    let filestore_files = match &zip {
        Some(z) => extract::scan(z, path)?,
        None => 0,
    };
    let (report, units) = check_archive(request, zip.as_mut())?;
    let filestore = filestore_target(request, zip.as_ref(), filestore_files)?;
    check_targets(request, filestore.as_deref())?;
    let server = request.server;
    if server.is_superuser()? && !origin::made_here(zip.as_mut()) {
        tracing::warn!(
            archive = %path.display(),
            "restoring as a superuser role ({}) an archive this host did not make: its SQL runs with every right on the server (COPY … TO PROGRAM runs shell commands there); restore archives of unknown origin as a role without superuser (--db-user)",
            server.describe()
        );
    }
    server.create(request.database)?;
    let mut outcome = RestoreOutcome {
        database: request.database.into(),
        format,
        sql_bytes: 0,
        filestore: None,
        filestore_files: 0,
        filestore_bytes: 0,
        seconds: 0.0,
        connections: 1,
        report,
    };
    let result = fill(
        request,
        zip.as_mut(),
        units,
        filestore.as_deref(),
        &mut outcome,
    );
    match result {
        Ok(()) => {
            outcome.seconds = started.elapsed().as_secs_f64();
            tracing::info!(database = request.database, archive = %path.display(), seconds = outcome.seconds, "restore done");
            Ok(outcome)
        }
        Err(e) => Err(roll_back(request, filestore.is_some(), e)),
    }
}

/// The archive's format, and the ZIP opened when it is one.
fn open_archive(path: &Path) -> Result<(Format, Option<Zip>), RestoreError> {
    let mut file = File::open(path).map_err(|source| RestoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let format = detect_format(&mut file)
        .map_err(|source| RestoreError::Open {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| RestoreError::NotAnArchive {
            path: path.to_path_buf(),
        })?;
    drop(file);
    let zip = match format {
        Format::Zip => Some(open_zip(path)?),
        Format::Dump => None,
    };
    Ok((format, zip))
}

/// The verification asked for (refused when it fails or finds psql meta-commands), else
/// the prescan of a ZIP's dump.sql; the report, and the dump's units when read.
fn check_archive(
    request: &RestoreRequest<'_>,
    zip: Option<&mut Zip>,
) -> Result<(Option<VerifyReport>, Option<Vec<Unit>>), RestoreError> {
    let path = request.archive;
    let mut units = None;
    let report = match &request.verify {
        Some(options) => {
            let mut report = verify_for_restore(path, options)?;
            units = report.units.take();
            if let Some(meta) = report
                .checks
                .iter()
                .find(|c| c.check == "psql" && c.status == crate::verify::Status::Failed)
            {
                return Err(RestoreError::MetaCommands {
                    path: path.to_path_buf(),
                    lines: meta.detail.clone(),
                });
            }
            if !report.ok {
                return Err(RestoreError::Corrupt {
                    path: path.to_path_buf(),
                    failures: report.failures(),
                });
            }
            Some(report)
        }
        None => None,
    };
    if let (Some(zip), None) = (zip, &report) {
        // Without verification (which reads it), dump.sql is read for anything psql could
        // run before anything is created.
        units = load::prescan(zip, path, request.cancel)?;
    }
    Ok((report, units))
}

/// Where the archive's filestore goes (`None`: nowhere), refused when unknown or when
/// its file system has too little room for it.
fn filestore_target(
    request: &RestoreRequest<'_>,
    zip: Option<&Zip>,
    filestore_files: u64,
) -> Result<Option<PathBuf>, RestoreError> {
    let filestore = match (&request.filestore, filestore_files) {
        (_, 0) | (FilestoreTarget::Skip, _) => None,
        (FilestoreTarget::Dir(d), _) => Some(d.clone()),
        (FilestoreTarget::Unknown, _) => return Err(RestoreError::NoFilestoreTarget),
    };
    if let (Some(dir), Some(zip)) = (&filestore, zip) {
        let declared = space::declared(zip, request.archive)?;
        let (free, at) = crate::disk::available(dir).map_err(|source| RestoreError::Filestore {
            path: dir.clone(),
            source,
        })?;
        space::check(declared, free, &at)?;
    }
    Ok(filestore)
}

/// Refuses a database that exists, a filestore directory that is not absent or empty,
/// and a restore cancelled before anything was created.
fn check_targets(
    request: &RestoreRequest<'_>,
    filestore: Option<&Path>,
) -> Result<(), RestoreError> {
    let server = request.server;
    if server.exists(request.database)? {
        return Err(RestoreError::DatabaseExists {
            database: request.database.into(),
            server: server.describe(),
        });
    }
    if let Some(dir) = filestore {
        extract::check_target(dir)?;
    }
    if request.cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    Ok(())
}

/// Drops the half-made database after `error`; the error says what was cleaned up (the
/// partial filestore is removed by [`fill`]).
fn roll_back(
    request: &RestoreRequest<'_>,
    had_filestore: bool,
    error: RestoreError,
) -> RestoreError {
    tracing::error!(database = request.database, "restore failed: {error}");
    let cleanup = match request.server.drop_database(request.database) {
        Ok(()) => format!("the half-made database `{}` was dropped", request.database),
        Err(d) => format!(
            "the half-made database `{}` could not be dropped, drop it by hand: {d}",
            request.database
        ),
    };
    let cleanup = if had_filestore {
        format!("{cleanup} and the partial filestore removed")
    } else {
        cleanup
    };
    RestoreError::RolledBack {
        source: Box::new(error),
        cleanup,
    }
}

/// Everything after the database was created: filestore into staging, database load,
/// filestore into place. The staging directory is removed on any error (its drop).
fn fill(
    request: &RestoreRequest<'_>,
    zip: Option<&mut ZipArchive<BufReader<File>>>,
    units: Option<Vec<Unit>>,
    filestore: Option<&Path>,
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    let path = request.archive;
    match zip {
        Some(zip) => {
            let staging = match filestore {
                Some(dir) => {
                    let mut staging = extract::Staging::create(dir)?;
                    staging.extract(zip, path, request.cancel)?;
                    tracing::info!(
                        files = staging.files,
                        bytes = staging.bytes,
                        "filestore extracted"
                    );
                    Some(staging)
                }
                None => None,
            };
            let loaded = load::database_from_zip(
                request.server,
                request.database,
                zip,
                path,
                units,
                request.jobs,
                request.cancel,
            )?;
            outcome.sql_bytes = loaded.sql_bytes;
            outcome.connections = loaded.connections;
            if request.cancel.is_cancelled() {
                return Err(RestoreError::Cancelled);
            }
            if let Some(staging) = staging {
                outcome.filestore_files = staging.files;
                outcome.filestore_bytes = staging.bytes;
                outcome.filestore = Some(staging.commit()?);
            }
        }
        None => {
            load::custom(
                request.server,
                request.database,
                path,
                request.jobs,
                request.cancel,
            )?;
            outcome.connections = request.jobs;
        }
    }
    Ok(())
}

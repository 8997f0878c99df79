//! The history database (SQLite in `state_dir`): a row per backup, per export attempt and
//! per connection test, per restore drill and per restore (time to recover), with a schema
//! version table for migrations.

mod connection_tests;
mod databases;
mod drills;
mod exports;
mod restores;
mod uploads;

pub use connection_tests::ConnectionTestRow;
pub use drills::{DrillRow, NewDrill};
pub use exports::{ExportRow, ExportState};
pub use restores::{NewRestore, RestoreRow};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Current schema version (2: one `exports` row per upload attempt, with its job).
pub const SCHEMA_VERSION: i64 = 2;

/// File name of the database inside `state_dir`.
pub const FILE_NAME: &str = "history.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS backups (
    id        INTEGER PRIMARY KEY,
    job       TEXT NOT NULL,
    file_name TEXT NOT NULL,
    path      TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT,
    state     TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'deleted')),
    size      INTEGER,
    sha256    TEXT,
    message   TEXT,
    pid       INTEGER
);
CREATE INDEX IF NOT EXISTS backups_job_started ON backups (job, started);
CREATE TABLE IF NOT EXISTS connection_tests (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    destination TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    message     TEXT,
    time        TEXT NOT NULL
);
";

/// A history database failure. The message names the file and, for a full disk, says so.
#[derive(Debug, thiserror::Error)]
#[error("history database {path}: {problem}")]
pub struct HistoryError {
    /// The database file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub problem: HistoryProblem,
}

/// What went wrong with the history database.
#[derive(Debug, thiserror::Error)]
pub enum HistoryProblem {
    /// SQLite failed; `disk_full` when the file system holding it has no space left.
    #[error("{source}{hint}", hint = if *.disk_full { " — the disk holding the state directory is full: free space there (backups go on, but nothing is recorded and retention waits)" } else { "" })]
    Sqlite {
        /// The SQLite error.
        source: rusqlite::Error,
        /// The file system is full.
        disk_full: bool,
    },
    /// The schema is newer than this program knows: it is never written.
    #[error("written by a newer sauvegarde (schema version {found}; this program knows up to {supported}); it is left untouched: upgrade sauvegarde")]
    Newer {
        /// Version found in the file.
        found: i64,
        /// The newest this program writes.
        supported: i64,
    },
    /// Moving a corrupt database aside failed.
    #[error("cannot move the corrupt database aside to {to}: {source}")]
    MoveAside {
        /// Where it was to go.
        to: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl HistoryError {
    /// A SQLite failure on `path`.
    pub fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        let disk_full = match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => true,
            Some(rusqlite::ErrorCode::SystemIoFailure) => {
                path.parent().is_some_and(crate::disk::nearly_full)
            }
            _ => false,
        };
        HistoryError {
            path: path.to_path_buf(),
            problem: HistoryProblem::Sqlite { source, disk_full },
        }
    }

    /// Whether the file is not a SQLite database, or a damaged one: it can be moved aside.
    pub fn is_corrupt(&self) -> bool {
        match &self.problem {
            HistoryProblem::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ),
            _ => false,
        }
    }
}

/// `access(path, W_OK)`: a read-only mount says so even to root.
fn writable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid C string.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// State of a backup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupState {
    /// Being written.
    Running,
    /// Written and complete.
    Done,
    /// Failed; the message says why.
    Failed,
    /// Removed by retention.
    Deleted,
}

impl BackupState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Running => "running",
            BackupState::Done => "done",
            BackupState::Failed => "failed",
            BackupState::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => BackupState::Running,
            "done" => BackupState::Done,
            "deleted" => BackupState::Deleted,
            _ => BackupState::Failed,
        }
    }
}

/// One backup row.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRow {
    /// Row id.
    pub id: i64,
    /// Job id.
    pub job: String,
    /// Archive file name.
    pub file_name: String,
    /// Full path of the archive.
    pub path: String,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC.
    pub finished: Option<String>,
    /// State.
    pub state: BackupState,
    /// Archive size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the archive, hex.
    pub sha256: Option<String>,
    /// Failure message (or other remark).
    pub message: Option<String>,
    /// The database backed up (`None` in rows older than the column).
    pub database: Option<String>,
    /// Process that ran the backup.
    #[serde(skip)]
    pub pid: Option<i64>,
}

impl BackupRow {
    /// The database backed up: the row's column, or for rows older than the column, the
    /// one the archive's name gives. A failure recorded before any archive was named has
    /// only the column.
    pub fn database_name(&self) -> Option<&str> {
        self.database
            .as_deref()
            .or_else(|| crate::naming::database_of(&self.file_name))
    }
}

/// The schema version stored in `conn`, `None` for a new database.
fn stored_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    conn.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
}

/// `path` escaped for a SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '?' | '#' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
    /// Whether `backups.database` exists (a read-only history may predate it).
    has_database: bool,
    /// Whether the `drills` table exists (a read-only history may predate it).
    has_drills: bool,
}

/// Now, RFC 3339 UTC with seconds.
pub fn now_text() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

impl History {
    /// Opens (creating if needed) `<state_dir>/history.sqlite` for writing; `state_dir` must
    /// exist. A database written by a newer version is refused ([`HistoryProblem::Newer`])
    /// before anything is written to it; a corrupt one gives an error whose
    /// [`HistoryError::is_corrupt`] is true (see [`History::move_aside`]).
    pub fn open(state_dir: &Path) -> Result<Self, HistoryError> {
        let path = state_dir.join(FILE_NAME);
        let err = |source| HistoryError::sqlite(&path, source);
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        // Reading the version first: a newer schema is left exactly as it is.
        if let Some(found) = stored_version(&conn).map_err(err)? {
            if found > SCHEMA_VERSION {
                return Err(HistoryError {
                    path,
                    problem: HistoryProblem::Newer {
                        found,
                        supported: SCHEMA_VERSION,
                    },
                });
            }
        }
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        // One process migrates; the others wait on the write lock, then see version 2.
        let mut conn = conn;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute_batch(SCHEMA).map_err(err)?;
        let version: Option<i64> = tx
            .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
            .map_err(err)?;
        if version == Some(1) {
            exports::migrate_from_v1(&tx).map_err(err)?;
        }
        tx.execute_batch(exports::SCHEMA).map_err(err)?;
        databases::migrate(&tx).map_err(err)?;
        uploads::migrate(&tx).map_err(err)?;
        drills::migrate(&tx).map_err(err)?;
        restores::migrate(&tx).map_err(err)?;
        if version.is_none_or(|v| v < SCHEMA_VERSION) {
            tx.execute_batch(&format!(
                "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION});"
            ))
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(History {
            conn,
            path,
            has_database: true,
            has_drills: true,
        })
    }

    /// Opens the history for reading only: creates, migrates and locks nothing, and works on
    /// a read-only or full file system. `None` when there is no history yet.
    pub fn open_read_only(state_dir: &Path) -> Result<Option<Self>, HistoryError> {
        use rusqlite::OpenFlags;
        let path = state_dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        let err = |source| HistoryError::sqlite(&path, source);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let try_open = |uri: String| -> rusqlite::Result<(Connection, Option<i64>)> {
            let conn = Connection::open_with_flags(uri, flags)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            let version = stored_version(&conn)?;
            Ok((conn, version))
        };
        let uri = format!("file:{}", uri_path(&path));
        let (conn, version) = match try_open(uri.clone()) {
            Ok(opened) => opened,
            // A WAL database in a directory we cannot write to (read-only mount, full
            // disk): read it as an immutable file.
            Err(_) => try_open(format!("{uri}?immutable=1")).map_err(err)?,
        };
        if version.is_none() {
            // Created a moment ago by a writer that has not laid out its tables yet: no
            // history so far, as when the file does not exist.
            return Ok(None);
        }
        let has_database = databases::has_column(&conn, "backups", "database").map_err(err)?;
        let has_drills = drills::has_table(&conn).map_err(err)?;
        Ok(Some(History {
            conn,
            path,
            has_database,
            has_drills,
        }))
    }

    /// Why this history (opened read-only) could not be written, if it could not: a newer
    /// schema, a read-only file or directory, a full disk. Writes nothing to find out.
    pub fn write_problem(&self) -> Option<String> {
        if let Ok(Some(found)) = self.schema_version() {
            if found > SCHEMA_VERSION {
                let problem = HistoryProblem::Newer {
                    found,
                    supported: SCHEMA_VERSION,
                };
                return Some(format!(
                    "history database {}: {problem}",
                    self.path.display()
                ));
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        for p in [self.path.as_path(), dir] {
            if let Err(e) = writable(p) {
                return Some(format!(
                    "history database {}: cannot be written: {e}",
                    self.path.display()
                ));
            }
        }
        if crate::disk::nearly_full(dir) {
            return Some(format!(
                "history database {}: the disk holding the state directory is full",
                self.path.display()
            ));
        }
        None
    }

    /// Moves a corrupt database (and its WAL files) aside to
    /// `history.sqlite.corrupt-<UTC time>`; returns the new name. A fresh database can then
    /// be opened in its place.
    pub fn move_aside(state_dir: &Path) -> Result<PathBuf, HistoryError> {
        let path = state_dir.join(FILE_NAME);
        let stamp = jiff::Timestamp::now().strftime("%Y-%m-%dT%H-%M-%SZ");
        let to = state_dir.join(format!("{FILE_NAME}.corrupt-{stamp}"));
        std::fs::rename(&path, &to).map_err(|source| HistoryError {
            path: path.clone(),
            problem: HistoryProblem::MoveAside {
                to: to.clone(),
                source,
            },
        })?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let mut side_to = to.clone().into_os_string();
            side_to.push(suffix);
            if let Err(e) = std::fs::rename(&side, &side_to) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = ?side, "cannot move aside: {e}");
                }
            }
        }
        Ok(to)
    }

    fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::sqlite(&self.path, source)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a backup that starts now; returns its row id.
    pub fn start_backup(
        &self,
        job: &str,
        file_name: &str,
        path: &Path,
        started: &str,
    ) -> Result<i64, HistoryError> {
        self.conn
            .execute(
                "INSERT INTO backups (job, file_name, path, started, state, pid) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![job, file_name, path.to_string_lossy(), started, std::process::id()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks a backup done with its size and checksum.
    pub fn finish_backup(&self, id: i64, size: u64, sha256: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE backups SET state = 'done', finished = ?2, size = ?3, sha256 = ?4 WHERE id = ?1",
                params![id, now_text(), size as i64, sha256],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks a backup failed with `message` (already scrubbed of secrets).
    pub fn fail_backup(&self, id: i64, message: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE backups SET state = 'failed', finished = ?2, message = ?3 WHERE id = ?1",
                params![id, now_text(), message],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks the done backup at `path` deleted (retention).
    pub fn mark_deleted(&self, path: &Path) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE backups SET state = 'deleted' WHERE path = ?1 AND state = 'done'",
                params![path.to_string_lossy()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The archive at `path` as the history knows it: its latest `done` row.
    pub fn backup_at(&self, path: &Path) -> Result<Option<BackupRow>, HistoryError> {
        Ok(self
            .query(
                "WHERE path = ?1 AND state = 'done' ORDER BY id DESC LIMIT 1",
                params![path.to_string_lossy()],
            )?
            .into_iter()
            .next())
    }

    /// Records an archive found on disk as a `done` backup of `job` (re-adopted from its
    /// manifest after a history loss, or claimed with `prune --adopt`). No checksum: the
    /// file was not written under this history's watch.
    pub fn adopt_backup(
        &self,
        job: &str,
        path: &Path,
        started: &str,
        size: u64,
        message: &str,
    ) -> Result<i64, HistoryError> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO backups (job, file_name, path, started, finished, state, size, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'done', ?6, ?7)",
                params![job, file_name, path.to_string_lossy(), started, now_text(), size as i64, message],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Gives `from`'s `done` row of the archive at `path` to job `to` (`prune --adopt
    /// --from-job`: the job was renamed). Returns how many rows changed.
    pub fn reassign_backup(
        &self,
        path: &Path,
        from: &str,
        to: &str,
    ) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "UPDATE backups SET job = ?3 WHERE path = ?1 AND job = ?2 AND state = 'done'",
                params![path.to_string_lossy(), from, to],
            )
            .map_err(|e| self.err(e))
    }

    /// Rows in state `running`.
    pub fn running(&self) -> Result<Vec<BackupRow>, HistoryError> {
        self.query("WHERE state = 'running' ORDER BY id", params![])
    }

    /// Latest rows first, optionally of one job.
    pub fn list(&self, job: Option<&str>, limit: usize) -> Result<Vec<BackupRow>, HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match job {
            Some(j) => self.query(
                "WHERE job = ?1 ORDER BY started DESC, id DESC LIMIT ?2",
                params![j, limit],
            ),
            None => self.query("ORDER BY started DESC, id DESC LIMIT ?1", params![limit]),
        }
    }

    /// The latest row of `job`, and its latest `done` one.
    pub fn last_of(
        &self,
        job: &str,
    ) -> Result<(Option<BackupRow>, Option<BackupRow>), HistoryError> {
        let last = self.query(
            "WHERE job = ?1 ORDER BY started DESC, id DESC LIMIT 1",
            params![job],
        )?;
        let good = self.query(
            "WHERE job = ?1 AND state IN ('done', 'deleted') ORDER BY started DESC, id DESC LIMIT 1",
            params![job],
        )?;
        Ok((last.into_iter().next(), good.into_iter().next()))
    }

    /// One row by id.
    pub fn get(&self, id: i64) -> Result<Option<BackupRow>, HistoryError> {
        Ok(self.query("WHERE id = ?1", params![id])?.into_iter().next())
    }

    fn query(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<BackupRow>, HistoryError> {
        self.query_until(tail, params, |_| false)
    }

    /// The first row of `SELECT … FROM backups {tail}` that `wanted` accepts, reading rows
    /// one at a time and stopping there.
    fn first_row(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
        wanted: impl Fn(&BackupRow) -> bool,
    ) -> Result<Option<BackupRow>, HistoryError> {
        let mut rows = self.query_until(tail, params, &wanted)?;
        Ok(rows.pop().filter(|r| wanted(r)))
    }

    /// The rows of `SELECT … FROM backups {tail}` up to the first one `stop` accepts
    /// (included), or all of them.
    fn query_until(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
        stop: impl Fn(&BackupRow) -> bool,
    ) -> Result<Vec<BackupRow>, HistoryError> {
        let sql = format!(
            "SELECT id, job, file_name, path, started, finished, state, size, sha256, message, pid, {} FROM backups {tail}",
            self.database_column()
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(BackupRow {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    file_name: r.get(2)?,
                    path: r.get(3)?,
                    started: r.get(4)?,
                    finished: r.get(5)?,
                    state: BackupState::parse(&r.get::<_, String>(6)?),
                    size: r.get::<_, Option<i64>>(7)?.map(|s| s as u64),
                    sha256: r.get(8)?,
                    message: r.get(9)?,
                    pid: r.get(10)?,
                    database: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let row = row.map_err(|e| self.err(e))?;
            let done = stop(&row);
            out.push(row);
            if done {
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// `backups.database` in SQL, or `NULL` in a read-only history older than the column.
    fn database_column(&self) -> &'static str {
        if self.has_database {
            "database"
        } else {
            "NULL"
        }
    }

    /// Schema version stored in the database.
    pub fn schema_version(&self) -> Result<Option<i64>, HistoryError> {
        self.conn
            .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
            .optional()
            .map(|v| v.flatten())
            .map_err(|e| self.err(e))
    }

    /// The backup with a checksum recorded at `path`, else the latest one named
    /// `file_name` (a copy moved or downloaded elsewhere), for `verify`.
    pub fn find_backup(
        &self,
        path: &Path,
        file_name: &str,
    ) -> Result<Option<BackupRow>, HistoryError> {
        Ok(self
            .query(
                "WHERE sha256 IS NOT NULL AND (path = ?1 OR file_name = ?2) \
                 ORDER BY path = ?1 DESC, id DESC LIMIT 1",
                params![path.to_string_lossy(), file_name],
            )?
            .into_iter()
            .next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.schema_version().unwrap(), Some(SCHEMA_VERSION));
        let id = h
            .start_backup(
                "prod",
                "a.zip",
                Path::new("/b/a.zip"),
                "2024-01-01T00:00:00Z",
            )
            .unwrap();
        assert_eq!(h.running().unwrap().len(), 1);
        h.finish_backup(id, 10, "ab").unwrap();
        let row = h.get(id).unwrap().unwrap();
        assert_eq!((row.state, row.size), (BackupState::Done, Some(10)));
        h.mark_deleted(Path::new("/b/a.zip")).unwrap();
        assert_eq!(h.get(id).unwrap().unwrap().state, BackupState::Deleted);
        let id2 = h
            .start_backup(
                "prod",
                "b.zip",
                Path::new("/b/b.zip"),
                "2024-01-02T00:00:00Z",
            )
            .unwrap();
        h.fail_backup(id2, "boom").unwrap();
        let (last, good) = h.last_of("prod").unwrap();
        assert_eq!(last.unwrap().id, id2);
        assert_eq!(good.unwrap().id, id);
        // Reopening keeps one schema version row.
        drop(h);
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.list(None, 10).unwrap().len(), 2);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        drop(History::open(dir.path()).unwrap());
        let path = dir.path().join(FILE_NAME);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("UPDATE schema_version SET version = 99; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = History::open(dir.path()).err().expect("refused");
        assert!(matches!(
            err.problem,
            HistoryProblem::Newer { found: 99, .. }
        ));
        assert!(err.to_string().contains("upgrade sauvegarde"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Reading is still possible, and says why it cannot be written.
        let ro = History::open_read_only(dir.path()).unwrap().unwrap();
        assert!(ro.write_problem().unwrap().contains("newer sauvegarde"));
    }

    #[test]
    fn a_corrupt_file_is_recognised_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"not a database, just text ...").unwrap();
        let err = History::open(dir.path()).err().expect("corrupt");
        assert!(err.is_corrupt(), "{err}");
        let aside = History::move_aside(dir.path()).unwrap();
        assert!(aside.to_string_lossy().contains(".corrupt-"));
        assert!(aside.exists());
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.list(None, 10).unwrap().len(), 0);
    }

    #[test]
    fn reading_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(History::open_read_only(dir.path()).unwrap().is_none());
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn a_history_file_whose_writer_has_not_laid_out_its_tables_reads_as_no_history() {
        let dir = tempfile::tempdir().unwrap();
        // What a starting daemon leaves for an instant: the file, WAL mode, no tables.
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        assert!(History::open_read_only(dir.path()).unwrap().is_none());
    }
}

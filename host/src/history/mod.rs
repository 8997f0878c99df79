//! The history database (SQLite in `state_dir`): a row per backup, per export attempt and
//! per connection test, with a schema version table for migrations.

mod connection_tests;
mod exports;

pub use connection_tests::ConnectionTestRow;
pub use exports::{ExportRow, ExportState};

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

/// A history database failure.
#[derive(Debug, thiserror::Error)]
#[error("history database {path}: {source}")]
pub struct HistoryError {
    /// The database file.
    pub path: PathBuf,
    /// The SQLite error.
    #[source]
    pub source: rusqlite::Error,
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
    /// Process that ran the backup.
    #[serde(skip)]
    pub pid: Option<i64>,
}

/// The open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

/// Now, RFC 3339 UTC with seconds.
pub fn now_text() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

impl History {
    /// Opens (creating if needed) `<state_dir>/history.sqlite`; `state_dir` must exist.
    pub fn open(state_dir: &Path) -> Result<Self, HistoryError> {
        let path = state_dir.join(FILE_NAME);
        let err = |source| HistoryError {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
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
        match version {
            Some(v) if v > SCHEMA_VERSION => {
                tracing::warn!(
                    database = %path.display(),
                    "history schema version {v} is newer than this program's ({SCHEMA_VERSION})"
                );
            }
            Some(1) => exports::migrate_from_v1(&tx).map_err(err)?,
            _ => {}
        }
        tx.execute_batch(exports::SCHEMA).map_err(err)?;
        if version.is_none_or(|v| v < SCHEMA_VERSION) {
            tx.execute_batch(&format!(
                "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION});"
            ))
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(History { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError {
            path: self.path.clone(),
            source,
        }
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
        let sql = format!(
            "SELECT id, job, file_name, path, started, finished, state, size, sha256, message, pid FROM backups {tail}"
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
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
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
}

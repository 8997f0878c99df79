//! Restore rows: one per `restore` and per `verify --restore` (the test restore into a
//! scratch database), with the time it took and the archive's size — the time to recover,
//! measured whenever a restore runs. Drills have their own rows ([`super::drills`]). The
//! table is created when missing whatever the schema version; a history opened read-only
//! that predates it reads as "no restore yet".

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{History, HistoryError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS restores (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL CHECK (kind IN ('restore', 'verify')),
    backup_id INTEGER,
    database  TEXT NOT NULL,
    archive   TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT NOT NULL,
    seconds   REAL NOT NULL,
    bytes     INTEGER,
    jobs      INTEGER,
    ok        INTEGER NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS restores_backup ON restores (backup_id);
";

/// Creates the `restores` table when missing.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// One restore of an archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreRow {
    /// Row id.
    pub id: i64,
    /// `restore` or `verify` (a test restore into a scratch database).
    pub kind: String,
    /// The backup row of the archive, when the history knows it.
    pub backup_id: Option<i64>,
    /// The database restored into.
    pub database: String,
    /// The archive's path.
    pub archive: String,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC.
    pub finished: String,
    /// How long it took: the time to recover.
    pub seconds: f64,
    /// Size of the archive.
    pub bytes: Option<u64>,
    /// Connections that loaded the database.
    pub jobs: Option<u64>,
    /// Whether it succeeded.
    pub ok: bool,
    /// What happened (secrets masked).
    pub message: String,
}

/// A restore to record (the row without its id and end, which is now).
#[derive(Debug, Clone)]
pub struct NewRestore<'a> {
    /// `restore` or `verify`.
    pub kind: &'a str,
    /// The backup row of the archive.
    pub backup_id: Option<i64>,
    /// The database restored into.
    pub database: &'a str,
    /// The archive's path.
    pub archive: &'a str,
    /// Start, RFC 3339 UTC.
    pub started: &'a str,
    /// Seconds it took.
    pub seconds: f64,
    /// Size of the archive.
    pub bytes: Option<u64>,
    /// Connections used.
    pub jobs: usize,
    /// Whether it succeeded.
    pub ok: bool,
    /// What happened; scrubbed before it is stored.
    pub message: &'a str,
}

const COLUMNS: &str =
    "id, kind, backup_id, database, archive, started, finished, seconds, bytes, jobs, ok, message";

impl History {
    /// Records a finished restore (ending now); returns its row id.
    pub fn record_restore(&self, r: &NewRestore<'_>) -> Result<i64, HistoryError> {
        let message = crate::redact::scrub(r.message);
        self.conn
            .execute(
                &format!(
                    "INSERT INTO restores ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    COLUMNS.trim_start_matches("id, ")
                ),
                params![
                    r.kind,
                    r.backup_id,
                    r.database,
                    r.archive,
                    r.started,
                    super::now_text(),
                    r.seconds,
                    r.bytes.map(|b| b as i64),
                    r.jobs as i64,
                    r.ok,
                    message.as_ref(),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The restores of the backup row `backup_id`, oldest first.
    pub fn restores_of_backup(&self, backup_id: i64) -> Result<Vec<RestoreRow>, HistoryError> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'restores'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM restores WHERE backup_id = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![backup_id], |r| {
                Ok(RestoreRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    backup_id: r.get(2)?,
                    database: r.get(3)?,
                    archive: r.get(4)?,
                    started: r.get(5)?,
                    finished: r.get(6)?,
                    seconds: r.get(7)?,
                    bytes: r.get::<_, Option<i64>>(8)?.map(|b| b as u64),
                    jobs: r.get::<_, Option<i64>>(9)?.map(|j| j as u64),
                    ok: r.get(10)?,
                    message: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_are_kept_with_their_time_under_their_backup() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let row = |kind, backup_id, ok| NewRestore {
            kind,
            backup_id,
            database: "copy",
            archive: "/b/x.zip",
            started: "2026-12-01T00:00:00Z",
            seconds: 61.5,
            bytes: Some(1 << 20),
            jobs: 2,
            ok,
            message: "restored",
        };
        h.record_restore(&row("restore", Some(3), true)).unwrap();
        h.record_restore(&row("verify", Some(3), false)).unwrap();
        h.record_restore(&row("restore", None, true)).unwrap();
        let rows = h.restores_of_backup(3).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].kind.as_str(),
                rows[0].seconds,
                rows[0].jobs,
                rows[1].ok
            ),
            ("restore", 61.5, Some(2), false)
        );
        // A history from before the table reads as none, read-only.
        drop(h);
        {
            let c = Connection::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            c.execute_batch("DROP TABLE restores").unwrap();
        }
        let ro = History::open_read_only(dir.path()).unwrap().unwrap();
        assert_eq!(ro.restores_of_backup(3).unwrap(), []);
    }
}

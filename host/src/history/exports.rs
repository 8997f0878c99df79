//! Export rows: one per upload attempt of an archive to a destination, plus the `deleted`
//! mark remote retention leaves on them.

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{now_text, History, HistoryError};

/// The `exports` table (schema version 2).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS exports (
    id          INTEGER PRIMARY KEY,
    backup_id   INTEGER REFERENCES backups (id),
    job         TEXT NOT NULL,
    destination TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'deleted')),
    remote_name TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    message     TEXT,
    started     TEXT NOT NULL,
    updated     TEXT,
    bytes       INTEGER,
    pid         INTEGER
);
CREATE INDEX IF NOT EXISTS exports_backup ON exports (backup_id);
CREATE INDEX IF NOT EXISTS exports_job_destination ON exports (job, destination, state);
";

/// Version 1 had one row per export (an `attempts` counter) and no job column.
pub(super) fn migrate_from_v1(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("ALTER TABLE exports RENAME TO exports_v1;")?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(
        "INSERT INTO exports (id, backup_id, job, destination, state, remote_name, attempt, message, started, updated)
         SELECT e.id, e.backup_id, b.job, e.destination, e.state, coalesce(e.remote_name, b.file_name),
                max(e.attempts, 1), e.message, coalesce(e.updated, b.started), e.updated
         FROM exports_v1 e JOIN backups b ON b.id = e.backup_id;
         DROP TABLE exports_v1;",
    )
}

/// State of an export row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportState {
    /// Waiting for its turn.
    Pending,
    /// Uploading.
    Running,
    /// Uploaded: the remote file is complete under its name.
    Done,
    /// This attempt failed; the message says why.
    Failed,
    /// Uploaded, later removed by remote retention.
    Deleted,
}

impl ExportState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportState::Pending => "pending",
            ExportState::Running => "running",
            ExportState::Done => "done",
            ExportState::Failed => "failed",
            ExportState::Deleted => "deleted",
        }
    }

    pub(super) fn parse(s: &str) -> Self {
        match s {
            "pending" => ExportState::Pending,
            "running" => ExportState::Running,
            "done" => ExportState::Done,
            "deleted" => ExportState::Deleted,
            _ => ExportState::Failed,
        }
    }
}

/// One upload attempt.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRow {
    /// Row id.
    pub id: i64,
    /// The backup row of the archive, when the archive is one of ours.
    pub backup_id: Option<i64>,
    /// Job id.
    pub job: String,
    /// Destination name.
    pub destination: String,
    /// State.
    pub state: ExportState,
    /// File name on the destination.
    pub remote_name: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Failure message, secrets masked.
    pub message: Option<String>,
    /// Start of the attempt, RFC 3339 UTC.
    pub started: String,
    /// Last change, RFC 3339 UTC.
    pub updated: Option<String>,
    /// Bytes uploaded, when done.
    pub bytes: Option<u64>,
}

impl History {
    /// Records the start of upload attempt `attempt`; returns its row id.
    pub fn start_export_attempt(
        &self,
        backup_id: Option<i64>,
        job: &str,
        destination: &str,
        remote_name: &str,
        attempt: u32,
    ) -> Result<i64, HistoryError> {
        let now = now_text();
        self.conn
            .execute(
                "INSERT INTO exports (backup_id, job, destination, state, remote_name, attempt, started, updated, pid)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?6, ?7)",
                params![backup_id, job, destination, remote_name, attempt, now, std::process::id()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends an attempt: `Ok(bytes)` when the file is on the destination (a note recorded
    /// during the attempt stays), `Err(message)` (already scrubbed of secrets) otherwise.
    pub fn finish_export_attempt(
        &self,
        id: i64,
        result: Result<u64, &str>,
    ) -> Result<(), HistoryError> {
        let (state, bytes, message) = match result {
            Ok(bytes) => ("done", Some(bytes as i64), None),
            Err(m) => ("failed", None, Some(m)),
        };
        self.conn
            .execute(
                "UPDATE exports SET state = ?2, bytes = ?3, message = coalesce(?4, message), updated = ?5 WHERE id = ?1",
                params![id, state, bytes, message, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks the uploads of `remote_name` to `destination` as deleted (remote retention).
    pub fn mark_export_deleted(
        &self,
        job: &str,
        destination: &str,
        remote_name: &str,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE exports SET state = 'deleted', updated = ?4
                 WHERE job = ?1 AND destination = ?2 AND remote_name = ?3 AND state = 'done'",
                params![job, destination, remote_name, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The remote name of the archive of `database` most recently uploaded by `job` to
    /// `destination` that is still there (by upload order, never by the time in its name:
    /// the clock may have been wrong). An upload's database is its backup row's, or, for an
    /// upload without one (claimed with `prune --adopt`, a row older than the column), the
    /// one its name gives. Rows of other databases are left out in SQL, so none of them
    /// hides this database's.
    pub fn newest_export(
        &self,
        job: &str,
        destination: &str,
        database: &str,
    ) -> Result<Option<String>, HistoryError> {
        let column = if self.has_database {
            "b.database"
        } else {
            "NULL"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT e.remote_name, {column} FROM exports e LEFT JOIN backups b ON b.id = e.backup_id \
                 WHERE e.job = ?1 AND e.destination = ?2 AND e.state = 'done' \
                 AND ({column} = ?3 OR {column} IS NULL) ORDER BY e.id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![job, destination, database], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (name, recorded) = row.map_err(|e| self.err(e))?;
            if recorded.is_some() || crate::naming::database_of(&name) == Some(database) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// The size recorded when `job` uploaded `remote_name` to `destination` (its latest
    /// `done` attempt), or `None` when this job never did (from this host's history).
    pub fn uploaded_size(
        &self,
        job: &str,
        destination: &str,
        remote_name: &str,
    ) -> Result<Option<Option<u64>>, HistoryError> {
        let rows = self.query_exports(
            "WHERE job = ?1 AND destination = ?2 AND remote_name = ?3 AND state = 'done' ORDER BY id DESC LIMIT 1",
            params![job, destination, remote_name],
        )?;
        Ok(rows.into_iter().next().map(|r| r.bytes))
    }

    /// The other job that uploaded `remote_name` to a destination of the same name, if any.
    pub fn uploader_of(
        &self,
        destination: &str,
        remote_name: &str,
    ) -> Result<Option<String>, HistoryError> {
        let rows = self.query_exports(
            "WHERE destination = ?1 AND remote_name = ?2 AND state = 'done' ORDER BY id DESC LIMIT 1",
            params![destination, remote_name],
        )?;
        Ok(rows.into_iter().next().map(|r| r.job))
    }

    /// Records a remote file the admin claimed for `job` (`prune --adopt`) as a done upload.
    pub fn adopt_export(
        &self,
        job: &str,
        destination: &str,
        remote_name: &str,
        bytes: u64,
    ) -> Result<(), HistoryError> {
        let now = now_text();
        self.conn
            .execute(
                "INSERT INTO exports (backup_id, job, destination, state, remote_name, attempt, message, started, updated, bytes)
                 VALUES (NULL, ?1, ?2, 'done', ?3, 1, 'adopted with prune --adopt', ?4, ?4, ?5)",
                params![job, destination, remote_name, now, bytes as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Gives `from`'s `done` uploads of `remote_name` to `destination` to job `to` (`prune
    /// --adopt --from-job`: the job was renamed). Returns how many rows changed.
    pub fn reassign_export(
        &self,
        from: &str,
        to: &str,
        destination: &str,
        remote_name: &str,
    ) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "UPDATE exports SET job = ?2 WHERE job = ?1 AND destination = ?3 AND remote_name = ?4 AND state = 'done'",
                params![from, to, destination, remote_name],
            )
            .map_err(|e| self.err(e))
    }

    /// Every attempt to export the backup `backup_id`, oldest first.
    pub fn exports_of_backup(&self, backup_id: i64) -> Result<Vec<ExportRow>, HistoryError> {
        self.query_exports("WHERE backup_id = ?1 ORDER BY id", params![backup_id])
    }

    /// Latest attempts first, optionally of one job.
    pub fn list_exports(
        &self,
        job: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ExportRow>, HistoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match job {
            Some(j) => self.query_exports(
                "WHERE job = ?1 ORDER BY id DESC LIMIT ?2",
                params![j, limit],
            ),
            None => self.query_exports("ORDER BY id DESC LIMIT ?1", params![limit]),
        }
    }

    /// Marks the `running` attempts of `job` failed: the process that ran them died (the
    /// caller knows, from the job's lock). Returns how many.
    pub fn fail_running_exports(&self, job: &str, message: &str) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "UPDATE exports SET state = 'failed', message = ?2, updated = ?3 WHERE job = ?1 AND state = 'running'",
                params![job, message, now_text()],
            )
            .map_err(|e| self.err(e))
    }

    /// Jobs with `running` attempts.
    pub fn jobs_with_running_exports(&self) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT job FROM exports WHERE state = 'running'")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|e| self.err(e))
    }

    fn query_exports(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<ExportRow>, HistoryError> {
        let sql = format!(
            "SELECT id, backup_id, job, destination, state, remote_name, attempt, message, started, updated, bytes FROM exports {tail}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(ExportRow {
                    id: r.get(0)?,
                    backup_id: r.get(1)?,
                    job: r.get(2)?,
                    destination: r.get(3)?,
                    state: ExportState::parse(&r.get::<_, String>(4)?),
                    remote_name: r.get(5)?,
                    attempt: r.get(6)?,
                    message: r.get(7)?,
                    started: r.get(8)?,
                    updated: r.get(9)?,
                    bytes: r.get::<_, Option<i64>>(10)?.map(|b| b as u64),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn attempts_are_rows_and_retention_marks_them() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let b = h
            .start_backup(
                "prod",
                "prod_1.zip",
                Path::new("/b/prod_1.zip"),
                "2024-01-01T00:00:00Z",
            )
            .unwrap();
        h.set_database(b, "prod").unwrap();
        let a1 = h
            .start_export_attempt(Some(b), "prod", "off", "prod_1.zip", 1)
            .unwrap();
        h.finish_export_attempt(a1, Err("connection refused"))
            .unwrap();
        let a2 = h
            .start_export_attempt(Some(b), "prod", "off", "prod_1.zip", 2)
            .unwrap();
        assert_eq!(h.newest_export("prod", "off", "prod").unwrap(), None);
        h.finish_export_attempt(a2, Ok(42)).unwrap();
        let rows = h.exports_of_backup(b).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].state, rows[0].attempt), (ExportState::Failed, 1));
        assert_eq!(rows[0].message.as_deref(), Some("connection refused"));
        assert_eq!(
            (rows[1].state, rows[1].bytes),
            (ExportState::Done, Some(42))
        );
        assert_eq!(
            h.newest_export("prod", "off", "prod").unwrap().as_deref(),
            Some("prod_1.zip")
        );
        h.mark_export_deleted("prod", "off", "prod_1.zip").unwrap();
        assert_eq!(h.newest_export("prod", "off", "prod").unwrap(), None);
        assert_eq!(
            h.exports_of_backup(b).unwrap()[1].state,
            ExportState::Deleted
        );
    }

    #[test]
    fn the_newest_export_is_of_the_database_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let upload = |db: Option<&str>, name: &str| {
            let backup = db.map(|db| {
                let id = h
                    .start_backup(
                        "j",
                        name,
                        &Path::new("/b").join(name),
                        "2024-01-01T00:00:00Z",
                    )
                    .unwrap();
                h.set_database(id, db).unwrap();
                id
            });
            let a = h.start_export_attempt(backup, "j", "off", name, 1).unwrap();
            h.finish_export_attempt(a, Ok(1)).unwrap();
        };
        upload(Some("shop"), "shop_2024-01-01_00-00-00.zip");
        // Claimed with prune --adopt: no backup row; the name tells.
        upload(None, "shop_eu_2024-01-02_00-00-00.zip");
        for i in 0..50 {
            upload(
                Some("shop_eu"),
                &format!("shop_eu_2024-02-{:02}_00-00-00.zip", 1 + i % 28),
            );
        }
        upload(Some("gamma"), "gamma_2024-03-01_00-00-00.zip");
        let newest = |db| h.newest_export("j", "off", db).unwrap();
        assert_eq!(
            newest("shop").as_deref(),
            Some("shop_2024-01-01_00-00-00.zip")
        );
        assert_eq!(
            newest("gamma").as_deref(),
            Some("gamma_2024-03-01_00-00-00.zip")
        );
        assert_eq!(
            newest("shop_eu").as_deref(),
            Some("shop_eu_2024-02-22_00-00-00.zip")
        );
        assert_eq!(newest("absent"), None);
        assert_eq!(h.newest_export("other", "off", "shop").unwrap(), None);
        upload(None, "shop_2024-05-01_00-00-00.zip");
        assert_eq!(
            newest("shop").as_deref(),
            Some("shop_2024-05-01_00-00-00.zip")
        );
        assert_eq!(
            newest("shop_eu").as_deref(),
            Some("shop_eu_2024-02-22_00-00-00.zip")
        );
    }

    #[test]
    fn running_attempts_of_a_dead_process_are_failed() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.start_export_attempt(None, "prod", "off", "prod_1.zip", 1)
            .unwrap();
        h.start_export_attempt(None, "other", "off", "other_1.zip", 1)
            .unwrap();
        assert_eq!(h.jobs_with_running_exports().unwrap().len(), 2);
        assert_eq!(h.fail_running_exports("prod", "interrupted").unwrap(), 1);
        assert_eq!(
            h.jobs_with_running_exports().unwrap(),
            vec!["other".to_string()]
        );
        let row = &h.list_exports(Some("prod"), 10).unwrap()[0];
        assert_eq!(
            (row.state, row.message.as_deref()),
            (ExportState::Failed, Some("interrupted"))
        );
    }

    #[test]
    fn a_version_1_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (1);
                 CREATE TABLE backups (id INTEGER PRIMARY KEY, job TEXT NOT NULL, file_name TEXT NOT NULL,
                   path TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, state TEXT NOT NULL,
                   size INTEGER, sha256 TEXT, message TEXT, pid INTEGER);
                 CREATE TABLE exports (id INTEGER PRIMARY KEY, backup_id INTEGER NOT NULL REFERENCES backups (id),
                   destination TEXT NOT NULL, state TEXT NOT NULL, remote_name TEXT,
                   attempts INTEGER NOT NULL DEFAULT 0, message TEXT, updated TEXT);
                 INSERT INTO backups (id, job, file_name, path, started, state) VALUES (1, 'prod', 'p.zip', '/b/p.zip', '2024-01-01T00:00:00Z', 'done');
                 INSERT INTO exports (backup_id, destination, state, remote_name, attempts, updated) VALUES (1, 'off', 'done', 'p.zip', 2, '2024-01-01T00:01:00Z');",
            )
            .unwrap();
        }
        let h = History::open(dir.path()).unwrap();
        assert_eq!(
            h.schema_version().unwrap(),
            Some(super::super::SCHEMA_VERSION)
        );
        let rows = h.exports_of_backup(1).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].job.as_str(), rows[0].attempt), ("prod", 2));
        assert_eq!(
            h.list_exports(Some("prod"), 1).unwrap()[0].remote_name,
            "p.zip"
        );
        // A new-style row can be added without a backup.
        h.start_export_attempt(None, "prod", "off", "q.zip", 1)
            .unwrap();
    }
}

//! Restore drill rows: one per drilled archive, with its result and its time to recover
//! (seconds, archive bytes, connections). The `drills` table is created when missing
//! whatever the schema version (like `backups.database`), and its time columns added
//! when missing (a guarded migration); a history opened read-only that predates them
//! reads as "no drill yet" or "no time recorded".

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{History, HistoryError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS drills (
    id        INTEGER PRIMARY KEY,
    job       TEXT NOT NULL,
    database  TEXT NOT NULL,
    backup_id INTEGER,
    archive   TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT NOT NULL,
    ok        INTEGER NOT NULL,
    tables    INTEGER,
    rows      INTEGER,
    message   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_job_started ON drills (job, started);
";

/// Columns added after the table: the time to recover.
const TIME_COLUMNS: [(&str, &str); 3] = [
    ("seconds", "REAL"),
    ("bytes", "INTEGER"),
    ("jobs", "INTEGER"),
];

/// Creates the `drills` table when missing, and its time columns.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    for (column, kind) in TIME_COLUMNS {
        if !super::databases::has_column(conn, "drills", column)? {
            conn.execute_batch(&format!("ALTER TABLE drills ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Whether `conn` has the `drills` table.
pub(super) fn has_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'drills'",
        [],
        |r| r.get(0),
    )
}

/// One restore drill of one archive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRow {
    /// Row id.
    pub id: i64,
    /// Job id.
    pub job: String,
    /// The database whose archive was drilled.
    pub database: String,
    /// The backup row of the archive.
    pub backup_id: Option<i64>,
    /// The archive's path.
    pub archive: String,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// End, RFC 3339 UTC.
    pub finished: String,
    /// Whether the archive was restored with every row of its dump.
    pub ok: bool,
    /// Tables restored.
    pub tables: Option<u64>,
    /// Rows restored.
    pub rows: Option<u64>,
    /// What happened (secrets masked).
    pub message: String,
    /// How long the drill took (verification, restore, counts): the time to recover.
    pub seconds: Option<f64>,
    /// Size of the archive drilled.
    pub bytes: Option<u64>,
    /// Connections that loaded the scratch database.
    pub jobs: Option<u64>,
}

impl DrillRow {
    /// `ok: N tables, M rows restored`, or `FAILED: why`.
    pub fn summary(&self) -> String {
        let time = self
            .seconds
            .map(|s| format!(" in {}", crate::restore::recovery::duration_text(s)))
            .unwrap_or_default();
        match (self.ok, self.tables, self.rows) {
            (true, Some(t), Some(r)) => format!("ok: {t} tables, {r} rows restored{time}"),
            (true, _, _) => format!("ok{time}"),
            (false, _, _) => format!("FAILED{time}: {}", self.message),
        }
    }
}

/// A drill's result to record (the row without its id).
#[derive(Debug, Clone)]
pub struct NewDrill<'a> {
    /// Job id.
    pub job: &'a str,
    /// Database.
    pub database: &'a str,
    /// The backup row of the archive.
    pub backup_id: Option<i64>,
    /// The archive's path.
    pub archive: &'a str,
    /// Start, RFC 3339 UTC.
    pub started: &'a str,
    /// Whether it succeeded.
    pub ok: bool,
    /// Tables restored.
    pub tables: Option<u64>,
    /// Rows restored.
    pub rows: Option<u64>,
    /// What happened; scrubbed before it is stored.
    pub message: &'a str,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Size of the archive.
    pub bytes: Option<u64>,
    /// Connections used.
    pub jobs: usize,
}

const COLUMNS: &str =
    "id, job, database, backup_id, archive, started, finished, ok, tables, rows, message";
/// The time columns, or NULLs in a read-only history from before them.
const TIMES: &str = "seconds, bytes, jobs";
const NO_TIMES: &str = "NULL, NULL, NULL";

impl History {
    /// Records a finished drill (ending now); returns its row id.
    pub fn record_drill(&self, drill: &NewDrill<'_>) -> Result<i64, HistoryError> {
        let message = crate::redact::scrub(drill.message);
        self.conn
            .execute(
                "INSERT INTO drills (job, database, backup_id, archive, started, finished, ok, tables, rows, message, seconds, bytes, jobs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    drill.job,
                    drill.database,
                    drill.backup_id,
                    drill.archive,
                    drill.started,
                    super::now_text(),
                    drill.ok,
                    drill.tables.map(|t| t as i64),
                    drill.rows.map(|r| r as i64),
                    message.as_ref(),
                    drill.seconds,
                    drill.bytes.map(|b| b as i64),
                    drill.jobs as i64,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The latest drill of each database of `job` (every job when `None`), by job and
    /// database.
    pub fn last_drills(&self, job: Option<&str>) -> Result<Vec<DrillRow>, HistoryError> {
        self.drills(
            "WHERE id IN (SELECT max(id) FROM drills WHERE ?1 IS NULL OR job = ?1 GROUP BY job, database) \
             ORDER BY job, database",
            params![job],
        )
    }

    /// The latest successful drill of each database of every job.
    pub fn last_good_drills(&self) -> Result<Vec<DrillRow>, HistoryError> {
        self.drills(
            "WHERE id IN (SELECT max(id) FROM drills WHERE ok GROUP BY job, database) \
             ORDER BY job, database",
            [],
        )
    }

    /// The drills of the backup row `backup_id`, oldest first.
    pub fn drills_of_backup(&self, backup_id: i64) -> Result<Vec<DrillRow>, HistoryError> {
        self.drills("WHERE backup_id = ?1 ORDER BY id", params![backup_id])
    }

    fn drills(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<DrillRow>, HistoryError> {
        if !self.has_drills {
            return Ok(Vec::new());
        }
        let times = match super::databases::has_column(&self.conn, "drills", "seconds") {
            Ok(true) => TIMES,
            _ => NO_TIMES,
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS}, {times} FROM drills {tail}"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(DrillRow {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    database: r.get(2)?,
                    backup_id: r.get(3)?,
                    archive: r.get(4)?,
                    started: r.get(5)?,
                    finished: r.get(6)?,
                    ok: r.get(7)?,
                    tables: r.get::<_, Option<i64>>(8)?.map(|t| t as u64),
                    rows: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
                    message: r.get(10)?,
                    seconds: r.get(11)?,
                    bytes: r.get::<_, Option<i64>>(12)?.map(|b| b as u64),
                    jobs: r.get::<_, Option<i64>>(13)?.map(|j| j as u64),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill<'a>(job: &'a str, database: &'a str, ok: bool, message: &'a str) -> NewDrill<'a> {
        NewDrill {
            job,
            database,
            backup_id: Some(7),
            archive: "/b/x.zip",
            started: "2026-12-01T00:00:00Z",
            ok,
            tables: ok.then_some(3),
            rows: ok.then_some(42),
            message,
            seconds: 12.5,
            bytes: Some(4096),
            jobs: 2,
        }
    }

    #[test]
    fn the_latest_drill_per_database_and_the_latest_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.record_drill(&drill("j", "a", true, "ok")).unwrap();
        h.record_drill(&drill("j", "a", false, "lost rows"))
            .unwrap();
        h.record_drill(&drill("j", "b", true, "ok")).unwrap();
        h.record_drill(&drill("k", "a", true, "ok")).unwrap();
        let last: Vec<_> = h
            .last_drills(Some("j"))
            .unwrap()
            .into_iter()
            .map(|d| (d.database, d.ok, d.message))
            .collect();
        assert_eq!(
            last,
            [
                ("a".to_string(), false, "lost rows".to_string()),
                ("b".to_string(), true, "ok".to_string())
            ]
        );
        assert_eq!(h.last_drills(None).unwrap().len(), 3);
        let good: Vec<_> = h
            .last_good_drills()
            .unwrap()
            .into_iter()
            .map(|d| (d.job, d.database, d.id))
            .collect();
        assert_eq!(
            good,
            [
                ("j".to_string(), "a".to_string(), 1),
                ("j".to_string(), "b".to_string(), 3),
                ("k".to_string(), "a".to_string(), 4)
            ]
        );
        assert_eq!(h.drills_of_backup(7).unwrap().len(), 4);
        assert_eq!(h.drills_of_backup(8).unwrap().len(), 0);
    }

    #[test]
    fn a_history_from_before_drills_gains_the_table_and_reads_as_none_read_only() {
        let dir = tempfile::tempdir().unwrap();
        drop(History::open(dir.path()).unwrap());
        {
            let c = Connection::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            c.execute_batch("DROP TABLE drills").unwrap();
        }
        let ro = History::open_read_only(dir.path()).unwrap().unwrap();
        assert_eq!(ro.last_drills(None).unwrap(), []);
        drop(ro);
        let h = History::open(dir.path()).unwrap();
        h.record_drill(&drill("j", "a", true, "ok")).unwrap();
        assert_eq!(h.last_drills(None).unwrap().len(), 1);
    }

    #[test]
    fn drills_keep_their_time_to_recover_and_an_older_table_gains_the_columns() {
        let dir = tempfile::tempdir().unwrap();
        drop(History::open(dir.path()).unwrap());
        {
            let c = Connection::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            c.execute_batch(
                "DROP TABLE drills; CREATE TABLE drills (id INTEGER PRIMARY KEY, job TEXT NOT NULL, \
                 database TEXT NOT NULL, backup_id INTEGER, archive TEXT NOT NULL, started TEXT NOT NULL, \
                 finished TEXT NOT NULL, ok INTEGER NOT NULL, tables INTEGER, rows INTEGER, message TEXT NOT NULL); \
                 INSERT INTO drills (job, database, archive, started, finished, ok, message) \
                 VALUES ('j', 'a', '/b/x.zip', 't', 't', 1, 'ok')",
            )
            .unwrap();
        }
        // Read-only, the old table reads without times.
        let ro = History::open_read_only(dir.path()).unwrap().unwrap();
        assert_eq!(ro.last_drills(None).unwrap()[0].seconds, None);
        drop(ro);
        let h = History::open(dir.path()).unwrap();
        h.record_drill(&drill("j", "b", true, "ok")).unwrap();
        let rows = h.last_drills(None).unwrap();
        assert_eq!(rows[0].seconds, None);
        assert_eq!(
            (rows[1].seconds, rows[1].bytes, rows[1].jobs),
            (Some(12.5), Some(4096), Some(2))
        );
        assert_eq!(
            rows[1].summary(),
            "ok: 3 tables, 42 rows restored in 12.5 s"
        );
    }

    #[test]
    fn a_secret_in_the_message_is_masked() {
        crate::redact::register("drill-secret-5c1");
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.record_drill(&drill("j", "a", false, "psql: password drill-secret-5c1"))
            .unwrap();
        let row = &h.last_drills(None).unwrap()[0];
        assert!(!row.message.contains("drill-secret-5c1"), "{}", row.message);
    }
}

//! The database of each backup row (a job may back up many): the `backups.database`
//! column, added by a guarded migration (`ALTER TABLE … ADD COLUMN` when missing, whatever
//! the schema version: other additions may come in any order), and the queries per job
//! and database. Rows written before the column existed have none; for them the archive
//! name tells, parsed exactly ([`crate::naming::parse_archive_name`]: `a` never matches
//! an archive of `a_b`).

use rusqlite::{params, Connection};

use super::{BackupRow, History, HistoryError};
use crate::config::ArchiveFormat;
use crate::naming::parse_archive_name;

/// Whether `table` of `conn` has `column`.
pub(super) fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Adds `backups.database` when missing.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    if !has_column(conn, "backups", "database")? {
        conn.execute_batch("ALTER TABLE backups ADD COLUMN database TEXT")?;
    }
    Ok(())
}

/// `LIKE` pattern of the archive names of `database`: `<database>_%`, with the `%`, `_`
/// and `\` of its name escaped.
fn name_prefix(database: &str) -> String {
    let mut pattern = String::new();
    for c in database.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("\\_%");
    pattern
}

impl History {
    /// Records which database the backup row `id` is of.
    pub fn set_database(&self, id: i64, database: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE backups SET database = ?2 WHERE id = ?1",
                params![id, database],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a backup of `database` that failed before any archive name was claimed
    /// (its database could not be examined, not enough free space): a `failed` row with
    /// no file, so `history` and `jobs` show it with the others.
    pub fn record_failure(
        &self,
        job: &str,
        database: &str,
        started: &str,
        message: &str,
    ) -> Result<i64, HistoryError> {
        let id = self.start_backup(job, "", std::path::Path::new(""), started)?;
        self.set_database(id, database)?;
        self.fail_backup(id, message)?;
        Ok(id)
    }

    /// Whether `row` is a backup of `database` (its recorded database, else its name).
    pub fn row_is_of(row: &BackupRow, database: &str, format: ArchiveFormat) -> bool {
        match &row.database {
            Some(d) => d == database,
            None => parse_archive_name(&row.file_name, database, format).is_some(),
        }
    }

    /// The newest complete archive of `job`'s `database` (`done` or since `deleted`).
    pub fn last_good_of(
        &self,
        job: &str,
        database: &str,
        format: ArchiveFormat,
    ) -> Result<Option<BackupRow>, HistoryError> {
        self.newest_of(job, database, format, "('done', 'deleted')")
    }

    /// The newest archive of `job`'s `database` that is still on disk (`done`).
    pub fn newest_kept_of(
        &self,
        job: &str,
        database: &str,
        format: ArchiveFormat,
    ) -> Result<Option<BackupRow>, HistoryError> {
        self.newest_of(job, database, format, "('done')")
    }

    /// The newest of `job`'s rows in `states` of `database`: the database is chosen in SQL
    /// (the column, or for rows older than it a name starting `<database>_`), then each
    /// row read is checked exactly, newest first, until one matches — no number of rows of
    /// other databases can hide it.
    fn newest_of(
        &self,
        job: &str,
        database: &str,
        format: ArchiveFormat,
        states: &str,
    ) -> Result<Option<BackupRow>, HistoryError> {
        let column = self.database_column();
        self.first_row(
            &format!(
                "WHERE job = ?1 AND state IN {states} AND size IS NOT NULL \
                 AND ({column} = ?2 OR ({column} IS NULL AND file_name LIKE ?3 ESCAPE '\\')) \
                 ORDER BY started DESC, id DESC"
            ),
            params![job, database, name_prefix(database)],
            |r| History::row_is_of(r, database, format),
        )
    }

    /// The latest row of each database `job`'s rows record, by database name.
    pub fn last_per_database(&self, job: &str) -> Result<Vec<BackupRow>, HistoryError> {
        if !self.has_database {
            return Ok(Vec::new());
        }
        self.query(
            "WHERE id IN (SELECT max(id) FROM backups WHERE job = ?1 AND database IS NOT NULL \
             GROUP BY database) ORDER BY database",
            params![job],
        )
    }

    /// The databases `job`'s rows record, by name.
    pub fn databases_of(&self, job: &str) -> Result<Vec<String>, HistoryError> {
        if !self.has_database {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT database FROM backups WHERE job = ?1 AND database IS NOT NULL ORDER BY database",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![job], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_last_archive_of_a_database_is_never_one_of_a_longer_named_database() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let row = |db: &str, name: &str, at: &str, size: u64, record: bool| {
            let id = h
                .start_backup("j", name, &Path::new("/b").join(name), at)
                .unwrap();
            h.finish_backup(id, size, "x").unwrap();
            if record {
                h.set_database(id, db).unwrap();
            }
            id
        };
        let a = row(
            "a",
            "a_2024-01-01_00-00-00.zip",
            "2024-01-01T00:00:00Z",
            10,
            true,
        );
        let _ab = row(
            "a_b",
            "a_b_2024-01-02_00-00-00.zip",
            "2024-01-02T00:00:00Z",
            99,
            true,
        );
        let last = h
            .last_good_of("j", "a", ArchiveFormat::Zip)
            .unwrap()
            .unwrap();
        assert_eq!((last.id, last.size), (a, Some(10)));
        // A row from before the column: its name decides, exactly.
        let old = row(
            "a",
            "a_2024-01-03_00-00-00.zip",
            "2024-01-03T00:00:00Z",
            20,
            false,
        );
        row(
            "a_b",
            "a_b_2024-01-04_00-00-00.zip",
            "2024-01-04T00:00:00Z",
            77,
            false,
        );
        let last = h
            .last_good_of("j", "a", ArchiveFormat::Zip)
            .unwrap()
            .unwrap();
        assert_eq!(last.id, old);
        assert_eq!(h.databases_of("j").unwrap(), vec!["a", "a_b"]);
    }

    #[test]
    fn the_last_archive_of_a_database_is_found_behind_any_number_of_other_databases_rows() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let row = |db: &str, at: &str, record: bool| {
            let name = crate::naming::archive_name(db, at.parse().unwrap(), ArchiveFormat::Zip);
            let id = h
                .start_backup("j", &name, &Path::new("/b").join(&name), at)
                .unwrap();
            h.finish_backup(id, 1, "x").unwrap();
            if record {
                h.set_database(id, db).unwrap();
            }
            id
        };
        let quiet = row("quiet", "2024-01-01T00:00:00Z", true);
        let legacy = row("legacy", "2024-01-01T00:00:00Z", false);
        // 700 newer archives of other databases (more than any fixed window), some with
        // names that share the prefix (`quiet_x`, `legacy_x`) and no recorded database.
        h.conn.execute_batch("BEGIN").unwrap();
        for i in 0..700 {
            let at = format!(
                "2024-02-{:02}T{:02}:{:02}:00Z",
                1 + i % 28,
                i / 60 % 24,
                i % 60
            );
            row(&format!("db{i}"), &at, true);
            row("quiet_x", &at, i % 2 == 0);
            row("legacy_x", &at, false);
        }
        h.conn.execute_batch("COMMIT").unwrap();
        let found = |db| {
            h.last_good_of("j", db, ArchiveFormat::Zip)
                .unwrap()
                .map(|r| r.id)
        };
        assert_eq!(found("quiet"), Some(quiet));
        assert_eq!(found("legacy"), Some(legacy));
        assert_eq!(found("absent"), None);
        // A database name holding LIKE's wildcards matches only itself.
        assert_eq!(found("qu_et"), None);
        assert_eq!(found("%"), None);
    }

    #[test]
    fn an_old_history_gains_the_database_column_once() {
        let dir = tempfile::tempdir().unwrap();
        drop(History::open(dir.path()).unwrap());
        {
            let c = Connection::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            c.execute_batch("ALTER TABLE backups DROP COLUMN database")
                .unwrap();
            assert!(!has_column(&c, "backups", "database").unwrap());
        }
        let h = History::open(dir.path()).unwrap();
        assert!(h.has_database);
        drop(h);
        assert!(History::open(dir.path()).unwrap().has_database);
    }
}

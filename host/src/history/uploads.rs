//! What the history knows of an upload's remote names beyond the archive's own: the
//! temporary name it was started under (`exports.temp_name`, recorded before the upload
//! starts, so that a file of that name left behind can later be proven this host's and
//! removed), and the final name when another host had taken the archive's (a name with
//! this host's tag, recorded in `exports.remote_name` with a note). The column is added by
//! a guarded migration, as `backups.database` is.

use rusqlite::{params, Connection, OptionalExtension};

use super::databases::has_column;
use super::{now_text, ExportState, History, HistoryError};

/// Adds `exports.temp_name` when missing.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    if !has_column(conn, "exports", "temp_name")? {
        conn.execute_batch("ALTER TABLE exports ADD COLUMN temp_name TEXT")?;
    }
    Ok(())
}

impl History {
    /// Records that upload attempt `id` writes its temporary file as `temp_name`; call it
    /// before the upload starts.
    pub fn set_export_temp_name(&self, id: i64, temp_name: &str) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE exports SET temp_name = ?2, updated = ?3 WHERE id = ?1",
                params![id, temp_name, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records that upload attempt `id` stores the archive as `remote_name` instead of the
    /// name it started with, and why (`note`, kept when the attempt succeeds).
    pub fn set_export_remote_name(
        &self,
        id: i64,
        remote_name: &str,
        note: &str,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE exports SET remote_name = ?2, message = ?3, updated = ?4 WHERE id = ?1",
                params![id, remote_name, note, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The state of the upload attempt of `job` to `destination` that was started under
    /// the temporary name `temp_name` by this host, `None` when this history never started
    /// one (another host's, another tool's, or an older version's temporary file).
    pub fn temp_name_state(
        &self,
        job: &str,
        destination: &str,
        temp_name: &str,
    ) -> Result<Option<ExportState>, HistoryError> {
        if !has_column(&self.conn, "exports", "temp_name").map_err(|e| self.err(e))? {
            return Ok(None);
        }
        let state: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM exports WHERE job = ?1 AND destination = ?2 AND temp_name = ?3
                 ORDER BY id DESC LIMIT 1",
                params![job, destination, temp_name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(state.map(|s| ExportState::parse(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_name_is_known_from_the_start_of_its_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let temp = "shop_2026-12-04_02-30-00.zip.1a2b3c4d-7.partial";
        assert_eq!(h.temp_name_state("j", "off", temp).unwrap(), None);
        let id = h
            .start_export_attempt(None, "j", "off", "shop_2026-12-04_02-30-00.zip", 1)
            .unwrap();
        h.set_export_temp_name(id, temp).unwrap();
        assert_eq!(
            h.temp_name_state("j", "off", temp).unwrap(),
            Some(ExportState::Running)
        );
        // Another job, another destination: not theirs.
        assert_eq!(h.temp_name_state("k", "off", temp).unwrap(), None);
        assert_eq!(h.temp_name_state("j", "other", temp).unwrap(), None);
        h.finish_export_attempt(id, Err("connection lost")).unwrap();
        assert_eq!(
            h.temp_name_state("j", "off", temp).unwrap(),
            Some(ExportState::Failed)
        );
    }

    #[test]
    fn a_tagged_name_is_recorded_with_its_note() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let id = h
            .start_export_attempt(None, "j", "off", "shop_2026-12-04_02-30-00.zip", 1)
            .unwrap();
        let tagged = "shop_2026-12-04_02-30-00.1a2b3c4d.zip";
        h.set_export_remote_name(id, tagged, "name taken").unwrap();
        h.finish_export_attempt(id, Ok(10)).unwrap();
        let row = &h.list_exports(Some("j"), 1).unwrap()[0];
        assert_eq!(
            (row.remote_name.as_str(), row.message.as_deref()),
            (tagged, Some("name taken"))
        );
        assert_eq!(h.uploaded_size("j", "off", tagged).unwrap(), Some(Some(10)));
        assert_eq!(
            h.uploaded_size("j", "off", "shop_2026-12-04_02-30-00.zip")
                .unwrap(),
            None
        );
    }
}

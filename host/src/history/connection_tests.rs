//! Connection test rows: the result of `test <job> [dest]` per destination.

use rusqlite::params;
use serde::Serialize;

use super::{now_text, History, HistoryError};

/// The result of one connection test.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionTestRow {
    /// Job id.
    pub job: String,
    /// Destination name.
    pub destination: String,
    /// Whether the destination answered as configured.
    pub ok: bool,
    /// The plugin's message, or the error (secrets masked).
    pub message: Option<String>,
    /// When, RFC 3339 UTC.
    pub time: String,
}

impl History {
    /// Stores a connection test result (the message must already be scrubbed).
    pub fn record_connection_test(
        &self,
        job: &str,
        destination: &str,
        ok: bool,
        message: &str,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO connection_tests (job, destination, ok, message, time) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![job, destination, ok, message, now_text()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest test of each destination of `job`, by destination name.
    pub fn last_connection_tests(&self, job: &str) -> Result<Vec<ConnectionTestRow>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT job, destination, ok, message, time FROM connection_tests
                 WHERE id IN (SELECT max(id) FROM connection_tests WHERE job = ?1 GROUP BY destination)
                 ORDER BY destination",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![job], |r| {
                Ok(ConnectionTestRow {
                    job: r.get(0)?,
                    destination: r.get(1)?,
                    ok: r.get(2)?,
                    message: r.get(3)?,
                    time: r.get(4)?,
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
    fn latest_result_per_destination() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.record_connection_test("prod", "b", false, "refused")
            .unwrap();
        h.record_connection_test("prod", "b", true, "SSH-2.0")
            .unwrap();
        h.record_connection_test("prod", "a", false, "auth")
            .unwrap();
        h.record_connection_test("other", "a", true, "ok").unwrap();
        let rows = h.last_connection_tests("prod").unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.destination.as_str(), r.ok, r.message.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![("a", false, Some("auth")), ("b", true, Some("SSH-2.0"))]
        );
    }
}

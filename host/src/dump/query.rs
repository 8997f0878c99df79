//! Catalogue queries for the manifest, run through `psql` with the job's connection:
//! server version, installed Odoo modules, per-table row counts, pg_dump's version.

use std::collections::BTreeMap;
use std::path::Path;

use super::{watch, Connection};
use crate::cancel::CancelFlag;

/// A query that failed or was cancelled.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// psql could not run, failed, or answered something unexpected.
    #[error("{what}: {message}")]
    Failed {
        /// What was asked.
        what: String,
        /// psql's error output or the I/O error (secrets masked).
        message: String,
    },
    /// The backup was cancelled while (or before) the query ran; psql was stopped.
    #[error("{what}: interrupted")]
    Cancelled {
        /// What was asked.
        what: String,
    },
}

impl QueryError {
    fn failed(what: &str, message: impl Into<String>) -> Self {
        QueryError::Failed {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Facts about the database recorded in the manifest.
#[derive(Debug, Clone)]
pub struct DatabaseInfo {
    /// `server_version_num`, e.g. 150004.
    pub server_version_num: u32,
    /// Installed modules and their `latest_version`, when the database is an Odoo one.
    pub modules: Option<BTreeMap<String, String>>,
    /// Rows per table (`schema.table`), counted just before the dump.
    pub tables: BTreeMap<String, u64>,
}

/// Runs one query and returns its unaligned, tuples-only output.
pub fn run(psql: &Path, conn: &Connection, what: &str, sql: &str) -> Result<String, QueryError> {
    run_cancellable(psql, conn, what, sql, &CancelFlag::new())
}

/// [`run`], stopping psql when `cancel` is raised ([`QueryError::Cancelled`]).
pub fn run_cancellable(
    psql: &Path,
    conn: &Connection,
    what: &str,
    sql: &str,
    cancel: &CancelFlag,
) -> Result<String, QueryError> {
    let mut command = crate::child_env::command(psql);
    command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    // Removed when this function returns, whatever the outcome.
    let _passfile = conn.apply(&mut command).map_err(|e| {
        QueryError::failed(
            what,
            format!("cannot write the password file for psql: {e}"),
        )
    })?;
    let out = watch::output(&mut command, cancel)
        .map_err(|e| QueryError::failed(what, format!("cannot run {}: {e}", psql.display())))?
        .ok_or_else(|| QueryError::Cancelled { what: what.into() })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(QueryError::failed(
            what,
            crate::redact::scrub(err.trim()).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

const IS_ODOO_SQL: &str = "SELECT to_regclass('ir_module_module') IS NOT NULL";

const MODULES_SQL: &str =
    "SELECT coalesce(json_object_agg(name, coalesce(latest_version, '') ORDER BY name), '{}') \
     FROM ir_module_module WHERE state = 'installed'";

const TABLES_SQL: &str = "SELECT coalesce(json_object_agg(t.n, t.c ORDER BY t.n), '{}') FROM (\
     SELECT format('%s.%s', table_schema, table_name) AS n, \
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
          table_schema, table_name), false, true, '')))[1]::text::bigint AS c \
     FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
       AND table_schema NOT IN ('pg_catalog', 'information_schema')) t";

impl DatabaseInfo {
    /// Reads the server version, the Odoo modules (if any) and the row counts, stopping
    /// psql when `cancel` is raised (counting the rows of a large database takes a while).
    pub fn read_cancellable(
        psql: &Path,
        conn: &Connection,
        cancel: &CancelFlag,
    ) -> Result<Self, QueryError> {
        let run = |what: &str, sql: &str| run_cancellable(psql, conn, what, sql, cancel);
        let version = run("reading the server version", "SHOW server_version_num")?;
        let server_version_num = version.parse().map_err(|_| {
            QueryError::failed(
                "reading the server version",
                format!("unexpected answer {version:?}"),
            )
        })?;
        let is_odoo = run("looking for ir_module_module", IS_ODOO_SQL)? == "t";
        let modules = if is_odoo {
            let modules = run("reading ir_module_module", MODULES_SQL)?;
            Some(parse_json(&modules, "reading ir_module_module")?)
        } else {
            None
        };
        let tables = run("counting table rows", TABLES_SQL)?;
        let tables = parse_json(&tables, "counting table rows")?;
        Ok(DatabaseInfo {
            server_version_num,
            modules,
            tables,
        })
    }

    /// Odoo's `pg_version`: `"%d.%d" % divmod(server_version_num / 100, 100)`.
    pub fn pg_version(&self) -> String {
        let v = self.server_version_num / 100;
        format!("{}.{}", v / 100, v % 100)
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, QueryError> {
    serde_json::from_str(text)
        .map_err(|e| QueryError::failed(what, format!("unexpected answer: {e}")))
}

/// `pg_dump --version`, e.g. `pg_dump (PostgreSQL) 15.14`; `Ok(None)` when it cannot be
/// told. The configured pg_dump may be a wrapper script, so this is stopped like pg_dump
/// itself when `cancel` is raised ([`QueryError::Cancelled`]).
pub fn pg_dump_version(pg_dump: &Path, cancel: &CancelFlag) -> Result<Option<String>, QueryError> {
    const WHAT: &str = "asking pg_dump its version";
    let out = match watch::output(crate::child_env::command(pg_dump).arg("--version"), cancel) {
        Ok(Some(out)) => out,
        Ok(None) => return Err(QueryError::Cancelled { what: WHAT.into() }),
        Err(e) => {
            tracing::warn!(pg_dump = %pg_dump.display(), "cannot run pg_dump --version: {e}");
            return Ok(None);
        }
    };
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_pg_version() {
        let info = DatabaseInfo {
            server_version_num: 150004,
            modules: None,
            tables: BTreeMap::new(),
        };
        assert_eq!(info.pg_version(), "15.0");
        let info = DatabaseInfo {
            server_version_num: 90624,
            ..info
        };
        assert_eq!(info.pg_version(), "9.6");
    }
}

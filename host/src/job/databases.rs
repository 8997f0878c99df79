//! Which databases one run of a job backs up: the configured name or list, or, for
//! `database = "*"`, every Odoo database the connection can see, found at each run the
//! way Odoo's own database list finds them (no templates, no `datallowconn = false`, not
//! `postgres`, and a table `ir_module_module`), minus the `exclude` globs. A database of
//! the list that cannot be connected to (`REVOKE CONNECT`, a wrong password for it) is
//! not skipped in silence: it is a failed database of the run. So is a database whose name
//! is no safe file name ([`crate::naming::check_database_name`]: `../../x`, `.`, a `/` or
//! a control character): its archive and its filestore would be named after it, so it is
//! refused before anything is read or written for it.

use super::{backup_dir, BackupError};
use crate::cancel::CancelFlag;
use crate::config::databases::without_excluded;
use crate::config::Config;
use crate::config::JobConfig;
use crate::dump::query::{self, QueryError};
use crate::dump::{Connection, PgTools};
use crate::history::History;
use crate::naming::{check_database_name, UnsafeDatabaseName};
use crate::odoo_conf::OdooConf;

/// The maintenance database the listing connects to, as Odoo's `list_dbs` does.
const MAINTENANCE_DB: &str = "postgres";

/// Candidates of `"*"`: every database one may connect to in principle, ordered by name.
const LIST_SQL: &str = "SELECT datname FROM pg_database \
     WHERE NOT datistemplate AND datallowconn AND datname <> 'postgres' ORDER BY datname";

const IS_ODOO_SQL: &str = "SELECT to_regclass('ir_module_module') IS NOT NULL";

/// One database of a run, before its backup.
#[derive(Debug)]
pub enum Target {
    /// To back up.
    Ready(String),
    /// Listed, but it could not be examined: the run records it as failed.
    Unreachable {
        /// The database.
        database: String,
        /// Why (secrets masked).
        reason: String,
    },
    /// Its name is no safe file name: the run records it as failed.
    UnsafeName {
        /// The database.
        database: String,
        /// What is wrong with the name.
        reason: UnsafeDatabaseName,
    },
}

impl Target {
    /// The database name.
    pub fn database(&self) -> &str {
        match self {
            Target::Ready(d)
            | Target::Unreachable { database: d, .. }
            | Target::UnsafeName { database: d, .. } => d,
        }
    }
}

/// The databases of this run of `job_id`, in order.
pub fn resolve(
    job_id: &str,
    job: &JobConfig,
    odoo: Option<&OdooConf>,
    cancel: &CancelFlag,
) -> Result<Vec<Target>, BackupError> {
    if let Some(names) = job.database.fixed() {
        // Checked by the configuration already; checked here too, as every name is.
        return Ok(without_excluded(names, &job.exclude)
            .into_iter()
            .map(|name| match check_database_name(&name) {
                Ok(()) => Target::Ready(name),
                Err(reason) => unsafe_name(job_id, name, reason),
            })
            .collect());
    }
    let tools = PgTools::discover(job.pg_dump.as_deref())
        .ok_or_else(|| BackupError::NoPgDump { job: job_id.into() })?;
    let base = Connection::for_job(job, odoo);
    let on = |database: &str| {
        let mut conn = base.clone();
        conn.database = database.to_string();
        conn
    };
    let query_err = |source| match source {
        QueryError::Cancelled { .. } => BackupError::Cancelled { job: job_id.into() },
        source => BackupError::Query {
            job: job_id.into(),
            source,
        },
    };
    let listed = query::run_cancellable(
        &tools.psql,
        &on(MAINTENANCE_DB),
        "listing the databases (database = \"*\")",
        LIST_SQL,
        cancel,
    )
    .map_err(query_err)?;
    let names: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut targets = Vec::new();
    for name in without_excluded(names, &job.exclude) {
        if let Err(reason) = check_database_name(&name) {
            // Not even connected to: nothing of it is read or written.
            targets.push(unsafe_name(job_id, name, reason));
            continue;
        }
        let what = format!("examining database `{name}`");
        match query::run_cancellable(&tools.psql, &on(&name), &what, IS_ODOO_SQL, cancel) {
            Ok(answer) if answer.trim() == "t" => targets.push(Target::Ready(name)),
            Ok(_) => {
                tracing::debug!(
                    job = job_id,
                    database = name,
                    "not an Odoo database, skipped"
                );
            }
            Err(QueryError::Cancelled { .. }) => {
                return Err(BackupError::Cancelled { job: job_id.into() })
            }
            Err(e) => {
                tracing::error!(
                    job = job_id,
                    database = name,
                    "cannot examine database: {e}"
                );
                targets.push(Target::Unreachable {
                    database: name,
                    reason: e.to_string(),
                });
            }
        }
    }
    tracing::info!(
        job = job_id,
        databases = %targets.iter().map(Target::database).collect::<Vec<_>>().join(", "),
        "databases found (database = \"*\")"
    );
    Ok(targets)
}

/// A database refused for its name, said in the log.
fn unsafe_name(job_id: &str, database: String, reason: UnsafeDatabaseName) -> Target {
    tracing::error!(
        job = job_id,
        database = ?database,
        "database not backed up: its name is no safe file name ({reason})"
    );
    Target::UnsafeName { database, reason }
}

/// The databases whose archives `prune` and the re-adoption after a history loss look at
/// for a job of many databases: the configured ones, those its history rows record, and,
/// for `"*"`, those named by archive-shaped files of its backup directory (ownership is
/// still proven file by file); minus `exclude`. No connection to PostgreSQL is needed.
pub fn known(config: &Config, job_id: &str, history: &History) -> Vec<String> {
    let Some(job) = config.jobs.get(job_id) else {
        return Vec::new();
    };
    let mut names = job.database.fixed().unwrap_or_default();
    names.extend(history.databases_of(job_id).unwrap_or_default());
    if job.database.fixed().is_none() {
        names.extend(in_dir(&backup_dir(config, job), job.format));
    }
    names.retain(|n| check_database_name(n).is_ok());
    names.sort();
    names.dedup();
    without_excluded(names, &job.exclude)
}

/// The databases a run of `job_id` would back up, known without connecting: the listed
/// ones, or for `"*"` those its history rows record; minus `exclude`.
pub fn known_without_listing(config: &Config, job_id: &str, history: &History) -> Vec<String> {
    let Some(job) = config.jobs.get(job_id) else {
        return Vec::new();
    };
    let names = match job.database.fixed() {
        Some(names) => names,
        None => history.databases_of(job_id).unwrap_or_default(),
    };
    without_excluded(names, &job.exclude)
}

/// Database names of the archive-shaped files (`<db>_<YYYY-MM-DD_HH-MM-SS>.<ext>`) in `dir`.
fn in_dir(dir: &std::path::Path, format: crate::config::ArchiveFormat) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|name| {
            crate::naming::parse(&name)
                .filter(|n| n.format == format)
                .map(|n| n.database.to_string())
        })
        .collect()
}

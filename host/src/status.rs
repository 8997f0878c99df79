//! What `jobs --json` and `history --json` say, and the status page shows: the jobs with
//! their last results and next runs, and the backups with what happened to each, built
//! from the configuration and the history. Read-only; prints nothing.

use serde::Serialize;

use crate::config::Config;
use crate::daemon::records::NextError;
use crate::history::{
    BackupRow, ConnectionTestRow, DrillRow, ExportRow, History, HistoryError, RestoreRow,
};
use crate::schedule::Next;

/// One line of `jobs`.
#[derive(Debug, Serialize)]
pub struct JobLine {
    /// Job id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Database.
    pub database: String,
    /// Active flag.
    pub active: bool,
    /// `every N unit`, or `manual`.
    pub schedule: String,
    /// The latest backup, if any.
    pub last: Option<BackupRow>,
    /// Next backup (RFC 3339), `now` when due, `null` when manual or inactive.
    pub next: Option<String>,
    /// For a job of many databases (a list or `"*"`), the latest backup of each database
    /// the history knows; empty for a job of one database.
    pub databases: Vec<BackupRow>,
    /// The latest connection test of each destination (`test <job>`).
    pub tests: Vec<ConnectionTestRow>,
    /// The latest restore drill of each database (`drill`).
    pub drills: Vec<DrillRow>,
    /// Next restore drill (RFC 3339), `now` when due, `null` without `drill`, for an
    /// inactive job or before the first archive.
    pub next_drill: Option<String>,
    /// Why the history could not be read, when it could not (then `last` and `tests` are
    /// empty and `next` is computed without it).
    pub history_unavailable: Option<String>,
}

/// Every configured job with its last results and next runs. The history is opened
/// read-only (no lock, nothing written); a history that cannot be read is said in each
/// line's `history_unavailable`, not an error.
pub fn job_lines(config: &Config) -> Result<Vec<JobLine>, NextError> {
    // Read-only: no lock, nothing written, and a broken history is reported, not fatal.
    let (history, mut unavailable) = match History::open_read_only(&config.state_dir) {
        Ok(h) => {
            let problem = h.as_ref().and_then(History::write_problem);
            (h, problem)
        }
        Err(e) => (
            None,
            Some(crate::redact::scrub(&e.to_string()).into_owned()),
        ),
    };
    let mut lines = Vec::new();
    for (id, job) in &config.jobs {
        let read = history.as_ref().map(|h| {
            h.last_of(id).and_then(|(last, _)| {
                Ok((last, h.last_connection_tests(id)?, h.last_drills(Some(id))?))
            })
        });
        let (last, tests, drills) = match read {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                unavailable = Some(crate::redact::scrub(&e.to_string()).into_owned());
                (None, Vec::new(), Vec::new())
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let databases = match (&history, job.database.fixed()) {
            (_, Some(d)) if d.len() == 1 => Vec::new(),
            (Some(h), _) => h.last_per_database(id).unwrap_or_default(),
            (None, _) => Vec::new(),
        };
        // The same function the daemon schedules with.
        let now = jiff::Timestamp::now();
        let usable = history.as_ref();
        let next = crate::daemon::records::next_for(
            config,
            usable,
            None,
            id,
            &crate::schedule::Rules::system(),
        )?
        .next;
        let when = |next: Next| match next {
            Next::Now => Some("now".to_string()),
            Next::At(t) if t <= now => Some("now".to_string()),
            Next::At(t) => Some(t.to_string()),
            Next::Manual | Next::Inactive => None,
        };
        let next = when(next);
        let next_drill = crate::daemon::records::next_drill(
            config,
            usable,
            None,
            id,
            &crate::schedule::Rules::system(),
        )
        .unwrap_or_default()
        .and_then(when);
        let schedule = match &job.schedule {
            Some(s) => format!(
                "every {} {:?}{}",
                s.every,
                s.unit,
                s.at.as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default()
            )
            .to_lowercase(),
            None => "manual".into(),
        };
        lines.push(JobLine {
            id: id.clone(),
            name: job.display_name(id).to_string(),
            database: job.database.to_string(),
            active: job.active,
            schedule,
            last,
            next,
            databases,
            tests,
            drills,
            next_drill,
            history_unavailable: None,
        });
    }
    for l in &mut lines {
        l.history_unavailable.clone_from(&unavailable);
    }
    Ok(lines)
}

/// A backup with its export attempts, restore drills and restores (the JSON of
/// `history --json`: the backup's keys plus `exports`, `drills` and `restores`).
#[derive(Debug, Serialize)]
pub struct HistoryLine {
    /// The backup.
    #[serde(flatten)]
    pub backup: BackupRow,
    /// Its export attempts.
    pub exports: Vec<ExportRow>,
    /// Its restore drills.
    pub drills: Vec<DrillRow>,
    /// Its restores.
    pub restores: Vec<RestoreRow>,
}

/// The latest `limit` backups (of `job` only, when given), newest first, each with what
/// happened to it since.
pub fn history_lines(
    history: &History,
    job: Option<&str>,
    limit: usize,
) -> Result<Vec<HistoryLine>, HistoryError> {
    history
        .list(job, limit)?
        .into_iter()
        .map(|backup| history_line(history, backup))
        .collect()
}

/// `backup` with its export attempts, restore drills and restores.
pub fn history_line(history: &History, backup: BackupRow) -> Result<HistoryLine, HistoryError> {
    Ok(HistoryLine {
        exports: history.exports_of_backup(backup.id)?,
        drills: history.drills_of_backup(backup.id)?,
        restores: history.restores_of_backup(backup.id)?,
        backup,
    })
}

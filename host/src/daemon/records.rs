//! Adapter from the history database to the schedule's [`JobRecord`], and the next
//! backup time of a configured job (shared by the daemon and, later, `jobs`).

use jiff::Timestamp;

use crate::config::Config;
use crate::history::{BackupState, History, HistoryError};
use crate::schedule::{next_backup, JobRecord, Next, Rules, ScheduleError};

/// How many recent rows are read to count consecutive failures; more failures than this
/// already give the longest backoff.
const LOOKBACK: usize = 64;

/// Latest success, latest failure after it and the number of failures since, from the
/// job's history rows (`running` rows are ignored; `deleted` archives were successes).
pub fn record_of(history: &History, job: &str) -> Result<JobRecord, HistoryError> {
    let mut record = JobRecord::default();
    for row in history.list(Some(job), LOOKBACK)? {
        let started = row.started.parse::<Timestamp>().ok();
        match row.state {
            BackupState::Running => {}
            BackupState::Done | BackupState::Deleted => {
                record.last_success = started;
                break;
            }
            BackupState::Failed => {
                if record.last_failure.is_none() {
                    record.last_failure = started;
                }
                record.failures += 1;
            }
        }
    }
    Ok(record)
}

/// When `job_id` of `config` runs next, from its history (none yet when `history` is None).
pub fn next_for(
    config: &Config,
    history: Option<&History>,
    job_id: &str,
    rules: &Rules,
) -> Result<Next, NextError> {
    let Some(job) = config.jobs.get(job_id) else {
        return Ok(Next::Manual);
    };
    let record = match history {
        Some(h) => record_of(h, job_id)?,
        None => JobRecord::default(),
    };
    Ok(next_backup(
        job.schedule.as_ref(),
        job.active,
        &record,
        rules,
    )?)
}

/// Why the next backup time is unknown.
#[derive(Debug, thiserror::Error)]
pub enum NextError {
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The schedule is invalid.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn failures_since_the_last_success_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::open(dir.path()).expect("history");
        let add = |started: &str, ok: Option<bool>| {
            let id = h
                .start_backup("j", "f", Path::new("/x/f"), started)
                .expect("start");
            match ok {
                Some(true) => h.finish_backup(id, 1, "00").expect("finish"),
                Some(false) => h.fail_backup(id, "boom").expect("fail"),
                None => {}
            }
        };
        assert_eq!(record_of(&h, "j").expect("record"), JobRecord::default());
        add("2026-01-01T00:00:00Z", Some(false));
        add("2026-01-02T00:00:00Z", Some(true));
        add("2026-01-03T00:00:00Z", Some(false));
        add("2026-01-04T00:00:00Z", Some(false));
        add("2026-01-05T00:00:00Z", None);
        let r = record_of(&h, "j").expect("record");
        assert_eq!(
            r.last_success,
            Some("2026-01-02T00:00:00Z".parse().expect("ts"))
        );
        assert_eq!(
            r.last_failure,
            Some("2026-01-04T00:00:00Z".parse().expect("ts"))
        );
        assert_eq!(r.failures, 2);
    }
}

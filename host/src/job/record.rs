//! The history as the engine uses it: a record, never a gate.
//!
//! - A corrupt database is moved aside (`history.sqlite.corrupt-<UTC time>`), a new one is
//!   created and re-populated from the archives' manifests; a warning is logged and a
//!   failure notification sent.
//! - A database that cannot be opened or written at all (read-only, full disk, locked,
//!   written by a newer version) leaves the history *unavailable*: the backup still runs and
//!   writes its archive, but retention is skipped, since nothing is deleted without proof of
//!   ownership. The reason is kept for `jobs`, the log and systemd's status.

use crate::config::Config;
use crate::history::{History, HistoryError};
use crate::notify::{self, Event};

/// The history of one run: open, or unavailable with the reason.
pub struct JobHistory {
    history: Option<History>,
    unavailable: Option<String>,
}

impl JobHistory {
    /// Opens the history for a run that writes. `job` names the job the run is for (its
    /// notification settings apply to a corrupt-history notice).
    pub fn open(config: &Config, job: Option<&str>) -> Self {
        if let Err(e) = std::fs::create_dir_all(&config.state_dir) {
            return Self::unavailable_because(format!(
                "cannot create state_dir {}: {e}",
                config.state_dir.display()
            ));
        }
        match History::open(&config.state_dir) {
            Ok(h) => JobHistory {
                history: Some(h),
                unavailable: None,
            },
            Err(e) if e.is_corrupt() => Self::replace_corrupt(config, job, e),
            Err(e) => Self::unavailable_because(e.to_string()),
        }
    }

    fn unavailable_because(reason: String) -> Self {
        let reason = crate::redact::scrub(&reason).into_owned();
        tracing::warn!("history unavailable: {reason}; backups go on, retention waits");
        JobHistory {
            history: None,
            unavailable: Some(reason),
        }
    }

    fn replace_corrupt(config: &Config, job: Option<&str>, error: HistoryError) -> Self {
        let moved = match History::move_aside(&config.state_dir) {
            Ok(p) => p,
            Err(m) => return Self::unavailable_because(format!("{error}; {m}")),
        };
        let fresh = match History::open(&config.state_dir) {
            Ok(h) => h,
            Err(e) => return Self::unavailable_because(format!("{error}; {e}")),
        };
        let adopted = super::adopt::adopt_everything(config, &fresh);
        let message = format!(
            "{error}: it was moved aside to {} and a new history started; {adopted} archive(s) \
             re-adopted from their manifests",
            moved.display()
        );
        tracing::warn!("{message}");
        let event = Event::history_problem(config, job.unwrap_or(""), &message);
        notify::send(notify::settings_for(config, job.unwrap_or("")), &event);
        JobHistory {
            history: Some(fresh),
            unavailable: None,
        }
    }

    /// The open history, `None` when unavailable.
    pub fn get(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// Why the history is unavailable, if it is.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// Runs a write; a failure is logged and makes the history unavailable for the rest of
    /// the run (so retention is skipped). `None` when unavailable or failed.
    pub fn write<T>(&mut self, f: impl FnOnce(&History) -> Result<T, HistoryError>) -> Option<T> {
        let h = self.history.as_ref()?;
        match f(h) {
            Ok(v) => Some(v),
            Err(e) => {
                let reason = crate::redact::scrub(&e.to_string()).into_owned();
                tracing::error!("history unavailable: {reason}; backups go on, retention waits");
                self.history = None;
                self.unavailable = Some(reason);
                None
            }
        }
    }

    /// Records a backup of `job`'s `database` that failed with `error` before it had a row
    /// (no archive name claimed yet), dated `started`, so `history`, `jobs` and the metrics
    /// show the failure. The message is masked.
    pub fn record_failure(
        &mut self,
        job: &str,
        database: &str,
        started: jiff::Timestamp,
        error: &super::BackupError,
    ) {
        let message = crate::redact::scrub(&error.to_string()).into_owned();
        let at = started.round(jiff::Unit::Second).unwrap_or(started);
        self.write(|h| h.record_failure(job, database, &at.to_string(), &message));
    }
}

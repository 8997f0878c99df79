//! The events the engine notifies: a backup's result, a restore drill's, and a history
//! database problem.

use jiff::Timestamp;

use super::event::{host_name, DestinationState, Event, EventState};
use crate::config::Config;
use crate::job::{BackupError, BackupOutcome, JobRun};

impl Event {
    /// The notification events of one run of a job: one per database (each names its
    /// database), or one for a run that could not start.
    pub fn for_run(
        config: &Config,
        job_id: &str,
        started: Timestamp,
        duration_secs: f64,
        result: &Result<JobRun, BackupError>,
    ) -> Vec<Event> {
        match result {
            Ok(run) => run
                .databases
                .iter()
                .map(|d| {
                    let narrowed = config.for_database(job_id, &d.database);
                    Event::for_backup(&narrowed, job_id, d.started, d.duration_secs, &d.result)
                })
                .collect(),
            Err(e) => vec![Event::build(config, job_id, started, duration_secs, Err(e))],
        }
    }

    /// The notification event of one backup result.
    pub fn for_backup(
        config: &Config,
        job_id: &str,
        started: Timestamp,
        duration_secs: f64,
        result: &Result<BackupOutcome, BackupError>,
    ) -> Event {
        let result = result.as_ref().map_err(|e| e as &dyn std::fmt::Display);
        Event::build(config, job_id, started, duration_secs, result)
    }

    fn build(
        config: &Config,
        job_id: &str,
        started: Timestamp,
        duration_secs: f64,
        result: Result<&BackupOutcome, &dyn std::fmt::Display>,
    ) -> Event {
        let job = config.jobs.get(job_id);
        let (state, archive, size, sha256, message) = match result {
            Ok(o) if o.exports_ok() => (
                EventState::Success,
                Some(o.path.display().to_string()),
                Some(o.size),
                Some(o.sha256.clone()),
                format!(
                    "Backup of job `{job_id}` (database `{}`) written to {}.",
                    job.map(|j| j.database.to_string()).unwrap_or_default(),
                    o.path.display()
                ),
            ),
            Ok(o) => {
                let failed: Vec<&str> = o
                    .exports
                    .iter()
                    .filter(|d| !d.is_done())
                    .map(|d| d.destination.as_str())
                    .collect();
                (
                    EventState::Failure,
                    Some(o.path.display().to_string()),
                    Some(o.size),
                    Some(o.sha256.clone()),
                    format!(
                        "Backup of job `{job_id}` (database `{}`) written to {}, but its export to {} failed.",
                        job.map(|j| j.database.to_string()).unwrap_or_default(),
                        o.path.display(),
                        failed.join(", ")
                    ),
                )
            }
            Err(e) => (EventState::Failure, None, None, None, e.to_string()),
        };
        let destinations = match result {
            Ok(o) => o
                .exports
                .iter()
                .map(|d| DestinationState {
                    name: d.destination.clone(),
                    state: d.status.as_str().to_string(),
                    message: d.message.clone(),
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        // Local retention's warnings, and what a destination that received the archive
        // had to say (its retention's warnings, or that its retention failed).
        let warnings = match result {
            Ok(o) => o
                .warnings
                .iter()
                .cloned()
                .chain(o.exports.iter().filter(|d| d.is_done()).filter_map(|d| {
                    d.message
                        .as_ref()
                        .map(|m| format!("on {}: {m}", d.destination))
                }))
                .collect(),
            Err(_) => Vec::new(),
        };
        Event {
            event: "backup",
            job: job_id.to_string(),
            job_name: job_name(config, job_id),
            database: job.map(|j| j.database.to_string()).unwrap_or_default(),
            state,
            archive,
            size,
            sha256,
            started: started
                .round(jiff::Unit::Second)
                .unwrap_or(started)
                .to_string(),
            duration_secs,
            destinations,
            message,
            warnings,
            host: host_name(),
        }
        .scrubbed()
    }
}

impl Event {
    /// A problem with the history database that an admin must hear of (it was corrupt and
    /// moved aside): a failure event for `job` (empty when no job is concerned).
    pub fn history_problem(config: &Config, job: &str, message: &str) -> Event {
        let j = config.jobs.get(job);
        let now = Timestamp::now();
        Event {
            event: "history",
            job: job.to_string(),
            job_name: job_name(config, job),
            database: j.map(|j| j.database.to_string()).unwrap_or_default(),
            state: EventState::Failure,
            archive: None,
            size: None,
            sha256: None,
            started: now.round(jiff::Unit::Second).unwrap_or(now).to_string(),
            duration_secs: 0.0,
            destinations: Vec::new(),
            message: message.to_string(),
            warnings: Vec::new(),
            host: host_name(),
        }
        .scrubbed()
    }
}

impl Event {
    /// The result of a restore drill of one archive (`event` = `drill`).
    pub fn for_drill(config: &Config, job_id: &str, drill: &crate::drill::DrillOutcome) -> Event {
        Event {
            event: "drill",
            job: job_id.to_string(),
            job_name: job_name(config, job_id),
            database: drill.database.clone(),
            state: if drill.result.is_ok() {
                EventState::Success
            } else {
                EventState::Failure
            },
            archive: Some(drill.archive.display().to_string()),
            size: drill.backup.size,
            sha256: drill.backup.sha256.clone(),
            started: drill
                .started
                .round(jiff::Unit::Second)
                .unwrap_or(drill.started)
                .to_string(),
            duration_secs: drill.duration_secs,
            destinations: Vec::new(),
            message: drill.message(),
            warnings: Vec::new(),
            host: host_name(),
        }
        .scrubbed()
    }
}

/// The display name of `job_id` (its id when it has none, or is not configured).
fn job_name(config: &Config, job_id: &str) -> String {
    config
        .jobs
        .get(job_id)
        .map(|j| j.display_name(job_id).to_string())
        .unwrap_or_else(|| job_id.to_string())
}

//! Adapter from the history database to the schedule's [`JobRecord`], and the next
//! backup time of a configured job (shared by the daemon and, later, `jobs`).

use std::collections::HashMap;

use jiff::Timestamp;

use crate::config::Config;
use crate::history::{BackupState, History, HistoryError};
use crate::schedule::{next_backup, JobRecord, Next, Rules, ScheduleError};

/// How many recent rows are read to count consecutive failures; more failures than this
/// already give the longest backoff.
const LOOKBACK: usize = 64;

/// The job's record from its history rows (`running` rows are ignored; `deleted`
/// archives were successes). Read per database, so the order of a run's databases does
/// not matter: the latest success of any database; and, when some databases' latest
/// backups failed, the latest of those failures and the longest run of consecutive
/// failures among them (it drives the backoff).
pub fn record_of(history: &History, job: &str) -> Result<JobRecord, HistoryError> {
    let mut record = JobRecord::default();
    // Per database: whether a success was seen (its failure streak is over), and the
    // failures seen before it.
    let mut streaks: HashMap<String, (bool, u32)> = HashMap::new();
    for row in history.list(Some(job), LOOKBACK)? {
        let started = row.started.parse::<Timestamp>().ok();
        let database = row.database_name().unwrap_or_default().to_string();
        let (settled, failures) = streaks.entry(database).or_default();
        match row.state {
            BackupState::Running => {}
            BackupState::Done | BackupState::Deleted => {
                record.last_success = record.last_success.or(started);
                *settled = true;
            }
            BackupState::Failed if !*settled => {
                *failures += 1;
                record.last_failure = record.last_failure.max(started);
                record.failures = record.failures.max(*failures);
            }
            BackupState::Failed => {}
        }
    }
    Ok(record)
}

/// The later of two records of one job: the history's and the one a daemon keeps in memory
/// of its own runs (which goes on when the history cannot be written). A failure stands
/// until a run this daemon saw succeed whole after it (`memory.last_success`): the
/// history's own latest success may be another database's, from the run that failed.
pub fn merge(history: &JobRecord, memory: &JobRecord) -> JobRecord {
    let last_success = history.last_success.max(memory.last_success);
    let (last_failure, failures) = if memory.last_failure > history.last_failure {
        (memory.last_failure, memory.failures.max(history.failures))
    } else {
        (history.last_failure, history.failures)
    };
    // A whole run succeeded since: this daemon's own, or one the history shows clean
    // (a manual backup after a failure the history could not record).
    let settled = last_failure <= memory.last_success
        || (history.last_failure.is_none() && history.last_success > last_failure);
    if last_failure.is_some() && !settled {
        JobRecord {
            last_success,
            last_failure,
            failures,
        }
    } else {
        JobRecord {
            last_success,
            last_failure: None,
            failures: 0,
        }
    }
}

/// A record whose times lie in the future (the clock was set back since) is read as if
/// they were now, with a warning: a clock set back never stalls the schedule.
pub fn clamp_future(job: &str, mut record: JobRecord, now: Timestamp) -> JobRecord {
    for (what, t) in [
        ("last success", &mut record.last_success),
        ("last failure", &mut record.last_failure),
    ] {
        if let Some(at) = *t {
            if at > now {
                tracing::warn!(
                    job,
                    "the {what} ({at}) is in the future: taken as now (was the clock set back?)"
                );
                *t = Some(now);
            }
        }
    }
    record
}

/// When `job_id` of `config` runs next, and whether that run is a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// When it runs next.
    pub next: Next,
    /// It retries a run that failed for some databases only
    /// ([`crate::schedule::is_retry`]): it backs up only those that still need it.
    pub retry: bool,
}

/// When `job_id` of `config` runs next, from its history (none yet when `history` is None)
/// and what the caller remembers of its own runs (`memory`); and whether that is a retry.
pub fn next_for(
    config: &Config,
    history: Option<&History>,
    memory: Option<&JobRecord>,
    job_id: &str,
    rules: &Rules,
) -> Result<Due, NextError> {
    let Some(job) = config.jobs.get(job_id) else {
        return Ok(Due {
            next: Next::Manual,
            retry: false,
        });
    };
    let now = Timestamp::now();
    let record = match history {
        Some(h) => record_of(h, job_id)?,
        None => JobRecord::default(),
    };
    let record = match memory {
        Some(m) => merge(&record, m),
        None => record,
    };
    let record = clamp_future(job_id, record, now);
    let schedule = job.schedule.as_ref();
    Ok(Due {
        next: next_backup(schedule, job.active, &record, rules)?,
        retry: crate::schedule::is_retry(schedule, &record, rules, now),
    })
}

/// When `job_id`'s next restore drill is due: `None` for a job without `drill`, an
/// inactive one, or one with no archive yet. The interval counts from the latest drill the
/// history records or this daemon ran (`memory`), whatever its result: a failed drill is
/// notified, not retried at once.
pub fn next_drill(
    config: &Config,
    history: Option<&History>,
    memory: Option<Timestamp>,
    job_id: &str,
    rules: &Rules,
) -> Result<Option<Next>, HistoryError> {
    let Some(job) = config.jobs.get(job_id) else {
        return Ok(None);
    };
    let (Some(drill), true, Some(history)) = (&job.drill, job.active, history) else {
        return Ok(None);
    };
    if history.last_of(job_id)?.1.is_none() {
        return Ok(None);
    }
    let recorded = history
        .last_drills(Some(job_id))?
        .iter()
        .filter_map(|d| d.started.parse::<Timestamp>().ok())
        .max();
    let record = JobRecord {
        last_success: recorded.max(memory),
        ..JobRecord::default()
    };
    let record = clamp_future(job_id, record, Timestamp::now());
    Ok(next_backup(Some(&drill.schedule()), true, &record, rules).ok())
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

    #[test]
    fn a_database_that_failed_keeps_the_job_failing_whatever_the_order_of_the_run() {
        for (first, second) in [("a", "b"), ("b", "a")] {
            let dir = tempfile::tempdir().expect("tempdir");
            let h = History::open(dir.path()).expect("history");
            let add = |db: &str, started: &str, ok: bool| {
                let id = h
                    .start_backup("j", &format!("{db}_x.zip"), Path::new("/x"), started)
                    .expect("start");
                h.set_database(id, db).expect("database");
                if ok {
                    h.finish_backup(id, 1, "00").expect("finish");
                } else {
                    h.fail_backup(id, "boom").expect("fail");
                }
            };
            add("a", "2026-01-01T00:00:00Z", true);
            add("b", "2026-01-01T00:00:01Z", true);
            // Yesterday both succeeded; today `a` fails twice, `b` succeeds.
            add(first, "2026-01-02T00:00:00Z", first == "b");
            add(second, "2026-01-02T00:00:01Z", second == "b");
            add("a", "2026-01-02T00:05:00Z", false);
            let r = record_of(&h, "j").expect("record");
            let b_today = if first == "b" {
                "2026-01-02T00:00:00Z"
            } else {
                "2026-01-02T00:00:01Z"
            };
            assert_eq!(r.last_success, Some(ts(b_today)), "{first} then {second}");
            assert_eq!(r.last_failure, Some(ts("2026-01-02T00:05:00Z")));
            assert_eq!(r.failures, 2, "{first} then {second}");
            // `a` succeeds: nothing fails any more.
            add("a", "2026-01-02T00:15:00Z", true);
            let r = record_of(&h, "j").expect("record");
            assert_eq!((r.last_failure, r.failures), (None, 0));
        }
    }

    #[test]
    fn a_failure_stands_until_a_whole_run_succeeds_after_it() {
        // The history: one database failed after another succeeded in the same run.
        let partial = JobRecord {
            last_success: Some(ts("2026-01-02T00:00:01Z")),
            last_failure: Some(ts("2026-01-02T00:00:00Z")),
            failures: 1,
        };
        let ran = |at: &str, ok: bool| JobRecord {
            last_success: ok.then(|| ts(at)),
            last_failure: (!ok).then(|| ts(at)),
            failures: u32::from(!ok),
        };
        // This daemon's run failed: the failure stands.
        let m = merge(&partial, &ran("2026-01-01T23:59:59Z", false));
        assert_eq!(m.failures, 1);
        // A later whole success of this daemon settles it.
        let m = merge(&partial, &ran("2026-01-02T00:05:00Z", true));
        assert_eq!((m.last_failure, m.failures), (None, 0));
        // A failure the history could not record, then a clean manual backup it shows.
        let manual = JobRecord {
            last_success: Some(ts("2026-01-02T01:00:00Z")),
            ..JobRecord::default()
        };
        let m = merge(&manual, &ran("2026-01-02T00:00:00Z", false));
        assert_eq!((m.last_failure, m.failures), (None, 0));
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn drill_config(drill: &str) -> Config {
        let text = format!("state_dir = \"/nonexistent\"\n[jobs.j]\ndatabase = \"d\"\n{drill}\n");
        let config: Config = figment::Figment::new()
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&text))
            .extract()
            .expect("config");
        config
    }

    #[test]
    fn a_drill_is_due_once_there_is_an_archive_then_an_interval_after_the_last_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::open(dir.path()).expect("history");
        let rules = Rules::system();
        let config = drill_config("drill = { every = 1, unit = \"days\" }");
        // No archive: nothing to drill.
        assert_eq!(
            next_drill(&config, Some(&h), None, "j", &rules).unwrap(),
            None
        );
        let id = h
            .start_backup(
                "j",
                "d_x.zip",
                Path::new("/b/d_x.zip"),
                "2026-01-01T00:00:00Z",
            )
            .expect("start");
        h.finish_backup(id, 10, "00").expect("finish");
        assert_eq!(
            next_drill(&config, Some(&h), None, "j", &rules).unwrap(),
            Some(Next::Now)
        );
        // No history at all: no drill (only the history tells which archives are the job's).
        assert_eq!(next_drill(&config, None, None, "j", &rules).unwrap(), None);
        // A failed drill counts like a good one: the next is a day after it.
        let started = crate::schedule::add(Timestamp::now(), jiff::SignedDuration::from_hours(-2))
            .round(jiff::Unit::Second)
            .expect("round");
        h.record_drill(&crate::history::NewDrill {
            job: "j",
            database: "d",
            backup_id: Some(id),
            archive: "/b/d_x.zip",
            started: &started.to_string(),
            ok: false,
            tables: None,
            rows: None,
            message: "lost rows",
            seconds: 1.0,
            bytes: None,
            jobs: 1,
        })
        .expect("record");
        let day = jiff::SignedDuration::from_hours(24);
        assert_eq!(
            next_drill(&config, Some(&h), None, "j", &rules).unwrap(),
            Some(Next::At(crate::schedule::add(started, day)))
        );
        // A later drill this daemon remembers (the history was not written) wins.
        let later = crate::schedule::add(started, jiff::SignedDuration::from_hours(1));
        assert_eq!(
            next_drill(&config, Some(&h), Some(later), "j", &rules).unwrap(),
            Some(Next::At(crate::schedule::add(later, day)))
        );
        // No `drill`, or an inactive job: never.
        let none = drill_config("");
        assert_eq!(
            next_drill(&none, Some(&h), None, "j", &rules).unwrap(),
            None
        );
        let inactive = drill_config("active = false\ndrill = { every = 1, unit = \"days\" }");
        assert_eq!(
            next_drill(&inactive, Some(&h), None, "j", &rules).unwrap(),
            None
        );
    }

    #[test]
    fn a_success_in_the_future_is_taken_as_now() {
        let now = ts("2026-12-02T10:00:00Z");
        let r = JobRecord {
            last_success: Some(ts("2031-01-01T00:00:00Z")),
            ..JobRecord::default()
        };
        assert_eq!(clamp_future("j", r, now).last_success, Some(now));
    }

    #[test]
    fn the_later_of_history_and_memory_wins() {
        let history = JobRecord {
            last_success: Some(ts("2026-01-01T00:00:00Z")),
            ..JobRecord::default()
        };
        let memory = JobRecord {
            last_success: Some(ts("2026-01-02T00:00:00Z")),
            ..JobRecord::default()
        };
        assert_eq!(merge(&history, &memory).last_success, memory.last_success);
        let failed = JobRecord {
            last_success: None,
            last_failure: Some(ts("2026-01-03T00:00:00Z")),
            failures: 1,
        };
        let m = merge(&memory, &failed);
        assert_eq!((m.last_success, m.failures), (memory.last_success, 1));
        let m = merge(&failed, &memory);
        assert_eq!(m.failures, 1);
    }
}

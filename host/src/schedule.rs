//! When a job runs next: a pure function of its schedule, its history and the clock's
//! rules (time zone, length of a minute), so it is tested with a fake clock and shared by
//! the daemon and `jobs`.
//!
//! Rules (DESIGN.md "Schedule", issue 4):
//! - inactive jobs and jobs without `schedule` are never due;
//! - no successful backup yet: due now;
//! - otherwise `last successful start + every × unit`; a daemon that was down for many
//!   intervals sees one past due time, runs once, and the next time is counted from that
//!   run: one catch-up run, not many;
//! - with `at = "HH:MM"` (units `days` and `weeks` only) the next backup is on the local
//!   calendar day `every` days (or weeks) after the last successful start, at `HH:MM` in the
//!   server's time zone. A time that does not exist that day (spring-forward gap) runs at
//!   the first instant after the gap (02:30 in a 02:00→03:00 gap runs at 03:30); a time that
//!   happens twice (fall-back overlap) runs at the first of the two;
//! - after a failure, retry `5 min × 2^(failures − 1)` after the failed start, capped at
//!   the interval; never sooner than that, so a failing job does not run every tick.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::config::{Schedule, ScheduleUnit};

/// First retry delay after a failure, in minutes; doubled after each further failure.
pub const BACKOFF_MINUTES: i64 = 5;

/// The clock's rules: the server's time zone and how long a minute is (60 s; the daemon's
/// end-to-end tests shorten it in debug builds, see [`Rules::from_env`]).
#[derive(Debug, Clone)]
pub struct Rules {
    /// Time zone of `at` times.
    pub tz: TimeZone,
    /// Length of one schedule minute.
    pub minute: SignedDuration,
}

/// Environment variable (tests only) giving the length of a schedule minute in seconds,
/// e.g. `2` to make `every = 1, unit = "minutes"` run every 2 s. Deliberately outside
/// the `SAUVEGARDE_` prefix, which the configuration loader owns. Read by debug builds
/// only (the end-to-end tests run those): a release build holds neither this name nor the
/// code that reads it, so no environment makes a production daemon run on fake minutes
/// (`scripts/build-release` checks the binary for it).
#[cfg(debug_assertions)]
pub const TEST_MINUTE_ENV: &str = "SGD_TEST_MINUTE_SECS";

impl Rules {
    /// The system time zone and real minutes.
    pub fn system() -> Self {
        Rules {
            tz: TimeZone::system(),
            minute: SignedDuration::from_secs(60),
        }
    }

    /// [`Rules::system`]; in a debug build, with the minute shortened when
    /// `SGD_TEST_MINUTE_SECS` is set to a positive number of seconds.
    pub fn from_env() -> Self {
        let mut rules = Self::system();
        if let Some(minute) = test_minute() {
            rules.minute = minute;
        }
        rules
    }
}

/// The schedule minute [`TEST_MINUTE_ENV`] asks for, if it is set to a positive number.
#[cfg(debug_assertions)]
fn test_minute() -> Option<SignedDuration> {
    let minute = test_minute_of(std::env::var(TEST_MINUTE_ENV).ok().as_deref())?;
    tracing::warn!(
        "{TEST_MINUTE_ENV}={}: a schedule minute lasts {} s (test mode)",
        minute.as_secs_f64(),
        minute.as_secs_f64()
    );
    Some(minute)
}

/// The schedule minute a value of [`TEST_MINUTE_ENV`] gives: a positive number of seconds.
#[cfg(debug_assertions)]
fn test_minute_of(value: Option<&str>) -> Option<SignedDuration> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(SignedDuration::from_secs_f64)
}

/// A release build has no test hook: minutes are minutes.
#[cfg(not(debug_assertions))]
fn test_minute() -> Option<SignedDuration> {
    None
}

/// What the history says about a job, as far as scheduling is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRecord {
    /// Start of the latest successful backup.
    pub last_success: Option<Timestamp>,
    /// Start of the latest failed backup of a database whose latest backup failed (it
    /// may precede `last_success`: another database of that run succeeded after it).
    pub last_failure: Option<Timestamp>,
    /// Consecutive failures of the database failing longest (0 when every database's
    /// latest backup succeeded); it drives the backoff.
    pub failures: u32,
}

/// When a job runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// No `schedule`: manual backups only.
    Manual,
    /// `active = false`.
    Inactive,
    /// Never succeeded and never failed: run now.
    Now,
    /// At this instant (due when it is not in the future).
    At(Timestamp),
}

impl Next {
    /// Whether the job should start at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        match self {
            Next::Now => true,
            Next::At(t) => *t <= now,
            Next::Manual | Next::Inactive => false,
        }
    }

    /// The instant, if the job is scheduled at all (`Now` is `now`).
    pub fn instant(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Next::Now => Some(now),
            Next::At(t) => Some(*t),
            Next::Manual | Next::Inactive => None,
        }
    }
}

/// An unusable `schedule` table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `every = 0`.
    #[error("`schedule.every` must be at least 1")]
    ZeroEvery,
    /// `at` with minutes or hours.
    #[error("`schedule.at` only works with unit \"days\" or \"weeks\", not \"{0}\"")]
    AtWithShortUnit(&'static str),
    /// `at` is not `HH:MM`.
    #[error("`schedule.at` = \"{0}\" is not a time of day HH:MM (00:00 to 23:59)")]
    BadAt(String),
}

/// Checks a schedule and returns its `at` time, if any.
pub fn validate(schedule: &Schedule) -> Result<Option<Time>, ScheduleError> {
    if schedule.every == 0 {
        return Err(ScheduleError::ZeroEvery);
    }
    let Some(at) = schedule.at.as_deref() else {
        return Ok(None);
    };
    match schedule.unit {
        ScheduleUnit::Minutes => return Err(ScheduleError::AtWithShortUnit("minutes")),
        ScheduleUnit::Hours => return Err(ScheduleError::AtWithShortUnit("hours")),
        ScheduleUnit::Days | ScheduleUnit::Weeks => {}
    }
    parse_hh_mm(at)
        .map(Some)
        .ok_or_else(|| ScheduleError::BadAt(at.to_string()))
}

fn parse_hh_mm(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    Time::new(h, m, 0, 0).ok()
}

/// Length of one interval of `schedule` under `rules`.
pub fn interval(schedule: &Schedule, rules: &Rules) -> SignedDuration {
    let minutes: i64 = match schedule.unit {
        ScheduleUnit::Minutes => 1,
        ScheduleUnit::Hours => 60,
        ScheduleUnit::Days => 24 * 60,
        ScheduleUnit::Weeks => 7 * 24 * 60,
    };
    rules
        .minute
        .saturating_mul(i32::try_from(minutes * i64::from(schedule.every)).unwrap_or(i32::MAX))
}

/// Delay before retrying after `failures` consecutive failures: 5 min doubling, capped
/// at `cap` (the interval).
pub fn backoff(failures: u32, rules: &Rules, cap: SignedDuration) -> SignedDuration {
    let doublings = failures.saturating_sub(1).min(30);
    let factor = 1i64 << doublings;
    let delay = rules
        .minute
        .saturating_mul(i32::try_from(BACKOFF_MINUTES * factor).unwrap_or(i32::MAX));
    delay.min(cap)
}

/// When the job runs next. Pure: the same inputs always give the same answer.
pub fn next_backup(
    schedule: Option<&Schedule>,
    active: bool,
    record: &JobRecord,
    rules: &Rules,
) -> Result<Next, ScheduleError> {
    let Some(schedule) = schedule else {
        return Ok(Next::Manual);
    };
    let at = validate(schedule)?;
    if !active {
        return Ok(Next::Inactive);
    }
    let every = interval(schedule, rules);
    let regular = regular_time(schedule, at, record, rules);
    let retry = match record.last_failure {
        Some(failed) if record.failures > 0 => {
            Some(add(failed, backoff(record.failures, rules, every)))
        }
        _ => None,
    };
    Ok(match (regular, retry, record.last_failure) {
        (None, None, _) => Next::Now,
        (Some(r), None, _) => Next::At(r),
        (None, Some(t), _) => Next::At(t),
        // A regular time after the failure stays valid if it comes before the retry;
        // one at or before the failure was the run that failed: wait for the retry.
        (Some(r), Some(t), Some(failed)) if r > failed => Next::At(r.min(t)),
        (Some(_), Some(t), _) => Next::At(t),
    })
}

/// The regular time after the last success: `every × unit` later, or pinned at `at`.
fn regular_time(
    schedule: &Schedule,
    at: Option<Time>,
    record: &JobRecord,
    rules: &Rules,
) -> Option<Timestamp> {
    let every = interval(schedule, rules);
    record.last_success.map(|success| match at {
        None => add(success, every),
        Some(time) => pinned(success, time, schedule, rules),
    })
}

/// Whether a run starting `now` is a retry of a failed run rather than a regular one: the
/// job failed since its last success, which was recent enough that its regular time has
/// not come. A retry backs up only the databases that still need it.
pub fn is_retry(
    schedule: Option<&Schedule>,
    record: &JobRecord,
    rules: &Rules,
    now: Timestamp,
) -> bool {
    let Some(schedule) = schedule else {
        return false;
    };
    let Ok(at) = validate(schedule) else {
        return false;
    };
    record.failures > 0
        && record.last_failure.is_some()
        && regular_time(schedule, at, record, rules).is_some_and(|r| r > now)
}

/// `t + d`, clamped to the representable range.
pub fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `every` days (or weeks) after the local calendar day of `success`, at `time`.
fn pinned(success: Timestamp, time: Time, schedule: &Schedule, rules: &Rules) -> Timestamp {
    let day: Date = success.to_zoned(rules.tz.clone()).date();
    let days = i64::from(schedule.every)
        * if schedule.unit == ScheduleUnit::Weeks {
            7
        } else {
            1
        };
    let target = day
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(Date::MAX);
    // Gaps resolve to the instant after the gap, overlaps to the earlier instant.
    match target.to_datetime(time).to_zoned(rules.tz.clone()) {
        Ok(z) => z.timestamp(),
        Err(_) => Timestamp::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test hook exists in debug builds (what the tests run) and reads only positive
    /// numbers; release builds compile without it (`test_minute` is `None` there, and
    /// `scripts/build-release` checks that the binary does not hold the variable's name).
    #[test]
    #[cfg(debug_assertions)]
    fn the_test_minute_is_a_debug_build_hook_taking_positive_seconds() {
        assert_eq!(
            test_minute_of(Some(" 2 ")),
            Some(SignedDuration::from_secs(2))
        );
        assert_eq!(
            test_minute_of(Some("0.5")),
            Some(SignedDuration::from_millis(500))
        );
        for bad in [
            None,
            Some(""),
            Some("0"),
            Some("-1"),
            Some("NaN"),
            Some("inf"),
        ] {
            assert_eq!(test_minute_of(bad), None, "{bad:?}");
        }
    }

    fn rules(tz: &str) -> Rules {
        Rules {
            tz: TimeZone::get(tz).expect("tz database"),
            minute: SignedDuration::from_secs(60),
        }
    }

    fn sched(every: u32, unit: ScheduleUnit, at: Option<&str>) -> Schedule {
        Schedule {
            every,
            unit,
            at: at.map(String::from),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn ok_at(s: &Schedule, rec: &JobRecord, r: &Rules) -> Timestamp {
        match next_backup(Some(s), true, rec, r).expect("valid") {
            Next::At(t) => t,
            other => panic!("expected At, got {other:?}"),
        }
    }

    fn success(at: &str) -> JobRecord {
        JobRecord {
            last_success: Some(ts(at)),
            ..Default::default()
        }
    }

    #[test]
    fn manual_and_inactive_jobs_are_never_due() {
        let r = rules("UTC");
        let rec = JobRecord::default();
        let never = ts("2100-01-01T00:00:00Z");
        assert_eq!(next_backup(None, true, &rec, &r), Ok(Next::Manual));
        assert!(!Next::Manual.is_due(never));
        let s = sched(1, ScheduleUnit::Minutes, None);
        assert_eq!(next_backup(Some(&s), false, &rec, &r), Ok(Next::Inactive));
        assert!(!Next::Inactive.is_due(never));
        assert_eq!(Next::Inactive.instant(never), None);
    }

    #[test]
    fn first_run_is_due_now() {
        let r = rules("UTC");
        let next = next_backup(
            Some(&sched(1, ScheduleUnit::Days, Some("02:00"))),
            true,
            &JobRecord::default(),
            &r,
        );
        assert_eq!(next, Ok(Next::Now));
        assert!(Next::Now.is_due(ts("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn every_unit_adds_the_interval_to_the_last_success() {
        let r = rules("UTC");
        let rec = success("2026-03-01T10:00:00Z");
        let cases = [
            (ScheduleUnit::Minutes, 15, "2026-03-01T10:15:00Z"),
            (ScheduleUnit::Hours, 6, "2026-03-01T16:00:00Z"),
            (ScheduleUnit::Days, 2, "2026-03-03T10:00:00Z"),
            (ScheduleUnit::Weeks, 1, "2026-03-08T10:00:00Z"),
        ];
        for (unit, every, want) in cases {
            assert_eq!(
                ok_at(&sched(every, unit, None), &rec, &r),
                ts(want),
                "{every} {unit:?}"
            );
        }
        let next = Next::At(ts("2026-03-01T10:15:00Z"));
        assert!(!next.is_due(ts("2026-03-01T10:14:59Z")));
        assert!(next.is_due(ts("2026-03-01T10:15:00Z")));
    }

    #[test]
    fn a_long_downtime_gives_one_catch_up_run() {
        let r = rules("UTC");
        let s = sched(1, ScheduleUnit::Hours, None);
        // Down for three days: the next time is in the past, so due at once ...
        let next =
            next_backup(Some(&s), true, &success("2026-03-01T10:00:00Z"), &r).expect("valid");
        let now = ts("2026-03-04T09:30:00Z");
        assert!(next.is_due(now));
        // ... and after that catch-up run, the next one is an interval later, not now.
        let after =
            next_backup(Some(&s), true, &success("2026-03-04T09:30:00Z"), &r).expect("valid");
        assert_eq!(after, Next::At(ts("2026-03-04T10:30:00Z")));
        assert!(!after.is_due(ts("2026-03-04T09:31:00Z")));
    }

    #[test]
    fn backoff_doubles_from_five_minutes_and_is_capped_at_the_interval() {
        let r = rules("UTC");
        let day = interval(&sched(1, ScheduleUnit::Days, None), &r);
        let mins: Vec<i64> = (1..=10)
            .map(|n| backoff(n, &r, day).as_secs() / 60)
            .collect();
        assert_eq!(mins, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1440]);
        let hour = interval(&sched(1, ScheduleUnit::Hours, None), &r);
        assert_eq!(backoff(5, &r, hour).as_secs(), 3600);
        assert_eq!(backoff(u32::MAX, &r, hour).as_secs(), 3600);
    }

    #[test]
    fn a_retry_is_a_run_after_a_failure_in_the_cycle_of_the_last_success() {
        let r = rules("UTC");
        let s = sched(1, ScheduleUnit::Days, None);
        let now = ts("2026-03-02T10:05:05Z");
        // One database failed, another succeeded in the same run: the retry is partial.
        let partial = JobRecord {
            last_success: Some(ts("2026-03-02T10:00:01Z")),
            last_failure: Some(ts("2026-03-02T10:00:05Z")),
            failures: 1,
        };
        assert!(is_retry(Some(&s), &partial, &r, now));
        // The whole regular run failed: the last success is a cycle old, run everything.
        let whole = JobRecord {
            last_success: Some(ts("2026-03-01T10:00:00Z")),
            ..partial
        };
        assert!(!is_retry(Some(&s), &whole, &r, now));
        // Never succeeded, no failure, or no schedule: never a retry.
        let never = JobRecord {
            last_success: None,
            ..partial
        };
        assert!(!is_retry(Some(&s), &never, &r, now));
        assert!(!is_retry(
            Some(&s),
            &success("2026-03-02T10:00:01Z"),
            &r,
            now
        ));
        assert!(!is_retry(None, &partial, &r, now));
    }

    #[test]
    fn failures_retry_with_backoff_not_every_tick() {
        let r = rules("UTC");
        let s = sched(1, ScheduleUnit::Days, None);
        // Never succeeded, failed twice: retry 10 min after the last failure.
        let rec = JobRecord {
            last_success: None,
            last_failure: Some(ts("2026-03-01T10:00:00Z")),
            failures: 2,
        };
        assert_eq!(ok_at(&s, &rec, &r), ts("2026-03-01T10:10:00Z"));
        // Succeeded yesterday, regular run failed once: retry 5 min later.
        let rec = JobRecord {
            last_success: Some(ts("2026-02-28T09:00:00Z")),
            last_failure: Some(ts("2026-03-01T09:00:00Z")),
            failures: 1,
        };
        assert_eq!(ok_at(&s, &rec, &r), ts("2026-03-01T09:05:00Z"));
        // A manual backup failed long before the regular time: retry with backoff, and
        // the regular time still holds when it comes first.
        let rec = JobRecord {
            last_success: Some(ts("2026-03-01T09:00:00Z")),
            last_failure: Some(ts("2026-03-01T12:00:00Z")),
            failures: 9,
        };
        assert_eq!(ok_at(&s, &rec, &r), ts("2026-03-02T09:00:00Z"));
        // Minutes: backoff capped at the interval.
        let s = sched(2, ScheduleUnit::Minutes, None);
        let rec = JobRecord {
            last_success: None,
            last_failure: Some(ts("2026-03-01T10:00:00Z")),
            failures: 1,
        };
        assert_eq!(ok_at(&s, &rec, &r), ts("2026-03-01T10:02:00Z"));
    }

    #[test]
    fn at_pins_the_local_time_of_day() {
        let r = rules("Europe/Paris");
        let s = sched(1, ScheduleUnit::Days, Some("02:30"));
        // Winter, UTC+1: a manual success at 15:00 local → tomorrow 02:30 local.
        assert_eq!(
            ok_at(&s, &success("2026-01-10T14:00:00Z"), &r),
            ts("2026-01-11T01:30:00Z")
        );
        // Summer, UTC+2.
        assert_eq!(
            ok_at(&s, &success("2026-07-10T00:30:00Z"), &r),
            ts("2026-07-11T00:30:00Z")
        );
        // Weekly, every 2 weeks.
        let w = sched(2, ScheduleUnit::Weeks, Some("23:05"));
        assert_eq!(
            ok_at(&w, &success("2026-01-10T22:05:00Z"), &r),
            ts("2026-01-24T22:05:00Z")
        );
    }

    #[test]
    fn at_across_dst_changes() {
        let r = rules("Europe/Paris");
        let s = sched(1, ScheduleUnit::Days, Some("02:30"));
        // 2026-03-29: 02:00 → 03:00 in Paris; 02:30 does not exist: runs at 03:30 CEST.
        assert_eq!(
            ok_at(&s, &success("2026-03-28T01:30:00Z"), &r),
            ts("2026-03-29T01:30:00Z")
        );
        // The day after, back to 02:30 CEST (00:30 UTC): 23 h later, not 24.
        assert_eq!(
            ok_at(&s, &success("2026-03-29T01:30:00Z"), &r),
            ts("2026-03-30T00:30:00Z")
        );
        // 2026-10-25: 03:00 → 02:00; 02:30 happens twice: the first one (CEST, 00:30 UTC).
        assert_eq!(
            ok_at(&s, &success("2026-10-24T00:30:00Z"), &r),
            ts("2026-10-25T00:30:00Z")
        );
        // The day after, 02:30 CET (01:30 UTC): 25 h later.
        assert_eq!(
            ok_at(&s, &success("2026-10-25T00:30:00Z"), &r),
            ts("2026-10-26T01:30:00Z")
        );
        // New York, 2026-03-08 02:00 → 03:00.
        let ny = rules("America/New_York");
        assert_eq!(
            ok_at(&s, &success("2026-03-07T07:30:00Z"), &ny),
            ts("2026-03-08T07:30:00Z")
        );
        // Without `at`, days are 24 h exactly, whatever the local clock does.
        let plain = sched(1, ScheduleUnit::Days, None);
        assert_eq!(
            ok_at(&plain, &success("2026-03-28T01:30:00Z"), &r),
            ts("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn at_across_leap_days() {
        let r = rules("Europe/Paris");
        let s = sched(1, ScheduleUnit::Days, Some("01:00"));
        // 2028 is a leap year: Feb 28 → Feb 29 → Mar 1.
        assert_eq!(
            ok_at(&s, &success("2028-02-28T00:00:00Z"), &r),
            ts("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            ok_at(&s, &success("2028-02-29T00:00:00Z"), &r),
            ts("2028-03-01T00:00:00Z")
        );
        // 2027 is not: Feb 28 → Mar 1.
        assert_eq!(
            ok_at(&s, &success("2027-02-28T00:00:00Z"), &r),
            ts("2027-03-01T00:00:00Z")
        );
        // Weekly from the leap day.
        let w = sched(1, ScheduleUnit::Weeks, Some("01:00"));
        assert_eq!(
            ok_at(&w, &success("2028-02-29T00:00:00Z"), &r),
            ts("2028-03-07T00:00:00Z")
        );
        // Every 365 days from 2028-01-01 lands on 2028-12-31 (366-day year).
        let y = sched(365, ScheduleUnit::Days, Some("01:00"));
        assert_eq!(
            ok_at(&y, &success("2028-01-01T00:00:00Z"), &r),
            ts("2028-12-31T00:00:00Z")
        );
    }

    #[test]
    fn invalid_schedules_are_refused_with_the_key() {
        let r = rules("UTC");
        let rec = JobRecord::default();
        let e = next_backup(Some(&sched(0, ScheduleUnit::Days, None)), true, &rec, &r).unwrap_err();
        assert_eq!(e, ScheduleError::ZeroEvery);
        let e = next_backup(
            Some(&sched(1, ScheduleUnit::Hours, Some("02:00"))),
            true,
            &rec,
            &r,
        )
        .unwrap_err();
        assert!(e.to_string().contains("schedule.at"), "{e}");
        for bad in [
            "2", "24:00", "02:60", "2:3", "7:05", "aa:bb", "02:00:00", "",
        ] {
            let e = validate(&sched(1, ScheduleUnit::Days, Some(bad))).unwrap_err();
            assert_eq!(e, ScheduleError::BadAt(bad.to_string()));
        }
        assert_eq!(
            validate(&sched(1, ScheduleUnit::Days, Some("07:05"))).map(|t| t.map(|t| t.hour())),
            Ok(Some(7))
        );
    }

    #[test]
    fn the_test_minute_scales_intervals_and_backoff() {
        let r = Rules {
            tz: TimeZone::UTC,
            minute: SignedDuration::from_secs(2),
        };
        let s = sched(1, ScheduleUnit::Minutes, None);
        assert_eq!(
            ok_at(&s, &success("2026-03-01T10:00:00Z"), &r),
            ts("2026-03-01T10:00:02Z")
        );
        assert_eq!(
            backoff(1, &r, SignedDuration::from_secs(3600)).as_secs(),
            10
        );
    }
}

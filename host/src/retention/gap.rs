//! Age across a gap (rule 7 of [`super`]). A clock that jumps ahead (an NTP or RTC fault),
//! or backups that fail for longer than `keep_days`, leave a gap in the dates of a job's
//! archives. Counted from now, every archive before such a gap is at once older than
//! `keep_days`: one run would delete them all but the newest. So age is never counted
//! across a gap longer than `keep_days`: an archive from before it that only its age would
//! delete is kept, with a warning, until
//! - the archives made since the gap cover `keep_days` themselves (then they replace it,
//!   as any archive ages out: a clock that stays wrong, or an outage, never empties the
//!   shelf, it only delays age-based deletion by the length of the window), or
//! - a person runs `prune`, which applies the age after listing ([`by_hand`]).
//!
//! The dates are those of this job's own archives dated no later than now: an archive dated
//! in the future (made while the clock ran ahead, seen once it is back) is kept as ever
//! (rule 3) and leaves no gap behind it, so a clock put right finds the earlier archives
//! continuous again. Counts (`keep_count`) and tiers (which count periods that hold an
//! archive, not calendar slots) do not depend on the clock and apply as ever.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::{Archive, Decision, Delete, Keep, Owner, Verdict};

/// A gap in the dates of a job's archives, longer than `keep_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The newest archive before the gap.
    pub before: Timestamp,
    /// The oldest archive after it.
    pub after: Timestamp,
}

impl Gap {
    /// Whole days between the two archives.
    pub fn days(&self) -> i64 {
        self.after.duration_since(self.before).as_hours() / 24
    }

    /// Whether `archive` lies before the gap (its age then does not count).
    pub fn precedes(&self, archive: &Archive) -> bool {
        archive.time <= self.before
    }
}

impl fmt::Display for Gap {
    /// `a 1826-day gap in this job's archives (2026-12-01 → 2031-11-30: …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {}-day gap in this job's archives ({} → {}: a clock that jumped ahead, or backups that failed that long)",
            self.days(),
            self.before.strftime("%Y-%m-%d"),
            self.after.strftime("%Y-%m-%d"),
        )
    }
}

/// The gap that stops age from counting among `archives` (newest first) at `now`: the
/// newest gap longer than `keep_days` between two of this job's archives dated no later
/// than now, as long as the archives after it cover less than `keep_days`. `None` without
/// `keep_days`, or when there is no such gap.
pub fn find(archives: &[Archive], keep_days: Option<u32>, now: Timestamp) -> Option<Gap> {
    let window = SignedDuration::from_hours(24 * i64::from(keep_days?));
    let dates: Vec<Timestamp> = archives
        .iter()
        .filter(|a| a.owner == Owner::ThisJob && a.time <= now)
        .map(|a| a.time)
        .collect();
    let newest = *dates.first()?;
    let (after, before) = dates
        .windows(2)
        .map(|pair| (pair[0], pair[1]))
        .find(|(after, before)| after.duration_since(*before) > window)?;
    (newest.duration_since(after) < window).then_some(Gap { before, after })
}

/// `prune` run by a person: what age would delete across a gap is deleted (the verdicts
/// were listed, and the person asked).
pub fn by_hand(decisions: &mut [Decision]) {
    for d in decisions {
        if let Verdict::Keep(Keep::AcrossGap { keep_days, gap }) = d.verdict {
            d.verdict = Verdict::Delete(Delete::AcrossGap { keep_days, gap });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use jiff::tz::TimeZone;

    use super::*;
    use crate::retention::{plan, Policy};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn archives(times: &[&str]) -> Vec<Archive> {
        times
            .iter()
            .map(|t| Archive {
                path: PathBuf::from(*t),
                time: at(t),
                owner: Owner::ThisJob,
            })
            .collect()
    }

    fn limits(keep_days: Option<u32>, keep_count: Option<u32>) -> Policy {
        Policy {
            keep_days,
            keep_count,
            ..Policy::default()
        }
    }

    /// Each archive's verdict, by the time in its name, newest first.
    fn verdicts(list: &[Archive], policy: Policy, now: &str, protect: &str) -> Vec<String> {
        let protected = [(PathBuf::from(protect), "the archive just written")];
        plan(list, policy, &protected, at(now), &TimeZone::UTC)
            .iter()
            .map(|d| match &d.verdict {
                Verdict::Keep(Keep::AcrossGap { .. }) => "gap".to_string(),
                Verdict::Keep(_) => "keep".to_string(),
                Verdict::Delete(Delete::OlderThan(_)) => "age".to_string(),
                Verdict::Delete(Delete::BeyondCount(_)) => "count".to_string(),
                Verdict::Delete(Delete::NoRule) => "norule".to_string(),
                Verdict::Delete(Delete::AcrossGap { .. }) => "byhand".to_string(),
                Verdict::Delete(Delete::LeftBehind) => "leftbehind".to_string(),
            })
            .collect()
    }

    const GOOD: [&str; 4] = [
        "2026-12-04T02:00:00Z",
        "2026-12-03T02:00:00Z",
        "2026-12-02T02:00:00Z",
        "2026-12-01T02:00:00Z",
    ];

    #[test]
    fn a_clock_five_years_ahead_keeps_every_earlier_archive() {
        // The case: keep_days = 30, keep_count = 10, four good archives, then one
        // written at +1826 days.
        let jumped = "2031-12-04T02:00:00Z";
        let mut times = vec![jumped];
        times.extend(GOOD);
        let list = archives(&times);
        let now = "2031-12-04T02:05:00Z";
        let v = verdicts(&list, limits(Some(30), Some(10)), now, jumped);
        assert_eq!(v, ["keep", "gap", "gap", "gap", "gap"]);
        let gap = find(&list, Some(30), at(now)).unwrap();
        assert_eq!((gap.before, gap.after), (at(GOOD[0]), at(jumped)));
        assert_eq!(gap.days(), 1826);
        // Run by hand, `prune` deletes them, saying why.
        let mut decisions = plan(
            &list,
            limits(Some(30), Some(10)),
            &[],
            at(now),
            &TimeZone::UTC,
        );
        by_hand(&mut decisions);
        assert_eq!(decisions.iter().filter(|d| d.deletes()).count(), 4);
        assert_eq!(
            decisions[1].verdict.to_string(),
            "delete: older than keep_days = 30 counted across a 1826-day gap in this job's archives \
             (2026-12-04 → 2031-12-04: a clock that jumped ahead, or backups that failed that long); \
             backups keep it, `prune` run by hand deletes it"
        );
    }

    #[test]
    fn the_gap_holds_while_the_clock_stays_wrong_until_the_archives_since_cover_keep_days() {
        let mut times = vec![
            "2031-12-10T02:00:00Z",
            "2031-12-06T02:00:00Z",
            "2031-12-04T02:00:00Z",
        ];
        times.extend(GOOD);
        let list = archives(&times);
        // Six days of archives since the jump, keep_days = 30: the earlier ones stay.
        let v = verdicts(
            &list,
            limits(Some(30), None),
            "2031-12-10T03:00:00Z",
            times[0],
        );
        assert_eq!(v, ["keep", "keep", "keep", "gap", "gap", "gap", "gap"]);
        // keep_days = 5: the archives since cover it; age counts again.
        let v = verdicts(
            &list,
            limits(Some(5), None),
            "2031-12-10T03:00:00Z",
            times[0],
        );
        assert_eq!(v, ["keep", "keep", "age", "age", "age", "age", "age"]);
    }

    #[test]
    fn a_count_still_applies_across_a_gap() {
        let jumped = "2031-12-04T02:00:00Z";
        let mut times = vec![jumped];
        times.extend(GOOD);
        let v = verdicts(
            &archives(&times),
            limits(Some(30), Some(3)),
            "2031-12-04T03:00:00Z",
            jumped,
        );
        assert_eq!(v, ["keep", "gap", "gap", "count", "count"]);
    }

    #[test]
    fn after_an_outage_longer_than_keep_days_the_archives_before_it_stay() {
        // Backups failed for 40 days, then one succeeded; the clock is right.
        let back = "2027-01-13T02:00:00Z";
        let mut times = vec![back];
        times.extend(GOOD);
        let v = verdicts(&archives(&times), limits(Some(30), None), back, back);
        assert_eq!(v, ["keep", "gap", "gap", "gap", "gap"]);
        // An outage shorter than keep_days is no gap: plain age.
        let v = verdicts(
            &archives(&["2026-12-30T02:00:00Z", GOOD[0], GOOD[1], GOOD[2], GOOD[3]]),
            limits(Some(28), None),
            "2026-12-30T02:00:00Z",
            "2026-12-30T02:00:00Z",
        );
        assert_eq!(v, ["keep", "keep", "keep", "keep", "age"]);
    }

    #[test]
    fn once_the_clock_is_back_the_future_archive_leaves_no_gap() {
        // Made at +1826 days, then the clock was put right: that archive is in the future
        // and kept as such; the real ones are continuous and age normally.
        let list = archives(&[
            "2031-12-04T02:00:00Z",
            "2026-12-05T02:00:00Z",
            GOOD[0],
            GOOD[1],
            GOOD[2],
            GOOD[3],
        ]);
        let now = "2026-12-05T02:05:00Z";
        assert_eq!(find(&list, Some(3), at(now)), None);
        let v = verdicts(&list, limits(Some(3), None), now, "2026-12-05T02:00:00Z");
        assert_eq!(v, ["keep", "keep", "keep", "keep", "age", "age"]);
    }

    #[test]
    fn archives_of_others_make_no_gap_and_no_keep_days_means_no_gap() {
        let mut list = archives(&["2031-12-04T02:00:00Z", GOOD[0], GOOD[1]]);
        list[0].owner = Owner::Other("job `b`".into());
        assert_eq!(find(&list, Some(30), at("2031-12-04T03:00:00Z")), None);
        list[0].owner = Owner::ThisJob;
        assert!(find(&list, Some(30), at("2031-12-04T03:00:00Z")).is_some());
        assert_eq!(find(&list, None, at("2031-12-04T03:00:00Z")), None);
        // Exactly keep_days apart is no gap.
        let list = archives(&["2026-12-31T02:00:00Z", "2026-12-01T02:00:00Z"]);
        assert_eq!(find(&list, Some(30), at("2026-12-31T03:00:00Z")), None);
    }

    #[test]
    fn in_tiers_mode_only_what_keep_days_alone_kept_is_held() {
        let jumped = "2031-12-04T02:00:00Z";
        let mut times = vec![jumped];
        times.extend(GOOD);
        let policy = Policy {
            keep_days: Some(30),
            keep_daily: Some(2),
            ..Policy::default()
        };
        // Daily keeps the jumped day and 12-04; keep_days would have kept the rest.
        let v = verdicts(&archives(&times), policy, "2031-12-04T03:00:00Z", jumped);
        assert_eq!(v, ["keep", "keep", "gap", "gap", "gap"]);
        let mut decisions = plan(
            &archives(&times),
            policy,
            &[],
            at("2031-12-04T03:00:00Z"),
            &TimeZone::UTC,
        );
        by_hand(&mut decisions);
        assert_eq!(decisions.iter().filter(|d| d.deletes()).count(), 3);
        // Without keep_days, tiers alone: nothing is held, nothing changes.
        let policy = Policy {
            keep_daily: Some(2),
            ..Policy::default()
        };
        let v = verdicts(&archives(&times), policy, "2031-12-04T03:00:00Z", jumped);
        assert_eq!(v, ["keep", "keep", "norule", "norule", "norule"]);
    }
}

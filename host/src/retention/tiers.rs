//! Retention tiers, as restic's `forget` has them: `keep_daily = N` keeps the newest archive
//! of each of the last N days that have one (likewise ISO weeks, months, years), in a given
//! time zone (the server's local time in production). Archives are fed newest first; an
//! archive is the newest of its period when its period differs from the previous one's, and
//! each tier stops once it has kept its N archives. N counts periods that hold an archive,
//! not calendar slots: a week without a backup does not use up a `keep_weekly`.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::Policy;

/// A calendar period an archive is the newest of, in the policy's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A day: `daily (2026-12-01)`.
    Day(jiff::civil::Date),
    /// An ISO 8601 week (its ISO year and number): `weekly (2026-W48)`.
    Week(i16, i8),
    /// A month: `monthly (2026-12)`.
    Month(i16, i8),
    /// A year: `yearly (2026)`.
    Year(i16),
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(d) => write!(f, "daily ({d})"),
            Period::Week(y, w) => write!(f, "weekly ({y:04}-W{w:02})"),
            Period::Month(y, m) => write!(f, "monthly ({y:04}-{m:02})"),
            Period::Year(y) => write!(f, "yearly ({y:04})"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Day,
    Week,
    Month,
    Year,
}

impl Kind {
    fn period(self, date: jiff::civil::Date) -> Period {
        match self {
            Kind::Day => Period::Day(date),
            Kind::Week => {
                let w = date.iso_week_date();
                Period::Week(w.year(), w.week())
            }
            Kind::Month => Period::Month(date.year(), date.month()),
            Kind::Year => Period::Year(date.year()),
        }
    }
}

/// One tier's progress through the archives.
#[derive(Debug, Clone)]
struct Tier {
    kind: Kind,
    left: u32,
    last: Option<Period>,
}

/// The tiers of a policy, fed the job's archives newest first.
#[derive(Debug, Clone)]
pub struct Tiers {
    tiers: Vec<Tier>,
    zone: TimeZone,
}

impl Tiers {
    /// The tiers `policy` sets, reading dates in `zone`.
    pub fn new(policy: &Policy, zone: &TimeZone) -> Self {
        let tiers = [
            (Kind::Day, policy.keep_daily),
            (Kind::Week, policy.keep_weekly),
            (Kind::Month, policy.keep_monthly),
            (Kind::Year, policy.keep_yearly),
        ]
        .into_iter()
        .filter_map(|(kind, n)| {
            n.filter(|n| *n > 0).map(|left| Tier {
                kind,
                left,
                last: None,
            })
        })
        .collect();
        Tiers {
            tiers,
            zone: zone.clone(),
        }
    }

    /// The periods the archive made at `time` is the newest of, for the tiers that still
    /// keep (the next archive fed must be older or as old).
    pub fn keep(&mut self, time: Timestamp) -> Vec<Period> {
        let date = time.to_zoned(self.zone.clone()).date();
        let mut kept = Vec::new();
        for tier in self.tiers.iter_mut().filter(|t| t.left > 0) {
            let period = tier.kind.period(date);
            if tier.last != Some(period) {
                tier.last = Some(period);
                tier.left -= 1;
                kept.push(period);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use jiff::tz::TimeZone;
    use jiff::Timestamp;

    use crate::retention::{plan, Archive, Decision, Delete, Keep, Owner, Policy, Verdict};

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").expect("the tz database has Europe/Paris")
    }

    fn archives(times: &[&str]) -> Vec<Archive> {
        let mut list: Vec<Archive> = times
            .iter()
            .map(|t| Archive {
                path: PathBuf::from(*t),
                time: t.parse().unwrap(),
                owner: Owner::ThisJob,
            })
            .collect();
        crate::retention::sort_newest_first(&mut list);
        list
    }

    /// Each archive's verdict as text, newest first, by its time.
    fn verdicts(decisions: &[Decision]) -> Vec<(String, String)> {
        decisions
            .iter()
            .map(|d| {
                (
                    d.archive.path.to_string_lossy().into_owned(),
                    d.verdict.to_string(),
                )
            })
            .collect()
    }

    fn run(times: &[&str], policy: Policy, now: &str, zone: &TimeZone) -> Vec<(String, String)> {
        let now: Timestamp = now.parse().unwrap();
        verdicts(&plan(&archives(times), policy, &[], now, zone))
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn daily_counts_days_that_have_an_archive_not_calendar_days() {
        // Days 10, 5, 2 and 1 have archives (two on day 5): keep_daily = 3 keeps the newest
        // of days 10, 5 and 2, as restic does, though day 2 is 8 calendar days back.
        let got = run(
            &[
                "2026-06-10T10:00:00Z",
                "2026-06-05T18:00:00Z",
                "2026-06-05T06:00:00Z",
                "2026-06-02T10:00:00Z",
                "2026-06-01T10:00:00Z",
            ],
            Policy {
                keep_daily: Some(3),
                ..Policy::default()
            },
            "2026-06-10T12:00:00Z",
            &TimeZone::UTC,
        );
        assert_eq!(
            got,
            pairs(&[
                (
                    "2026-06-10T10:00:00Z",
                    "kept: the newest of this job's archives"
                ),
                ("2026-06-05T18:00:00Z", "kept: daily (2026-06-05)"),
                ("2026-06-05T06:00:00Z", "delete: no keep rule keeps it"),
                ("2026-06-02T10:00:00Z", "kept: daily (2026-06-02)"),
                ("2026-06-01T10:00:00Z", "delete: no keep rule keeps it"),
            ])
        );
    }

    #[test]
    fn days_are_local_days_across_the_spring_dst_change() {
        // Europe/Paris moves from UTC+1 to UTC+2 on Sunday 2026-03-29.
        let times = [
            "2026-03-29T22:30:00Z", // Monday 30th, 00:30 CEST
            "2026-03-29T21:30:00Z", // Sunday 29th, 23:30 CEST
            "2026-03-28T23:30:00Z", // Sunday 29th, 00:30 CET
            "2026-03-28T22:30:00Z", // Saturday 28th, 23:30 CET
            "2026-03-27T22:30:00Z", // Friday 27th, 23:30 CET
        ];
        let policy = Policy {
            keep_daily: Some(3),
            ..Policy::default()
        };
        let got = run(&times, policy, "2026-03-30T08:00:00Z", &paris());
        assert_eq!(
            got,
            pairs(&[
                (
                    "2026-03-29T22:30:00Z",
                    "kept: the newest of this job's archives"
                ),
                ("2026-03-29T21:30:00Z", "kept: daily (2026-03-29)"),
                ("2026-03-28T23:30:00Z", "delete: no keep rule keeps it"),
                ("2026-03-28T22:30:00Z", "kept: daily (2026-03-28)"),
                ("2026-03-27T22:30:00Z", "delete: no keep rule keeps it"),
            ])
        );
        // Read in UTC the same archives fall on other days: the zone is what decides.
        let utc = run(&times, policy, "2026-03-30T08:00:00Z", &TimeZone::UTC);
        assert_ne!(utc, got);
    }

    #[test]
    fn the_hour_that_happens_twice_in_autumn_is_one_local_day() {
        // Europe/Paris goes back from UTC+2 to UTC+1 on Sunday 2026-10-25: 01:30 happens
        // twice, both on the 25th.
        let got = run(
            &[
                "2026-10-25T21:30:00Z", // 25th, 22:30 CET
                "2026-10-25T00:30:00Z", // 25th, 01:30 CET (the second one)
                "2026-10-24T23:30:00Z", // 25th, 01:30 CEST (the first one)
                "2026-10-24T21:30:00Z", // 24th, 23:30 CEST
            ],
            Policy {
                keep_daily: Some(2),
                ..Policy::default()
            },
            "2026-10-26T08:00:00Z",
            &paris(),
        );
        assert_eq!(
            got,
            pairs(&[
                (
                    "2026-10-25T21:30:00Z",
                    "kept: the newest of this job's archives"
                ),
                ("2026-10-25T00:30:00Z", "delete: no keep rule keeps it"),
                ("2026-10-24T23:30:00Z", "delete: no keep rule keeps it"),
                ("2026-10-24T21:30:00Z", "kept: daily (2026-10-24)"),
            ])
        );
    }

    #[test]
    fn iso_weeks_cross_the_year_end_and_years_do_not() {
        // 2026 has an ISO week 53 (Monday 28 December to Sunday 3 January 2027).
        let got = run(
            &[
                "2027-01-11T10:00:00Z", // 2027-W02
                "2027-01-10T10:00:00Z", // 2027-W01
                "2027-01-04T10:00:00Z", // 2027-W01
                "2027-01-03T23:30:00Z", // Monday 4th 00:30 in Paris: 2027-W01
                "2027-01-02T10:00:00Z", // 2026-W53, year 2027
                "2026-12-31T10:00:00Z", // 2026-W53, year 2026
                "2026-12-28T10:00:00Z", // 2026-W53
                "2026-12-21T10:00:00Z", // 2026-W52
            ],
            Policy {
                keep_weekly: Some(3),
                keep_yearly: Some(2),
                ..Policy::default()
            },
            "2027-01-11T12:00:00Z",
            &paris(),
        );
        assert_eq!(
            got,
            pairs(&[
                (
                    "2027-01-11T10:00:00Z",
                    "kept: the newest of this job's archives"
                ),
                ("2027-01-10T10:00:00Z", "kept: weekly (2027-W01)"),
                ("2027-01-04T10:00:00Z", "delete: no keep rule keeps it"),
                ("2027-01-03T23:30:00Z", "delete: no keep rule keeps it"),
                ("2027-01-02T10:00:00Z", "kept: weekly (2026-W53)"),
                ("2026-12-31T10:00:00Z", "kept: yearly (2026)"),
                ("2026-12-28T10:00:00Z", "delete: no keep rule keeps it"),
                ("2026-12-21T10:00:00Z", "delete: no keep rule keeps it"),
            ])
        );
    }

    #[test]
    fn a_leap_day_is_a_day_of_february_until_local_midnight() {
        let got = run(
            &[
                "2028-02-29T23:30:00Z", // 1 March 00:30 in Paris
                "2028-02-29T22:30:00Z", // 29 February 23:30 in Paris
                "2028-02-29T08:00:00Z",
                "2028-02-28T12:00:00Z",
                "2028-01-31T12:00:00Z",
            ],
            Policy {
                keep_daily: Some(3),
                keep_monthly: Some(2),
                ..Policy::default()
            },
            "2028-03-01T12:00:00Z",
            &paris(),
        );
        assert_eq!(
            got,
            pairs(&[
                (
                    "2028-02-29T23:30:00Z",
                    "kept: the newest of this job's archives"
                ),
                (
                    "2028-02-29T22:30:00Z",
                    "kept: daily (2028-02-29), monthly (2028-02)"
                ),
                ("2028-02-29T08:00:00Z", "delete: no keep rule keeps it"),
                ("2028-02-28T12:00:00Z", "kept: daily (2028-02-28)"),
                ("2028-01-31T12:00:00Z", "delete: no keep rule keeps it"),
            ])
        );
    }

    #[test]
    fn with_tiers_keep_count_and_keep_days_keep_instead_of_limiting() {
        // Without tiers, keep_count = 1 would delete all but the newest; with a tier it keeps
        // the newest one and the tier and keep_days keep more.
        let got = run(
            &[
                "2026-06-10T10:00:00Z",
                "2026-06-09T10:00:00Z",
                "2026-06-08T10:00:00Z",
                "2026-05-20T10:00:00Z",
                "2026-04-20T10:00:00Z",
            ],
            Policy {
                keep_count: Some(1),
                keep_days: Some(2),
                keep_monthly: Some(2),
                ..Policy::default()
            },
            "2026-06-10T12:00:00Z",
            &TimeZone::UTC,
        );
        assert_eq!(
            got,
            pairs(&[
                (
                    "2026-06-10T10:00:00Z",
                    "kept: the newest of this job's archives"
                ),
                (
                    "2026-06-09T10:00:00Z",
                    "kept: keep_days (younger than 2 days)"
                ),
                ("2026-06-08T10:00:00Z", "delete: no keep rule keeps it"),
                ("2026-05-20T10:00:00Z", "kept: monthly (2026-05)"),
                ("2026-04-20T10:00:00Z", "delete: no keep rule keeps it"),
            ])
        );
    }

    #[test]
    fn others_and_future_archives_use_no_period_and_protected_ones_do() {
        let mut list = archives(&[
            "2031-01-01T10:00:00Z",
            "2026-06-10T10:00:00Z",
            "2026-06-09T12:00:00Z",
            "2026-06-09T10:00:00Z",
            "2026-06-08T10:00:00Z",
            "2026-06-07T10:00:00Z",
        ]);
        list[2].owner = Owner::Other("made by job `hourly`".into());
        let protected = [(list[3].path.clone(), "the newest archive exported")];
        let decisions = plan(
            &list,
            Policy {
                keep_daily: Some(3),
                ..Policy::default()
            },
            &protected,
            "2026-06-10T12:00:00Z".parse().unwrap(),
            &TimeZone::UTC,
        );
        let v: Vec<&Verdict> = decisions.iter().map(|d| &d.verdict).collect();
        assert_eq!(v[0], &Verdict::Keep(Keep::Future));
        assert_eq!(v[1], &Verdict::Keep(Keep::Newest));
        assert!(matches!(v[2], Verdict::Keep(Keep::NotOurs(_))));
        assert_eq!(
            v[3],
            &Verdict::Keep(Keep::Protected("the newest archive exported"))
        );
        // Days 10 and 9 are used by the newest and the protected one: the 8th is the third.
        assert!(matches!(v[4], Verdict::Keep(Keep::Rules(_))));
        assert_eq!(v[5], &Verdict::Delete(Delete::NoRule));
    }

    #[test]
    fn the_policy_says_its_mode() {
        let limits = Policy {
            keep_days: Some(30),
            ..Policy::default()
        };
        assert!(limits.to_string().starts_with("limits:"), "{limits}");
        let tiers = Policy {
            keep_days: Some(30),
            keep_weekly: Some(4),
            ..Policy::default()
        };
        assert_eq!(
            tiers.to_string(),
            "tiers: an archive is kept if any rule keeps it (keep_days = 30, keep_weekly = 4)"
        );
        assert!(Policy::default().to_string().starts_with("none:"));
    }
}

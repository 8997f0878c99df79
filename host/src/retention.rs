//! Retention as a pure decision: given a job's archives (local files or remote names),
//! who owns each, the policy, the protected names and the time, say what happens to each
//! and why. The I/O (listing, proving ownership, deleting) stays with the callers
//! (`job::retention` locally, `export::remote_retention` on a destination).
//!
//! The rules, in order, for each archive (newest first):
//! 1. not this job's (another job, another host, Odoo's own manager, unknown) → kept; an
//!    upload's temporary file → deleted when the history proves it the leftover of an
//!    upload this host started and that ended, else kept (another server's upload may be
//!    in progress: its age proves nothing);
//! 2. protected (the archive just written, the newest one exported) → kept, whatever the clock;
//! 3. dated in the future → kept, with a warning (the clock was wrong when it was made, or is now);
//! 4. the newest of the job's archives → kept;
//! 5. without tiers (limits, the original add-on's rules): older than `keep_days` →
//!    deleted; beyond the newest `keep_count` → deleted; else kept;
//! 6. with any of `keep_daily`/`keep_weekly`/`keep_monthly`/`keep_yearly` (restic's
//!    `forget`): every rule keeps, and an archive no rule keeps goes. `keep_count` keeps the
//!    newest N, `keep_days` those younger than D days, each tier the newest archive of each
//!    of its last N periods ([`tiers`]), read in the time zone given (the server's).
//!
//! Archives of others, partial uploads and archives dated in the future never use up a
//! count or a period; protected archives and the newest do.

mod tiers;

use std::fmt;
use std::path::PathBuf;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use tiers::Period;

/// Who made an archive, as far as the caller could prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This job on this host: the history (or its manifest) says so.
    ThisJob,
    /// Someone else, or nobody we know of; the text says who or why (for `prune --dry-run`).
    Other(String),
    /// Not an archive: an upload's temporary file (`<archive>….partial`) this host cannot
    /// prove it left behind — another server's upload, perhaps in progress, another
    /// tool's, an older version's, or this host's upload still running. Never deleted.
    Partial,
    /// Not an archive: the temporary file of an upload this host started (its history
    /// recorded the name before the upload) and that has ended. Deleted.
    OwnPartial,
}

/// One of a job's archives, found locally or on a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Full path (local) or remote name.
    pub path: PathBuf,
    /// Time from its name.
    pub time: Timestamp,
    /// Who made it.
    pub owner: Owner,
}

/// The rules. Without tiers, `keep_days` and `keep_count` are limits (delete what is older,
/// then the oldest beyond the count); with any tier, every rule is a keep rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Maximum age in days (limits), or keep those younger (tiers).
    pub keep_days: Option<u32>,
    /// Maximum number of archives (limits), or keep the newest N (tiers).
    pub keep_count: Option<u32>,
    /// Keep the newest archive of each of the last N days that have one.
    pub keep_daily: Option<u32>,
    /// Keep the newest archive of each of the last N ISO weeks that have one.
    pub keep_weekly: Option<u32>,
    /// Keep the newest archive of each of the last N months that have one.
    pub keep_monthly: Option<u32>,
    /// Keep the newest archive of each of the last N years that have one.
    pub keep_yearly: Option<u32>,
}

impl Policy {
    /// Whether any tier is set: every rule then keeps (restic's `forget`).
    pub fn has_tiers(&self) -> bool {
        [
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .iter()
        .any(Option::is_some)
    }

    /// The rules set, `keep_days = 30, keep_daily = 7`.
    fn rules(&self) -> String {
        [
            ("keep_days", self.keep_days),
            ("keep_count", self.keep_count),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
            ("keep_yearly", self.keep_yearly),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} = {v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl fmt::Display for Policy {
    /// The mode and its rules, for `prune --dry-run` and `config show`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.has_tiers() {
            write!(
                f,
                "tiers: an archive is kept if any rule keeps it ({})",
                self.rules()
            )
        } else if self.keep_days.is_some() || self.keep_count.is_some() {
            write!(
                f,
                "limits: an archive goes when older than keep_days or beyond keep_count ({})",
                self.rules()
            )
        } else {
            write!(f, "none: no keep_* rule is set, every archive is kept")
        }
    }
}

/// A rule that keeps an archive (tiers mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// One of the newest `keep_count`.
    Count(u32),
    /// Younger than `keep_days`.
    Days(u32),
    /// The newest archive of this period.
    Tier(Period),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Count(n) => write!(f, "keep_count (one of the newest {n})"),
            Rule::Days(d) => write!(f, "keep_days (younger than {d} days)"),
            Rule::Tier(p) => p.fmt(f),
        }
    }
}

/// Why an archive is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Not this job's archive.
    NotOurs(String),
    /// A temporary upload file this host cannot prove its own.
    Partial,
    /// Protected by the caller (e.g. "the archive just written").
    Protected(&'static str),
    /// Its name's time is later than now.
    Future,
    /// The newest of the job's archives.
    Newest,
    /// Within `keep_count` and `keep_days`.
    Policy,
    /// Kept by these rules (tiers mode).
    Rules(Vec<Rule>),
}

/// Why an archive goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delete {
    /// Older than this many days.
    OlderThan(u32),
    /// Beyond the newest this many.
    BeyondCount(u32),
    /// No rule keeps it (tiers mode).
    NoRule,
    /// The temporary file of an upload of this host that ended without removing it.
    LeftBehind,
}

/// What happens to one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It stays.
    Keep(Keep),
    /// It goes.
    Delete(Delete),
}

/// One archive and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The archive.
    pub archive: Archive,
    /// What happens to it.
    pub verdict: Verdict,
}

impl Decision {
    /// Whether the archive is to be deleted.
    pub fn deletes(&self) -> bool {
        matches!(self.verdict, Verdict::Delete(_))
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::NotOurs(why) => write!(f, "not this job's ({why}), kept"),
            Keep::Partial => write!(
                f,
                "a temporary upload file this host did not leave behind (another server's upload, perhaps in progress), kept: only the host that started it removes it"
            ),
            Keep::Protected(what) => write!(f, "kept: {what}"),
            Keep::Future => write!(f, "kept: dated in the future (check the clock)"),
            Keep::Newest => write!(f, "kept: the newest of this job's archives"),
            Keep::Policy => write!(f, "kept: within keep_days/keep_count"),
            Keep::Rules(rules) => {
                let rules: Vec<String> = rules.iter().map(Rule::to_string).collect();
                write!(f, "kept: {}", rules.join(", "))
            }
        }
    }
}

impl fmt::Display for Delete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delete::OlderThan(d) => write!(f, "older than keep_days = {d}"),
            Delete::BeyondCount(n) => write!(f, "beyond keep_count = {n}"),
            Delete::NoRule => write!(f, "no keep rule keeps it"),
            Delete::LeftBehind => write!(
                f,
                "a temporary file left behind by an upload this host started, which has ended"
            ),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Keep(k) => k.fmt(f),
            Verdict::Delete(d) => write!(f, "delete: {d}"),
        }
    }
}

/// Sorts archives newest first (by the time in their names, then by name).
pub fn sort_newest_first(archives: &mut [Archive]) {
    archives.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.path.cmp(&a.path)));
}

/// The verdict on each of `archives` (newest first) at `now`. `protected` lists paths (or
/// remote names) that are never deleted, with the reason shown for them. Tiers read dates
/// in `zone` (the server's local time: `TimeZone::system()`).
pub fn plan(
    archives: &[Archive],
    policy: Policy,
    protected: &[(PathBuf, &'static str)],
    now: Timestamp,
    zone: &TimeZone,
) -> Vec<Decision> {
    if policy.has_tiers() {
        return plan_tiers(archives, policy, protected, now, zone);
    }
    let cutoff = days_cutoff(policy, now);
    let mut kept = 0u32;
    let mut newest_seen = false;
    archives
        .iter()
        .map(|archive| {
            let verdict = if let Owner::Other(why) = &archive.owner {
                Verdict::Keep(Keep::NotOurs(why.clone()))
            } else if archive.owner == Owner::Partial {
                Verdict::Keep(Keep::Partial)
            } else if archive.owner == Owner::OwnPartial {
                Verdict::Delete(Delete::LeftBehind)
            } else if let Some((_, what)) = protected.iter().find(|(p, _)| *p == archive.path) {
                kept += 1;
                newest_seen = true;
                Verdict::Keep(Keep::Protected(what))
            } else if archive.time > now {
                Verdict::Keep(Keep::Future)
            } else if !newest_seen {
                newest_seen = true;
                kept += 1;
                Verdict::Keep(Keep::Newest)
            } else if let Some(d) = policy
                .keep_days
                .filter(|_| cutoff.is_some_and(|c| archive.time < c))
            {
                Verdict::Delete(Delete::OlderThan(d))
            } else {
                count_rule(policy, &mut kept)
            };
            Decision {
                archive: archive.clone(),
                verdict,
            }
        })
        .collect()
}

/// The cut-off of `keep_days`: archives made before it are older.
fn days_cutoff(policy: Policy, now: Timestamp) -> Option<Timestamp> {
    policy.keep_days.and_then(|d| {
        now.checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(d)))
            .ok()
    })
}

/// Tiers mode: every rule keeps; an archive no rule keeps goes.
fn plan_tiers(
    archives: &[Archive],
    policy: Policy,
    protected: &[(PathBuf, &'static str)],
    now: Timestamp,
    zone: &TimeZone,
) -> Vec<Decision> {
    let cutoff = days_cutoff(policy, now);
    let mut tiers = tiers::Tiers::new(&policy, zone);
    let mut counted = 0u32;
    let mut newest_seen = false;
    archives
        .iter()
        .map(|archive| {
            let protection = protected.iter().find(|(p, _)| *p == archive.path);
            let verdict = match &archive.owner {
                Owner::Other(why) => Verdict::Keep(Keep::NotOurs(why.clone())),
                Owner::Partial => Verdict::Keep(Keep::Partial),
                Owner::OwnPartial => Verdict::Delete(Delete::LeftBehind),
                Owner::ThisJob if protection.is_none() && archive.time > now => {
                    Verdict::Keep(Keep::Future)
                }
                Owner::ThisJob => {
                    let mut rules = Vec::new();
                    if let Some(n) = policy.keep_count.filter(|n| counted < *n) {
                        counted += 1;
                        rules.push(Rule::Count(n));
                    }
                    if let (Some(d), Some(c)) = (policy.keep_days, cutoff) {
                        if archive.time >= c {
                            rules.push(Rule::Days(d));
                        }
                    }
                    rules.extend(tiers.keep(archive.time).into_iter().map(Rule::Tier));
                    let newest = !std::mem::replace(&mut newest_seen, true);
                    match protection {
                        Some((_, what)) => Verdict::Keep(Keep::Protected(what)),
                        None if newest => Verdict::Keep(Keep::Newest),
                        None if rules.is_empty() => Verdict::Delete(Delete::NoRule),
                        None => Verdict::Keep(Keep::Rules(rules)),
                    }
                }
            };
            Decision {
                archive: archive.clone(),
                verdict,
            }
        })
        .collect()
}

fn count_rule(policy: Policy, kept: &mut u32) -> Verdict {
    match policy.keep_count {
        Some(n) if *kept >= n => Verdict::Delete(Delete::BeyondCount(n)),
        _ => {
            *kept += 1;
            Verdict::Keep(Keep::Policy)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn archives(times: &[&str]) -> Vec<Archive> {
        times
            .iter()
            .map(|t| Archive {
                path: PathBuf::from(format!("/b/{t}")),
                time: at(t),
                owner: Owner::ThisJob,
            })
            .collect()
    }

    fn deleted(decisions: &[Decision]) -> Vec<Archive> {
        decisions
            .iter()
            .filter(|d| d.deletes())
            .map(|d| d.archive.clone())
            .collect()
    }

    #[test]
    fn days_then_count_newest_kept() {
        let list = archives(&[
            "2024-01-10T00:00:00Z",
            "2024-01-09T00:00:00Z",
            "2024-01-08T00:00:00Z",
            "2024-01-01T00:00:00Z",
        ]);
        let now = at("2024-01-10T12:00:00Z");
        let policy = |keep_days, keep_count| Policy {
            keep_days,
            keep_count,
            ..Policy::default()
        };
        let del = deleted(&plan(&list, policy(Some(5), None), &[], now, &utc()));
        assert_eq!(del, list[3..].to_vec());
        let del = deleted(&plan(&list, policy(Some(5), Some(2)), &[], now, &utc()));
        assert_eq!(del, list[2..].to_vec());
        // Everything too old: the newest stays anyway.
        let del = deleted(&plan(
            &list,
            policy(Some(1), Some(0)),
            &[],
            at("2030-01-01T00:00:00Z"),
            &utc(),
        ));
        assert_eq!(del, list[1..].to_vec());
        assert!(deleted(&plan(&list, Policy::default(), &[], now, &utc())).is_empty());
    }

    #[test]
    fn archives_of_others_are_kept_and_do_not_count() {
        let mut list = archives(&[
            "2024-01-10T00:00:00Z",
            "2024-01-09T00:00:00Z",
            "2024-01-08T00:00:00Z",
        ]);
        list[0].owner = Owner::Other("job `daily`".into());
        let now = at("2024-01-10T12:00:00Z");
        let decisions = plan(
            &list,
            Policy {
                keep_days: None,
                keep_count: Some(1),
                ..Policy::default()
            },
            &[],
            now,
            &utc(),
        );
        assert_eq!(
            decisions[0].verdict,
            Verdict::Keep(Keep::NotOurs("job `daily`".into()))
        );
        assert_eq!(decisions[1].verdict, Verdict::Keep(Keep::Newest));
        assert_eq!(
            decisions[2].verdict,
            Verdict::Delete(Delete::BeyondCount(1))
        );
        assert_eq!(
            decisions[0].verdict.to_string(),
            "not this job's (job `daily`), kept"
        );
    }

    #[test]
    fn the_archive_just_written_survives_a_clock_that_ran_ahead() {
        // Made while the clock read 2031, then one at the real time with keep_count = 1.
        let list = archives(&["2031-06-01T00:00:00Z", "2026-12-02T10:00:00Z"]);
        let now = at("2026-12-02T10:00:05Z");
        let just_written = list[1].path.clone();
        let decisions = plan(
            &list,
            Policy {
                keep_days: Some(1),
                keep_count: Some(1),
                ..Policy::default()
            },
            &[(just_written, "the archive just written")],
            now,
            &utc(),
        );
        assert_eq!(decisions[0].verdict, Verdict::Keep(Keep::Future));
        assert_eq!(
            decisions[1].verdict,
            Verdict::Keep(Keep::Protected("the archive just written"))
        );
    }

    #[test]
    fn a_protected_archive_counts_toward_keep_count() {
        let list = archives(&[
            "2024-01-10T00:00:00Z",
            "2024-01-09T00:00:00Z",
            "2024-01-08T00:00:00Z",
        ]);
        let decisions = plan(
            &list,
            Policy {
                keep_days: None,
                keep_count: Some(2),
                ..Policy::default()
            },
            &[(list[1].path.clone(), "the newest archive exported")],
            at("2024-01-11T00:00:00Z"),
            &utc(),
        );
        assert_eq!(
            decisions.iter().map(Decision::deletes).collect::<Vec<_>>(),
            [false, false, true]
        );
    }
}

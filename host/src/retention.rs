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
//! 2. protected (the archive just written, the newest one of the database exported there) →
//!    kept, whatever the clock;
//! 3. dated in the future → kept, with a warning (the clock was wrong when it was made, or is now);
//! 4. the newest of the job's archives → kept;
//! 5. without tiers (limits, the original add-on's rules): older than `keep_days` →
//!    deleted; beyond the newest `keep_count` → deleted; else kept;
//! 6. with any of `keep_daily`/`keep_weekly`/`keep_monthly`/`keep_yearly` (restic's
//!    `forget`): every rule keeps, and an archive no rule keeps goes. `keep_count` keeps the
//!    newest N, `keep_days` those younger than D days, each tier the newest archive of each
//!    of its last N periods ([`tiers`]), read in the time zone given (the server's);
//! 7. age never counts across a gap longer than `keep_days` in the dates of the job's
//!    archives (a clock that jumped ahead, or backups that failed that long): an archive
//!    from before the gap that only its age would delete is kept with a warning
//!    ([`Keep::AcrossGap`]) until the archives since the gap cover `keep_days`, or until a
//!    person runs `prune` ([`by_hand`]); see [`gap`].
//!
//! Archives of others, partial uploads and archives dated in the future never use up a
//! count or a period; protected archives and the newest do.

pub mod gap;
mod policy;
mod tiers;
mod verdict;

use std::path::PathBuf;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use gap::{by_hand, Gap};
pub use policy::Policy;
pub use tiers::Period;
pub use verdict::{warnings, Decision, Delete, Keep, Rule, Verdict};

/// Who made an archive, as far as the caller could prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This job on this host: the history (or its manifest) says so.
    ThisJob,
    /// Someone else, or nobody we know of; the text says who or why (for `prune --dry-run`).
    Other(String),
    /// Not proven this job's, but it may be (no proof of anybody, a job no longer
    /// configured, an encrypted archive): `why`, and `claim` says how to claim it if it is.
    Unclaimed {
        /// Who made it, or why nobody is known to.
        why: String,
        /// `to claim it if …: sauvegarde prune JOB --adopt …`.
        claim: String,
    },
    /// Not an archive: an upload's temporary file (`<archive>….partial`) this host cannot
    /// prove it left behind — another server's upload, perhaps in progress, another
    /// tool's, an older version's, or this host's upload still running. Never deleted.
    Partial,
    /// Not an archive: the temporary file of an upload this host started (its history
    /// recorded the name before the upload) and that has ended. Deleted.
    OwnPartial,
}

impl Owner {
    /// Why an archive of someone else's is kept (`None` for this job's and partials).
    fn not_ours(&self) -> Option<Keep> {
        match self {
            Owner::Other(why) => Some(Keep::NotOurs(why.clone())),
            Owner::Unclaimed { why, claim } => Some(Keep::Unclaimed {
                why: why.clone(),
                claim: claim.clone(),
            }),
            Owner::ThisJob | Owner::Partial | Owner::OwnPartial => None,
        }
    }
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

/// When a plan is applied, which decides what age may do across a gap ([`gap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// After a backup or an upload (the daemon, `backup`, `export`): age is never counted
    /// across a gap; the archives it spares are kept with a warning.
    Backup,
    /// `prune` run by a person: the verdicts are listed, and age across a gap is applied
    /// ([`by_hand`]); with `dry_run`, listed only.
    Prune {
        /// Decide and list, delete nothing.
        dry_run: bool,
    },
}

impl Occasion {
    /// Whether nothing is to be deleted.
    pub fn dry_run(self) -> bool {
        matches!(self, Occasion::Prune { dry_run: true })
    }

    /// The verdicts `plan` gave, as this occasion applies them.
    pub fn apply(self, mut decisions: Vec<Decision>) -> Vec<Decision> {
        if let Occasion::Prune { .. } = self {
            by_hand(&mut decisions);
        }
        decisions
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
    let gap = gap::find(archives, policy.keep_days, now);
    let mut kept = 0u32;
    let mut newest_seen = false;
    archives
        .iter()
        .map(|archive| {
            let verdict = if let Some(keep) = archive.owner.not_ours() {
                Verdict::Keep(keep)
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
                match gap.filter(|g| g.precedes(archive)) {
                    // Its age does not count; the count still does.
                    Some(gap) => match count_rule(policy, &mut kept) {
                        Verdict::Keep(_) => Verdict::Keep(Keep::AcrossGap { keep_days: d, gap }),
                        beyond => beyond,
                    },
                    None => Verdict::Delete(Delete::OlderThan(d)),
                }
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
    let gap = gap::find(archives, policy.keep_days, now);
    let mut tiers = tiers::Tiers::new(&policy, zone);
    let mut counted = 0u32;
    let mut newest_seen = false;
    archives
        .iter()
        .map(|archive| {
            let protection = protected.iter().find(|(p, _)| *p == archive.path);
            let verdict = match (&archive.owner, archive.owner.not_ours()) {
                (_, Some(theirs)) => Verdict::Keep(theirs),
                (Owner::Partial, None) => Verdict::Keep(Keep::Partial),
                (Owner::OwnPartial, None) => Verdict::Delete(Delete::LeftBehind),
                _ if protection.is_none() && archive.time > now => Verdict::Keep(Keep::Future),
                _ => {
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
                        None if rules.is_empty() => {
                            // Only keep_days, counted across a gap, let it go.
                            match (policy.keep_days, gap.filter(|g| g.precedes(archive))) {
                                (Some(keep_days), Some(gap)) => {
                                    Verdict::Keep(Keep::AcrossGap { keep_days, gap })
                                }
                                _ => Verdict::Delete(Delete::NoRule),
                            }
                        }
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
            "2024-01-04T00:00:00Z",
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

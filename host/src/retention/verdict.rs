//! What retention decides for each archive: kept (and which rule or fact keeps it) or
//! deleted (and why), with the texts `prune --dry-run` prints, and the warnings a run's
//! decisions give the log and the notification.

use std::fmt;

use super::{Archive, Gap, Period};

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
    /// Not proven this job's; `claim` says how to claim it if it is.
    Unclaimed {
        /// Who made it, or why nobody is known to.
        why: String,
        /// How to claim it.
        claim: String,
    },
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
    /// Older than `keep_days` only across a gap in the archives' dates (rule 7): what
    /// would delete it is the age, and the age is not counted across the gap.
    AcrossGap {
        /// The `keep_days` it is older than.
        keep_days: u32,
        /// The gap.
        gap: Gap,
    },
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
    /// Older than `keep_days` counted across a gap in the archives' dates: only `prune`
    /// run by a person deletes it ([`by_hand`]).
    AcrossGap {
        /// The `keep_days` it is older than.
        keep_days: u32,
        /// The gap.
        gap: Gap,
    },
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
            Keep::Unclaimed { why, claim } => write!(f, "not this job's ({why}), kept; {claim}"),
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
            Keep::AcrossGap { keep_days, gap } => write!(
                f,
                "kept: older than keep_days = {keep_days} only across {gap}; backups keep it, `prune` run by hand deletes it"
            ),
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
            Delete::AcrossGap { keep_days, gap } => write!(
                f,
                "older than keep_days = {keep_days} counted across {gap}; backups keep it, `prune` run by hand deletes it"
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

/// What an admin must hear of in `decisions` (made for `job_id`), for the log and the
/// run's notification: archives kept because age is not counted across a gap in their
/// dates, and archives dated in the future. Empty when all is well.
pub fn warnings(job_id: &str, decisions: &[Decision]) -> Vec<String> {
    let mut out = Vec::new();
    let across: Vec<(u32, Gap)> = decisions
        .iter()
        .filter_map(|d| match d.verdict {
            Verdict::Keep(Keep::AcrossGap { keep_days, gap }) => Some((keep_days, gap)),
            _ => None,
        })
        .collect();
    if let Some((keep_days, gap)) = across.first() {
        out.push(format!(
            "{} archive(s) older than keep_days = {keep_days} kept: age is not counted across {gap}. \
             They go once the archives made since cover {keep_days} days. Check the clock; if it is \
             right, `sauvegarde prune {job_id}` lists them and deletes them now",
            across.len()
        ));
    }
    let future: Vec<String> = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Keep(Keep::Future))
        .map(|d| d.archive.path.display().to_string())
        .collect();
    if !future.is_empty() {
        out.push(format!(
            "archive(s) dated in the future kept: {}; the clock is behind the one that named them (check it)",
            future.join(", ")
        ));
    }
    out
}

//! The retention rules of one place — a job's backup directory, or one of its destinations —
//! read from the configuration: a destination's own `keep_*` keys, each one overriding the
//! job's key of the same name. The one builder both local and remote retention (and
//! `config show`) use.

use std::fmt;

use crate::config::{DestinationConfig, JobConfig};

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
    /// The policy of `job`'s backup directory (`destination` = `None`), or of one of its
    /// destinations: each `keep_*` key the destination sets, else the job's.
    pub fn of(job: &JobConfig, destination: Option<&DestinationConfig>) -> Policy {
        let key = |own: fn(&DestinationConfig) -> Option<u32>, job: Option<u32>| {
            destination.and_then(own).or(job)
        };
        Policy {
            keep_days: key(|d| d.keep_days, job.keep_days),
            keep_count: key(|d| d.keep_count, job.keep_count),
            keep_daily: key(|d| d.keep_daily, job.keep_daily),
            keep_weekly: key(|d| d.keep_weekly, job.keep_weekly),
            keep_monthly: key(|d| d.keep_monthly, job.keep_monthly),
            keep_yearly: key(|d| d.keep_yearly, job.keep_yearly),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(keep: serde_json::Value) -> JobConfig {
        let mut table = serde_json::json!({"database": "prod"});
        table
            .as_object_mut()
            .unwrap()
            .extend(keep.as_object().unwrap().clone());
        serde_json::from_value(table).unwrap()
    }

    fn dest(keep: serde_json::Value) -> DestinationConfig {
        let mut table = serde_json::json!({"type": "sftp"});
        table
            .as_object_mut()
            .unwrap()
            .extend(keep.as_object().unwrap().clone());
        serde_json::from_value(table).unwrap()
    }

    #[test]
    fn a_destination_overrides_the_job_key_by_key() {
        let job = job(serde_json::json!({"keep_count": 5, "keep_days": 30}));
        let here = Policy::of(&job, None);
        assert_eq!((here.keep_days, here.keep_count), (Some(30), Some(5)));
        let there = Policy::of(&job, Some(&dest(serde_json::json!({"keep_count": 1}))));
        assert_eq!((there.keep_days, there.keep_count), (Some(30), Some(1)));
        let job = self::job(serde_json::json!({"keep_daily": 7, "keep_weekly": 4}));
        let dest = dest(serde_json::json!({"keep_daily": 30}));
        let p = Policy::of(&job, Some(&dest));
        assert_eq!((p.keep_daily, p.keep_weekly), (Some(30), Some(4)));
        assert!(!dest.settings.contains_key("keep_daily"));
    }
}

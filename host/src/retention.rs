//! Local retention: which of a job's archives to delete. Only files matching the job's
//! name pattern are considered; the newest archive is never deleted.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::config::ArchiveFormat;
use crate::naming::parse_archive_name;

/// A job's archive found in its backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Full path.
    pub path: PathBuf,
    /// Time from its name.
    pub time: Timestamp,
}

/// The rules: delete what is older than `keep_days`, then the oldest beyond `keep_count`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Maximum age in days.
    pub keep_days: Option<u32>,
    /// Maximum number of archives.
    pub keep_count: Option<u32>,
}

/// The archives of `database` in `format` inside `dir`, newest first.
pub fn scan(dir: &Path, database: &str, format: ArchiveFormat) -> std::io::Result<Vec<Archive>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(time) = parse_archive_name(name, database, format) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            found.push(Archive {
                path: entry.path(),
                time,
            });
        }
    }
    found.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// The archives to delete from `archives` (newest first) at `now`.
pub fn plan(archives: &[Archive], policy: Policy, now: Timestamp) -> Vec<Archive> {
    let cutoff = policy.keep_days.and_then(|d| {
        now.checked_sub(jiff::SignedDuration::from_hours(24 * i64::from(d)))
            .ok()
    });
    let mut kept = 0u32;
    let mut delete = Vec::new();
    for (i, archive) in archives.iter().enumerate() {
        if i == 0 {
            // The newest archive is never deleted.
            kept += 1;
            continue;
        }
        let too_old = cutoff.is_some_and(|c| archive.time < c);
        let too_many = policy.keep_count.is_some_and(|n| kept >= n);
        if too_old || too_many {
            delete.push(archive.clone());
        } else {
            kept += 1;
        }
    }
    delete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn archives(times: &[&str]) -> Vec<Archive> {
        times
            .iter()
            .map(|t| Archive {
                path: PathBuf::from(format!("/b/{t}")),
                time: at(t),
            })
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
        let del = plan(
            &list,
            Policy {
                keep_days: Some(5),
                keep_count: None,
            },
            now,
        );
        assert_eq!(del, list[3..].to_vec());
        let del = plan(
            &list,
            Policy {
                keep_days: Some(5),
                keep_count: Some(2),
            },
            now,
        );
        assert_eq!(del, list[2..].to_vec());
        // Everything too old: the newest stays anyway.
        let del = plan(
            &list,
            Policy {
                keep_days: Some(1),
                keep_count: Some(0),
            },
            at("2030-01-01T00:00:00Z"),
        );
        assert_eq!(del, list[1..].to_vec());
        assert!(plan(&list, Policy::default(), now).is_empty());
    }

    #[test]
    fn scan_ignores_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip.partial",
            "prod_2024-01-03_00-00-00.dump",
            "other_2024-01-01_00-00-00.zip",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let found = scan(dir.path(), "prod", ArchiveFormat::Zip).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|a| a.path.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "prod_2024-01-02_00-00-00.zip",
                "prod_2024-01-01_00-00-00.zip"
            ]
        );
    }
}

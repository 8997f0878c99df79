//! Free space first: before a backup writes anything, `backup_dir` must have room for
//! an archive like the last one of this job and database (× 1.2), and at least the job's
//! `min_free_mib`. Otherwise the run fails at once, and the disk the Odoo server itself
//! needs is not filled. The decision is [`needed`], pure; [`check`] measures and applies.

use std::path::Path;

use super::BackupError;

/// Margin over the last archive's size.
pub const MARGIN: f64 = 1.2;

/// The bytes a backup needs free, and why: the last archive × [`MARGIN`] or the
/// `min_free_mib` floor, whichever is larger; `None` when neither is known.
pub fn needed(last_size: Option<u64>, min_free_mib: Option<u64>) -> Option<(u64, String)> {
    let from_last = last_size.map(|s| {
        (
            (s as f64 * MARGIN).ceil() as u64,
            format!("the last archive ({}) × {MARGIN}", human(s)),
        )
    });
    let floor = min_free_mib.map(|m| {
        (
            m.saturating_mul(1024 * 1024),
            format!("`min_free_mib` = {m}"),
        )
    });
    match (from_last, floor) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Refuses the backup of `database` when `dir` has less free space than [`needed`].
pub fn check(
    job: &str,
    database: &str,
    dir: &Path,
    last_size: Option<u64>,
    min_free_mib: Option<u64>,
) -> Result<(), BackupError> {
    let Some((need, why)) = needed(last_size, min_free_mib) else {
        return Ok(());
    };
    let free = match crate::disk::available(dir) {
        Ok((free, _)) => free,
        Err(e) => {
            tracing::warn!(job, dir = %dir.display(), "cannot measure free space: {e}; backing up anyway");
            return Ok(());
        }
    };
    if free < need {
        return Err(BackupError::NoSpace {
            job: job.into(),
            database: database.into(),
            dir: dir.to_path_buf(),
            free: human(free),
            needed: format!("{} ({why})", human(need)),
        });
    }
    Ok(())
}

/// `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_of_the_last_archive_with_margin_and_the_floor_is_needed() {
        assert_eq!(needed(None, None), None);
        assert_eq!(needed(Some(1000), None).unwrap().0, 1200);
        assert_eq!(needed(None, Some(2)).unwrap().0, 2 * 1024 * 1024);
        assert_eq!(needed(Some(10 << 20), Some(2)).unwrap().0, 12 << 20);
        let (n, why) = needed(Some(1 << 20), Some(2)).unwrap();
        assert_eq!(n, 2 << 20);
        assert!(why.contains("min_free_mib"), "{why}");
    }

    #[test]
    fn a_directory_without_room_is_refused_naming_it_and_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let (free, _) = crate::disk::available(dir.path()).unwrap();
        let err = check("j", "db", dir.path(), Some(free), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("free") && text.contains("needed"), "{text}");
        assert!(check("j", "db", dir.path(), Some(1), None).is_ok());
    }
}

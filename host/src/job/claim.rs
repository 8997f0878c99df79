//! Archive names claimed atomically. The `<name>.partial` file is created with `O_EXCL`
//! (mode 0600), then the final name is checked: two runs (two jobs, two processes) on one
//! database in one directory in the same second each get their own name, since the second
//! one moves on to the next second. A run only ever removes the partial it created.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use super::{io_err, partial_path, BackupError};
use crate::config::ArchiveFormat;
use crate::naming::{archive_name, encrypted_name};

/// How many seconds are tried before giving up (each taken by another run or a stale
/// partial file).
const ATTEMPTS: u32 = 30;

/// A claimed archive name: the partial file exists and is ours.
#[derive(Debug)]
pub struct Claim {
    /// Start time in the name (whole seconds, UTC).
    pub started: Timestamp,
    /// The archive's final file name.
    pub name: String,
    /// `<dir>/<name>`.
    pub final_path: PathBuf,
    /// `<dir>/<name>.partial`, created by this run.
    pub partial: PathBuf,
    /// The open partial file.
    pub file: File,
}

/// Claims a free archive name for `database` in `dir`, now (`<name>.age` when `encrypted`).
pub fn claim(
    dir: &std::path::Path,
    job_id: &str,
    database: &str,
    format: ArchiveFormat,
    encrypted: bool,
) -> Result<Claim, BackupError> {
    for _ in 0..ATTEMPTS {
        let now = Timestamp::now();
        let started = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let name = archive_name(database, started, format);
        let name = if encrypted {
            encrypted_name(&name)
        } else {
            name
        };
        let final_path = dir.join(&name);
        let partial = partial_path(&final_path);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
        {
            Ok(file) => {
                if std::fs::symlink_metadata(&final_path).is_err() {
                    return Ok(Claim {
                        started,
                        name,
                        final_path,
                        partial,
                        file,
                    });
                }
                // Another run finished this name in this second: give ours back.
                drop(file);
                if let Err(e) = std::fs::remove_file(&partial) {
                    tracing::warn!(file = %partial.display(), "cannot remove own claim: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(job_id, "cannot create archive", &partial)(e)),
        }
        // Taken in this second: wait for the next one.
        let into_second = now.subsec_nanosecond().max(0) as u64;
        std::thread::sleep(Duration::from_nanos(
            1_000_000_000 - into_second.min(999_999_999),
        ));
    }
    Err(BackupError::NoFreeName {
        job: job_id.into(),
        dir: dir.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_in_one_second_get_two_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = claim(dir.path(), "daily", "prod", ArchiveFormat::Zip, false).unwrap();
        let b = claim(dir.path(), "hourly", "prod", ArchiveFormat::Zip, false).unwrap();
        assert_ne!(a.name, b.name);
        assert!(a.partial.exists() && b.partial.exists());
    }

    #[test]
    fn a_finished_archive_of_this_second_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = claim(dir.path(), "daily", "prod", ArchiveFormat::Zip, false).unwrap();
        std::fs::rename(&a.partial, &a.final_path).unwrap();
        let b = claim(dir.path(), "hourly", "prod", ArchiveFormat::Zip, false).unwrap();
        assert_ne!(a.name, b.name);
        assert!(a.final_path.exists());
    }
}

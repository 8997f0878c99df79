//! One backup per job at a time: an exclusive `flock` on `<state_dir>/locks/<job>.lock`,
//! respected by the daemon and by manual `backup` commands in other processes.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "job `{job}` is already running (process {holder}, lock {path}); wait for it to finish"
    )]
    Busy {
        /// The job.
        job: String,
        /// The holder's pid as written in the lock file, or "unknown".
        holder: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be created.
    #[error("cannot create lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held job lock, released on drop.
#[derive(Debug)]
pub struct JobLock {
    file: File,
    path: PathBuf,
}

/// The lock file of `job` under `state_dir`. Job ids are used as file names when they are
/// plain; others are hex-encoded.
pub fn lock_path(state_dir: &Path, job: &str) -> PathBuf {
    let plain = !job.is_empty()
        && !job.starts_with('.')
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let name = if plain {
        job.to_string()
    } else {
        format!("x-{}", hex::encode(job))
    };
    state_dir.join("locks").join(format!("{name}.lock"))
}

impl JobLock {
    /// Takes `job`'s lock without waiting.
    pub fn try_acquire(state_dir: &Path, job: &str) -> Result<Self, LockError> {
        let path = lock_path(state_dir, job);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                if !dir.is_dir() {
                    return Err(io(e));
                }
            }
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        let mut file = match opened {
            Ok(f) => f,
            // A read-only state_dir (or one on a full disk) that already has the lock
            // file: flock works on a read-only descriptor, so backups still exclude each
            // other (the holder's pid is just not written).
            Err(e) => std::fs::File::open(&path).map_err(|_| io(e))?,
        };
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Busy {
                    job: job.into(),
                    holder: if holder.is_empty() {
                        "unknown".into()
                    } else {
                        holder.into()
                    },
                    path,
                });
            }
            return Err(io(err));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(JobLock { file, path })
    }

    /// Whether `job`'s lock is held by some process right now.
    pub fn is_held(state_dir: &Path, job: &str) -> bool {
        matches!(
            Self::try_acquire(state_dir, job),
            Err(LockError::Busy { .. })
        )
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock; empty the pid first.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = JobLock::try_acquire(dir.path(), "prod").unwrap();
        let err = JobLock::try_acquire(dir.path(), "prod").unwrap_err();
        assert!(err.to_string().contains("already running"), "{err}");
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
        assert!(JobLock::try_acquire(dir.path(), "other").is_ok());
        drop(first);
        assert!(JobLock::try_acquire(dir.path(), "prod").is_ok());
    }

    #[test]
    fn odd_ids_are_encoded() {
        let p = lock_path(Path::new("/s"), "../x");
        assert_eq!(p, Path::new("/s/locks/x-2e2e2f78.lock"));
    }
}

//! `verify_after_backup = true`: the cheap verification of every fresh archive. An
//! archive that fails it is not a backup: it is renamed `<name>.failed-verify` (kept for
//! inspection, out of reach of retention, exports and restores of "the latest archive"),
//! its history row is marked failed with the reason, and the backup run fails.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{verify_archive, Status, VerifyOptions};
use crate::cancel::CancelFlag;
use crate::config::JobConfig;
use crate::dump::pg_restore_for;
use crate::dump::PgTools;
use crate::history::History;

/// Suffix of an archive that failed its verification.
pub const FAILED_SUFFIX: &str = ".failed-verify";

/// A fresh archive failed its verification.
#[derive(Debug, thiserror::Error)]
#[error("job `{job}`: archive {path} failed its verification: {reason}")]
pub struct VerifyFailed {
    /// The job.
    pub job: String,
    /// The archive's final path.
    pub path: PathBuf,
    /// What failed, and where the archive was kept.
    pub reason: String,
}

/// Verifies the archive just written at `path` (history row `id`, when the history could
/// record it) when the job asks for it; on failure renames it away and marks the row failed.
pub fn run(
    job_id: &str,
    job: &JobConfig,
    path: &Path,
    history: Option<&History>,
    id: Option<i64>,
    cancel: &CancelFlag,
) -> Result<(), VerifyFailed> {
    if !job.verify_after_backup {
        return Ok(());
    }
    let pg_restore = PgTools::discover(job.pg_dump.as_deref())
        .map(|t| pg_restore_for(&t.pg_dump))
        .unwrap_or_else(|| PathBuf::from("pg_restore"));
    let options = VerifyOptions {
        pg_restore: &pg_restore,
        history: None,
        strict: false,
        cancel,
        encrypted: None,
    };
    let started = Instant::now();
    let reason = match verify_archive(path, &options) {
        Ok(report) if report.ok => {
            for c in report.checks.iter().filter(|c| c.status == Status::Warning) {
                // Row counts of a database in use differ from the pre-dump count: routine.
                if c.check == "row_counts" {
                    tracing::info!(job = job_id, archive = %path.display(), "verify: {}: {}", c.check, c.detail);
                } else {
                    tracing::warn!(job = job_id, archive = %path.display(), "verify: {}: {}", c.check, c.detail);
                }
            }
            tracing::info!(job = job_id, archive = %path.display(), "archive verified in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        Ok(report) => report.failures(),
        Err(e) => e.to_string(),
    };
    let mut kept = path.as_os_str().to_owned();
    kept.push(FAILED_SUFFIX);
    let kept = PathBuf::from(kept);
    let reason = match std::fs::rename(path, &kept) {
        Ok(()) => format!("{reason}; the archive was renamed to {}", kept.display()),
        Err(e) => format!("{reason}; renaming it to {} failed: {e}", kept.display()),
    };
    let reason = crate::redact::scrub(&reason).into_owned();
    tracing::error!(job = job_id, archive = %path.display(), "verification failed: {reason}");
    let recorded = match (history, id) {
        (Some(h), Some(id)) => h.fail_backup(id, &format!("verification failed: {reason}")),
        _ => Ok(()),
    };
    if let Err(e) = recorded {
        tracing::error!("{e}");
    }
    Err(VerifyFailed {
        job: job_id.to_string(),
        path: path.to_path_buf(),
        reason,
    })
}

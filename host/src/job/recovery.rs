//! Crash recovery: `running` rows (and their partial files) left by a process that died.
//! A row is the dead process's when its job's lock is free; the partial it names was
//! claimed by that run, so removing it removes nothing of anybody else's.

use std::path::Path;

use super::partial_path;
use crate::history::History;
use crate::lock::JobLock;

/// Marks `running` history rows of processes that died as failed and removes their
/// partial files. A row is stale when its job's lock is free (or is `own_job`, whose
/// lock the caller holds).
pub fn recover_stale(history: &History, state_dir: &Path, own_job: Option<&str>) {
    let rows = match history.running() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    for row in rows {
        let stale = Some(row.job.as_str()) == own_job || !JobLock::is_held(state_dir, &row.job);
        if !stale {
            continue;
        }
        remove_if_exists(&partial_path(Path::new(&row.path)));
        let pid = row
            .pid
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into());
        let message = format!("interrupted: the process (pid {pid}) running this backup died; partial archive removed");
        tracing::warn!(job = row.job, archive = row.path, "{message}");
        if let Err(e) = history.fail_backup(row.id, &message) {
            tracing::error!("{e}");
        }
    }
    let jobs = history.jobs_with_running_exports().unwrap_or_else(|e| {
        tracing::error!("{e}");
        Vec::new()
    });
    for job in jobs {
        if Some(job.as_str()) != own_job && JobLock::is_held(state_dir, &job) {
            continue;
        }
        let message = "interrupted: the process running this export died";
        match history.fail_running_exports(&job, message) {
            Ok(n) => tracing::warn!(job, attempts = n, "{message}"),
            Err(e) => tracing::error!("{e}"),
        }
    }
}

pub(super) fn remove_if_exists(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!(file = %path.display(), "partial archive removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(file = %path.display(), "cannot remove partial archive: {e}"),
    }
}

//! `prune <JOB> [--dry-run]`: retention now, locally and on every destination.

use super::{exit, load_config, plugins::discover, print_text, CliError};
use crate::export::{open_destination, remote_retention, ExportError};
use crate::history::History;
use crate::lock::JobLock;

/// Applies (or with `dry_run` shows) the job's retention in its backup directory, then on
/// each destination. Exit 1 when a destination could not be pruned.
pub fn run(files: &[std::path::PathBuf], job_id: &str, dry_run: bool) -> Result<i32, CliError> {
    let config = load_config(files)?.config;
    let archives = crate::job::prune(&config, job_id, dry_run).map_err(|e| CliError {
        code: e.exit_code(),
        message: e.to_string(),
    })?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut text = String::new();
    for a in &archives {
        text.push_str(&format!("{verb} {}\n", a.path.display()));
    }
    let mut deleted = archives.len();
    let mut failed = 0;
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    if !job.destinations.is_empty() {
        let registry = discover(files)?;
        let _lock = if dry_run {
            None
        } else {
            Some(JobLock::try_acquire(&config.state_dir, job_id).map_err(CliError::failed)?)
        };
        std::fs::create_dir_all(&config.state_dir).map_err(CliError::failed)?;
        let history = History::open(&config.state_dir).map_err(CliError::failed)?;
        for (name, dest) in &job.destinations {
            // The newest archive exported there is never deleted.
            let newest = history
                .newest_export(job_id, name)
                .map_err(CliError::failed)?;
            let protected: Vec<&str> = newest.as_deref().into_iter().collect();
            let result = open_destination(&registry, job_id, name, dest).and_then(|d| {
                remote_retention::apply(&d, job, dest, &protected, dry_run)
                    .map_err(|e| ExportError::plugin(job_id, name, e))
            });
            match result {
                Ok(names) => {
                    for file in &names {
                        text.push_str(&format!("{verb} {name}:{file}\n"));
                        if !dry_run {
                            if let Err(e) = history.mark_export_deleted(job_id, name, file) {
                                tracing::error!("{e}");
                            }
                        }
                    }
                    deleted += names.len();
                }
                Err(e) => {
                    failed += 1;
                    text.push_str(&format!("✗ {name}: {e}\n"));
                }
            }
        }
    }
    if deleted == 0 && failed == 0 {
        text.push_str("nothing to delete\n");
    }
    print_text(&text)?;
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}

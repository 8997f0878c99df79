//! `export <job> <archive>`: (re)sends an existing archive to the job's destinations.

use std::path::{Path, PathBuf};

use super::{exit, load_config, plugins::discover, print_text, CliError};
use crate::export::{open_destination, upload_with_retries, ExportError, RetryPolicy};

/// Uploads `archive` to every destination of `job_id`, in turn. Exit 1 if any failed.
pub fn run(files: &[PathBuf], job_id: &str, archive: &Path) -> Result<i32, CliError> {
    let loaded = load_config(files)?;
    let job = loaded
        .config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    if !archive.is_file() {
        return Err(CliError::usage(format!(
            "{}: no such archive",
            archive.display()
        )));
    }
    let registry = discover(files)?;
    let mut failed = 0;
    for (name, config) in &job.destinations {
        let policy = RetryPolicy {
            retries: config.retries.unwrap_or(3),
            ..RetryPolicy::default()
        };
        let started = std::time::Instant::now();
        let result = open_destination(&registry, job_id, name, config).and_then(|d| {
            upload_with_retries(&d, archive, policy, &mut |_, _| true, &mut |_, _| {})
                .map_err(|e| ExportError::plugin(job_id, name, e))
        });
        match result {
            Ok(attempts) => {
                let size = archive.metadata().map(|m| m.len()).unwrap_or(0);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(job = job_id, destination = %name, attempts, "uploaded {size} bytes in {secs:.1} s ({:.1} MiB/s)", size as f64 / secs / 1048576.0);
                print_text(&format!("✓ {name}: uploaded {}\n", archive.display()))?;
            }
            Err(e) => {
                failed += 1;
                print_text(&format!("✗ {name}: {e}\n"))?;
            }
        }
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}

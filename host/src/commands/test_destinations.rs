//! `test <job> [dest]`: checks the connection to a job's destinations.

use std::path::PathBuf;

use super::{exit, load_config, plugins::discover, print_text, CliError};
use crate::export::{open_destination, ExportError};

/// Runs `test_connection` on each destination (or the one named), printing ✓ or ✗ with
/// the plugin's message. Exit 1 if any failed.
pub fn run(files: &[PathBuf], job_id: &str, only: Option<&str>) -> Result<i32, CliError> {
    let loaded = load_config(files)?;
    let job = loaded
        .config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    if let Some(name) = only {
        if !job.destinations.contains_key(name) {
            return Err(CliError::usage(format!(
                "job `{job_id}` has no destination `{name}`"
            )));
        }
    }
    if job.destinations.is_empty() {
        return Err(CliError::usage(format!(
            "job `{job_id}` has no destinations"
        )));
    }
    let registry = discover(files)?;
    let mut failed = 0;
    for (name, config) in &job.destinations {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let result = open_destination(&registry, job_id, name, config).and_then(|d| {
            d.test_connection()
                .map_err(|e| ExportError::plugin(job_id, name, e))
        });
        let line = match result {
            Ok(message) => format!(
                "✓ {name} ({}): {}\n",
                config.kind,
                crate::redact::scrub(&message)
            ),
            Err(e) => {
                failed += 1;
                format!("✗ {name} ({}): {e}\n", config.kind)
            }
        };
        print_text(&line)?;
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}

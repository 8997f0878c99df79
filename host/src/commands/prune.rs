//! `prune <JOB> [--dry-run]`: local retention now.

use super::{exit, load_config, print_text, CliError};

/// Applies (or with `dry_run` shows) the job's retention in its backup directory.
pub fn run(files: &[std::path::PathBuf], job: &str, dry_run: bool) -> Result<i32, CliError> {
    let config = load_config(files)?.config;
    let archives = crate::job::prune(&config, job, dry_run).map_err(|e| CliError {
        code: e.exit_code(),
        message: e.to_string(),
    })?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let mut text = String::new();
    for a in &archives {
        text.push_str(&format!("{verb} {}\n", a.path.display()));
    }
    if archives.is_empty() {
        text.push_str("nothing to delete\n");
    }
    print_text(&text)?;
    Ok(exit::OK)
}

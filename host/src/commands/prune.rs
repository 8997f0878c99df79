//! `prune <JOB> [--dry-run] [--adopt]`: retention now, locally and on every destination.

use super::{exit, load_config, plugins::discover, print_text, CliError};
use crate::config::Uses;
use crate::job::{prune, PruneOptions};
use crate::plugins::PluginRegistry;
use crate::retention::Decision;

/// Applies (or with `dry_run` shows) the job's retention; every file of the job's pattern
/// is listed with its verdict. Exit 1 when a destination could not be pruned.
pub fn run(
    files: &[std::path::PathBuf],
    job_id: &str,
    dry_run: bool,
    adopt: bool,
) -> Result<i32, CliError> {
    let config = load_config(files, Uses::Job(job_id))?.config;
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    let registry = if job.destinations.is_empty() {
        PluginRegistry::default()
    } else {
        discover(&config)
    };
    let report = prune(&config, job_id, &registry, PruneOptions { dry_run, adopt })
        .map_err(super::backup_error)?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let claim = if dry_run { "would adopt" } else { "adopted" };
    let mut text = String::new();
    let mut deleted = 0;
    text.push_str(&format!("retention here: {}\n", report.local.policy));
    for r in &report.remote {
        text.push_str(&format!("retention on {}: {}\n", r.destination, r.policy));
    }
    for path in &report.adopted {
        text.push_str(&format!("{claim} {}\n", path.display()));
    }
    for d in &report.local.decisions {
        text.push_str(&line(verb, &d.archive.path.display().to_string(), d));
        deleted += usize::from(d.deletes());
    }
    for (path, why) in &report.local.failed {
        text.push_str(&format!("✗ kept {}: {why}\n", path.display()));
    }
    let mut failed = 0;
    for r in &report.remote {
        for name in &r.adopted {
            text.push_str(&format!("{claim} {}:{name}\n", r.destination));
        }
        match &r.result {
            Ok(decisions) => {
                for d in decisions {
                    let name = format!("{}:{}", r.destination, d.archive.path.display());
                    text.push_str(&line(verb, &name, d));
                    deleted += usize::from(d.deletes());
                }
            }
            Err(e) => {
                failed += 1;
                text.push_str(&format!("✗ {}: {e}\n", r.destination));
            }
        }
    }
    if deleted == 0 && failed == 0 {
        text.push_str("nothing to delete\n");
    }
    print_text(&text)?;
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}

/// `would delete NAME (older than …)` or `kept NAME: why`.
fn line(verb: &str, name: &str, d: &Decision) -> String {
    match &d.verdict {
        crate::retention::Verdict::Delete(why) => format!("{verb} {name} ({why})\n"),
        crate::retention::Verdict::Keep(why) => format!("{name}: {why}\n"),
    }
}

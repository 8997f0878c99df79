//! `prune <JOB> [--dry-run] [--adopt [--from-job OLD] [--identity FILE]]`: retention now,
//! locally and on every destination.

use std::path::{Path, PathBuf};

use super::{exit, load_config, plugins::discover, print_text, CliError};
use sauvegarde::config::Uses;
use sauvegarde::job::adopt::ClaimFrom;
use sauvegarde::job::{prune, PruneOptions};
use sauvegarde::plugins::PluginRegistry;
use sauvegarde::retention::{Decision, Delete, Verdict};

/// Applies (or with `dry_run` shows) the job's retention; every file of the job's pattern
/// is listed with its verdict. Exit 1 when a destination could not be pruned.
pub fn run(
    files: &[PathBuf],
    job_id: &str,
    dry_run: bool,
    adopt: bool,
    from_job: Option<&str>,
    identity: Option<&Path>,
) -> Result<i32, CliError> {
    let config = load_config(files, Uses::Job(job_id))?.config;
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    let identities = identity
        .map(sauvegarde::crypt::load_identities)
        .transpose()
        .map_err(CliError::usage)?;
    let registry = if job.destinations.is_empty() {
        PluginRegistry::default()
    } else {
        discover(&config)
    };
    let options = PruneOptions {
        dry_run,
        adopt,
        from: ClaimFrom {
            job: from_job,
            identities: identities.as_deref(),
        },
    };
    let report = prune(&config, job_id, &registry, options).map_err(super::backup_error)?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    let claim = if dry_run { "would adopt" } else { "adopted" };
    let mut text = String::new();
    let mut deleted = 0;
    text.push_str(&format!("retention here: {}\n", report.local.policy));
    for r in &report.remote {
        text.push_str(&format!("retention on {}: {}\n", r.destination, r.policy));
    }
    for w in &report.local.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    let all_decisions = report.local.decisions.iter().chain(
        report
            .remote
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .flatten(),
    );
    if let Some(gap) = across_gap(all_decisions) {
        text.push_str(&format!(
            "keep_days is counted across {gap}: backups and the daemon keep what it would delete; \
             this prune, run by hand, {} it\n",
            if dry_run { "would delete" } else { "deletes" }
        ));
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

/// The gap across which this prune counts age, if it does anywhere.
fn across_gap<'a>(
    decisions: impl Iterator<Item = &'a Decision>,
) -> Option<sauvegarde::retention::Gap> {
    decisions.into_iter().find_map(|d| match d.verdict {
        Verdict::Delete(Delete::AcrossGap { gap, .. }) => Some(gap),
        _ => None,
    })
}

/// `would delete NAME (older than …)` or `kept NAME: why`.
fn line(verb: &str, name: &str, d: &Decision) -> String {
    match &d.verdict {
        Verdict::Delete(why) => format!("{verb} {name} ({why})\n"),
        Verdict::Keep(why) => format!("{name}: {why}\n"),
    }
}

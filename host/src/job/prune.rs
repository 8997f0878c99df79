//! `prune`: retention now, under the job's lock, locally and on every destination, with
//! `--dry-run` (decide, delete nothing) and `--adopt` (claim the job's files that nobody is
//! known to have made, a renamed job's with `--from-job`, encrypted ones with `--identity`,
//! listing them; see [`super::adopt`]). Run by a person, it applies `keep_days` across a gap
//! in the archives' dates too, which backups never do ([`crate::retention::gap`]). Without a
//! usable history nothing is deleted: ownership cannot be proven.

use std::path::PathBuf;

use super::adopt::{adopt_unclaimed, ClaimFrom};
use super::record::JobHistory;
use super::retention::{apply_retention, Protect, RetentionReport};
use super::{job_of, BackupError};
use crate::config::Config;
use crate::export::{open_destination, remote_retention, ExportError};
use crate::lock::JobLock;
use crate::plugins::PluginRegistry;
use crate::retention::{Decision, Occasion, Policy};

/// What `prune` may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneOptions<'a> {
    /// Decide and list, delete nothing.
    pub dry_run: bool,
    /// Claim the job's unclaimed files first (with `dry_run`: list what would be claimed).
    pub adopt: bool,
    /// With `adopt`: what else may be claimed (a renamed job's files, encrypted files).
    pub from: ClaimFrom<'a>,
}

/// Retention on one destination.
#[derive(Debug)]
pub struct RemotePrune {
    /// The destination's name.
    pub destination: String,
    /// The destination's policy.
    pub policy: Policy,
    /// Files claimed with `--adopt`.
    pub adopted: Vec<String>,
    /// The verdict on each of the job's files there, or why it could not be pruned.
    pub result: Result<Vec<Decision>, ExportError>,
}

/// What `prune` decided and did.
#[derive(Debug)]
pub struct PruneReport {
    /// Files claimed locally with `--adopt`.
    pub adopted: Vec<PathBuf>,
    /// Local retention.
    pub local: RetentionReport,
    /// Each destination's retention.
    pub remote: Vec<RemotePrune>,
}

/// Applies (or shows) the job's retention locally, then on each destination (when the
/// job has destinations, `registry` must hold their plugins).
pub fn prune(
    config: &Config,
    job_id: &str,
    registry: &PluginRegistry,
    options: PruneOptions<'_>,
) -> Result<PruneReport, BackupError> {
    let job = job_of(config, job_id)?;
    if options.adopt {
        options.from.check(config, job_id)?;
    }
    let _lock = if options.dry_run {
        None
    } else {
        std::fs::create_dir_all(&config.state_dir).map_err(super::io_err(
            job_id,
            "cannot create state_dir",
            &config.state_dir,
        ))?;
        Some(JobLock::try_acquire(&config.state_dir, job_id)?)
    };
    let history = JobHistory::open(config, Some(job_id));
    let Some(h) = history.get() else {
        return Err(BackupError::HistoryUnavailable {
            job: job_id.into(),
            reason: history.unavailable().unwrap_or("unknown").to_string(),
        });
    };
    if job.database.fixed().is_some_and(|d| d.len() == 1) {
        return prune_database(config, job_id, h, registry, options);
    }
    // Many databases: each one's archives apart (retention counts per database).
    let mut all = PruneReport {
        adopted: Vec::new(),
        local: RetentionReport::default(),
        remote: Vec::new(),
    };
    for database in super::databases::known(config, job_id, h) {
        let narrowed = config.for_database(job_id, &database);
        let report = prune_database(&narrowed, job_id, h, registry, options)?;
        all.adopted.extend(report.adopted);
        all.local.policy = report.local.policy;
        all.local.decisions.extend(report.local.decisions);
        all.local.deleted.extend(report.local.deleted);
        all.local.adopted.extend(report.local.adopted);
        all.local.failed.extend(report.local.failed);
        all.local.warnings.extend(report.local.warnings);
        all.remote.extend(report.remote);
    }
    Ok(all)
}

/// [`prune`] of a job narrowed to one database, the lock held.
fn prune_database(
    config: &Config,
    job_id: &str,
    h: &crate::history::History,
    registry: &PluginRegistry,
    options: PruneOptions<'_>,
) -> Result<PruneReport, BackupError> {
    let job = job_of(config, job_id)?;
    let adopted = if options.adopt {
        adopt_unclaimed(config, job_id, h, options.from, options.dry_run)?
    } else {
        Vec::new()
    };
    let occasion = Occasion::Prune {
        dry_run: options.dry_run,
    };
    let local = apply_retention(config, job_id, h, &Protect::default(), &adopted, occasion)?;
    let remote = job
        .destinations
        .iter()
        .map(|(name, dest)| {
            let scope = remote_retention::Scope {
                job_id,
                job,
                destination: name,
                config: dest,
                history: h,
                jobs: &config.jobs,
            };
            let mut adopted = Vec::new();
            let result = open_destination(registry, job_id, name, dest).and_then(|d| {
                if options.adopt {
                    adopted = remote_retention::adopt_unclaimed(
                        &d,
                        &scope,
                        options.from.job,
                        options.dry_run,
                    )
                    .map_err(|e| ExportError::plugin(job_id, name, e))?;
                }
                remote_retention::apply(&d, &scope, None, &adopted, occasion)
                    .map_err(|e| ExportError::plugin(job_id, name, e))
            });
            RemotePrune {
                destination: name.clone(),
                policy: Policy::of(job, Some(dest)),
                adopted,
                result,
            }
        })
        .collect();
    Ok(PruneReport {
        adopted,
        local,
        remote,
    })
}

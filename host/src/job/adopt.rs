//! Claiming archives for a job. After a history loss, the archives whose manifests name a
//! job on this host are re-adopted into the history by themselves ([`adopt_everything`]).
//! Anything else is claimed only when a person says so, with `prune --adopt`
//! ([`adopt_unclaimed`]), which takes, among the files of the job's pattern (either format):
//! - the files nobody is known to have made (no history row, no manifest of another job or
//!   host): Odoo's own, copies, `.dump` archives after a history loss — on the admin's word;
//! - with `--from-job OLD`, those of job `OLD` on this host, a job no longer configured (the
//!   job was renamed): proven by the history rows of `OLD` (rewritten to this job) or, with
//!   no row, by a manifest naming `OLD` on this host;
//! - with `--identity FILE`, the encrypted ones the history does not know, whose manifest,
//!   read with the key ([`crate::ownership::encrypted_manifest_owner`]), names this job (or
//!   `OLD`) on this host, or nobody (a `.dump.age`, which has no manifest, once the key
//!   opens it).
//!
//! Another configured job's archives and another host's are never claimed.

use std::path::PathBuf;

use super::retention::{survey, Found, LocalOwner};
use super::BackupError;
use crate::config::Config;
use crate::history::History;
use crate::ownership::{encrypted_manifest_owner, ManifestOwner};

/// What `prune --adopt` may claim besides the files nobody is known to have made.
#[derive(Default, Clone, Copy)]
pub struct ClaimFrom<'a> {
    /// A job id no longer configured whose archives become this job's (a renamed job).
    pub job: Option<&'a str>,
    /// Identities that read the manifests of encrypted archives.
    pub identities: Option<&'a [Box<dyn age::Identity>]>,
}

impl std::fmt::Debug for ClaimFrom<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimFrom")
            .field("job", &self.job)
            .field("identities", &self.identities.map(<[_]>::len))
            .finish()
    }
}

impl ClaimFrom<'_> {
    /// Refuses `--from-job` naming a configured job (its archives are its own) or the job
    /// itself.
    pub fn check(&self, config: &Config, job_id: &str) -> Result<(), BackupError> {
        let Some(from) = self.job else {
            return Ok(());
        };
        let why = if from == job_id {
            "is this job itself"
        } else if config.jobs.contains_key(from) {
            "is a configured job, and its archives are its own: --from-job takes the id of a job no longer in the configuration (a renamed job)"
        } else {
            return Ok(());
        };
        Err(BackupError::ClaimRefused {
            job: job_id.into(),
            from: from.into(),
            why,
        })
    }
}

/// Records `found` (proven by its manifest, or claimed) as `job_id`'s archive.
pub fn record(history: &History, job_id: &str, found: &Found, message: &str) -> bool {
    match history.adopt_backup(
        job_id,
        &found.path,
        &found.time.to_string(),
        found.size,
        message,
    ) {
        Ok(_) => {
            tracing::info!(job = job_id, archive = %found.path.display(), "{message}");
            true
        }
        Err(e) => {
            tracing::error!(job = job_id, archive = %found.path.display(), "cannot adopt: {e}");
            false
        }
    }
}

/// After a history loss: adopts every job's archives that their manifests prove are
/// theirs. Returns how many.
pub fn adopt_everything(config: &Config, history: &History) -> usize {
    let mut adopted = 0;
    for (job_id, job) in &config.jobs {
        let narrowed: Vec<Config> = match job.database.fixed() {
            Some(d) if d.len() == 1 => vec![config.clone()],
            _ => super::databases::known(config, job_id, history)
                .iter()
                .map(|db| config.for_database(job_id, db))
                .collect(),
        };
        for config in &narrowed {
            match survey(config, job_id, history) {
                Ok(found) => {
                    for f in found.iter().filter(|f| f.owner == LocalOwner::Manifest) {
                        adopted +=
                            usize::from(record(history, job_id, f, "re-adopted from its manifest"));
                    }
                }
                Err(e) => tracing::warn!(job = job_id, "cannot re-adopt archives: {e}"),
            }
        }
    }
    adopted
}

/// Why a file of the job's pattern is claimed by `prune --adopt`, if it is.
fn claim_reason(found: &Found, job_id: &str, from: ClaimFrom<'_>) -> Option<String> {
    match &found.owner {
        LocalOwner::Unknown | LocalOwner::Manifest => Some("adopted with prune --adopt".into()),
        LocalOwner::Job(j) if from.job == Some(j.as_str()) => Some(format!(
            "claimed from job `{j}` with prune --adopt --from-job"
        )),
        LocalOwner::Encrypted => {
            let identities = from.identities?;
            match encrypted_manifest_owner(&found.path, identities) {
                Ok(ManifestOwner::Here { job }) if job == job_id || from.job == Some(&job) => {
                    Some(format!(
                        "adopted with prune --adopt --identity (its manifest names job `{job}` on this host)"
                    ))
                }
                Ok(ManifestOwner::Unknown) => Some(
                    "adopted with prune --adopt --identity (the key opens it; it names no owner)"
                        .into(),
                ),
                Ok(ManifestOwner::Here { job }) => {
                    tracing::info!(job = job_id, archive = %found.path.display(), "not claimed: its manifest names job `{job}`");
                    None
                }
                Ok(ManifestOwner::OtherHost) => {
                    tracing::info!(job = job_id, archive = %found.path.display(), "not claimed: made on another host, per its manifest");
                    None
                }
                Err(e) => {
                    tracing::warn!(job = job_id, archive = %found.path.display(), "not claimed: {e}");
                    None
                }
            }
        }
        _ => None,
    }
}

/// `prune --adopt`: records as this job's the files of its pattern that nobody is known
/// to have made, and those `from` proves (see the module's doc), listing them; with
/// `dry_run`, only lists. Claiming from a renamed job rewrites that job's history rows of
/// those files to this job.
pub fn adopt_unclaimed(
    config: &Config,
    job_id: &str,
    history: &History,
    from: ClaimFrom<'_>,
    dry_run: bool,
) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    for f in survey(config, job_id, history)? {
        let Some(message) = claim_reason(&f, job_id, from) else {
            continue;
        };
        if dry_run || claim(history, job_id, &f, &message) {
            out.push(f.path.clone());
        }
    }
    Ok(out)
}

/// Claims `found` for `job_id`: the rows of the job it came from (a renamed job) are
/// rewritten; a file without a row gets one.
fn claim(history: &History, job_id: &str, found: &Found, message: &str) -> bool {
    if let LocalOwner::Job(from) = &found.owner {
        match history.reassign_backup(&found.path, from, job_id) {
            Ok(0) => {}
            Ok(_) => {
                tracing::info!(job = job_id, archive = %found.path.display(), "{message}");
                return true;
            }
            Err(e) => {
                tracing::error!(job = job_id, archive = %found.path.display(), "cannot claim: {e}");
                return false;
            }
        }
    }
    record(history, job_id, found, message)
}

//! Local retention on the archives this job is proven to own.
//!
//! A file of the job's name pattern in its backup directory is this job's when the history
//! knows it as this job's archive at that path with that size (its SHA-256 is checked again
//! before it is deleted), or — when the history does not know it — when its manifest names
//! this job on this host (it is then re-adopted into the history). Everything else (another
//! job's archive, Odoo's own, another host's) is kept and listed as "not this job's".
//! The decision itself is [`crate::retention::plan`].

use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{backup_dir, checksum, io_err, job_of, BackupError};
use crate::config::{ArchiveFormat, Config, JobConfig};
use crate::history::History;
use crate::naming::{is_encrypted_name, parse_archive_name};
use crate::ownership::{manifest_owner, ManifestOwner};
use crate::retention::{self, Archive, Decision, Owner, Policy, Verdict};

/// Archives retention never deletes, with the reason shown for them.
#[derive(Debug, Default, Clone)]
pub struct Protect(pub Vec<(PathBuf, &'static str)>);

impl Protect {
    /// The archive just written.
    pub fn just_written(path: &Path) -> Self {
        Protect(vec![(path.to_path_buf(), "the archive just written")])
    }
}

/// Who made a local file of the job's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOwner {
    /// This job, per the history.
    Recorded,
    /// This job, per the manifest only (not in the history yet).
    Manifest,
    /// Another job of this host.
    Job(String),
    /// The history knows it as this job's, but it changed since.
    Changed(String),
    /// Made on another host.
    OtherHost,
    /// No proof of anybody: Odoo's own manager, a copy, an older sauvegarde.
    Unknown,
    /// An age-encrypted archive the history does not know: its manifest cannot be read
    /// without the identity (which the backup host does not hold), so nobody's proven.
    Encrypted,
}

impl LocalOwner {
    fn owner(&self) -> Owner {
        match self {
            LocalOwner::Recorded | LocalOwner::Manifest => Owner::ThisJob,
            LocalOwner::Job(j) => Owner::Other(format!("made by job `{j}`")),
            LocalOwner::Changed(why) => Owner::Other(why.clone()),
            LocalOwner::OtherHost => Owner::Other("made on another host, per its manifest".into()),
            LocalOwner::Unknown => Owner::Other(
                "neither the history nor a sauvegarde manifest says this job made it".into(),
            ),
            LocalOwner::Encrypted => {
                Owner::Other("encrypted, owner unknown without the identity".into())
            }
        }
    }
}

/// One local file of the job's pattern and who made it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// The time in its name.
    pub time: Timestamp,
    /// Its size.
    pub size: u64,
    /// Who made it.
    pub owner: LocalOwner,
}

/// The job's local retention policy.
pub fn job_policy(job: &JobConfig) -> Policy {
    Policy {
        keep_days: job.keep_days,
        keep_count: job.keep_count,
        keep_daily: job.keep_daily,
        keep_weekly: job.keep_weekly,
        keep_monthly: job.keep_monthly,
        keep_yearly: job.keep_yearly,
    }
}

/// What local retention decided and did.
#[derive(Debug, Default)]
pub struct RetentionReport {
    /// The policy applied.
    pub policy: Policy,
    /// The verdict on every file of the job's pattern, newest first.
    pub decisions: Vec<Decision>,
    /// Deleted (empty in a dry run).
    pub deleted: Vec<PathBuf>,
    /// Re-adopted into the history from their manifests.
    pub adopted: Vec<PathBuf>,
    /// Meant to go, but kept: the reason.
    pub failed: Vec<(PathBuf, String)>,
}

impl RetentionReport {
    /// The archives deleted.
    pub fn into_deleted(self) -> Vec<PathBuf> {
        self.deleted
    }
}

/// The files of `database`'s archives in `format` inside `dir`, regular files only.
pub fn scan(
    dir: &Path,
    database: &str,
    format: ArchiveFormat,
) -> std::io::Result<Vec<(PathBuf, Timestamp, u64)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(time) = parse_archive_name(name, database, format) else {
            continue;
        };
        let meta = entry.metadata()?;
        if meta.is_file() {
            found.push((entry.path(), time, meta.len()));
        }
    }
    Ok(found)
}

/// Who made the local file `path` of `size` bytes, for job `job_id`.
pub fn local_owner(history: &History, job_id: &str, path: &Path, size: u64) -> LocalOwner {
    match history.backup_at(path) {
        Ok(Some(row)) if row.job == job_id => match row.size {
            Some(s) if s != size => LocalOwner::Changed(format!(
                "its size ({size} bytes) differs from the {s} bytes this job wrote"
            )),
            _ => LocalOwner::Recorded,
        },
        Ok(Some(row)) => LocalOwner::Job(row.job),
        Ok(None) if is_encrypted_name(&path.to_string_lossy()) => LocalOwner::Encrypted,
        Ok(None) => match manifest_owner(path) {
            ManifestOwner::Here { job } if job == job_id => LocalOwner::Manifest,
            ManifestOwner::Here { job } => LocalOwner::Job(job),
            ManifestOwner::OtherHost => LocalOwner::OtherHost,
            ManifestOwner::Unknown => LocalOwner::Unknown,
        },
        Err(e) => LocalOwner::Changed(format!("the history cannot say who made it: {e}")),
    }
}

/// The job's files with their owners (the history asked, manifests read where needed).
pub fn survey(config: &Config, job_id: &str, history: &History) -> Result<Vec<Found>, BackupError> {
    let job = job_of(config, job_id)?;
    let dir = backup_dir(config, job);
    let files = scan(&dir, &job.database.name(), job.format)
        .map_err(|e| io_err(job_id, "cannot list backup directory", &dir)(e))?;
    Ok(files
        .into_iter()
        .map(|(path, time, size)| {
            let owner = local_owner(history, job_id, &path, size);
            Found {
                path,
                time,
                size,
                owner,
            }
        })
        .collect())
}

/// Records `found` (proven by its manifest) as this job's archive.
fn adopt(history: &History, job_id: &str, found: &Found, message: &str) -> bool {
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

/// Applies the job's local retention (the lock must be held by the caller, or `dry_run`).
/// `claimed` files count as the job's (what `prune --adopt --dry-run` would adopt).
pub fn apply_retention(
    config: &Config,
    job_id: &str,
    history: &History,
    protect: &Protect,
    claimed: &[PathBuf],
    dry_run: bool,
) -> Result<RetentionReport, BackupError> {
    let job = job_of(config, job_id)?;
    let mut found = survey(config, job_id, history)?;
    for f in found.iter_mut().filter(|f| claimed.contains(&f.path)) {
        f.owner = LocalOwner::Recorded;
    }
    let mut report = RetentionReport::default();
    if !dry_run {
        for f in found.iter().filter(|f| f.owner == LocalOwner::Manifest) {
            if adopt(history, job_id, f, "re-adopted from its manifest") {
                report.adopted.push(f.path.clone());
            }
        }
    }
    let mut archives: Vec<Archive> = found
        .iter()
        .map(|f| Archive {
            path: f.path.clone(),
            time: f.time,
            owner: f.owner.owner(),
        })
        .collect();
    retention::sort_newest_first(&mut archives);
    report.policy = job_policy(job);
    report.decisions = retention::plan(
        &archives,
        report.policy,
        &protect.0,
        Timestamp::now(),
        &TimeZone::system(),
    );
    for d in &report.decisions {
        if d.verdict == Verdict::Keep(retention::Keep::Future) {
            tracing::warn!(job = job_id, archive = %d.archive.path.display(), "archive dated in the future: kept (check the clock)");
        }
    }
    if dry_run {
        return Ok(report);
    }
    for d in report.decisions.iter().filter(|d| d.deletes()) {
        let path = &d.archive.path;
        if let Err(why) = unchanged_since_written(history, path) {
            tracing::warn!(job = job_id, archive = %path.display(), "not deleted: {why}");
            report.failed.push((path.clone(), why));
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::info!(job = job_id, archive = %path.display(), "deleted by retention ({})", d.verdict);
                if let Err(e) = history.mark_deleted(path) {
                    tracing::error!(job = job_id, "{e}");
                }
                report.deleted.push(path.clone());
            }
            Err(e) => {
                tracing::error!(job = job_id, archive = %path.display(), "cannot delete: {e}");
                report.failed.push((path.clone(), e.to_string()));
            }
        }
    }
    Ok(report)
}

/// The SHA-256 the history recorded for `path`, checked against the file before it goes.
fn unchanged_since_written(history: &History, path: &Path) -> Result<(), String> {
    let Some(recorded) = history
        .backup_at(path)
        .map_err(|e| e.to_string())?
        .and_then(|r| r.sha256)
    else {
        return Ok(());
    };
    match checksum(path) {
        Ok((_, sha)) if sha == recorded => Ok(()),
        Ok(_) => Err("its SHA-256 differs from the one recorded when it was written".into()),
        Err(e) => Err(format!("cannot read it to check its SHA-256: {e}")),
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
                            usize::from(adopt(history, job_id, f, "re-adopted from its manifest"));
                    }
                }
                Err(e) => tracing::warn!(job = job_id, "cannot re-adopt archives: {e}"),
            }
        }
    }
    adopted
}

/// `prune --adopt`: records the job's files that nobody is known to have made (no history
/// row, no manifest of another job or host) as this job's. Returns them.
pub fn adopt_unclaimed(
    config: &Config,
    job_id: &str,
    history: &History,
    dry_run: bool,
) -> Result<Vec<PathBuf>, BackupError> {
    let found = survey(config, job_id, history)?;
    let unclaimed: Vec<&Found> = found
        .iter()
        .filter(|f| matches!(f.owner, LocalOwner::Unknown | LocalOwner::Manifest))
        .collect();
    let mut out = Vec::new();
    for f in unclaimed {
        if dry_run || adopt(history, job_id, f, "adopted with prune --adopt") {
            out.push(f.path.clone());
        }
    }
    Ok(out)
}

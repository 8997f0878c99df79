//! Local retention on the archives this job is proven to own.
//!
//! A file of the job's name pattern (either format: a job whose `format` changed still
//! sees its older archives) in its backup directory is this job's when the history knows
//! it as this job's archive at that path with that size (its SHA-256 is checked again
//! before it is deleted), or — when the history does not know it — when its manifest names
//! this job on this host (it is then re-adopted into the history). Everything else (another
//! job's archive, Odoo's own, another host's) is kept and listed as "not this job's", with
//! how to claim it when it may be the job's ([`super::adopt`]). The decision itself is
//! [`crate::retention::plan`].

use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{backup_dir, checksum, io_err, job_of, BackupError};
use crate::config::Config;
use crate::history::History;
use crate::naming::{is_encrypted_name, parse_any_archive_name};
use crate::ownership::{manifest_owner, ManifestOwner};
use crate::retention::{self, Archive, Decision, Occasion, Owner, Policy, Verdict};

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
    /// Its owner for retention, with how to claim it where it may be `job_id`'s.
    pub fn owner(&self, config: &Config, job_id: &str) -> Owner {
        let claim = |how: &str, flags: &str| {
            format!("to claim it {how}: `sauvegarde prune {job_id} --adopt{flags}`")
        };
        match self {
            LocalOwner::Recorded | LocalOwner::Manifest => Owner::ThisJob,
            LocalOwner::Job(j) if config.jobs.contains_key(j) => {
                Owner::Other(format!("made by job `{j}`"))
            }
            LocalOwner::Job(j) => Owner::Unclaimed {
                why: format!("made by job `{j}`, which is no longer configured"),
                claim: claim(
                    &format!("if this job was renamed from `{j}`"),
                    &format!(" --from-job {j}"),
                ),
            },
            LocalOwner::Changed(why) => Owner::Other(why.clone()),
            LocalOwner::OtherHost => Owner::Other("made on another host, per its manifest".into()),
            LocalOwner::Unknown => Owner::Unclaimed {
                why: "neither the history nor a sauvegarde manifest says this job made it".into(),
                claim: claim("if it is this job's", ""),
            },
            LocalOwner::Encrypted => Owner::Unclaimed {
                why: "encrypted, owner unknown without the identity".into(),
                claim: claim(
                    "if it is this job's (its manifest is read with the key)",
                    " --identity FILE",
                ),
            },
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
    /// What the admin must hear of (archives kept because age is not counted across a gap
    /// in their dates, archives dated in the future): logged, and in the run's notification.
    pub warnings: Vec<String>,
}

/// The files of `database`'s archives (either format) inside `dir`, regular files only.
pub fn scan(dir: &Path, database: &str) -> std::io::Result<Vec<(PathBuf, Timestamp, u64)>> {
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
        let Some(time) = parse_any_archive_name(name, database) else {
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
    let files = scan(&dir, &job.database.name())
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

/// Applies the job's local retention (the lock must be held by the caller, unless the
/// occasion is a dry run). `claimed` files count as the job's (what `prune --adopt
/// --dry-run` would adopt).
pub fn apply_retention(
    config: &Config,
    job_id: &str,
    history: &History,
    protect: &Protect,
    claimed: &[PathBuf],
    occasion: Occasion,
) -> Result<RetentionReport, BackupError> {
    let job = job_of(config, job_id)?;
    let mut found = survey(config, job_id, history)?;
    for f in found.iter_mut().filter(|f| claimed.contains(&f.path)) {
        f.owner = LocalOwner::Recorded;
    }
    let mut report = RetentionReport::default();
    if !occasion.dry_run() {
        for f in found.iter().filter(|f| f.owner == LocalOwner::Manifest) {
            if super::adopt::record(history, job_id, f, "re-adopted from its manifest") {
                report.adopted.push(f.path.clone());
            }
        }
    }
    let mut archives: Vec<Archive> = found
        .iter()
        .map(|f| Archive {
            path: f.path.clone(),
            time: f.time,
            owner: f.owner.owner(config, job_id),
        })
        .collect();
    retention::sort_newest_first(&mut archives);
    report.policy = Policy::of(job, None);
    report.decisions = occasion.apply(retention::plan(
        &archives,
        report.policy,
        &protect.0,
        Timestamp::now(),
        &TimeZone::system(),
    ));
    report.warnings = retention::warnings(job_id, &report.decisions);
    for w in &report.warnings {
        tracing::warn!(job = job_id, "{w}");
    }
    if occasion.dry_run() {
        return Ok(report);
    }
    let across: Vec<String> = report
        .decisions
        .iter()
        .filter(|d| {
            matches!(
                d.verdict,
                Verdict::Delete(retention::Delete::AcrossGap { .. })
            )
        })
        .map(|d| d.archive.path.display().to_string())
        .collect();
    if !across.is_empty() {
        tracing::warn!(
            job = job_id,
            "prune run by hand: keep_days applied across a gap in the archives' dates; deleting {}",
            across.join(", ")
        );
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

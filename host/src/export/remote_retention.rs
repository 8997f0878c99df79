//! Retention on a destination: the same rules as locally, applied to the files the plugin
//! lists, and only to the files this job is known to have uploaded there from this host —
//! the history's `done` upload of that name to that destination, with the same size.
//! Anything else (another server sharing the directory, another job, a file copied by hand)
//! is never deleted, unless the admin claims it with `prune --adopt`. The protected names
//! (the archive just exported, the newest one exported of the database) are never deleted.
//! Archives of either format are the job's (a job whose `format` changed still prunes its
//! older uploads). A copy stored under this host's tag (`<archive>.<tag>.zip`, see
//! [`crate::export::placement`]) is the job's archive like any other, by the same proof. An
//! upload's temporary file is deleted only when the history recorded this host starting
//! that upload under that name and the upload has ended; every other one (another
//! server's, perhaps still uploading) is listed by `prune --dry-run` and kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use sauvegarde_plugin_api::{ErrorKind, PluginError, RemoteFile};

use crate::config::{DestinationConfig, JobConfig};
use crate::history::{ExportState, History};
use crate::naming::{parse_any_archive_name, partial_of};
use crate::retention::{self, Archive, Decision, Occasion, Owner, Policy};
use crate::worker::WorkerDestination;

/// Which job, destination and history a remote retention is for.
pub struct Scope<'a> {
    /// The job id.
    pub job_id: &'a str,
    /// The job.
    pub job: &'a JobConfig,
    /// The destination's name.
    pub destination: &'a str,
    /// Its configuration.
    pub config: &'a DestinationConfig,
    /// The history that proves ownership.
    pub history: &'a History,
    /// Every configured job: an upload of a job no longer configured (a renamed job) may be
    /// claimed, another configured job's never.
    pub jobs: &'a BTreeMap<String, JobConfig>,
}

/// Who put `file` on the destination, as this host's history knows it.
pub fn remote_owner(scope: &Scope<'_>, file: &RemoteFile) -> Owner {
    let name = file.name();
    match scope
        .history
        .uploaded_size(scope.job_id, scope.destination, name)
    {
        Ok(Some(Some(bytes))) if bytes != file.size() => Owner::Other(format!(
            "its size ({} bytes) differs from the {bytes} bytes this job uploaded",
            file.size()
        )),
        Ok(Some(_)) => Owner::ThisJob,
        Ok(None) => {
            if let Some(tag) = crate::naming::parse(name)
                .and_then(|n| n.tag)
                .filter(|t| *t != crate::ownership::host_tag())
            {
                // Only the host of that tag stores under it: never this host's, never
                // claimable here.
                return Owner::Other(format!(
                    "stored under another host's tag `{tag}` (this host's is `{}`)",
                    crate::ownership::host_tag()
                ));
            }
            let claim = |how: &str, flags: &str| {
                format!(
                    "to claim it {how}: `sauvegarde prune {} --adopt{flags}`",
                    scope.job_id
                )
            };
            match scope.history.uploader_of(scope.destination, name) {
                Ok(Some(job)) if scope.jobs.contains_key(&job) => {
                    Owner::Other(format!("uploaded by job `{job}`"))
                }
                Ok(Some(job)) => Owner::Unclaimed {
                    claim: claim(
                        &format!("if this job was renamed from `{job}`"),
                        &format!(" --from-job {job}"),
                    ),
                    why: format!("uploaded by job `{job}`, which is no longer configured"),
                },
                _ => Owner::Unclaimed {
                    why: "not uploaded by this job from this host".into(),
                    claim: claim("if it is this job's", ""),
                },
            }
        }
        Err(e) => Owner::Other(format!("the history cannot say who uploaded it: {e}")),
    }
}

/// Whose the upload temporary file `name` is: this host's leftover when the history
/// recorded this host starting an upload under that name and the upload has ended.
pub fn partial_owner(scope: &Scope<'_>, name: &str) -> Owner {
    match scope
        .history
        .temp_name_state(scope.job_id, scope.destination, name)
    {
        Ok(Some(state)) if state != ExportState::Running => Owner::OwnPartial,
        Ok(_) => Owner::Partial,
        Err(e) => {
            tracing::error!(job = scope.job_id, destination = scope.destination, "{e}");
            Owner::Partial
        }
    }
}

/// The files of the job's name pattern among `files` (tagged copies included), with their
/// owners, newest first; an upload's temporary file (`<archive>….partial`) is listed
/// too, with [`partial_owner`].
pub fn archives(scope: &Scope<'_>, files: &[RemoteFile]) -> Vec<Archive> {
    let parse = |name: &str| parse_any_archive_name(name, &scope.job.database.name());
    let mut archives: Vec<Archive> = files
        .iter()
        .filter_map(|f| {
            let name = f.name();
            let (time, owner) = match parse(name) {
                Some(time) => (time, remote_owner(scope, f)),
                None => (parse(partial_of(name)?)?, partial_owner(scope, name)),
            };
            Some(Archive {
                path: PathBuf::from(name),
                time,
                owner,
            })
        })
        .collect();
    retention::sort_newest_first(&mut archives);
    archives
}

/// The verdict on each of the job's files among `files`.
#[cfg(test)]
fn plan(
    scope: &Scope<'_>,
    files: &[RemoteFile],
    protected: &[(PathBuf, &'static str)],
    now: Timestamp,
) -> Vec<Decision> {
    retention::plan(
        &archives(scope, files),
        Policy::of(scope.job, Some(scope.config)),
        protected,
        now,
        &jiff::tz::TimeZone::UTC,
    )
}

/// The protected names: `just_sent` (if any) and the newest archive of the database (the
/// scope's job is narrowed to one) exported there.
pub fn protected(scope: &Scope<'_>, just_sent: Option<&str>) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(n) = just_sent {
        out.push((PathBuf::from(n), "the archive just exported"));
    }
    let database = scope.job.database.name();
    match scope
        .history
        .newest_export(scope.job_id, scope.destination, &database)
    {
        Ok(Some(n)) => out.push((PathBuf::from(n), "the newest archive exported")),
        Ok(None) => {}
        Err(e) => tracing::error!(job = scope.job_id, destination = scope.destination, "{e}"),
    }
    out
}

/// Lists the destination and deletes (or, on a dry run, only decides) what the policy says
/// of the files this job owns there (and of `claimed`, what `prune --adopt --dry-run` would
/// adopt), as `occasion` applies it (age across a gap in the dates only by a person's
/// `prune`); each deletion is recorded, the warnings are logged. A file that vanished
/// meanwhile counts as deleted. Stops at the first error.
pub fn apply(
    destination: &WorkerDestination,
    scope: &Scope<'_>,
    just_sent: Option<&str>,
    claimed: &[String],
    occasion: Occasion,
) -> Result<Vec<Decision>, PluginError> {
    let files = destination.list()?;
    let mut archives = archives(scope, &files);
    for a in archives
        .iter_mut()
        .filter(|a| claimed.iter().any(|c| a.path == Path::new(c)))
    {
        a.owner = Owner::ThisJob;
    }
    let decisions = occasion.apply(retention::plan(
        &archives,
        Policy::of(scope.job, Some(scope.config)),
        &protected(scope, just_sent),
        Timestamp::now(),
        &jiff::tz::TimeZone::system(),
    ));
    for w in retention::warnings(scope.job_id, &decisions) {
        tracing::warn!(job = scope.job_id, destination = scope.destination, "{w}");
    }
    if occasion.dry_run() {
        return Ok(decisions);
    }
    for d in decisions.iter().filter(|d| d.deletes()) {
        let name = d.archive.path.to_string_lossy();
        match destination.delete(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.context(format!("deleting {name}"))),
        }
        tracing::info!(job = scope.job_id, destination = scope.destination, file = %name, "deleted by remote retention ({})", d.verdict);
        if let Err(e) = scope
            .history
            .mark_export_deleted(scope.job_id, scope.destination, &name)
        {
            tracing::error!(job = scope.job_id, destination = scope.destination, "{e}");
        }
    }
    Ok(decisions)
}

/// `prune --adopt`: the job's files on the destination (either format) that this host's
/// history does not know as anybody's, recorded as this job's uploads (with their listed
/// size); with `from_job` (a renamed job, no longer configured), also those it uploaded
/// from this host, whose rows are rewritten to this job. Returns them.
pub fn adopt_unclaimed(
    destination: &WorkerDestination,
    scope: &Scope<'_>,
    from_job: Option<&str>,
    dry_run: bool,
) -> Result<Vec<String>, PluginError> {
    let files = destination.list()?;
    let mut adopted = Vec::new();
    let history_err = |e: crate::history::HistoryError| PluginError::other(e.to_string());
    for f in &files {
        let name = f.name();
        if parse_any_archive_name(name, &scope.job.database.name()).is_none() {
            continue;
        }
        let ours = scope
            .history
            .uploaded_size(scope.job_id, scope.destination, name)
            .map_err(history_err)?
            .is_some();
        if ours {
            continue;
        }
        let uploader = scope
            .history
            .uploader_of(scope.destination, name)
            .map_err(history_err)?;
        if uploader.as_deref().is_some_and(|job| from_job != Some(job)) {
            continue;
        }
        if !dry_run {
            match &uploader {
                None => scope
                    .history
                    .adopt_export(scope.job_id, scope.destination, name, f.size()),
                Some(job) => scope
                    .history
                    .reassign_export(job, scope.job_id, scope.destination, name)
                    .map(drop),
            }
            .map_err(history_err)?;
        }
        adopted.push(name.to_string());
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{Delete, Keep, Verdict};

    fn job(keep_count: Option<u32>) -> JobConfig {
        serde_json::from_value(serde_json::json!({
            "database": "prod",
            "keep_count": keep_count,
        }))
        .unwrap()
    }

    fn dest(keep_count: Option<u32>) -> DestinationConfig {
        serde_json::from_value(serde_json::json!({"type": "sftp", "keep_count": keep_count}))
            .unwrap()
    }

    fn files(names: &[&str]) -> Vec<RemoteFile> {
        names.iter().map(|n| RemoteFile::new(*n, 1, None)).collect()
    }

    fn uploaded(h: &History, job: &str, name: &str, bytes: u64) {
        let id = h.start_export_attempt(None, job, "off", name, 1).unwrap();
        h.finish_export_attempt(id, Ok(bytes)).unwrap();
    }

    #[test]
    fn only_this_jobs_uploads_beyond_the_count_go() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        for n in [
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip",
        ] {
            uploaded(&h, "daily", n, 1);
        }
        uploaded(&h, "hourly", "prod_2024-01-03_12-00-00.zip", 1);
        let list = files(&[
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip",
            "prod_2024-01-03_12-00-00.zip",
            // Another server's upload to the same directory.
            "prod_2024-01-02_12-00-00.zip",
            "prod_2024-01-01_00-00-00.zip.partial",
            "other_2024-01-01_00-00-00.zip",
            "notes.txt",
        ]);
        let (job, config) = (job(Some(2)), dest(None));
        let jobs = BTreeMap::from([
            ("daily".to_string(), job.clone()),
            ("hourly".to_string(), job.clone()),
        ]);
        let scope = Scope {
            job_id: "daily",
            job: &job,
            destination: "off",
            config: &config,
            history: &h,
            jobs: &jobs,
        };
        let now = "2024-01-04T00:00:00Z".parse().unwrap();
        let decisions = plan(&scope, &list, &[], now);
        let doomed: Vec<_> = decisions
            .iter()
            .filter(|d| d.deletes())
            .map(|d| d.archive.path.to_string_lossy().into_owned())
            .collect();
        assert_eq!(doomed, vec!["prod_2024-01-01_00-00-00.zip".to_string()]);
        let verdict = |name: &str| {
            decisions
                .iter()
                .find(|d| d.archive.path == Path::new(name))
                .unwrap()
                .verdict
                .clone()
        };
        assert_eq!(
            verdict("prod_2024-01-03_12-00-00.zip"),
            Verdict::Keep(Keep::NotOurs("uploaded by job `hourly`".into()))
        );
        assert_eq!(
            verdict("prod_2024-01-02_12-00-00.zip"),
            Verdict::Keep(Keep::Unclaimed {
                why: "not uploaded by this job from this host".into(),
                claim: "to claim it if it is this job's: `sauvegarde prune daily --adopt`".into(),
            })
        );
        assert_eq!(
            verdict("prod_2024-01-01_00-00-00.zip"),
            Verdict::Delete(Delete::BeyondCount(2))
        );
        assert_eq!(
            verdict("prod_2024-01-01_00-00-00.zip.partial"),
            Verdict::Keep(Keep::Partial)
        );
    }

    #[test]
    fn only_temporary_files_this_host_started_and_that_ended_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let name = "prod_2024-01-03_00-00-00.zip";
        let started = |temp: &str| {
            let id = h
                .start_export_attempt(None, "daily", "off", name, 1)
                .unwrap();
            h.set_export_temp_name(id, temp).unwrap();
            id
        };
        let ended = "prod_2024-01-03_00-00-00.zip.1a2b3c4d-10-1.partial";
        let id = started(ended);
        h.finish_export_attempt(id, Err("worker killed")).unwrap();
        let running = "prod_2024-01-03_00-00-00.zip.1a2b3c4d-11-1.partial";
        started(running);
        let (job, config) = (job(Some(10)), dest(None));
        let scope = Scope {
            job_id: "daily",
            job: &job,
            destination: "off",
            config: &config,
            history: &h,
            jobs: &BTreeMap::new(),
        };
        // Modified "long ago" by the server's clock: the age proves nothing.
        let list: Vec<RemoteFile> = [
            ended,
            running,
            "prod_2024-01-03_00-00-00.zip.99ff00aa-4-1.partial",
            "prod_2024-01-03_00-00-00.zip.partial",
        ]
        .iter()
        .map(|n| RemoteFile::new(*n, 1, Some(0)))
        .collect();
        let now = "2024-01-04T00:00:00Z".parse().unwrap();
        let verdicts: Vec<(String, Verdict)> = plan(&scope, &list, &[], now)
            .into_iter()
            .map(|d| (d.archive.path.display().to_string(), d.verdict))
            .collect();
        let verdict = |n: &str| verdicts.iter().find(|(p, _)| p == n).unwrap().1.clone();
        assert_eq!(verdict(ended), Verdict::Delete(Delete::LeftBehind));
        for kept in [
            running,
            "prod_2024-01-03_00-00-00.zip.99ff00aa-4-1.partial",
            "prod_2024-01-03_00-00-00.zip.partial",
        ] {
            assert_eq!(verdict(kept), Verdict::Keep(Keep::Partial), "{kept}");
        }
        // The same name on another destination of the job is not proven ours there.
        let elsewhere = Scope {
            destination: "other",
            ..scope
        };
        assert_eq!(partial_owner(&elsewhere, ended), Owner::Partial);
    }

    #[test]
    fn a_copy_under_this_hosts_tag_is_the_jobs_archive_by_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        uploaded(&h, "daily", "prod_2024-01-01_00-00-00.1a2b3c4d.zip", 1);
        uploaded(&h, "daily", "prod_2024-01-02_00-00-00.zip", 1);
        uploaded(&h, "daily", "prod_2024-01-03_00-00-00.zip", 1);
        let (job, config) = (job(Some(2)), dest(None));
        let scope = Scope {
            job_id: "daily",
            job: &job,
            destination: "off",
            config: &config,
            history: &h,
            jobs: &BTreeMap::new(),
        };
        let list = files(&[
            "prod_2024-01-01_00-00-00.1a2b3c4d.zip",
            // Another host's archive of that second, under the untagged name.
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip",
        ]);
        let now = "2024-01-04T00:00:00Z".parse().unwrap();
        let doomed: Vec<String> = plan(&scope, &list, &[], now)
            .into_iter()
            .filter(|d| d.deletes())
            .map(|d| d.archive.path.display().to_string())
            .collect();
        assert_eq!(doomed, ["prod_2024-01-01_00-00-00.1a2b3c4d.zip"]);
    }

    #[test]
    fn a_copy_under_another_hosts_tag_is_never_claimable_here() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let (job, config) = (job(Some(0)), dest(None));
        let scope = Scope {
            job_id: "daily",
            job: &job,
            destination: "off",
            config: &config,
            history: &h,
            jobs: &BTreeMap::new(),
        };
        let ours = crate::ownership::host_tag();
        let theirs = if ours == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        let owner = |name: &str| remote_owner(&scope, &RemoteFile::new(name, 1, None));
        assert!(matches!(
            owner(&format!("prod_2024-01-01_00-00-00.{theirs}.zip")),
            Owner::Other(ref why) if why.contains("another host's tag")
        ));
        // Unknown but possibly this job's: claimable with --adopt, as before.
        for name in [
            format!("prod_2024-01-01_00-00-00.{ours}.zip"),
            "prod_2024-01-01_00-00-00.zip".to_string(),
        ] {
            assert!(matches!(owner(&name), Owner::Unclaimed { .. }), "{name}");
        }
    }

    #[test]
    fn a_file_of_another_size_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        uploaded(&h, "daily", "prod_2024-01-01_00-00-00.zip", 5);
        let (job, config) = (job(Some(0)), dest(None));
        let scope = Scope {
            job_id: "daily",
            job: &job,
            destination: "off",
            config: &config,
            history: &h,
            jobs: &BTreeMap::new(),
        };
        let owner = remote_owner(
            &scope,
            &RemoteFile::new("prod_2024-01-01_00-00-00.zip", 7, None),
        );
        assert!(matches!(owner, Owner::Other(ref why) if why.contains("differs")));
    }
}

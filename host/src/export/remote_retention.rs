//! Retention on a destination: the same rules as locally, applied to the files the plugin
//! lists. Only names of the job's pattern are considered, and the given protected names
//! (the archive just exported, the newest one exported) are never deleted.

use std::path::PathBuf;

use jiff::Timestamp;
use sauvegarde_plugin_api::{PluginError, RemoteFile};

use crate::config::{DestinationConfig, JobConfig};
use crate::naming::parse_archive_name;
use crate::retention::{self, Archive, Policy};
use crate::worker::WorkerDestination;

/// The destination's policy: its own `keep_days`/`keep_count`, else the job's.
pub fn policy(job: &JobConfig, destination: &DestinationConfig) -> Policy {
    Policy {
        keep_days: destination.keep_days.or(job.keep_days),
        keep_count: destination.keep_count.or(job.keep_count),
    }
}

/// The names to delete among `files`, newest kept first.
pub fn plan(
    files: &[RemoteFile],
    job: &JobConfig,
    policy: Policy,
    protected: &[&str],
    now: Timestamp,
) -> Vec<String> {
    let mut archives: Vec<Archive> = files
        .iter()
        .filter_map(|f| {
            parse_archive_name(f.name(), &job.database, job.format).map(|time| Archive {
                path: PathBuf::from(f.name()),
                time,
            })
        })
        .collect();
    archives.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.path.cmp(&a.path)));
    retention::plan(&archives, policy, now)
        .into_iter()
        .filter_map(|a| a.path.to_str().map(str::to_string))
        .filter(|name| !protected.contains(&name.as_str()))
        .collect()
}

/// Lists the destination and deletes (or, with `dry_run`, only returns) what the policy
/// says. A file that vanished meanwhile counts as deleted. Stops at the first error.
pub fn apply(
    destination: &WorkerDestination,
    job: &JobConfig,
    config: &DestinationConfig,
    protected: &[&str],
    dry_run: bool,
) -> Result<Vec<String>, PluginError> {
    let files = destination.list()?;
    let doomed = plan(
        &files,
        job,
        policy(job, config),
        protected,
        Timestamp::now(),
    );
    if dry_run {
        return Ok(doomed);
    }
    let mut deleted = Vec::new();
    for name in doomed {
        match destination.delete(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == sauvegarde_plugin_api::ErrorKind::NotFound => {}
            Err(e) => return Err(e.context(format!("deleting {name}"))),
        }
        deleted.push(name);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(keep_count: Option<u32>) -> JobConfig {
        serde_json::from_value(serde_json::json!({
            "database": "prod",
            "keep_count": keep_count,
        }))
        .unwrap()
    }

    fn files(names: &[&str]) -> Vec<RemoteFile> {
        names.iter().map(|n| RemoteFile::new(*n, 1, None)).collect()
    }

    #[test]
    fn only_the_jobs_archives_beyond_the_count_go() {
        let list = files(&[
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip",
            "prod_2024-01-01_00-00-00.dump",
            "prod_2024-01-01_00-00-00.zip.partial",
            "other_2024-01-01_00-00-00.zip",
            "notes.txt",
        ]);
        let job = job(Some(2));
        let now = "2024-01-04T00:00:00Z".parse().unwrap();
        let doomed = plan(&list, &job, policy(&job, &dest(None)), &[], now);
        assert_eq!(doomed, vec!["prod_2024-01-01_00-00-00.zip".to_string()]);
    }

    #[test]
    fn protected_and_newest_names_survive() {
        let list = files(&[
            "prod_2024-01-01_00-00-00.zip",
            "prod_2024-01-02_00-00-00.zip",
            "prod_2024-01-03_00-00-00.zip",
        ]);
        let job = job(Some(1));
        let now = "2024-01-04T00:00:00Z".parse().unwrap();
        let doomed = plan(
            &list,
            &job,
            policy(&job, &dest(None)),
            &["prod_2024-01-02_00-00-00.zip"],
            now,
        );
        assert_eq!(doomed, vec!["prod_2024-01-01_00-00-00.zip".to_string()]);
    }

    #[test]
    fn the_destination_overrides_the_job() {
        let job = job(Some(5));
        assert_eq!(policy(&job, &dest(Some(1))).keep_count, Some(1));
        assert_eq!(policy(&job, &dest(None)).keep_count, Some(5));
    }

    fn dest(keep_count: Option<u32>) -> DestinationConfig {
        serde_json::from_value(serde_json::json!({"type": "sftp", "keep_count": keep_count}))
            .unwrap()
    }
}

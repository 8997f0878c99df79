//! `restore --from <job>/<destination> NAME`: the archive is first downloaded through the
//! destination's plugin, into `--download-dir` (kept) or a private temporary directory in
//! the job's backup directory (removed when the restore ends, whatever the outcome).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RestoreError;
use crate::cancel::CancelFlag;
use crate::config::Config;
use crate::export::{open_destination, ExportError};
use crate::plugins::PluginRegistry;
use sauvegarde_plugin_api::human_bytes;

/// A downloaded archive; a temporary download is removed on drop.
#[derive(Debug)]
pub struct Downloaded {
    /// The local copy.
    pub path: PathBuf,
    temporary_dir: Option<PathBuf>,
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary_dir {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => tracing::info!(file = %self.path.display(), "downloaded copy removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(dir = %dir.display(), "cannot remove the downloaded copy: {e}")
                }
            }
        }
    }
}

/// `job/destination` split in two.
pub fn parse_from(spec: &str) -> Result<(&str, &str), RestoreError> {
    match spec.split_once('/') {
        Some((job, dest)) if !job.is_empty() && !dest.is_empty() && !dest.contains('/') => {
            Ok((job, dest))
        }
        _ => Err(RestoreError::Usage(format!(
            "--from {spec:?}: expected <job>/<destination>, e.g. prod/offsite"
        ))),
    }
}

/// Downloads `name` from destination `spec` (`job/destination`) of `config`; `cancel`
/// stops the transfer.
pub fn fetch(
    config: &Config,
    registry: &PluginRegistry,
    spec: &str,
    name: &str,
    keep_in: Option<&Path>,
    cancel: &CancelFlag,
) -> Result<Downloaded, RestoreError> {
    let (job_id, dest_name) = parse_from(spec)?;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(RestoreError::Usage(format!(
            "{name:?} is not an archive name on a destination (a plain file name, as `sauvegarde history` shows it)"
        )));
    }
    let job = config.jobs.get(job_id).ok_or_else(|| {
        RestoreError::Usage(format!("--from: no job `{job_id}` in the configuration"))
    })?;
    let dest_config = job.destinations.get(dest_name).ok_or_else(|| {
        RestoreError::Usage(format!(
            "--from: job `{job_id}` has no destination `{dest_name}` (it has: {})",
            job.destinations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let destination = open_destination(registry, job_id, dest_name, dest_config)
        .map_err(RestoreError::Download)?;
    let (dir, temporary_dir) = match keep_in {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| RestoreError::Filestore {
                path: dir.to_path_buf(),
                source,
            })?;
            (dir.to_path_buf(), None)
        }
        None => {
            let base = crate::job::backup_dir(config, job);
            std::fs::create_dir_all(&base).map_err(|source| RestoreError::Filestore {
                path: base.clone(),
                source,
            })?;
            let dir = base.join(format!(".restore-download-{}", std::process::id()));
            DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|source| RestoreError::Filestore {
                    path: dir.clone(),
                    source,
                })?;
            (dir.clone(), Some(dir))
        }
    };
    let downloaded = Downloaded {
        path: dir.join(name),
        temporary_dir,
    };
    if downloaded.path.exists() {
        return Err(RestoreError::Usage(format!(
            "{} already exists: restore it directly (sauvegarde restore {} …) or choose another --download-dir",
            downloaded.path.display(),
            downloaded.path.display()
        )));
    }
    tracing::info!(job = job_id, destination = dest_name, archive = name, to = %downloaded.path.display(), "downloading");
    let started = Instant::now();
    destination
        .download(name, &downloaded.path, &mut |_, _| !cancel.is_cancelled())
        .map_err(|e| {
            if cancel.is_cancelled() {
                RestoreError::Cancelled
            } else {
                RestoreError::Download(ExportError::plugin(job_id, dest_name, e))
            }
        })?;
    let size = std::fs::metadata(&downloaded.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    tracing::info!(
        job = job_id,
        destination = dest_name,
        "downloaded {} in {secs:.1} s ({:.1} MiB/s)",
        human_bytes(size),
        size as f64 / secs / 1048576.0
    );
    Ok(downloaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_spec() {
        assert_eq!(parse_from("prod/offsite").unwrap(), ("prod", "offsite"));
        for bad in ["prod", "/offsite", "prod/", "a/b/c", ""] {
            assert!(parse_from(bad).is_err(), "{bad}");
        }
    }
}

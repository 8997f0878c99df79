//! `local-dir`: an example sauvegarde exporter that "uploads" archives by copying them
//! into a local directory (a mounted NAS, a USB disk). Walked through in sauvegarde's
//! guide, `docs/writing-an-exporter.md`. It implements what plugin API 1.0 and 1.1 ask
//! for, not the no-replace `upload_new` of 1.2: its README says what the host does then,
//! and how a local directory would implement it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::{
    export_plugin, parse_config, ErrorKind, Exporter, PluginError, Progress, RemoteFile,
};
use serde::Deserialize;

/// The destination's settings: the keys of `[jobs.<id>.destinations.<name>]` other than
/// the host's own (`type`, `keep_days`, `keep_count`, `retries`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The directory archives are copied into.
    dir: PathBuf,
}

struct LocalDir {
    dir: PathBuf,
}

/// Maps an I/O error to the kind the host understands, naming the path.
fn io_error(what: &str, path: &Path, e: io::Error) -> PluginError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        io::ErrorKind::StorageFull => ErrorKind::Quota,
        _ => ErrorKind::Other,
    };
    PluginError::new(kind, format!("{what} {}: {e}", path.display()))
}

/// Copies `from` to `to` in 1 MiB blocks, reporting progress; `to` is synced to disk.
fn copy_with_progress(
    from: &Path,
    to: &Path,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let mut input = File::open(from).map_err(|e| io_error("cannot open", from, e))?;
    let total = input
        .metadata()
        .map_err(|e| io_error("cannot stat", from, e))?
        .len();
    let mut output = File::create(to).map_err(|e| io_error("cannot create", to, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = input
            .read(&mut buffer)
            .map_err(|e| io_error("cannot read", from, e))?;
        if n == 0 {
            break;
        }
        output
            .write_all(&buffer[..n])
            .map_err(|e| io_error("cannot write", to, e))?;
        done += n as u64;
        progress.report(done, total)?;
    }
    output
        .sync_all()
        .map_err(|e| io_error("cannot sync", to, e))
}

/// Copies to a temporary name, then renames: the final name appears complete or not at all.
fn copy_atomically(from: &Path, to: &Path, progress: &mut Progress<'_>) -> Result<(), PluginError> {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = copy_with_progress(from, &partial, progress)
        .and_then(|()| fs::rename(&partial, to).map_err(|e| io_error("cannot rename to", to, e)));
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

impl LocalDir {
    fn path_of(&self, name: &str) -> Result<PathBuf, PluginError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(PluginError::other(format!("invalid remote name `{name}`")));
        }
        Ok(self.dir.join(name))
    }
}

impl Exporter for LocalDir {
    fn test_connection(&self) -> Result<String, PluginError> {
        fs::create_dir_all(&self.dir).map_err(|e| io_error("cannot create", &self.dir, e))?;
        let probe = self.dir.join(".sauvegarde-probe");
        fs::write(&probe, b"probe").map_err(|e| io_error("cannot write in", &self.dir, e))?;
        fs::remove_file(&probe).map_err(|e| io_error("cannot remove", &probe, e))?;
        tracing::info!(dir = %self.dir.display(), "directory is writable");
        Ok(format!("directory {} is writable", self.dir.display()))
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        fs::create_dir_all(&self.dir).map_err(|e| io_error("cannot create", &self.dir, e))?;
        copy_atomically(local_path, &self.path_of(remote_name)?, progress)
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("cannot list", &self.dir, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("cannot list", &self.dir, e))?;
            let meta = entry
                .metadata()
                .map_err(|e| io_error("cannot stat", &entry.path(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if meta.is_file() && !name.ends_with(".partial") {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                files.push(RemoteFile::new(name, meta.len(), modified));
            }
        }
        Ok(files)
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        let path = self.path_of(name)?;
        fs::remove_file(&path).map_err(|e| io_error("cannot delete", &path, e))
    }

    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        copy_atomically(&self.path_of(name)?, local_path, progress)
    }
}

fn new(config_json: &str) -> Result<LocalDir, PluginError> {
    let config: Config = parse_config(config_json)?;
    Ok(LocalDir { dir: config.dir })
}

export_plugin! {
    kind: "local-dir",
    description: "copies archives into a local directory (example plugin)",
    new: new,
}

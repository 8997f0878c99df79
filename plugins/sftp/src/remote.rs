//! Remote directory operations: paths, `mkdir -p`, listing, deleting, and the writability
//! probe of `test_connection`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sauvegarde_plugin_api::{PluginError, RemoteFile};
use ssh2::{OpenFlags, OpenType, Sftp};

use crate::errors;

/// Mode of directories created on the server.
const DIR_MODE: i32 = 0o755;

/// The remote directory of a destination and the paths inside it.
pub struct RemoteDir<'a> {
    dir: &'a str,
}

impl<'a> RemoteDir<'a> {
    /// Wraps the configured `remote_dir`.
    pub fn new(dir: &'a str) -> Self {
        RemoteDir { dir }
    }

    /// The directory as configured.
    pub fn path(&self) -> &str {
        self.dir
    }

    /// The remote path of a bare file name, refusing names that would leave the directory.
    pub fn file(&self, name: &str) -> Result<PathBuf, PluginError> {
        check_name(name)?;
        Ok(Path::new(self.dir).join(name))
    }

    /// Creates the directory and its missing parents; returns whether it was created.
    pub fn create_all(&self, sftp: &Sftp) -> Result<bool, PluginError> {
        if is_dir(sftp, Path::new(self.dir))? {
            return Ok(false);
        }
        let mut current = PathBuf::new();
        for part in Path::new(self.dir).components() {
            current.push(part);
            if is_dir(sftp, &current)? {
                continue;
            }
            if let Err(e) = sftp.mkdir(&current, DIR_MODE) {
                // Another upload may have created it in the meantime.
                if !is_dir(sftp, &current)? {
                    return Err(errors::sftp(
                        e,
                        format!("creating remote directory {}", current.display()),
                    ));
                }
            }
        }
        tracing::info!("created remote directory {}", self.dir);
        Ok(true)
    }

    /// The regular files in the directory; a missing directory is an empty list.
    pub fn list(&self, sftp: &Sftp) -> Result<Vec<RemoteFile>, PluginError> {
        let entries = match sftp.readdir(Path::new(self.dir)) {
            Ok(entries) => entries,
            Err(e) if errors::is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(errors::sftp(e, format!("listing {}", self.dir))),
        };
        let mut files = Vec::new();
        for (path, stat) in entries {
            if !stat.is_file() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                tracing::warn!(
                    "skipping remote file with a non-UTF-8 name: {}",
                    path.display()
                );
                continue;
            };
            let modified = stat.mtime.and_then(|t| i64::try_from(t).ok());
            files.push(RemoteFile::new(name, stat.size.unwrap_or(0), modified));
        }
        files.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(files)
    }

    /// Deletes one file; a missing file is a `not_found` error naming it.
    pub fn delete(&self, sftp: &Sftp, name: &str) -> Result<(), PluginError> {
        let path = self.file(name)?;
        sftp.unlink(&path).map_err(|e| {
            if errors::is_not_found(&e) {
                PluginError::not_found(format!("remote file {} does not exist", path.display()))
            } else {
                errors::sftp(e, format!("deleting {}", path.display()))
            }
        })
    }

    /// Writes and removes a small probe file; returns the free space in bytes if the server
    /// supports the `fstatvfs@openssh.com` extension.
    pub fn probe(&self, sftp: &Sftp) -> Result<Option<u64>, PluginError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(".sauvegarde-probe-{}-{nanos}", std::process::id());
        let path = self.file(&name)?;
        let what = format!("writing probe file {}", path.display());
        let mut file = sftp
            .open_mode(
                &path,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                0o600,
                OpenType::File,
            )
            .map_err(|e| errors::sftp(e, &what))?;
        let written = std::io::Write::write_all(&mut file, b"sauvegarde probe\n");
        let free = match file.statvfs() {
            Ok(vfs) => Some(vfs.f_bavail.saturating_mul(vfs.f_frsize)),
            Err(e) => {
                tracing::debug!("server has no statvfs extension: {}", e.message());
                None
            }
        };
        drop(file);
        let removed = sftp.unlink(&path);
        written.map_err(|e| PluginError::transient(format!("{what} failed: {e}")))?;
        removed.map_err(|e| errors::sftp(e, format!("removing probe file {}", path.display())))?;
        Ok(free)
    }
}

/// Whether `path` exists and is a directory (a missing path is `false`).
fn is_dir(sftp: &Sftp, path: &Path) -> Result<bool, PluginError> {
    match sftp.stat(path) {
        Ok(stat) if stat.is_dir() => Ok(true),
        Ok(_) => Err(PluginError::config(format!(
            "remote path {} exists but is not a directory: fix `remote_dir`",
            path.display()
        ))),
        Err(e) if errors::is_not_found(&e) => Ok(false),
        Err(e) => Err(errors::sftp(e, format!("checking {}", path.display()))),
    }
}

/// Refuses names that are empty, contain a slash or NUL, or are `.`/`..`.
fn check_name(name: &str) -> Result<(), PluginError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(PluginError::config(format!(
            "`{name}` is not a valid remote file name: use a bare name without `/`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_join_the_directory_and_refuse_escapes() {
        let dir = RemoteDir::new("/srv/backups");
        assert_eq!(
            dir.file("a b é.zip").unwrap(),
            PathBuf::from("/srv/backups/a b é.zip")
        );
        for bad in ["", ".", "..", "x/y", "a\0b"] {
            assert!(dir.file(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RemoteDir::new(".").file("f").unwrap(), PathBuf::from("./f"));
    }
}

//! Filestore extraction with zip-slip protection. Every entry name of the archive is checked
//! before anything is written (no `..`, absolute path, backslash or symbolic link, anywhere
//! in the archive); files are written into a fresh private staging directory next to the
//! target (`O_NOFOLLOW`, `O_EXCL`), which is renamed into place only once everything else
//! succeeded and is removed otherwise.

use std::collections::HashSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ::zip::ZipArchive;

use super::RestoreError;
use crate::cancel::CancelFlag;
use crate::verify::names;
use crate::verify::zip::{describe_read_error, DUMP_ENTRY, FILESTORE_PREFIX};

/// Mode of restored files (owner read-write, group read).
const FILE_MODE: u32 = 0o640;
/// Mode of restored directories.
const DIR_MODE: u32 = 0o750;

/// Checks every entry name of the archive at `path` (refusing the archive at the first
/// unsafe one, or one without `dump.sql`) and returns how many filestore files it holds.
pub fn scan<R: Read + Seek>(zip: &ZipArchive<R>, path: &Path) -> Result<u64, RestoreError> {
    let mut files = 0;
    let mut dump = false;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_data(index)
            .map_err(|e| RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: format!("entry #{index}"),
                message: e.to_string(),
            })?;
        let name = entry
            .name()
            .map_err(|e| RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: format!("entry #{index}"),
                message: e.to_string(),
            })?
            .into_owned();
        if let Err(reason) = names::check_entry(&name, entry.unix_mode()) {
            return Err(RestoreError::UnsafeEntry {
                path: path.to_path_buf(),
                entry: name,
                reason,
            });
        }
        if name.starts_with(FILESTORE_PREFIX) && !entry.is_dir() {
            files += 1;
        }
        dump |= name == DUMP_ENTRY;
    }
    if !dump {
        return Err(RestoreError::ArchiveRead {
            path: path.to_path_buf(),
            entry: DUMP_ENTRY.into(),
            message: "missing: there is no database to restore".into(),
        });
    }
    Ok(files)
}

/// A target must be absent, or an empty directory (not a symbolic link).
pub fn check_target(target: &Path) -> Result<(), RestoreError> {
    let exists = || RestoreError::FilestoreExists {
        path: target.to_path_buf(),
    };
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RestoreError::Filestore {
            path: target.to_path_buf(),
            source,
        }),
        Ok(m) if m.is_dir() => {
            let mut entries =
                std::fs::read_dir(target).map_err(|source| RestoreError::Filestore {
                    path: target.to_path_buf(),
                    source,
                })?;
            if entries.next().is_some() {
                Err(exists())
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(exists()),
    }
}

/// A private directory next to the target that receives the files.
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    created: HashSet<PathBuf>,
    committed: bool,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Filestore {
        path: path.to_path_buf(),
        source,
    }
}

impl Staging {
    /// Creates `<parent>/.<name>.restore-<pid>` (mode 0700) for `target`; the parent is
    /// created if needed.
    pub fn create(target: &Path) -> Result<Self, RestoreError> {
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(RestoreError::Filestore {
                path: target.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a directory path with a parent",
                ),
            });
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
        let dir = parent.join(format!(
            ".{}.restore-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io_at(&dir))?;
        tracing::debug!(staging = %dir.display(), "filestore staging directory created");
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            created: HashSet::new(),
            committed: false,
            files: 0,
            bytes: 0,
        })
    }

    /// Writes every `filestore/…` entry of `zip` (the archive at `path`) into the staging
    /// directory; CRC-32 and sizes are checked as the data is read.
    pub fn extract<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        path: &Path,
        cancel: &CancelFlag,
    ) -> Result<(), RestoreError> {
        let mut buf = vec![0u8; crate::archive::CHUNK];
        for index in 0..zip.len() {
            if cancel.is_cancelled() {
                return Err(RestoreError::Cancelled);
            }
            let read_err = |entry: &str, message: String| RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: entry.to_string(),
                message,
            };
            let mut entry = zip
                .by_index(index)
                .map_err(|e| read_err(&format!("entry #{index}"), e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| read_err(&format!("entry #{index}"), e.to_string()))?
                .into_owned();
            let Some(relative) = name.strip_prefix(FILESTORE_PREFIX) else {
                continue;
            };
            if relative.is_empty() {
                continue;
            }
            // Checked again here: this function must be safe on its own.
            let parts = names::check_entry(relative, entry.unix_mode()).map_err(|reason| {
                RestoreError::UnsafeEntry {
                    path: path.to_path_buf(),
                    entry: name.clone(),
                    reason,
                }
            })?;
            if entry.is_dir() {
                self.make_dirs(&parts)?;
                continue;
            }
            let Some((file_name, dirs)) = parts.split_last() else {
                continue;
            };
            let parent = self.make_dirs(dirs)?;
            let dest = parent.join(file_name);
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&dest)
                .map_err(io_at(&dest))?;
            let declared = entry.size();
            let mut written = 0u64;
            loop {
                if cancel.is_cancelled() {
                    return Err(RestoreError::Cancelled);
                }
                let n = match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_err(&name, describe_read_error(&e))),
                };
                written += n as u64;
                if written > declared {
                    // Never more than the archive declared (and the space check counted).
                    return Err(read_err(
                        &name,
                        format!("more data than the {declared} bytes declared: the archive is damaged or crafted"),
                    ));
                }
                out.write_all(&buf[..n]).map_err(io_at(&dest))?;
            }
            if written != declared {
                return Err(read_err(
                    &name,
                    format!("{written} bytes instead of the {declared} declared"),
                ));
            }
            self.files += 1;
            self.bytes += written;
        }
        Ok(())
    }

    /// Creates `parts` under the staging directory, refusing anything that is not a real
    /// directory on the way. Returns the deepest one.
    fn make_dirs(&mut self, parts: &[&str]) -> Result<PathBuf, RestoreError> {
        let mut dir = self.dir.clone();
        for part in parts {
            dir.push(part);
            if self.created.contains(&dir) {
                continue;
            }
            match DirBuilder::new().mode(DIR_MODE).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let meta = std::fs::symlink_metadata(&dir).map_err(io_at(&dir))?;
                    if !meta.is_dir() {
                        return Err(RestoreError::Filestore {
                            path: dir,
                            source: std::io::Error::new(
                                std::io::ErrorKind::AlreadyExists,
                                "a file of the archive is also used as a directory",
                            ),
                        });
                    }
                }
                Err(e) => return Err(io_at(&dir)(e)),
            }
            self.created.insert(dir.clone());
        }
        Ok(dir)
    }

    /// Gives the files to the owner of the target's parent directory (when running as
    /// root, so that Odoo's user can write to its filestore), flushes them to disk and
    /// renames the staging directory to the target. Returns the target.
    pub fn commit(mut self) -> Result<PathBuf, RestoreError> {
        let parent = self.dir.parent().map(Path::to_path_buf).unwrap_or_default();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let meta = std::fs::metadata(&parent).map_err(io_at(&parent))?;
            if meta.uid() != 0 || meta.gid() != 0 {
                chown_tree(&self.dir, meta.uid(), meta.gid())?;
                tracing::info!(
                    uid = meta.uid(),
                    gid = meta.gid(),
                    "restored filestore given to the owner of {}",
                    parent.display()
                );
            }
        }
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(io_at(&self.dir))?;
        let dir = File::open(&self.dir).map_err(io_at(&self.dir))?;
        // SAFETY: `dir` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
            return Err(io_at(&self.dir)(std::io::Error::last_os_error()));
        }
        drop(dir);
        // An empty directory at the target is replaced by rename(2) itself.
        std::fs::rename(&self.dir, &self.target).map_err(io_at(&self.target))?;
        self.committed = true;
        if let Err(e) = File::open(&parent).and_then(|d| d.sync_all()) {
            tracing::warn!(dir = %parent.display(), "cannot sync directory: {e}");
        }
        Ok(self.target.clone())
    }
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), RestoreError> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).map_err(io_at(dir))?;
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let path = entry.path();
        if entry.file_type().map_err(io_at(&path))?.is_dir() {
            chown_tree(&path, uid, gid)?;
        } else {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).map_err(io_at(&path))?;
        }
    }
    Ok(())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => tracing::info!(dir = %self.dir.display(), "partial filestore removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), "cannot remove partial filestore: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_must_be_absent_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_target(&dir.path().join("new")).is_ok());
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        assert!(check_target(&dir.path().join("empty")).is_ok());
        std::fs::create_dir(dir.path().join("full")).unwrap();
        std::fs::write(dir.path().join("full/x"), "").unwrap();
        assert!(matches!(
            check_target(&dir.path().join("full")),
            Err(RestoreError::FilestoreExists { .. })
        ));
        std::os::unix::fs::symlink(dir.path().join("empty"), dir.path().join("link")).unwrap();
        assert!(check_target(&dir.path().join("link")).is_err());
    }

    #[test]
    fn an_abandoned_staging_directory_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(&dir.path().join("fs/new")).unwrap();
        let path = staging.dir.clone();
        std::fs::write(path.join("x"), "partial").unwrap();
        drop(staging);
        assert!(!path.exists());
        assert!(!dir.path().join("fs/new").exists());
    }
}

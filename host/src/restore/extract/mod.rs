//! Filestore extraction with zip-slip protection, writing only inside its target. Every
//! entry name of the archive is checked before anything is written (no `..`, absolute
//! path, backslash or symbolic link, anywhere in the archive); files are written into a
//! fresh private staging directory next to the target, which is renamed into place only
//! once everything else succeeded and is removed otherwise.
//!
//! The target's parent usually belongs to the Odoo user, who may rename and replace any
//! directory in it between two steps. So every step is done relative to a directory
//! handle held since the step before (`mkdirat`, `openat` with `O_NOFOLLOW | O_EXCL`,
//! `fstat`, `renameat`, `unlinkat`), never by a path looked up again, and on a thread
//! that has taken that user's identity ([`Identity`]): the files are created as theirs
//! (no ownership changed afterwards), and the kernel refuses whatever that user could
//! not do. Before the rename the staged tree is checked (only directories this restore
//! made, only regular files, as many as written) and the staging name must still be the
//! directory made: a swap at any step fails the restore, and nothing outside the target
//! is created, changes owner or mode, or is removed.

mod staging;
mod tree;

pub use staging::Staging;

use std::io::{Read, Seek};
use std::path::Path;

use ::zip::ZipArchive;
use rustix::io::Errno;

use super::RestoreError;
use crate::verify::names;
use crate::verify::zip::{DUMP_ENTRY, FILESTORE_PREFIX};

/// Mode of restored files (owner read-write, group read).
const FILE_MODE: u32 = 0o640;
/// Mode of restored directories.
const DIR_MODE: u32 = 0o750;
/// Directory levels of an archive's filestore entry, at most (Odoo's have two).
const MAX_DEPTH: usize = 128;

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

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Filestore {
        path: path.to_path_buf(),
        source,
    }
}

fn errno_at(path: &Path) -> impl FnOnce(Errno) -> RestoreError + '_ {
    move |e| io_at(path)(e.into())
}

/// `path` changed under the restore (a swap): the restore fails.
fn changed(path: &Path, how: &str) -> RestoreError {
    RestoreError::Filestore {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "{how} during the restore: another user is changing this directory; \
             nothing was written outside the target"
        )),
    }
}

fn identity_err(
    path: &Path,
) -> impl FnOnce(crate::filestore::identity::IdentityError) -> RestoreError + '_ {
    move |e| io_at(path)(std::io::Error::other(e.to_string()))
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
}

//! The staging directory of a restore: made next to the target, filled, checked and
//! renamed into place, each step relative to a directory handle held since the step
//! before, on a thread acting as the target's owner (see the parent module).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use ::zip::ZipArchive;
use rustix::fs::{mkdirat, openat, renameat, unlinkat, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::tree::{self, id_at, id_of, Id, DIR_FLAGS};
use super::{changed, errno_at, identity_err, io_at, DIR_MODE, FILE_MODE, MAX_DEPTH};
use crate::cancel::CancelFlag;
use crate::filestore::identity::Identity;
use crate::pause;
use crate::restore::RestoreError;
use crate::verify::names;
use crate::verify::zip::{describe_read_error, FILESTORE_PREFIX};

/// A private directory next to the target that receives the files. Its methods run as
/// the identity the target's parent calls for, relative to the handles it holds.
pub struct Staging {
    identity: Identity,
    /// The target's parent, held from the start.
    parent: OwnedFd,
    parent_path: PathBuf,
    /// The staging directory's name in `parent`, and the directory itself.
    name: OsString,
    dir: OwnedFd,
    dir_id: Id,
    target_name: OsString,
    target: PathBuf,
    /// Every directory this restore made, the staging one included.
    made: HashSet<Id>,
    /// The directories of the last file written, below `dir`, open.
    chain: Vec<(String, OwnedFd)>,
    /// Group given to each entry: root restoring into a root-owned directory of another
    /// group gives it that group, as it always did.
    group: Option<u32>,
    committed: bool,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Staging {
    /// Creates `<parent>/.<name>.restore-<pid>` (mode 0700) for `target`, as the first
    /// user other than root who owns a directory on the way to it; the parent is made if
    /// needed, one handle-relative step at a time.
    pub fn create(target: &Path) -> Result<Self, RestoreError> {
        let target = std::path::absolute(target).map_err(io_at(target))?;
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(RestoreError::Filestore {
                path: target.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a directory path with a parent",
                ),
            });
        };
        let identity = Identity::for_path(parent).map_err(identity_err(parent))?;
        let staging_name = OsString::from(format!(
            ".{}.restore-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let staging = identity
            .run(|| Self::create_here(&identity, parent, staging_name, &target))
            .map_err(identity_err(parent))??;
        tracing::debug!(staging = %staging.path().display(), identity = %staging.identity, "filestore staging directory created");
        Ok(staging)
    }

    fn create_here(
        identity: &Identity,
        parent_path: &Path,
        name: OsString,
        target: &Path,
    ) -> Result<Self, RestoreError> {
        let parent = tree::open_or_make_dir(parent_path, identity)?;
        let path = parent_path.join(&name);
        let parent_gid = rustix::fs::fstat(&parent)
            .map_err(errno_at(parent_path))?
            .st_gid;
        let group = (identity.is_root() && parent_gid != 0).then_some(parent_gid);
        mkdirat(&parent, &name, Mode::from_raw_mode(0o700)).map_err(errno_at(&path))?;
        let dir = match openat(&parent, &name, DIR_FLAGS, Mode::empty()) {
            Ok(dir) => dir,
            Err(e) => {
                let _ = unlinkat(&parent, &name, AtFlags::REMOVEDIR);
                return Err(match e {
                    Errno::LOOP | Errno::NOTDIR => changed(&path, "replaced by a link"),
                    e => errno_at(&path)(e),
                });
            }
        };
        let dir_id = id_of(&dir).map_err(io_at(&path))?;
        let staging = Staging {
            identity: identity.clone(),
            parent,
            parent_path: parent_path.to_path_buf(),
            name,
            dir,
            dir_id,
            target_name: target.file_name().unwrap_or_default().to_os_string(),
            target: target.to_path_buf(),
            made: HashSet::from([dir_id]),
            chain: Vec::new(),
            group,
            committed: false,
            files: 0,
            bytes: 0,
        };
        staging.give_group(staging.dir.as_fd(), &path)?;
        pause::point("restore-staging", &path);
        Ok(staging)
    }

    /// The staging directory's path, for messages.
    fn path(&self) -> PathBuf {
        self.parent_path.join(&self.name)
    }

    fn give_group(&self, fd: BorrowedFd<'_>, path: &Path) -> Result<(), RestoreError> {
        match self.group {
            Some(gid) => rustix::fs::fchown(fd, None, Some(rustix::fs::Gid::from_raw(gid)))
                .map_err(errno_at(path)),
            None => Ok(()),
        }
    }

    /// Writes every `filestore/…` entry of `zip` (the archive at `path`) into the staging
    /// directory; CRC-32 and sizes are checked as the data is read.
    pub fn extract<R: Read + Seek + Send>(
        &mut self,
        zip: &mut ZipArchive<R>,
        path: &Path,
        cancel: &CancelFlag,
    ) -> Result<(), RestoreError> {
        let identity = self.identity.clone();
        let staging = self.path();
        identity
            .run(|| self.extract_here(zip, path, cancel))
            .map_err(identity_err(&staging))?
    }

    fn extract_here<R: Read + Seek>(
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
            if parts.len() > MAX_DEPTH {
                return Err(read_err(
                    &name,
                    format!("more than {MAX_DEPTH} directories deep: not restored"),
                ));
            }
            if entry.is_dir() {
                self.enter(&parts)?;
                continue;
            }
            let Some((file_name, dirs)) = parts.split_last() else {
                continue;
            };
            let (mut out, dest) = self.create_file(dirs, file_name)?;
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

    /// The path of the directory `chain` (plus `more`), for messages.
    fn shown(&self, more: &str) -> PathBuf {
        let mut p = self.path();
        for (name, _) in &self.chain {
            p.push(name);
        }
        p.push(more);
        p
    }

    /// Makes and opens `parts` below the staging directory, each relative to the one
    /// before, keeping the directories already open in common with the last entry. A
    /// directory that is not one this restore made is refused.
    fn enter(&mut self, parts: &[&str]) -> Result<(), RestoreError> {
        let common = self
            .chain
            .iter()
            .zip(parts)
            .take_while(|((open, _), part)| open == *part)
            .count();
        self.chain.truncate(common);
        for part in &parts[common..] {
            let at = self.shown(part);
            let parent = self
                .chain
                .last()
                .map_or(self.dir.as_fd(), |(_, fd)| fd.as_fd());
            let made = match mkdirat(parent, *part, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => return Err(errno_at(&at)(e)),
            };
            if made {
                pause::point("restore-dir", &at);
            }
            let fd = openat(parent, *part, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => changed(
                    &at,
                    "not a directory (a file of the archive is also used as a directory), or replaced by a link",
                ),
                e => errno_at(&at)(e),
            })?;
            let id = id_of(&fd).map_err(io_at(&at))?;
            if made {
                self.made.insert(id);
                self.give_group(fd.as_fd(), &at)?;
            } else if !self.made.contains(&id) {
                return Err(changed(&at, "replaced by another directory"));
            }
            self.chain.push((part.to_string(), fd));
        }
        Ok(())
    }

    /// Creates the file `name` in the directory `dirs` (made if needed), never through a
    /// link and never over an existing file.
    fn create_file(&mut self, dirs: &[&str], name: &str) -> Result<(File, PathBuf), RestoreError> {
        self.enter(dirs)?;
        let dest = self.shown(name);
        pause::point("restore-file", &dest);
        let dir = self
            .chain
            .last()
            .map_or(self.dir.as_fd(), |(_, fd)| fd.as_fd());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd =
            openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE)).map_err(errno_at(&dest))?;
        self.give_group(fd.as_fd(), &dest)?;
        Ok((File::from(fd), dest))
    }

    /// Checks the staged tree, flushes it to disk and renames the staging directory to
    /// the target, relative to the parent's handle. Returns the target.
    pub fn commit(mut self) -> Result<PathBuf, RestoreError> {
        let identity = self.identity.clone();
        let staging = self.path();
        identity
            .run(|| self.commit_here())
            .map_err(identity_err(&staging))??;
        tracing::info!(
            filestore = %self.target.display(),
            "restored filestore in place, owned by {}",
            self.identity
        );
        Ok(self.target.clone())
    }

    fn commit_here(&mut self) -> Result<(), RestoreError> {
        self.chain.clear();
        let staging = self.path();
        pause::point("restore-commit", &staging);
        let found = tree::check_staged(self.dir.as_fd(), &staging, &self.made, 0)?;
        if found != self.files {
            return Err(changed(
                &staging,
                &format!("{found} files found instead of the {} written", self.files),
            ));
        }
        if !self.is_ours(&self.name) {
            return Err(changed(&staging, "moved or replaced"));
        }
        rustix::fs::fchmod(&self.dir, Mode::from_raw_mode(DIR_MODE)).map_err(errno_at(&staging))?;
        rustix::fs::syncfs(&self.dir).map_err(errno_at(&staging))?;
        // rename(2) replaces only an empty directory: the target was checked absent or
        // empty, and anything else put there since makes this fail.
        renameat(&self.parent, &self.name, &self.parent, &self.target_name)
            .map_err(errno_at(&self.target))?;
        if !self.is_ours(&self.target_name) {
            return Err(changed(
                &self.target,
                "replaced while it was renamed into place",
            ));
        }
        self.committed = true;
        if let Err(e) = rustix::fs::fsync(&self.parent) {
            tracing::warn!(dir = %self.parent_path.display(), "cannot sync directory: {e}");
        }
        Ok(())
    }

    /// Whether `name` in the parent is the staging directory, not a link or another one.
    fn is_ours(&self, name: &OsString) -> bool {
        matches!(
            id_at(self.parent.as_fd(), name),
            Ok(Some((id, FileType::Directory))) if id == self.dir_id
        )
    }

    /// Removes the staged files through the staging directory's handle, then the
    /// directory if its name still holds it. Returns whether the directory went too.
    fn remove(&self) -> std::io::Result<bool> {
        tree::remove_contents(self.dir.as_fd(), 0)?;
        if !self.is_ours(&self.name) {
            return Ok(false);
        }
        unlinkat(&self.parent, &self.name, AtFlags::REMOVEDIR)?;
        Ok(true)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        self.chain.clear();
        let this: &Staging = self;
        let dir = this.path();
        match this.identity.run(|| this.remove()) {
            Ok(Ok(true)) => tracing::info!(dir = %dir.display(), "partial filestore removed"),
            Ok(Ok(false)) => tracing::warn!(
                dir = %dir.display(),
                "partial filestore's files removed; its directory was moved or replaced by another user and is left as it is"
            ),
            Ok(Err(e)) => {
                tracing::error!(dir = %dir.display(), "cannot remove partial filestore: {e}")
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), "cannot remove partial filestore: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_staging_directory_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(&dir.path().join("fs/new")).unwrap();
        let path = staging.path();
        std::fs::write(path.join("x"), "partial").unwrap();
        drop(staging);
        assert!(!path.exists());
        assert!(!dir.path().join("fs/new").exists());
    }

    /// A staging directory for `fs/new` with the file `ab/f` written, and a decoy
    /// directory (a stand-in for `/etc`) holding one file.
    fn staged() -> (tempfile::TempDir, Staging, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let decoy = dir.path().join("etc");
        std::fs::create_dir(&decoy).unwrap();
        std::fs::write(decoy.join("passwd"), "root:x:0:0").unwrap();
        let mut staging = Staging::create(&dir.path().join("fs/new")).unwrap();
        let (mut f, _) = staging.create_file(&["ab"], "f").unwrap();
        f.write_all(b"data").unwrap();
        staging.files = 1;
        (dir, staging, decoy)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_staged_tree_is_renamed_into_place() {
        let (dir, staging, _) = staged();
        let target = staging.commit().unwrap();
        assert_eq!(target, dir.path().join("fs/new"));
        assert_eq!(std::fs::read(target.join("ab/f")).unwrap(), b"data");
        assert_eq!(listing(&dir.path().join("fs")), ["new"]);
    }

    #[test]
    fn a_staging_directory_swapped_for_a_link_fails_the_commit_and_writes_nothing_outside() {
        let (dir, staging, decoy) = staged();
        let path = staging.path();
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&decoy, &path).unwrap();
        let err = staging.commit().unwrap_err();
        assert!(err.to_string().contains("during the restore"), "{err}");
        assert_eq!(listing(&decoy), ["passwd"]);
        assert!(!dir.path().join("fs/new").exists());
        // The link is left alone; the files staged were removed through the handle.
        assert!(path.is_symlink());
        assert!(listing(&dir.path().join("moved")).is_empty());
    }

    #[test]
    fn a_staged_directory_swapped_for_a_link_fails_the_commit() {
        let (dir, staging, decoy) = staged();
        let ab = staging.path().join("ab");
        std::fs::rename(&ab, dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&decoy, &ab).unwrap();
        let err = staging.commit().unwrap_err();
        assert!(err.to_string().contains("replaced by a link"), "{err}");
        assert_eq!(listing(&decoy), ["passwd"]);
        assert!(!dir.path().join("fs/new").exists());
        assert_eq!(listing(&dir.path().join("fs")), Vec::<String>::new());
    }

    #[test]
    fn a_directory_swapped_before_it_is_entered_fails_the_extraction() {
        let (dir, mut staging, decoy) = staged();
        let cd = staging.path().join("cd");
        std::os::unix::fs::symlink(&decoy, &cd).unwrap();
        let err = staging.create_file(&["cd"], "g").unwrap_err();
        assert!(err.to_string().contains("replaced by a link"), "{err}");
        assert_eq!(listing(&decoy), ["passwd"]);
        drop(staging);
        assert_eq!(listing(&dir.path().join("fs")), Vec::<String>::new());
        assert_eq!(listing(&decoy), ["passwd"]);
    }
}

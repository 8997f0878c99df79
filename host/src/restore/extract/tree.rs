//! Directory-handle operations of a restore under a directory another user may write:
//! opening (and making) the target's parent, checking the staged tree before it is
//! renamed into place, and removing it after a failure. Nothing here looks a path up
//! twice: each step starts from a handle held since the previous one and never follows a
//! link (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `AT_REMOVEDIR`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, statat, unlinkat, AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::super::RestoreError;
use super::{changed, DIR_MODE, MAX_DEPTH};
use crate::filestore::identity::Identity;

/// Flags of a directory opened to work in: never through a link.
pub const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Device and inode: what a directory is, whatever its name.
pub type Id = (u64, u64);

/// The id of the open `fd`.
pub fn id_of(fd: impl AsFd) -> std::io::Result<Id> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// The id of `name` in `dir`, not following a link (`None`: absent).
pub fn id_at(dir: BorrowedFd<'_>, name: &OsString) -> std::io::Result<Option<(Id, FileType)>> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some((
            (s.st_dev, s.st_ino),
            FileType::from_raw_mode(s.st_mode),
        ))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory `path`, as the calling thread's identity; the components missing
/// at its end are made one by one (mode [`DIR_MODE`]) and opened relative to the
/// previous one, never through a link, and must belong to `identity` or root.
pub fn open_or_make_dir(path: &Path, identity: &Identity) -> Result<OwnedFd, RestoreError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: Errno| RestoreError::Filestore {
            path,
            source: e.into(),
        }
    };
    let mut missing: Vec<OsString> = Vec::new();
    let mut at = path.to_path_buf();
    let mut fd = loop {
        match openat(
            CWD,
            &at,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => break fd,
            Err(Errno::NOENT) => match at.file_name() {
                Some(name) => {
                    missing.push(name.to_os_string());
                    at.pop();
                }
                None => return Err(io_err(&at)(Errno::NOENT)),
            },
            Err(e) => return Err(io_err(&at)(e)),
        }
    };
    for name in missing.iter().rev() {
        at.push(name);
        match mkdirat(&fd, name, Mode::from_raw_mode(DIR_MODE)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err(&at)(e)),
        }
        let sub = openat(&fd, name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => changed(&at, "replaced by a link or a file"),
            e => io_err(&at)(e),
        })?;
        let owner = rustix::fs::fstat(&sub).map_err(io_err(&at))?.st_uid;
        if owner != 0 && owner != identity.uid {
            return Err(changed(&at, "made by another user"));
        }
        fd = sub;
    }
    Ok(fd)
}

/// The entries of the directory `fd` (but `.` and `..`) with their types, links not
/// followed.
fn entries(fd: BorrowedFd<'_>) -> std::io::Result<Vec<(OsString, FileType)>> {
    let mut dir = Dir::read_from(fd)?;
    let mut out = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let name = OsString::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
        let kind = match entry.file_type() {
            FileType::Unknown => match statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(s) => FileType::from_raw_mode(s.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            },
            t => t,
        };
        out.push((name, kind));
    }
    Ok(out)
}

/// Checks the staged tree under `fd` (at `path`): only directories this restore made and
/// regular files; returns how many files.
pub fn check_staged(
    fd: BorrowedFd<'_>,
    path: &Path,
    made: &HashSet<Id>,
    depth: usize,
) -> Result<u64, RestoreError> {
    if depth > MAX_DEPTH {
        return Err(changed(path, "grew deeper than any archive entry"));
    }
    let io_err = |path: PathBuf| move |source| RestoreError::Filestore { path, source };
    let mut files = 0;
    for (name, kind) in entries(fd).map_err(io_err(path.to_path_buf()))? {
        let at = path.join(&name);
        match kind {
            FileType::RegularFile => files += 1,
            FileType::Directory => {
                let sub = openat(fd, &name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                    Errno::LOOP | Errno::NOTDIR => changed(&at, "replaced by a link or a file"),
                    e => io_err(at.clone())(e.into()),
                })?;
                if !made.contains(&id_of(&sub).map_err(io_err(at.clone()))?) {
                    return Err(changed(&at, "replaced by another directory"));
                }
                files += check_staged(sub.as_fd(), &at, made, depth + 1)?;
            }
            _ => return Err(changed(&at, "replaced by a link or a special file")),
        }
    }
    Ok(files)
}

/// Removes everything under the directory `fd`, relative to it: a link is removed, never
/// followed.
pub fn remove_contents(fd: BorrowedFd<'_>, depth: usize) -> std::io::Result<()> {
    if depth > MAX_DEPTH + 1 {
        return Err(std::io::Error::other(
            "deeper than any archive entry: left in place",
        ));
    }
    for (name, kind) in entries(fd)? {
        if kind == FileType::Directory {
            match openat(fd, &name, DIR_FLAGS, Mode::empty()) {
                Ok(sub) => {
                    remove_contents(sub.as_fd(), depth + 1)?;
                    match unlinkat(fd, &name, AtFlags::REMOVEDIR) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {}
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match unlinkat(fd, &name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

//! Reading a filestore another user owns: every regular file under the root, opened as
//! that user ([`super::identity`]) and relative to its directory's handle, in the order of
//! its relative path, handed to the archive writer as it is opened.
//!
//! An entry is listed from a directory handle and opened relative to that same handle with
//! `O_NOFOLLOW`, never looked up again by path: a directory swapped for a link after it
//! was listed is not entered (skipped with a warning), and a directory renamed away while
//! open is read where it now is (it held the filestore's files). Symbolic links are
//! skipped unless the job sets `follow_links`; a root that is a link is refused unless it
//! does. Whatever a link or a swap points to, the kernel opens it only if the filestore's
//! owner could: a file it could not read is skipped with a warning saying so.
//!
//! Open handles: one per directory level (at most [`MAX_DEPTH`]) and one file at a time.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::identity::Identity;
use super::{is_skipped, FilestoreError, Links};
use crate::pause;

/// Directory levels below the root, at most (Odoo's filestores have two).
const MAX_DEPTH: usize = 128;

/// One file of the filestore, open for reading.
#[derive(Debug)]
pub struct OpenFile {
    /// Path relative to the filestore root, `/`-separated.
    pub relative: String,
    /// The file, opened as the filestore's owner, not through a link (unless followed).
    pub file: File,
    /// Its size when opened.
    pub size: u64,
    /// Where it was found, for messages only (never opened by this path).
    pub path: PathBuf,
}

/// What a directory entry is, from the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Link,
    Other,
}

impl Kind {
    fn of(t: FileType) -> Kind {
        match t {
            FileType::Directory => Kind::Dir,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Link,
            _ => Kind::Other,
        }
    }
}

/// Hands each regular file under `root` to `visit`, opened as the filestore's owner, in
/// the order of relative paths, without Odoo's skipped names. Returns how many.
pub fn read<E>(
    root: &Path,
    links: Links,
    visit: impl FnMut(OpenFile) -> Result<(), E> + Send,
) -> Result<usize, E>
where
    E: From<FilestoreError> + Send,
{
    let identity = Identity::for_path(root).map_err(|source| FilestoreError::Identity {
        path: root.to_path_buf(),
        source,
    })?;
    tracing::info!(filestore = %root.display(), "reading the filestore as {identity}");
    identity
        .run(|| {
            let mut walk = Walk {
                identity: &identity,
                links,
                visit,
                visited: HashSet::new(),
                files: 0,
            };
            let dir = walk.open_root(root)?;
            walk.dir(dir, root, "", 0)?;
            Ok(walk.files)
        })
        .map_err(|source| FilestoreError::Identity {
            path: root.to_path_buf(),
            source,
        })?
}

struct Walk<'a, F> {
    identity: &'a Identity,
    links: Links,
    visit: F,
    /// Directories entered, by device and inode: a followed link to one of them is a loop
    /// (or a second way to the same files), skipped.
    visited: HashSet<(u64, u64)>,
    files: usize,
}

fn read_err(path: &Path) -> impl FnOnce(Errno) -> FilestoreError + '_ {
    move |e| FilestoreError::Read {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

impl<E, F> Walk<'_, F>
where
    E: From<FilestoreError>,
    F: FnMut(OpenFile) -> Result<(), E>,
{
    /// The root, refused when it is a link unless links are followed.
    fn open_root(&self, root: &Path) -> Result<Dir, FilestoreError> {
        let meta = std::fs::symlink_metadata(root).map_err(|source| FilestoreError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        if meta.file_type().is_symlink() {
            let target = link_target(CWD, root);
            if self.links == Links::Skip {
                return Err(FilestoreError::RootIsLink {
                    path: root.to_path_buf(),
                    target,
                });
            }
            tracing::info!(filestore = %root.display(), target, "the filestore root is a symbolic link: followed (follow_links = true)");
        }
        pause::point("filestore-root", root);
        let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if self.links == Links::Skip {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = openat(CWD, root, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => FilestoreError::Replaced {
                path: root.to_path_buf(),
            },
            Errno::ACCESS | Errno::PERM => FilestoreError::NotReadable {
                path: root.to_path_buf(),
                identity: self.identity.to_string(),
            },
            e => read_err(root)(e),
        })?;
        Dir::new(fd).map_err(read_err(root))
    }

    fn dir(&mut self, dir: Dir, path: &Path, prefix: &str, depth: usize) -> Result<(), E> {
        if depth > MAX_DEPTH {
            return Err(FilestoreError::TooDeep {
                path: path.to_path_buf(),
                max: MAX_DEPTH,
            }
            .into());
        }
        let mut dir = dir;
        let entries = list(&mut dir, path)?;
        let fd = dir.fd().map_err(read_err(path))?;
        let stat = rustix::fs::fstat(fd).map_err(read_err(path))?;
        self.visited.insert((stat.st_dev, stat.st_ino));
        for (name, kind) in entries {
            let entry = path.join(&name);
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match kind {
                Kind::Dir => {
                    pause::point("filestore-dir", &entry);
                    let flags =
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    match openat(fd, name.as_str(), flags, Mode::empty()) {
                        Ok(sub) => {
                            let sub = Dir::new(sub).map_err(read_err(&entry))?;
                            self.dir(sub, &entry, &relative, depth + 1)?;
                        }
                        Err(e) => self.not_opened(&entry, e)?,
                    }
                }
                Kind::File if is_skipped(&name) => {}
                Kind::File => {
                    pause::point("filestore-file", &entry);
                    let flags = OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY
                        | OFlags::NONBLOCK;
                    match openat(fd, name.as_str(), flags, Mode::empty()) {
                        Ok(file) => self.file(file, relative, entry)?,
                        Err(e) => self.not_opened(&entry, e)?,
                    }
                }
                Kind::Link => self.link(fd, &name, &entry, relative, depth)?,
                Kind::Other => {
                    tracing::warn!(path = %entry.display(), "skipping a filestore entry that is not a regular file (FIFO, socket or device)");
                }
            }
        }
        Ok(())
    }

    /// A regular file opened: handed over (anything else swapped in is skipped).
    fn file(&mut self, fd: OwnedFd, relative: String, path: PathBuf) -> Result<(), E> {
        let stat = rustix::fs::fstat(&fd).map_err(read_err(&path))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            tracing::warn!(path = %path.display(), "filestore entry is no longer a regular file; skipped");
            return Ok(());
        }
        self.files += 1;
        (self.visit)(OpenFile {
            relative,
            file: File::from(fd),
            size: u64::try_from(stat.st_size).unwrap_or(0),
            path,
        })
    }

    /// An entry listed that could not be opened: skipped with the reason, or an error.
    fn not_opened(&self, path: &Path, e: Errno) -> Result<(), FilestoreError> {
        match e {
            Errno::NOENT => {
                tracing::warn!(path = %path.display(), "filestore entry vanished during the backup; skipped");
            }
            Errno::LOOP | Errno::NOTDIR => {
                tracing::warn!(path = %path.display(), "filestore entry was replaced (by a symbolic link or a file) during the backup; not followed, skipped");
            }
            Errno::ACCESS | Errno::PERM => {
                tracing::warn!(path = %path.display(), "filestore entry not readable by {}, the filestore's owner: not archived", self.identity);
            }
            e => return Err(read_err(path)(e)),
        }
        Ok(())
    }

    fn link(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &str,
        path: &Path,
        relative: String,
        depth: usize,
    ) -> Result<(), E> {
        let target = link_target(parent, Path::new(name));
        if self.links == Links::Skip {
            tracing::warn!(
                link = %path.display(),
                target,
                "filestore: symbolic link not followed, so what it points to is not archived; \
                 set `follow_links = true` on the job if it should be (docs/configuration.md: follow_links)"
            );
            return Ok(());
        }
        // Follow, as the owner: archive what it points to under the link's name. Looked
        // at before it is opened, so that no device or FIFO is ever opened.
        let kind = match statat(parent, name, AtFlags::empty()) {
            Ok(stat) => Kind::of(FileType::from_raw_mode(stat.st_mode)),
            Err(e) => {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link that cannot be followed as {}: {e}", self.identity);
                return Ok(());
            }
        };
        let flags = match kind {
            Kind::Dir => OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Kind::File if !is_skipped(name) => {
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK
            }
            Kind::File => return Ok(()),
            _ => {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link to something that is not a regular file");
                return Ok(());
            }
        };
        let fd = match openat(parent, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link that cannot be followed as {}: {e}", self.identity);
                return Ok(());
            }
        };
        if kind == Kind::File {
            return self.file(fd, relative, path.to_path_buf());
        }
        let stat = rustix::fs::fstat(&fd).map_err(read_err(path))?;
        if self.visited.contains(&(stat.st_dev, stat.st_ino)) {
            tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link to a directory already archived (a loop)");
            return Ok(());
        }
        let dir = Dir::new(fd).map_err(read_err(path))?;
        self.dir(dir, path, &relative, depth + 1)
    }
}

/// The entries of `dir`, but `.` and `..`, in the order their relative paths sort in (a
/// directory's name sorts as if followed by `/`).
fn list(dir: &mut Dir, path: &Path) -> Result<Vec<(String, Kind)>, FilestoreError> {
    let mut entries = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(read_err(path))?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let Ok(name) = name.to_str() else {
            let shown = String::from_utf8_lossy(name.to_bytes()).into_owned();
            tracing::warn!(path = %path.join(shown).display(), "skipping a filestore file whose name is not UTF-8");
            continue;
        };
        let kind = match entry.file_type() {
            FileType::Unknown => {
                let fd = dir.fd().map_err(read_err(path))?;
                match statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => Kind::of(FileType::from_raw_mode(stat.st_mode)),
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(read_err(&path.join(name))(e)),
                }
            }
            t => Kind::of(t),
        };
        entries.push((name.to_string(), kind));
    }
    entries.sort_by_cached_key(|(name, kind)| {
        if *kind == Kind::Dir {
            format!("{name}/")
        } else {
            name.clone()
        }
    });
    Ok(entries)
}

/// Where the link `name` (relative to `dir`) points, for messages.
fn link_target(dir: impl AsFd, name: &Path) -> String {
    match rustix::fs::readlinkat(dir, name, Vec::new()) {
        Ok(target) => target.to_string_lossy().into_owned(),
        Err(e) => format!("unreadable: {e}"),
    }
}

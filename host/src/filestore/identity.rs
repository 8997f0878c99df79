//! Whose rights root uses in a directory tree another user controls.
//!
//! The Odoo user owns `data_dir` and the filestore: between two steps of a walk or of a
//! restore it may rename a directory and put a symbolic link in its place, or leave a
//! hard link to a file it cannot read. Root must then neither read a file that user could
//! not read nor write where that user could not write. The simplest proof is to let the
//! kernel decide: the work under such a tree runs on a thread that has taken that user's
//! identity ([`Identity::run`]: supplementary groups, then group, then user, irrevocably for
//! that thread; Linux keeps credentials per thread). Each of its `open`, `mkdir` and
//! `rename` is checked against that user's rights, ACLs included, whatever links, swaps or
//! hard links the tree holds, on any kernel, and without a check of our own per file.
//!
//! Which user: [`Identity::for_path`] follows the path from `/`, as the kernel would, and
//! takes the owner of the first component not owned by root. Everything up to it belongs
//! to root, so nobody else could have changed it; everything below it is at that user's
//! mercy, so it is read and written with that user's rights. A path owned by root all the
//! way is used as root. A root-owned directory on the way that its group or everyone may
//! write (without the sticky bit) is refused: its other writers could swap what is below.
//! When the process is not root, nothing is switched: it uses its own rights.

use std::ffi::{CStr, CString, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::process::{Gid, Uid};
use rustix::thread::CapabilitySet;

/// Symbolic links followed while finding the owner, at most (the kernel's limit).
const MAX_LINKS: u32 = 40;

/// Mode bits: writable by group or others, and the sticky bit.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Why a path's owner cannot be found or taken on.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A component of the path cannot be examined.
    #[error("cannot examine {path}: {source}")]
    Examine {
        /// The component.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A root-owned directory on the way is writable by other users.
    #[error("{path} belongs to root but its group or everyone may write to it (mode {mode:o}, no sticky bit): they could swap what lies below it. Make it writable by root only (chmod go-w {path}), or give it to the user who owns what lies below it", path = path.display())]
    SharedDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// A link loop, or too many links.
    #[error("too many symbolic links on the way to {path}")]
    Loop {
        /// The path.
        path: PathBuf,
    },
    /// The thread could not take the identity.
    #[error("cannot act as {who}: {source}; sauvegarde reads a filestore and writes a restore as their owner, and needs CAP_SETUID and CAP_SETGID and the system calls setresuid, setresgid and setgroups for it (see the packaged systemd unit)")]
    Switch {
        /// The identity.
        who: String,
        /// The error.
        source: std::io::Error,
    },
    /// The identity was taken, and root's file capabilities stayed (securebits).
    #[error("acting as {who} kept root's file capabilities (SECBIT_NO_SETUID_FIXUP?), so it would limit nothing: run sauvegarde without that secure bit")]
    KeptCapabilities {
        /// The identity.
        who: String,
    },
}

/// A user whose rights a thread takes on ([`Identity::run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user.
    pub uid: u32,
    /// Its primary group (from the password database; else the group of the directory
    /// it was found by).
    pub gid: u32,
    /// Its supplementary groups.
    groups: Vec<u32>,
    /// Its name, when the password database knows it.
    name: Option<String>,
    /// Whether [`Identity::run`] switches (the process is root and this is another user).
    switch: bool,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

impl Identity {
    /// The process's own identity: nothing is switched.
    pub fn current() -> Identity {
        let uid = rustix::process::geteuid().as_raw();
        Identity {
            uid,
            gid: rustix::process::getegid().as_raw(),
            groups: Vec::new(),
            name: account(uid).map(|(name, _)| name.to_string_lossy().into_owned()),
            switch: false,
        }
    }

    /// The identity root takes on for work under `path`: the owner of the first component
    /// of `path` (links followed) that root does not own; root when there is none (the
    /// rest may not exist yet). The process's own identity when it is not root.
    pub fn for_path(path: &Path) -> Result<Identity, IdentityError> {
        if !rustix::process::geteuid().is_root() {
            return Ok(Identity::current());
        }
        let path = std::path::absolute(path).map_err(|source| IdentityError::Examine {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(match first_other_owner(&path)? {
            Some((uid, gid)) => Identity::user(uid, gid),
            None => Identity::current(),
        })
    }

    /// `uid`, with its groups from the password and group databases (`gid` when it has
    /// no entry).
    fn user(uid: u32, gid: u32) -> Identity {
        let (name, gid, groups) = match account(uid) {
            Some((name, primary)) => {
                let groups = groups_of(&name, primary);
                (Some(name.to_string_lossy().into_owned()), primary, groups)
            }
            None => (None, gid, vec![gid]),
        };
        Identity {
            uid,
            gid,
            groups,
            name,
            switch: uid != 0,
        }
    }

    /// Whether this is root.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Runs `f` on a new thread with this identity, in the current `tracing` span (its
    /// events reach the run's log). The thread keeps the identity until it ends.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, IdentityError> {
        let span = tracing::Span::current();
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let _entered = span.enter();
                self.assume()?;
                Ok(f())
            });
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Takes this identity on the calling thread: groups, then group, then user (root's
    /// capabilities go with the user; checked).
    fn assume(&self) -> Result<(), IdentityError> {
        if !self.switch {
            return Ok(());
        }
        let err = |source: rustix::io::Errno| IdentityError::Switch {
            who: self.to_string(),
            source: source.into(),
        };
        let groups: Vec<Gid> = self.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        let gid = Gid::from_raw(self.gid);
        let uid = Uid::from_raw(self.uid);
        rustix::thread::set_thread_groups(&groups).map_err(err)?;
        rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(err)?;
        rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(err)?;
        let caps = rustix::thread::capabilities(None).map_err(err)?;
        let file_caps = CapabilitySet::DAC_OVERRIDE
            | CapabilitySet::DAC_READ_SEARCH
            | CapabilitySet::FOWNER
            | CapabilitySet::CHOWN;
        if caps.effective.intersects(file_caps) {
            return Err(IdentityError::KeptCapabilities {
                who: self.to_string(),
            });
        }
        Ok(())
    }
}

/// Owner and group of the first component of the absolute `path` that root does not own,
/// following links as the kernel would; `None` when root owns all that exists of it.
fn first_other_owner(path: &Path) -> Result<Option<(u32, u32)>, IdentityError> {
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, path);
    let mut at = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == "." {
            continue;
        }
        if part == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            // The rest does not exist yet: it will be made in a directory of root's.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IdentityError::Examine { path: next, source }),
        };
        if meta.uid() != 0 {
            return Ok(Some((meta.uid(), meta.gid())));
        }
        if meta.file_type().is_symlink() {
            // Root's link in root's directory: root made it; go where it points.
            links += 1;
            if links > MAX_LINKS {
                return Err(IdentityError::Loop {
                    path: path.to_path_buf(),
                });
            }
            let target = std::fs::read_link(&next)
                .map_err(|source| IdentityError::Examine { path: next, source })?;
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            push_components(&mut todo, &target);
            continue;
        }
        let mode = meta.mode();
        if meta.is_dir() && mode & GROUP_OR_OTHER_WRITE != 0 && mode & STICKY == 0 {
            return Err(IdentityError::SharedDirectory {
                path: next,
                mode: mode & 0o7777,
            });
        }
        at = next;
    }
    Ok(None)
}

/// Pushes the components of `path` on the stack `todo`, first one on top.
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::CurDir => Some(".".into()),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// Name and primary group of `uid` in the password database.
fn account(uid: u32) -> Option<(CString, u32)> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids); it is only read
        // after getpwuid_r filled it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf.len()` is its real length.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded: pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(entry.pw_name) }.to_owned();
        return Some((name, entry.pw_gid));
    }
}

/// The groups of the user `name` whose primary group is `gid` (`gid` included).
fn groups_of(name: &CStr, gid: u32) -> Vec<u32> {
    let mut room: libc::c_int = 32;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; room as usize];
        let mut count = room;
        // SAFETY: `groups` has room for `count` entries; `name` is NUL-terminated.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return groups;
        }
        if room >= 1 << 16 {
            return vec![gid];
        }
        room = count.max(room * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_root_owns_all_the_way_is_used_as_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let id = Identity::for_path(&dir.path().join("a/missing/deeper")).unwrap();
        assert_eq!(id, Identity::current());
    }

    #[test]
    fn a_directory_others_may_write_without_the_sticky_bit_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Identity::for_path(&shared.join("filestore")).unwrap_err();
        assert!(
            matches!(err, IdentityError::SharedDirectory { .. }),
            "{err}"
        );
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(Identity::for_path(&shared.join("filestore")).is_ok());
    }

    #[test]
    fn the_first_owner_other_than_root_is_found_through_roots_links() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("disk2/odoo");
        std::fs::create_dir_all(real.join("filestore/db")).unwrap();
        std::os::unix::fs::chown(&real, Some(4242), Some(4343)).unwrap();
        std::os::unix::fs::symlink(dir.path().join("disk2/odoo"), dir.path().join("odoo")).unwrap();
        let id = Identity::for_path(&dir.path().join("odoo/filestore/db")).unwrap();
        assert_eq!(id.uid, 4242);
        // No such user: its group is the directory's.
        assert_eq!(id.gid, 4343);
        assert_eq!(id.to_string(), "uid 4242");
    }

    #[test]
    fn a_thread_acting_as_another_user_cannot_read_roots_files() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "root only").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let nobody = Identity::user(65534, 65534);
        let read = nobody.run(|| std::fs::read(&secret)).unwrap();
        assert_eq!(
            read.unwrap_err().kind(),
            std::io::ErrorKind::PermissionDenied
        );
        // The calling thread is still root.
        assert_eq!(std::fs::read(&secret).unwrap(), b"root only");
    }
}

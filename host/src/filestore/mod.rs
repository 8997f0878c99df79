//! Where a job's Odoo filestore is, and reading it without trusting its owner.
//!
//! The Odoo user owns the filestore and may plant links, hard links and swapped
//! directories in it while root backs it up. Two rules keep an archive to what that user
//! could read ([`walk`]): the files are opened by a thread that has taken the owner's
//! identity ([`identity`]), so the kernel refuses whatever that user could not open, and
//! each entry is opened relative to the handle of the directory it was listed from, never
//! by path again. Symbolic links are not followed unless the job opts in ([`Links`]); each
//! one skipped is named in a warning.
//!
//! Why a thread with the owner's identity rather than `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` as root: the rule is "what the owner could read", and only the
//! kernel checking as the owner answers it exactly: a hard link to a root-only file, a
//! root-owned file moved in, ACLs, a link followed with `follow_links`, or a swapped
//! directory on the way to the root are all refused alike, on any kernel (no `openat2`,
//! which needs Linux 5.6, no fallback), and with no check of ours per file.

pub mod identity;
mod walk;

use std::path::{Path, PathBuf};

use crate::config::FilestoreSetting;
use crate::odoo_conf::OdooConf;

pub use walk::{read, OpenFile};

/// File names Odoo leaves out of its dumps.
const SKIPPED: &[&str] = &[".DS_Store"];
const SKIPPED_EXT: &[&str] = &["pyc", "pyo", "swp"];

/// A filestore that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FilestoreError {
    /// A configured filestore path is missing or not a directory.
    #[error("filestore {path} is not a directory: set `filestore` to the database's filestore, \"auto\" or \"none\"")]
    Missing {
        /// The configured path.
        path: PathBuf,
    },
    /// Reading the tree failed.
    #[error("cannot read filestore {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The root is a symbolic link and the job does not follow links.
    #[error("filestore {path} is a symbolic link (to {target}), not followed: the Odoo user may have planted it. If an administrator made it (a filestore moved to another disk), set `follow_links = true` on the job (docs/configuration.md: follow_links), or point `filestore`/`data_dir` at the real directory")]
    RootIsLink {
        /// The root.
        path: PathBuf,
        /// Where it points.
        target: String,
    },
    /// The root stopped being a directory while it was being opened.
    #[error("filestore {path} was replaced (by a symbolic link or a file) while the backup opened it: not followed; check who changes it")]
    Replaced {
        /// The root.
        path: PathBuf,
    },
    /// The filestore's owner may not read its root.
    #[error("filestore {path} cannot be read by {identity}, its owner, so it is not archived: give that user access to it")]
    NotReadable {
        /// The root.
        path: PathBuf,
        /// Who tried.
        identity: String,
    },
    /// Too many directory levels.
    #[error("filestore {path} is more than {max} directories deep: not archived (Odoo's filestore is two levels deep)")]
    TooDeep {
        /// The deepest directory.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The owner of the filestore cannot be found or taken on.
    #[error("filestore {path}: {source}")]
    Identity {
        /// The root.
        path: PathBuf,
        /// Why.
        source: identity::IdentityError,
    },
    /// The database's name cannot name a directory.
    #[error("no filestore for database {database:?}: its name is no safe file name ({reason})")]
    UnsafeName {
        /// The database.
        database: String,
        /// What is wrong with it.
        reason: crate::naming::UnsafeDatabaseName,
    },
}

/// The candidates `filestore = "auto"` tries, in order, for `database`.
pub fn candidates(database: &str, odoo: Option<&OdooConf>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = odoo.and_then(|o| o.data_dir.clone()) {
        dirs.push(d);
    }
    dirs.push(PathBuf::from("/var/lib/odoo/.local/share/Odoo"));
    dirs.push(PathBuf::from("/var/lib/odoo"));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/share/Odoo"));
    }
    dirs.into_iter()
        .map(|d| d.join("filestore").join(database))
        .collect()
}

/// The filestore directory to archive, or `None` for a database-only archive.
pub fn resolve(
    setting: &FilestoreSetting,
    database: &str,
    odoo: Option<&OdooConf>,
) -> Result<Option<PathBuf>, FilestoreError> {
    match setting {
        FilestoreSetting::None => Ok(None),
        FilestoreSetting::Path(p) if p.is_dir() => Ok(Some(p.clone())),
        FilestoreSetting::Path(p) => Err(FilestoreError::Missing { path: p.clone() }),
        FilestoreSetting::Auto => {
            crate::naming::check_database_name(database).map_err(|reason| {
                FilestoreError::UnsafeName {
                    database: database.to_string(),
                    reason,
                }
            })?;
            let tried = candidates(database, odoo);
            match tried.iter().find(|p| p.is_dir()) {
                Some(p) => Ok(Some(p.clone())),
                None => {
                    let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                    tracing::warn!(
                        database,
                        "no filestore found (tried {}); the archive holds the database only. \
                         Set `filestore` to its path, or to \"none\" to silence this",
                        list.join(", ")
                    );
                    Ok(None)
                }
            }
        }
    }
}

/// How the walk treats symbolic links found under the filestore root, and a root that
/// is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Never followed: each is skipped with a warning naming it (the default), and a root
    /// that is a link is refused. A link planted in the filestore by the Odoo user cannot
    /// pull other files into an archive made by a root daemon.
    #[default]
    Skip,
    /// Followed, to files and directories (`follow_links = true`), as the filestore's
    /// owner: what they point to is archived under the link's name when that user may
    /// read it. Directory loops are skipped with a warning.
    Follow,
}

fn is_skipped(name: &str) -> bool {
    SKIPPED.contains(&name)
        || Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SKIPPED_EXT.contains(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the filestore at `root`: each file's relative path and contents.
    fn read_all(root: &Path, links: Links) -> Result<Vec<(String, Vec<u8>)>, FilestoreError> {
        let mut out = Vec::new();
        read(root, links, |mut f: OpenFile| {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f.file, &mut data).unwrap();
            assert_eq!(f.size, data.len() as u64);
            out.push((f.relative, data));
            Ok::<(), FilestoreError>(())
        })?;
        Ok(out)
    }

    fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
        files.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn files_come_sorted_by_relative_path_without_odoo_junk() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["ab", "checklist/ab", "a.b", "a"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in [
            "ab/ab12",
            "checklist/ab/ab12",
            "a.b/x",
            "a/x",
            "a-",
            "x.pyc",
            ".DS_Store",
        ] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let files = read_all(dir.path(), Links::Skip).unwrap();
        let mut sorted: Vec<&str> = names(&files);
        sorted.sort();
        assert_eq!(names(&files), sorted, "the order of the relative paths");
        assert_eq!(
            names(&files),
            ["a-", "a.b/x", "a/x", "ab/ab12", "checklist/ab/ab12"]
        );
        assert_eq!(files[3].1, b"ab/ab12");
    }

    /// A filestore with a link to a file outside, a link to a directory outside, and a
    /// link back to its own root.
    fn filestore_with_links() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("filestore");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("ab")).unwrap();
        std::fs::create_dir_all(outside.join("disk")).unwrap();
        std::fs::write(root.join("ab/ab12"), "x").unwrap();
        std::fs::write(outside.join("shadow"), "root:secret").unwrap();
        std::fs::write(outside.join("disk/cd34"), "y").unwrap();
        std::os::unix::fs::symlink(outside.join("shadow"), root.join("ab/stolen")).unwrap();
        std::os::unix::fs::symlink(outside.join("disk"), root.join("cd")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("ab/loop")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join("dangling")).unwrap();
        (dir, root)
    }

    #[test]
    fn symbolic_links_are_not_followed_by_default() {
        let (_dir, root) = filestore_with_links();
        let files = read_all(&root, Links::Skip).unwrap();
        assert_eq!(names(&files), ["ab/ab12"]);
    }

    #[test]
    fn follow_links_archives_link_targets_under_the_link_name_and_skips_loops() {
        let (_dir, root) = filestore_with_links();
        let files = read_all(&root, Links::Follow).unwrap();
        assert_eq!(names(&files), ["ab/ab12", "ab/stolen", "cd/cd34"]);
        assert_eq!(files[1].1, b"root:secret");
        assert_eq!(files[2].1, b"y");
    }

    #[test]
    fn a_root_that_is_a_link_is_refused_unless_links_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real/ab")).unwrap();
        std::fs::write(dir.path().join("real/ab/f"), "f").unwrap();
        let root = dir.path().join("shop");
        std::os::unix::fs::symlink(dir.path().join("real"), &root).unwrap();
        let err = read_all(&root, Links::Skip).unwrap_err();
        assert!(matches!(err, FilestoreError::RootIsLink { .. }), "{err}");
        assert!(err.to_string().contains("follow_links = true"), "{err}");
        assert_eq!(names(&read_all(&root, Links::Follow).unwrap()), ["ab/f"]);
    }

    #[test]
    fn an_unsafe_database_name_has_no_filestore() {
        let err = resolve(&FilestoreSetting::Auto, "../../escape", None).unwrap_err();
        assert!(matches!(err, FilestoreError::UnsafeName { .. }), "{err}");
    }

    #[test]
    fn explicit_missing_path_is_an_error() {
        let setting = FilestoreSetting::Path(PathBuf::from("/nonexistent/filestore/db"));
        let err = resolve(&setting, "db", None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/filestore/db"));
    }

    #[test]
    fn auto_uses_data_dir_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("filestore/db")).unwrap();
        let odoo = OdooConf {
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&FilestoreSetting::Auto, "db", Some(&odoo)).unwrap(),
            Some(dir.path().join("filestore/db"))
        );
    }
}

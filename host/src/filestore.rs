//! Where a job's Odoo filestore is, and listing its files: symbolic links under it are
//! never followed unless the job opts in ([`Links`]), and each one skipped is named in a
//! warning.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::FilestoreSetting;
use crate::odoo_conf::OdooConf;

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

/// One file of the filestore.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Absolute path on disk.
    pub path: PathBuf,
    /// Path relative to the filestore root, `/`-separated.
    pub relative: String,
}

/// How the walk treats symbolic links found under the filestore root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Never followed: each is skipped with a warning naming it (the default). A link
    /// planted in the filestore by the Odoo user cannot pull other files into an archive
    /// made by a root daemon.
    #[default]
    Skip,
    /// Followed, to files and directories (`follow_links = true`): what they point to is
    /// archived under the link's name. Directory loops are skipped with a warning.
    Follow,
}

/// Every regular file under `root`, sorted by relative path, without Odoo's skipped names.
/// Symbolic links are skipped with a warning unless `links` is [`Links::Follow`]; other
/// non-regular files (FIFOs, sockets, devices) are skipped with a warning.
pub fn list(root: &Path, links: Links) -> Result<Vec<Entry>, FilestoreError> {
    let mut walk = Walk {
        links,
        out: Vec::new(),
        visited: HashSet::new(),
    };
    walk.dir(root, "")?;
    let mut out = walk.out;
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

struct Walk {
    links: Links,
    out: Vec<Entry>,
    /// Directories entered, by device and inode: a followed link to one of them is a loop
    /// (or a second way to the same files), skipped.
    visited: HashSet<(u64, u64)>,
}

impl Walk {
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<(), FilestoreError> {
        let read_err = |source| FilestoreError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(read_err)?;
        self.visited.insert((meta.dev(), meta.ino()));
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(path = %path.display(), "skipping a filestore file whose name is not UTF-8");
                continue;
            };
            let relative = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            // The entry itself, never what a link points to.
            let kind = entry.file_type().map_err(read_err)?;
            if kind.is_symlink() {
                self.link(&path, name, relative)?;
            } else if kind.is_dir() {
                self.dir(&path, &relative)?;
            } else if is_skipped(name) {
                continue;
            } else if kind.is_file() {
                self.out.push(Entry { path, relative });
            } else {
                tracing::warn!(path = %path.display(), "skipping a filestore entry that is not a regular file (FIFO, socket or device)");
            }
        }
        Ok(())
    }

    fn link(&mut self, path: &Path, name: &str, relative: String) -> Result<(), FilestoreError> {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        if self.links == Links::Skip {
            tracing::warn!(
                link = %path.display(),
                target,
                "filestore: symbolic link not followed, so what it points to is not archived; \
                 set `follow_links = true` on the job if it should be (README: follow_links)"
            );
            return Ok(());
        }
        // Follow: archive what it points to, under the link's name, by its real path (so
        // the file is then opened without following any link).
        let resolved = match std::fs::canonicalize(path).and_then(|real| {
            let meta = std::fs::metadata(&real)?;
            Ok((real, meta))
        }) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link that cannot be followed: {e}");
                return Ok(());
            }
        };
        let (real, meta) = resolved;
        if meta.is_dir() {
            if self.visited.contains(&(meta.dev(), meta.ino())) {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link to a directory already archived (a loop)");
                return Ok(());
            }
            self.dir(&real, &relative)
        } else if meta.is_file() && !is_skipped(name) {
            self.out.push(Entry {
                path: real,
                relative,
            });
            Ok(())
        } else {
            if !meta.is_file() {
                tracing::warn!(link = %path.display(), target, "filestore: skipping a symbolic link to something that is not a regular file");
            }
            Ok(())
        }
    }
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

    #[test]
    fn lists_sorted_and_skips_odoo_junk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ab")).unwrap();
        std::fs::create_dir_all(dir.path().join("checklist/ab")).unwrap();
        std::fs::write(dir.path().join("ab/ab12"), "x").unwrap();
        std::fs::write(dir.path().join("checklist/ab/ab12"), "").unwrap();
        std::fs::write(dir.path().join("x.pyc"), "").unwrap();
        std::fs::write(dir.path().join(".DS_Store"), "").unwrap();
        let names: Vec<_> = list(dir.path(), Links::Skip)
            .unwrap()
            .into_iter()
            .map(|e| e.relative)
            .collect();
        assert_eq!(names, ["ab/ab12", "checklist/ab/ab12"]);
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

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.relative.as_str()).collect()
    }

    #[test]
    fn symbolic_links_are_not_followed_by_default() {
        let (_dir, root) = filestore_with_links();
        let entries = list(&root, Links::Skip).unwrap();
        assert_eq!(names(&entries), ["ab/ab12"]);
    }

    #[test]
    fn follow_links_archives_link_targets_under_the_link_name_and_skips_loops() {
        let (dir, root) = filestore_with_links();
        let entries = list(&root, Links::Follow).unwrap();
        assert_eq!(names(&entries), ["ab/ab12", "ab/stolen", "cd/cd34"]);
        let outside = dir.path().join("outside").canonicalize().unwrap();
        // Opened by their real paths: no link left to follow.
        assert_eq!(entries[1].path, outside.join("shadow"));
        assert_eq!(entries[2].path, outside.join("disk/cd34"));
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

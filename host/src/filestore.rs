//! Where a job's Odoo filestore is, and listing its files.

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

/// Every regular file under `root`, sorted by relative path, without Odoo's skipped names.
/// Symbolic links are followed for files, not for directories.
pub fn list(root: &Path) -> Result<Vec<Entry>, FilestoreError> {
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), FilestoreError> {
    let read_err = |source| FilestoreError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(path = %entry.path().display(), "skipping a filestore file whose name is not UTF-8");
            continue;
        };
        let relative = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(read_err)?;
        if kind.is_dir() {
            walk(&entry.path(), &relative, out)?;
        } else if is_skipped(name) {
            continue;
        } else if kind.is_file() || (kind.is_symlink() && entry.path().is_file()) {
            out.push(Entry {
                path: entry.path(),
                relative,
            });
        }
    }
    Ok(())
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
        let names: Vec<_> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.relative)
            .collect();
        assert_eq!(names, ["ab/ab12", "checklist/ab/ab12"]);
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

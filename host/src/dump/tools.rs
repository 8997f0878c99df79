//! Finding the PostgreSQL client programs.

use std::path::{Path, PathBuf};

/// `pg_dump` and the `psql` next to it.
#[derive(Debug, Clone)]
pub struct PgTools {
    /// pg_dump.
    pub pg_dump: PathBuf,
    /// psql of the same installation (same directory), else the one on PATH.
    pub psql: PathBuf,
}

impl PgTools {
    /// The configured pg_dump, else the newest `/usr/lib/postgresql/*/bin/pg_dump`, else
    /// `pg_dump` from PATH; `None` when there is none.
    pub fn discover(configured: Option<&Path>) -> Option<Self> {
        let pg_dump = match configured {
            Some(p) => p.to_path_buf(),
            None => find_pg_dump(Path::new("/usr/lib/postgresql"))?,
        };
        let psql = sibling(&pg_dump, "psql").unwrap_or_else(|| {
            find_newest(Path::new("/usr/lib/postgresql"), "psql")
                .or_else(|| which("psql"))
                .unwrap_or_else(|| PathBuf::from("psql"))
        });
        Some(PgTools { pg_dump, psql })
    }
}

/// `pg_restore` of the same installation as `pg_dump` (its directory), else from PATH.
pub fn pg_restore_for(pg_dump: &Path) -> PathBuf {
    sibling(pg_dump, "pg_restore").unwrap_or_else(|| PathBuf::from("pg_restore"))
}

/// `program` in the directory of `pg_dump`, when `pg_dump` names a directory and it is there.
fn sibling(pg_dump: &Path, program: &str) -> Option<PathBuf> {
    let path = pg_dump.with_file_name(program);
    (pg_dump.parent().is_some_and(|d| !d.as_os_str().is_empty()) && path.is_file()).then_some(path)
}

/// The newest `<root>/<major>/bin/pg_dump`, else `pg_dump` on PATH.
pub fn find_pg_dump(root: &Path) -> Option<PathBuf> {
    find_newest(root, "pg_dump").or_else(|| which("pg_dump"))
}

fn find_newest(root: &Path, program: &str) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin").join(program);
            bin.is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_major_wins() {
        let dir = tempfile::tempdir().unwrap();
        for major in ["9", "15", "13", "notaversion"] {
            let bin = dir.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("pg_dump"), "").unwrap();
        }
        assert_eq!(
            find_pg_dump(dir.path()),
            Some(dir.path().join("15/bin/pg_dump"))
        );
    }
}

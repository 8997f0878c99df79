//! A private libpq password file for one run of a PostgreSQL client program.
//!
//! The job's password reaches pg_dump, psql and pg_restore through `PGPASSFILE`, never
//! `PGPASSWORD`: an environment variable is readable in `/proc/<pid>/environ` by the
//! program's user for as long as it runs and is inherited by whatever it starts, while
//! the file lives in a directory of its own (mode 0700), is itself 0600, and is removed
//! as soon as the program has exited — on success, failure or cancellation alike (drop).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A password file and its private directory, both removed on drop.
#[derive(Debug)]
pub struct PassFile {
    // Dropped after `path` is no longer used: removes the directory and the file.
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl PassFile {
    /// Writes `password` for every host, port, database and user (`*:*:*:*:password`)
    /// into a new file in a new private directory under the system's temporary directory.
    pub fn create(password: &str) -> std::io::Result<Self> {
        if password.contains(['\n', '\r']) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the database password contains a line break, which a libpq password file \
                 cannot hold",
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-pg-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let path = dir.path().join("pgpass");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(format!("*:*:*:*:{}\n", escape(password)).as_bytes())?;
        file.sync_all()?;
        Ok(PassFile { dir, path })
    }

    /// The file, for `PGPASSFILE`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The private directory holding it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A `.pgpass` field: `\` and `:` escaped with a backslash.
fn escape(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_private_escaped_and_removed_on_drop() {
        let file = PassFile::create(r"pa:ss\word").unwrap();
        let path = file.path().to_path_buf();
        let dir = file.dir().to_path_buf();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "*:*:*:*:pa\\:ss\\\\word\n"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        drop(file);
        assert!(!path.exists() && !dir.exists());
    }

    #[test]
    fn a_password_with_a_line_break_is_refused() {
        let err = PassFile::create("two\nlines").unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
    }
}

//! The PostgreSQL programs of a restore: `pg_restore` next to `pg_dump`, and commands with
//! nothing inherited on stdin.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `pg_restore` of the same installation as `pg_dump` (its directory), else from PATH.
pub fn pg_restore_for(pg_dump: &Path) -> PathBuf {
    let sibling = pg_dump.with_file_name("pg_restore");
    if pg_dump.parent().is_some_and(|d| !d.as_os_str().is_empty()) && sibling.is_file() {
        sibling
    } else {
        PathBuf::from("pg_restore")
    }
}

/// A command for `program` with nothing inherited on stdin.
pub fn command(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

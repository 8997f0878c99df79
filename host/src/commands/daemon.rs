//! `daemon`: run the scheduler in the foreground (systemd `Type=notify`).

use std::path::PathBuf;

use super::CliError;

/// Runs [`crate::daemon`] until SIGTERM/SIGINT.
pub fn run(files: &[PathBuf]) -> Result<i32, CliError> {
    crate::daemon::run(files)
}

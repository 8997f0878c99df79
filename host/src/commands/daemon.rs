//! `daemon`: run the scheduler in the foreground (systemd `Type=notify`).

use std::path::PathBuf;

use super::{exit, CliError};
use sauvegarde::daemon::DaemonError;

/// Runs [`sauvegarde::daemon`] until SIGTERM/SIGINT: exit 0 after a clean stop, 2 when the
/// configuration is invalid at start, 1 when the process cannot set itself up.
pub fn run(files: &[PathBuf]) -> Result<i32, CliError> {
    match sauvegarde::daemon::run(files) {
        Ok(()) => Ok(exit::OK),
        Err(e @ DaemonError::Configuration(_)) => Err(CliError::usage(e)),
        Err(e @ DaemonError::Setup(_)) => Err(CliError::failed(e)),
    }
}

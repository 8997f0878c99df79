//! One module per command; each returns the process exit code or a [`CliError`].

pub mod backup;
pub mod config;
pub mod daemon;
pub mod docs;
pub mod drill;
pub mod export;
pub mod export_progress;
pub mod history;
pub mod init;
pub mod jobs;
pub mod plugins;
pub mod plugins_check;
pub mod prune;
pub mod restore;
pub mod test_destinations;
pub mod verify;

use std::fmt;

use sauvegarde::config::{ConfigErrors, LoadedConfig, Sources, Uses};

/// Exit codes of the command line (DESIGN.md).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The operation failed.
    pub const FAILED: i32 = 1;
    /// Usage or configuration error.
    pub const USAGE: i32 = 2;
    /// A refusal (`restore` of an archive it will not load, to a target it will not
    /// touch): the same code as a usage error, nothing was changed.
    pub const REFUSED: i32 = 2;
    /// The local backup succeeded but an export failed.
    pub const EXPORT_FAILED: i32 = 3;

    /// The table printed by `--help` and copied in docs/exit-codes.md (tests keep them equal).
    pub const TABLE: &str = "\
Exit codes (every command):
  0  success
  1  the operation failed: backup (of any database of the job: the others are
     still backed up), restore (rolled back), test of a destination, prune, a
     history that cannot be read, an archive that fails verify or a restore drill,
     a contract point of `plugins check` that fails or is not checked
  2  usage or configuration error, or a refusal before anything changed: restore of an
     unsafe, altered or oversized archive, or onto an existing database or filestore
  3  the local backup is fine but an export failed (backup, export)";
}

/// A command failure: what to tell the user and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// Process exit code.
    pub code: i32,
    /// Message for stderr.
    pub message: String,
}

impl CliError {
    /// A failure with exit code 1.
    pub fn failed(message: impl fmt::Display) -> Self {
        CliError {
            code: exit::FAILED,
            message: message.to_string(),
        }
    }

    /// A usage/configuration failure with exit code 2.
    pub fn usage(message: impl fmt::Display) -> Self {
        CliError {
            code: exit::USAGE,
            message: message.to_string(),
        }
    }
}

/// The command line's view of an engine failure: exit 2 when the configuration is at
/// fault, 1 otherwise.
pub fn backup_error(e: sauvegarde::job::BackupError) -> CliError {
    CliError {
        code: if e.is_configuration() {
            exit::USAGE
        } else {
            exit::FAILED
        },
        message: e.to_string(),
    }
}

impl From<ConfigErrors> for CliError {
    fn from(e: ConfigErrors) -> Self {
        CliError::usage(e)
    }
}

/// Loads the configuration for a command that uses `uses` of it, or fails with exit code
/// 2 (errors of the whole file, or of what the command uses). What is broken but not used
/// is one warning line on stderr, printed first.
pub fn load_config(files: &[std::path::PathBuf], uses: Uses<'_>) -> Result<LoadedConfig, CliError> {
    let loaded = sauvegarde::config::load_partial(&Sources {
        files: files.to_vec(),
    })?;
    if let Some(line) = loaded.problems.warning(uses) {
        print_stderr(&format!("{line}\n"));
    }
    Ok(loaded.require(uses)?)
}

/// Writes a JSON document to stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::failed)?;
    print_text(&format!("{text}\n"))
}

/// Writes text to stdout; a closed pipe is not an error worth a panic.
pub fn print_text(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes a report to stderr (stdout is kept for machine-readable output).
pub fn print_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    // Nothing sensible to do when stderr is gone.
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exit_code_page_has_the_table_of_help() {
        let page = include_str!("../../../docs/exit-codes.md");
        assert!(
            page.contains(super::exit::TABLE),
            "docs/exit-codes.md must contain commands::exit::TABLE verbatim:\n{}",
            super::exit::TABLE
        );
    }
}

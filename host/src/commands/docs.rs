//! `__generate-docs DIR` (hidden): manual pages and shell completions generated from the
//! command-line definition, for the Debian package and `scripts/package`.
//!
//! Writes `DIR/man/sauvegarde.1`, `DIR/man/sauvegarde-<command>.1` for every visible
//! command (and `sauvegarde-config-show.1` …), and `DIR/completions/sauvegarde.bash`,
//! `_sauvegarde` (zsh) and `sauvegarde.fish`.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{exit, print_text, CliError};

/// Generates every page and completion file under `dir`.
pub fn run(dir: &Path) -> Result<i32, CliError> {
    let failed = |what: &str, e: std::io::Error| {
        CliError::failed(format!("cannot write {what} under {}: {e}", dir.display()))
    };
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| failed("a directory", e))?;
    }
    clap_mangen::generate_to(crate::cli::Cli::command(), &man)
        .map_err(|e| failed("the manual pages", e))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = crate::cli::Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "sauvegarde", &completions)
            .map_err(|e| failed("the completions", e))?;
    }
    print_text(&format!(
        "manual pages in {}, completions in {}\n",
        man.display(),
        completions.display()
    ))?;
    Ok(exit::OK)
}

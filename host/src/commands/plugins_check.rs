//! `plugins check FILE.so --config dest.toml`: the conformance kit from the command line.

use std::path::{Path, PathBuf};

use super::{exit, print_text, CliError};
use sauvegarde::conformance::{self, KitConfig};

/// Runs the kit on `plugin` with the destination of the single `--config` file. Exit 0
/// when every point holds, 1 when one fails or is not checked, 2 when the file or the
/// plugin cannot be used.
pub fn run(files: &[PathBuf], plugin: &Path) -> Result<i32, CliError> {
    let [file] = files else {
        return Err(CliError::usage(
            "plugins check: give the destination's settings with exactly one --config FILE (one destination table, plus an optional [conformance] table)",
        ));
    };
    let config = KitConfig::load(file).map_err(CliError::usage)?;
    let report = conformance::run(plugin, config).map_err(CliError::usage)?;
    print_text(&report.render(plugin))?;
    Ok(if report.all_hold() {
        exit::OK
    } else {
        exit::FAILED
    })
}

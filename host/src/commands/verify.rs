//! `verify <ARCHIVE> [--restore] [--strict] [--json] [connection options]`.

use std::path::{Path, PathBuf};

use super::restore::{open_history, setup};
use super::{exit, load_config, print_json, print_text, CliError};
use crate::cancel::{cancel_on_signals, CancelFlag};
use crate::cli::PgTargetArgs;
use crate::restore::scratch;
use crate::verify::{checks, verify_archive, Status, VerifyError, VerifyOptions};

/// The arguments of `verify`.
pub struct VerifyArgs<'a> {
    /// The archive.
    pub archive: &'a Path,
    /// Also restore into a scratch database.
    pub restore: bool,
    /// Row-count differences with the manifest fail.
    pub strict: bool,
    /// JSON output.
    pub json: bool,
    /// Where the test restore goes.
    pub target: &'a PgTargetArgs,
}

/// Verifies the archive and prints the report; exit 0 when sound, 1 otherwise.
pub fn run(files: &[PathBuf], args: &VerifyArgs<'_>) -> Result<i32, CliError> {
    let config = load_config(files)?.config;
    if !args.archive.exists() {
        return Err(CliError::usage(format!(
            "{}: no such archive",
            args.archive.display()
        )));
    }
    let setup = setup(&config, args.target, None)?;
    let cancel = CancelFlag::new();
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::failed(format!("cannot install signal handlers: {e}")))?;
    let history = open_history(&config);
    let options = VerifyOptions {
        pg_restore: &setup.server.pg_restore,
        history: history.as_ref(),
        strict: args.strict,
        cancel: &cancel,
    };
    let mut report = verify_archive(args.archive, &options).map_err(|e| match e {
        VerifyError::Open { .. } => CliError::usage(e),
        VerifyError::Interrupted { .. } => CliError::failed(e),
    })?;
    if args.restore {
        match report.format {
            Some(format) if report.ok => {
                match scratch::test_restore(&setup.server, args.archive, format, &cancel) {
                    Ok(tables) => {
                        report.push(
                            "restore",
                            Status::Ok,
                            format!(
                                "restored into a scratch database ({}) and dropped it",
                                setup.server.describe()
                            ),
                        );
                        checks::restored_counts(&mut report, &tables, args.strict);
                    }
                    Err(e) => report.push("restore", Status::Failed, e.to_string()),
                }
            }
            _ => report.push(
                "restore",
                Status::Skipped,
                "no test restore: the archive failed the checks above",
            ),
        }
    }
    if args.json {
        print_json(&report)?;
    } else {
        print_text(&report.render_text())?;
    }
    Ok(if report.ok { exit::OK } else { exit::FAILED })
}

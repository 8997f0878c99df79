//! `verify <ARCHIVE> [--restore] [--strict] [--json] [connection options]`.

use std::path::{Path, PathBuf};

use super::restore::{open_history, setup, target_uses};
use super::{exit, load_config, print_json, print_text, CliError};
use crate::cli::PgTargetArgs;
use sauvegarde::cancel::{cancel_on_signals, CancelFlag};
use sauvegarde::crypt::{decrypt_to_temp, load_identities};
use sauvegarde::restore::scratch;
use sauvegarde::verify::{
    checks, encrypted, verify_archive, verify_for_restore, Status, VerifyError, VerifyOptions,
};

/// Whether `archive` is age-encrypted (read errors are usage errors: the path is the user's).
pub fn is_encrypted(archive: &Path) -> Result<bool, CliError> {
    sauvegarde::crypt::is_age_file(archive)
        .map_err(|e| CliError::usage(format!("{}: {e}", archive.display())))
}

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
    /// Identity file for an age-encrypted archive.
    pub identity: Option<&'a Path>,
    /// Where the test restore goes.
    pub target: &'a PgTargetArgs,
}

impl crate::cli::VerifyCommand {
    /// The arguments of [`run`].
    pub fn args(&self) -> VerifyArgs<'_> {
        VerifyArgs {
            archive: &self.archive,
            restore: self.restore,
            strict: self.strict,
            json: self.json,
            identity: self.identity.as_deref(),
            target: &self.target,
        }
    }
}

/// Verifies the archive and prints the report; exit 0 when sound, 1 otherwise.
pub fn run(files: &[PathBuf], args: &VerifyArgs<'_>) -> Result<i32, CliError> {
    let config = load_config(files, target_uses(args.target))?.config;
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
    let verify_err = |e: VerifyError| match e {
        VerifyError::Open { .. } => CliError::usage(e),
        VerifyError::Interrupted { .. } => CliError::failed(e),
    };
    let options = VerifyOptions {
        pg_restore: &setup.server.pg_restore,
        history: history.as_ref(),
        strict: args.strict,
        cancel: &cancel,
        encrypted: None,
    };
    // An encrypted archive with an identity: decrypted whole (and so authenticated) into a
    // private directory under state_dir, removed when `plaintext` is dropped.
    let plaintext = match args.identity {
        Some(identity) if is_encrypted(args.archive)? => {
            let identities = load_identities(identity).map_err(CliError::usage)?;
            match decrypt_to_temp(args.archive, &identities, &config.state_dir, &cancel) {
                Ok(p) => Ok(Some(p)),
                Err(e @ sauvegarde::crypt::DecryptError::Interrupted { .. }) => {
                    return Err(CliError::failed(e))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        _ => Ok(None),
    };
    // With --restore, dump.sql is also cut for a parallel load in the same reading.
    let verify_archive = if args.restore {
        verify_for_restore
    } else {
        verify_archive
    };
    let mut report = match &plaintext {
        Ok(Some(plain)) => {
            let bytes = std::fs::metadata(plain.path()).map_or(0, |m| m.len());
            let inner = verify_archive(
                plain.path(),
                &VerifyOptions {
                    encrypted: Some(args.archive),
                    ..options
                },
            )
            .map_err(verify_err)?;
            encrypted::as_encrypted(inner, args.archive, bytes)
        }
        Ok(None) => verify_archive(args.archive, &options).map_err(verify_err)?,
        Err(why) => encrypted::verify_without_plaintext(args.archive, &options, Some(why.clone()))
            .map_err(verify_err)?,
    };
    let restorable = match &plaintext {
        Ok(Some(plain)) => plain.path(),
        _ => args.archive,
    };
    if args.restore {
        match report.format {
            Some(format) if report.ok => {
                let units = report.units.take();
                let jobs = args.target.jobs();
                let started = sauvegarde::history::now_text();
                let clock = std::time::Instant::now();
                let result =
                    scratch::test_restore(&setup.server, restorable, format, units, jobs, &cancel);
                let seconds = clock.elapsed().as_secs_f64();
                let message = match &result {
                    Ok(tables) => {
                        report.push(
                            "restore",
                            Status::Ok,
                            format!(
                                "restored into a scratch database ({}) in {} and dropped it",
                                setup.server.describe(),
                                sauvegarde::restore::recovery::duration_text(seconds)
                            ),
                        );
                        checks::restored_counts(&mut report, tables, args.strict);
                        format!("{} tables restored and dropped", tables.len())
                    }
                    Err(e) => {
                        report.push("restore", Status::Failed, e.to_string());
                        e.to_string()
                    }
                };
                sauvegarde::restore::recovery::record(
                    &config.state_dir,
                    &sauvegarde::history::NewRestore {
                        kind: "verify",
                        backup_id: report.history.as_ref().map(|h| h.id),
                        database: "scratch",
                        archive: &args.archive.to_string_lossy(),
                        started: &started,
                        seconds,
                        bytes: Some(report.size),
                        jobs,
                        ok: result.is_ok(),
                        message: &message,
                    },
                );
            }
            None if report.ok && report.encrypted => report.push(
                "restore",
                Status::Skipped,
                "no test restore: the archive is encrypted and no --identity was given",
            ),
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

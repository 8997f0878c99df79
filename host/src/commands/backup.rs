//! `backup <JOB>` and `backup --database DB` (ad-hoc).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use super::{exit, load_config, print_text, CliError};
use crate::cancel::{cancel_on_signals, CancelFlag};
use crate::config::JobConfig;
use crate::job::{run_backup, BackupOptions};

/// What to back up.
pub struct BackupArgs<'a> {
    /// A configured job.
    pub job: Option<&'a str>,
    /// Ad-hoc: this database with default settings.
    pub database: Option<&'a str>,
    /// Ad-hoc: where the archive goes (default: the current directory).
    pub output_dir: Option<&'a PathBuf>,
    /// Skip exports.
    pub no_export: bool,
}

/// Runs a backup now and prints the archive path.
pub fn run(files: &[PathBuf], args: &BackupArgs<'_>) -> Result<i32, CliError> {
    let mut config = load_config(files)?.config;
    let job_id = match (args.job, args.database) {
        (Some(job), None) => job.to_string(),
        (None, Some(db)) => {
            // Ad-hoc: a job named after the database, with default settings, writing to
            // --output-dir or the current directory; no retention.
            let dir = match args.output_dir {
                Some(d) => d.clone(),
                None => std::env::current_dir().map_err(|e| {
                    CliError::failed(format!("cannot read the current directory: {e}"))
                })?,
            };
            let job: JobConfig = serde_json::from_value(serde_json::json!({
                "database": db,
                "backup_dir": dir,
            }))
            .map_err(CliError::usage)?;
            config.jobs.insert(db.to_string(), job);
            db.to_string()
        }
        _ => {
            return Err(CliError::usage(
                "give a job name, or --database DB for an ad-hoc backup",
            ))
        }
    };
    let cancel = CancelFlag::new();
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::failed(format!("cannot install signal handlers: {e}")))?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {msg} {bytes} written ({bytes_per_sec}, {elapsed})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(job_id.clone());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let options = BackupOptions {
        no_export: args.no_export,
        progress: bar
            .clone()
            .map(|b| Arc::new(move |n: u64| b.set_position(n)) as Arc<crate::archive::ProgressFn>),
    };
    let result = run_backup(&config, &job_id, &options, &cancel);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(outcome) => {
            print_text(&format!("{}\n", outcome.path.display()))?;
            Ok(exit::OK)
        }
        Err(e) => Err(CliError {
            code: e.exit_code(),
            message: e.to_string(),
        }),
    }
}

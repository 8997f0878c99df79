//! `backup <JOB>` and `backup --database DB` (ad-hoc).

use std::path::PathBuf;
use std::sync::Arc;

use super::export_progress::{summary, Bars};
use super::{backup_error, exit, load_config, print_stderr, print_text, CliError};
use sauvegarde::cancel::{cancel_on_signals, CancelFlag};
use sauvegarde::config::{JobConfig, Uses};
use sauvegarde::export::check_destinations;
use sauvegarde::job::{run_backup, BackupOptions, JobRun};
use sauvegarde::notify::{self, Event};

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
    /// Send no notification.
    pub no_notify: bool,
}

impl crate::cli::BackupCommand {
    /// The arguments of [`run`].
    pub fn args(&self) -> BackupArgs<'_> {
        BackupArgs {
            job: self.job.as_deref(),
            database: self.database.as_deref(),
            output_dir: self.output_dir.as_ref(),
            no_export: self.no_export,
            no_notify: self.no_notify,
        }
    }
}

/// Runs a backup now and prints the archive path.
pub fn run(files: &[PathBuf], args: &BackupArgs<'_>) -> Result<i32, CliError> {
    let uses = match args.job {
        Some(job) => Uses::Job(job),
        None => Uses::NoJob,
    };
    let mut config = load_config(files, uses)?.config;
    let job_id = match (args.job, args.database) {
        (Some(job), None) => job.to_string(),
        (None, Some(db)) => {
            // The name is also the job's (its lock file) and the archive's.
            sauvegarde::naming::check_database_name(db).map_err(|why| {
                CliError::usage(format!(
                    "--database {db:?}: not a database name sauvegarde can back up: {why}"
                ))
            })?;
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
    let job = config
        .jobs
        .get(&job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    // The destinations are checked before the backup: a typo must not cost a backup.
    let registry = if args.no_export || job.destinations.is_empty() {
        None
    } else {
        let registry = super::plugins::discover(&config);
        let errors = check_destinations(&config, &registry, Some(&job_id));
        if !errors.is_empty() {
            return Err(CliError::usage(sauvegarde::export::join_errors(&errors)));
        }
        Some(Arc::new(registry))
    };
    let bars = Bars::for_stderr();
    let bar = bars.backup_spinner(&job_id);
    let options = BackupOptions {
        no_export: args.no_export,
        registry,
        export_observer: Some(Arc::new(bars)),
        progress: bar.clone().map(|b| {
            Arc::new(move |n: u64| b.set_position(n)) as Arc<sauvegarde::archive::ProgressFn>
        }),
        retry: false,
    };
    let started = jiff::Timestamp::now();
    let clock = std::time::Instant::now();
    let pings = (!args.no_notify)
        .then(|| notify::RunPings::start(notify::settings_for(&config, &job_id), &job_id));
    let result = run_backup(&config, &job_id, &options, &cancel);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    sauvegarde::metrics::refresh(&config);
    // The same notifications as a scheduled run: a backup from cron or a timer that fails
    // must be heard of. Not for one stopped by the user's own Ctrl-C or SIGTERM.
    if !args.no_notify && !cancel.is_cancelled() {
        let duration = clock.elapsed().as_secs_f64();
        let events = Event::for_run(&config, &job_id, started, duration, &result);
        if let Some(pings) = pings {
            pings.finish(&events);
        }
        for event in &events {
            notify::send(notify::settings_for(&config, &job_id), event);
        }
    }
    let run = result.map_err(backup_error)?;
    report(&run)
}

/// Prints each archive path on stdout (for scripts), failures and export reports on
/// stderr; the exit code: 1 when any database failed (the others were still backed up),
/// else 3 when an export failed, else 0.
fn report(run: &JobRun) -> Result<i32, CliError> {
    let several = run.databases.len() > 1;
    let mut code = exit::OK;
    let mut failures = Vec::new();
    for d in &run.databases {
        match &d.result {
            Ok(outcome) => {
                if let Some(reason) = &outcome.history_unavailable {
                    print_stderr(&format!(
                        "warning: history unavailable: {reason}; the archive was written, retention was skipped\n"
                    ));
                }
                for w in &outcome.warnings {
                    print_stderr(&format!("warning: {w}\n"));
                }
                print_text(&format!("{}\n", outcome.path.display()))?;
                if outcome.exports.is_empty() {
                    continue;
                }
                // stdout holds only the archive paths; the report goes to stderr.
                let mut report = summary(&outcome.exports);
                if !outcome.exports_ok() {
                    report.push_str(&format!(
                        "the archive {} is kept; an export failed (exit {})\n",
                        outcome.path.display(),
                        exit::EXPORT_FAILED
                    ));
                    code = exit::EXPORT_FAILED;
                }
                print_stderr(&report);
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() {
        return Ok(code);
    }
    if several {
        failures.push(format!(
            "{} of {} databases failed; the others were backed up",
            failures.len(),
            run.databases.len()
        ));
    }
    Err(CliError::failed(failures.join("\n")))
}

//! The `sauvegarde` command line: a thin layer over the engine (the `sauvegarde`
//! library). [`cli`] defines the arguments, [`commands`] runs each command: it calls the
//! engine, prints its typed results as text or JSON, and maps its typed errors to exit
//! codes. The engine cannot import anything from here: it is another crate.

mod cli;
mod commands;

use clap::Parser;

use cli::{Cli, Command, ConfigAction, PluginsAction};
use commands::CliError;

fn main() {
    let cli = Cli::parse();
    if let Command::Worker = cli.command {
        // No logging setup: the worker relays plugin events to its parent.
        std::process::exit(serve_worker());
    }
    sauvegarde::logging::init(cli.log_format.into());
    let code = match run(&cli) {
        Ok(code) => code,
        Err(CliError { code, message }) => {
            eprintln!("error: {}", sauvegarde::redact::scrub(message.trim_end()));
            code
        }
    };
    std::process::exit(code);
}

/// `__worker`: serves plugin calls; what stops it early goes to stderr.
fn serve_worker() -> i32 {
    sauvegarde::worker::serve(|e| eprintln!("sauvegarde worker: {e}"))
}

fn run(cli: &Cli) -> Result<i32, CliError> {
    let files = &cli.config;
    match &cli.command {
        Command::Worker => Ok(serve_worker()),
        Command::GenerateDocs { dir } => commands::docs::run(dir),
        Command::Daemon => commands::daemon::run(files),
        Command::Backup {
            job,
            database,
            output_dir,
            no_export,
            no_notify,
        } => commands::backup::run(
            files,
            &commands::backup::BackupArgs {
                job: job.as_deref(),
                database: database.as_deref(),
                output_dir: output_dir.as_ref(),
                no_export: *no_export,
                no_notify: *no_notify,
            },
        ),
        Command::Prune {
            job,
            dry_run,
            adopt,
            from_job,
            identity,
        } => commands::prune::run(
            files,
            job,
            *dry_run,
            *adopt,
            from_job.as_deref(),
            identity.as_deref(),
        ),
        Command::Drill {
            job,
            database,
            json,
            no_notify,
            jobs,
        } => commands::drill::run(
            files,
            job,
            database.as_deref(),
            *json,
            *no_notify,
            jobs.map(usize::from),
        ),
        Command::History { job, limit, json } => {
            commands::history::run(files, job.as_deref(), *limit, *json)
        }
        Command::Jobs { json } => commands::jobs::run(files, *json),
        Command::Plugins { json, action: None } => commands::plugins::run(files, *json),
        Command::Plugins {
            action: Some(PluginsAction::Check { plugin }),
            ..
        } => commands::plugins_check::run(files, plugin),
        Command::Test { job, destination } => {
            commands::test_destinations::run(files, job, destination.as_deref())
        }
        Command::Export { job, archive } => commands::export::run(files, job, archive),
        Command::Verify {
            archive,
            restore,
            strict,
            json,
            identity,
            target,
        } => commands::verify::run(
            files,
            &commands::verify::VerifyArgs {
                archive,
                restore: *restore,
                strict: *strict,
                json: *json,
                identity: identity.as_deref(),
                target,
            },
        ),
        Command::Restore {
            archive,
            database,
            filestore_dir,
            data_dir,
            no_filestore,
            from,
            download_dir,
            no_verify,
            json,
            identity,
            target,
        } => commands::restore::run(
            files,
            &commands::restore::RestoreArgs {
                archive,
                database,
                filestore_dir: filestore_dir.as_ref(),
                data_dir: data_dir.as_ref(),
                no_filestore: *no_filestore,
                from: from.as_deref(),
                download_dir: download_dir.as_ref(),
                no_verify: *no_verify,
                json: *json,
                identity: identity.as_deref(),
                target,
            },
        ),
        Command::Config { action } => match action {
            ConfigAction::Show { json } => commands::config::show(files, *json),
            ConfigAction::Check => commands::config::check(files),
            ConfigAction::Init {
                odoo_conf,
                output,
                backup_dir,
                state_dir,
            } => commands::init::run(&commands::init::InitArgs {
                odoo_conf,
                output,
                backup_dir,
                state_dir,
            }),
        },
    }
}

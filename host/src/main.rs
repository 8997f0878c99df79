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
        Command::Backup(c) => commands::backup::run(files, &c.args()),
        Command::Prune(c) => commands::prune::run(
            files,
            &c.job,
            c.dry_run,
            c.adopt,
            c.from_job.as_deref(),
            c.identity.as_deref(),
        ),
        Command::Drill(c) => commands::drill::run(
            files,
            &c.job,
            c.database.as_deref(),
            c.json,
            c.no_notify,
            c.jobs.map(usize::from),
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
        Command::Verify(c) => commands::verify::run(files, &c.args()),
        Command::Restore(c) => commands::restore::run(files, &c.args()),
        Command::Config { action } => config(files, action),
    }
}

/// `config show`, `config check`, `config init`.
fn config(files: &[std::path::PathBuf], action: &ConfigAction) -> Result<i32, CliError> {
    match action {
        ConfigAction::Show { json } => commands::config::show(files, *json),
        ConfigAction::Check => commands::config::check(files),
        ConfigAction::HashPassword => commands::config::hash_password(),
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
    }
}

use clap::Parser;

use sauvegarde::cli::{Cli, Command, ConfigAction};
use sauvegarde::commands::{self, CliError};

fn main() {
    let cli = Cli::parse();
    sauvegarde::logging::init(cli.log_format);
    let code = match run(&cli) {
        Ok(code) => code,
        Err(CliError { code, message }) => {
            eprintln!("error: {}", sauvegarde::redact::scrub(message.trim_end()));
            code
        }
    };
    std::process::exit(code);
}

fn run(cli: &Cli) -> Result<i32, CliError> {
    let files = &cli.config;
    match &cli.command {
        Command::Plugins { json } => commands::plugins::run(files, *json),
        Command::Config { action } => match action {
            ConfigAction::Show { json } => commands::config::show(files, *json),
            ConfigAction::Check => commands::config::check(files),
        },
    }
}

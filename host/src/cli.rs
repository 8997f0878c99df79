//! Command-line definition (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Backups of Odoo and PostgreSQL databases: Odoo-compatible archives, retention,
/// history, notifications and remote exporters.
#[derive(Debug, Parser)]
#[command(name = "sauvegarde", version, about)]
pub struct Cli {
    /// Configuration file; repeat for layers (later wins). Replaces
    /// /etc/sauvegarde/sauvegarde.toml and the user's file.
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    pub config: Vec<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human on a terminal, plain (no colours) otherwise.
    Auto,
    /// Plain text without colours (journald).
    Plain,
    /// One JSON object per line.
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scheduler in the foreground (systemd Type=notify): backs up every
    /// scheduled job on time, reloads on SIGHUP, stops cleanly on SIGTERM/SIGINT.
    Daemon,
    /// List discovered plugins: file, kind, version, or why a file was refused.
    Plugins {
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Test the connection to a job's destinations; exit 1 if any failed.
    Test {
        /// Job id.
        job: String,
        /// Only this destination.
        destination: Option<String>,
    },
    /// Send an existing archive to the job's destinations.
    Export {
        /// Job id.
        job: String,
        /// The archive file.
        archive: PathBuf,
    },
    /// Back up a job now and print the archive path (progress bar on a terminal).
    Backup {
        /// The job id (`[jobs.<id>]`).
        #[arg(required_unless_present = "database", conflicts_with = "database")]
        job: Option<String>,
        /// Ad-hoc backup of this database with default settings; no configuration file
        /// needed. Written to --output-dir, else the current directory; no retention.
        #[arg(long, value_name = "DB")]
        database: Option<String>,
        /// Directory of an ad-hoc backup (default: the current directory).
        #[arg(long, value_name = "DIR", requires = "database")]
        output_dir: Option<PathBuf>,
        /// Do not export to the job's destinations.
        #[arg(long)]
        no_export: bool,
    },
    /// Apply a job's retention in its backup directory now.
    Prune {
        /// The job id.
        job: String,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Recent backups.
    History {
        /// Only this job.
        #[arg(long)]
        job: Option<String>,
        /// How many rows.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Jobs with their schedule, last result and next backup time.
    Jobs {
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the configuration.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Merged configuration, secrets masked, each value with its source.
    Show {
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Validate; every error names the key and the file or variable.
    Check,
}

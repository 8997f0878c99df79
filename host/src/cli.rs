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
    /// List discovered plugins: file, kind, version, or why a file was refused.
    Plugins {
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

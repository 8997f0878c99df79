//! Command-line definition (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Backups of Odoo and PostgreSQL databases: Odoo-compatible archives, retention,
/// history, notifications and remote exporters.
#[derive(Debug, Parser)]
#[command(name = "sauvegarde", version, about, after_help = crate::commands::exit::TABLE)]
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

/// `plugins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// Check a plugin against the exporter contract, on a real destination.
    ///
    /// Run the plugin conformance kit: every promise of the exporter contract, checked
    /// against a real destination through worker processes, one line per point (✓ holds,
    /// ✗ fails, ? not checked, - does not apply). Exit 0 only when every point holds.
    ///
    /// `--config FILE` names the destination's settings: one table as under
    /// `[jobs.<id>.destinations.<name>]` (`type` optional), plus an optional
    /// `[conformance]` table (`absent_directory`, `wrong_credentials`, `unreachable`,
    /// `large_file_bytes`; see docs/writing-an-exporter.md).
    Check {
        /// The plugin file (`.so`).
        plugin: PathBuf,
    },
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

impl From<LogFormat> for sauvegarde::logging::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Auto => Self::Auto,
            LogFormat::Plain => Self::Plain,
            LogFormat::Json => Self::Json,
        }
    }
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Internal: serve exporter plugin calls for a parent `sauvegarde` over stdin/stdout.
    #[command(name = "__worker", hide = true)]
    Worker,
    /// Internal: write the manual pages (DIR/man) and shell completions (DIR/completions).
    #[command(name = "__generate-docs", hide = true)]
    GenerateDocs {
        /// Output directory.
        dir: PathBuf,
    },
    /// Run the scheduler in the foreground (systemd Type=notify).
    ///
    /// Backs up every scheduled job on time, reloads on SIGHUP, stops cleanly on
    /// SIGTERM/SIGINT.
    Daemon,
    /// List discovered plugins: file, kind, version, or why it was refused.
    Plugins {
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
        /// `check`: run the conformance kit on a plugin file.
        #[command(subcommand)]
        action: Option<PluginsAction>,
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
    /// Back up a job now and print the archive path.
    ///
    /// A progress bar is shown on a terminal.
    Backup(BackupCommand),
    /// Apply a job's retention now, locally and on every destination.
    ///
    /// Only archives this job made on this host are ever deleted.
    Prune(PruneCommand),
    /// Restore drill: the newest archives restored into a scratch database.
    ///
    /// The newest archive of each of the job's databases verified,
    /// restored into a scratch database `sauvegarde_verify_<pid>_<time>`, its row counts
    /// compared with the dump's, and the scratch database dropped. Each result is recorded
    /// in the history (`history`, `jobs`, the metrics) and notified like a backup's. The
    /// job's `drill` table gives `identity` and `maintenance_db`; the daemon runs drills on
    /// its schedule. Exit 0 when every archive was restored whole, 1 otherwise.
    Drill(DrillCommand),
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
    /// Check that an archive can be restored (--restore: by restoring it).
    ///
    /// Every ZIP entry read and its CRC-32 checked, dump.sql complete (pg_dump's closing
    /// line), manifest.json valid and its row counts
    /// equal to the dump's, the SHA-256 recorded in the history (when the archive is known);
    /// a .dump is read through pg_restore. Exit 0 when sound, 1 otherwise.
    ///
    /// With --restore, the database is also restored into a scratch database (dropped
    /// afterwards) and its row counts compared; connection options as for `restore`.
    Verify(VerifyCommand),
    /// Restore an archive into a NEW database; never overwrites anything.
    ///
    /// The archive is verified first; the database is created (UTF-8, C collation, from
    /// template0, owned by the connecting role) and loaded with psql (ZIP: dump.sql streamed
    /// from the archive over --jobs connections, in pg_dump's sections) or pg_restore
    /// --no-owner -j N (.dump); the filestore is extracted into a
    /// staging directory and renamed into place at the end. On failure or Ctrl-C the new
    /// database is dropped and the staged files removed.
    ///
    /// Connection: --odoo-conf's settings, else --job's (or --from's job), else libpq's
    /// defaults (PGHOST, PGPORT, PGUSER, PGPASSWORD, ~/.pgpass); --db-host/--db-port/--db-user
    /// override them. The password never goes on a command line.
    ///
    /// Filestore: --filestore-dir, else <--data-dir>/filestore/NEW, else the data_dir of
    /// --odoo-conf, else next to the job's filestore; refused when unknown (or use
    /// --no-filestore). Run as root, the files are given to the owner of the parent directory.
    Restore(RestoreCommand),
    /// Inspect the configuration.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// The arguments of `backup`.
#[derive(Debug, clap::Args)]
pub struct BackupCommand {
    /// The job id (`[jobs.<id>]`).
    #[arg(required_unless_present = "database", conflicts_with = "database")]
    pub job: Option<String>,
    /// Ad-hoc backup of this database with default settings; no configuration file
    /// needed. Written to --output-dir, else the current directory; no retention.
    #[arg(long, value_name = "DB")]
    pub database: Option<String>,
    /// Directory of an ad-hoc backup (default: the current directory).
    #[arg(long, value_name = "DIR", requires = "database")]
    pub output_dir: Option<PathBuf>,
    /// Do not export to the job's destinations.
    #[arg(long)]
    pub no_export: bool,
    /// Send no notification (by default `backup` notifies like a scheduled run, so a
    /// backup run from cron or a timer is heard of when it fails).
    #[arg(long)]
    pub no_notify: bool,
}

/// The arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct PruneCommand {
    /// The job id.
    pub job: String,
    /// Only list what would be deleted, and why every other archive is kept.
    #[arg(long)]
    pub dry_run: bool,
    /// Claim the job's files that nobody is known to have made (after a history loss,
    /// or files copied by hand) as this job's, listing them; with --dry-run, only list.
    /// Archives of the job's other format are the job's like the others.
    #[arg(long)]
    pub adopt: bool,
    /// With --adopt: also claim the archives of job OLD on this host, a job id no
    /// longer in the configuration (the job was renamed): those its history rows or
    /// manifests name. Their history rows become this job's.
    #[arg(long, value_name = "OLD", requires = "adopt")]
    pub from_job: Option<String>,
    /// With --adopt: read the manifests of encrypted archives the history does not know
    /// with this identity file (age X25519 key or unencrypted SSH private key), and
    /// claim those of this job (or of --from-job). Nothing decrypted reaches the disk.
    #[arg(long, value_name = "FILE", requires = "adopt")]
    pub identity: Option<PathBuf>,
}

/// The arguments of `drill`.
#[derive(Debug, clap::Args)]
pub struct DrillCommand {
    /// The job id.
    pub job: String,
    /// Only this database of the job.
    #[arg(long, value_name = "DB")]
    pub database: Option<String>,
    /// Stable JSON output.
    #[arg(long)]
    pub json: bool,
    /// Send no notification.
    #[arg(long)]
    pub no_notify: bool,
    /// Connections loading the scratch database (default: the job's `drill.jobs`,
    /// else the number of cores, at most 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

/// The arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyCommand {
    /// The archive (.zip or .dump).
    pub archive: PathBuf,
    /// Also restore into a scratch database `sauvegarde_verify_<pid>_<time>` (dropped
    /// afterwards) and compare its row counts with the dump's and the manifest's.
    #[arg(long)]
    pub restore: bool,
    /// Row counts that differ from the manifest's are failures, not warnings (for
    /// archives of a database nobody wrote to during the backup).
    #[arg(long)]
    pub strict: bool,
    /// Stable JSON output.
    #[arg(long)]
    pub json: bool,
    /// Decrypt an age-encrypted archive (.zip.age, .dump.age) with this identity file
    /// (age X25519 key or unencrypted SSH private key) and run every check on it.
    /// Without it, an encrypted archive gets only the checks that need no key.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Where the test restore goes.
    #[command(flatten)]
    pub target: PgTargetArgs,
}

/// The arguments of `restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreCommand {
    /// The archive file; with --from, its name on the destination.
    pub archive: PathBuf,
    /// Name of the new database (letters, digits, `_`, `.`, `-`); must not exist.
    #[arg(long, value_name = "NEW")]
    pub database: String,
    /// The filestore goes exactly here (absent or empty).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["data_dir", "no_filestore"])]
    pub filestore_dir: Option<PathBuf>,
    /// Odoo's data_dir: the filestore goes to DIR/filestore/NEW.
    #[arg(long, value_name = "DIR", conflicts_with = "no_filestore")]
    pub data_dir: Option<PathBuf>,
    /// Restore the database only.
    #[arg(long)]
    pub no_filestore: bool,
    /// Download ARCHIVE from this job's destination first (through its plugin).
    #[arg(long, value_name = "JOB/DEST")]
    pub from: Option<String>,
    /// Keep the downloaded archive in DIR (default: a temporary directory in the job's
    /// backup_dir, removed afterwards).
    #[arg(long, value_name = "DIR", requires = "from")]
    pub download_dir: Option<PathBuf>,
    /// Skip the verification before the restore (the data is still checked as it is
    /// read, and a damaged archive still rolls the restore back).
    #[arg(long)]
    pub no_verify: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Identity file (age X25519 key or unencrypted SSH private key) for an
    /// age-encrypted archive: it is decrypted and authenticated whole into a private
    /// temporary directory before anything is created.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Where the database goes.
    #[command(flatten)]
    pub target: PgTargetArgs,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Merged configuration, secrets masked, each value's source.
    Show {
        /// Stable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Validate; every error names the key and the file or variable.
    Check,
    /// Hash a password read on stdin, for `web.password_hash`.
    HashPassword,
    /// Write a commented starting configuration for this server.
    ///
    /// One job per Odoo database the odoo.conf's role can see (daily at 02:30, keep 7
    /// days), then check it.
    /// Never overwrites an existing file, except the packaged example left untouched
    /// (byte for byte the /etc/sauvegarde/sauvegarde.toml the package installed).
    Init {
        /// Odoo's configuration file: the database server and data_dir.
        #[arg(long, value_name = "FILE", default_value = crate::commands::init::ODOO_CONF)]
        odoo_conf: PathBuf,
        /// The file to write.
        #[arg(long, value_name = "FILE", default_value = crate::commands::init::SYSTEM_CONFIG)]
        output: PathBuf,
        /// `backup_dir` of the new configuration.
        #[arg(long, value_name = "DIR", default_value = "/var/lib/odoo/backups")]
        backup_dir: PathBuf,
        /// `state_dir` of the new configuration.
        #[arg(long, value_name = "DIR", default_value = "/var/lib/sauvegarde")]
        state_dir: PathBuf,
    },
}

/// The PostgreSQL server of `restore` and `verify --restore`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PgTargetArgs {
    /// Connect with this job's settings (db_host, db_port, db_user, db_password, odoo_conf)
    /// and use its pg_dump's installation for psql/pg_restore.
    #[arg(long, value_name = "JOB", conflicts_with = "odoo_conf")]
    pub job: Option<String>,
    /// Connect with the db_host/db_port/db_user/db_password of this Odoo configuration
    /// file (its data_dir also locates the filestore).
    #[arg(long, value_name = "FILE")]
    pub odoo_conf: Option<PathBuf>,
    /// PostgreSQL host or socket directory.
    #[arg(long, value_name = "HOST")]
    pub db_host: Option<String>,
    /// PostgreSQL port.
    #[arg(long, value_name = "PORT")]
    pub db_port: Option<u16>,
    /// PostgreSQL role (it must be allowed to create databases).
    #[arg(long, value_name = "USER")]
    pub db_user: Option<String>,
    /// Database to connect to for CREATE and DROP DATABASE.
    #[arg(long, value_name = "DB", default_value = "postgres")]
    pub maintenance_db: String,
    /// Connections loading the database: a ZIP's dump.sql in pg_dump's sections (tables'
    /// data and index builds side by side), a .dump through `pg_restore -j N`. Default:
    /// the number of cores, at most 8.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

impl PgTargetArgs {
    /// `--jobs`, else the default (the number of cores, at most 8).
    pub fn jobs(&self) -> usize {
        self.jobs
            .map_or_else(sauvegarde::restore::parallel::default_jobs, usize::from)
    }
}

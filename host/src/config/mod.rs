//! Configuration: the schema (this file), layered loading with figment ([`load`]),
//! which errors stop which command ([`scope`]), `<secret>_file` indirection ([`secrets`])
//! and `config show` ([`show`]).

pub mod databases;
mod load;
pub mod scope;
pub mod secrets;
pub mod show;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use databases::DatabaseSelection;
pub use load::{load, load_partial, ConfigError, ConfigErrors, LoadedConfig, Sources};
pub use scope::Uses;

/// The whole configuration, after merging every source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where jobs write archives unless they say otherwise.
    #[serde(default = "defaults::backup_dir")]
    pub backup_dir: PathBuf,
    /// Where the history database and lock files live.
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    /// Directories scanned for exporter plugins (the executable's directory is added).
    #[serde(default = "defaults::plugin_dirs")]
    pub plugin_dirs: Vec<PathBuf>,
    /// How many backups the daemon runs at once.
    #[serde(default = "defaults::max_parallel")]
    pub max_parallel: usize,
    /// The Prometheus metrics file (node_exporter's textfile collector), rewritten from
    /// the history at daemon start and after every backup, export and test.
    pub metrics_file: Option<PathBuf>,
    /// Notifications, for every job unless a job has its own `[jobs.<id>.notify]`.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// The status page and its JSON API, served by the daemon (`[web]`); off when absent.
    pub web: Option<WebConfig>,
    /// Backup jobs by id.
    #[serde(default)]
    pub jobs: BTreeMap<String, JobConfig>,
    /// Where each destination's settings came from (`jobs.<id>.destinations.<name>` →
    /// file or environment variable), for plugin errors; filled by [`load`].
    #[serde(skip)]
    pub origins: BTreeMap<String, String>,
}

/// The status page, `[web]`: where it listens, how one logs in, and TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port the daemon listens on.
    #[serde(default = "defaults::web_listen")]
    pub listen: std::net::SocketAddr,
    /// The login password's hash, a PHC string (`$argon2id$v=19$…`).
    pub password_hash: Option<String>,
    /// The API token (`Authorization: Bearer <token>`), read from `token_file` (mode 0600).
    pub token: Option<String>,
    /// TLS certificate chain (PEM); with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// TLS private key (PEM); with `cert_file`.
    pub key_file: Option<PathBuf>,
    /// A reverse proxy in front terminates TLS: a non-loopback `listen` without TLS is
    /// then accepted.
    #[serde(default)]
    pub behind_proxy: bool,
}

/// One backup job, `[jobs.<id>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Display name; the table key is the id.
    pub name: Option<String>,
    /// Inactive jobs are never scheduled.
    #[serde(default = "defaults::yes")]
    pub active: bool,
    /// The PostgreSQL database(s) to back up: a name, a list, or `"*"` (every Odoo
    /// database the connection can see, found at each run).
    pub database: DatabaseSelection,
    /// Databases left out, as globs (`test_*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Odoo's data_dir: filestores are `<data_dir>/filestore/<database>` (default: the
    /// `data_dir` of `odoo_conf`, else Odoo's usual places).
    pub data_dir: Option<PathBuf>,
    /// Refuse to start a backup when `backup_dir` has less free space than this (MiB).
    pub min_free_mib: Option<u64>,
    /// libpq connection settings; libpq defaults when absent.
    pub db_host: Option<String>,
    /// Port of the PostgreSQL server.
    pub db_port: Option<u16>,
    /// PostgreSQL role.
    pub db_user: Option<String>,
    /// Password, passed to pg_dump and psql in a private `PGPASSFILE`, never on a command
    /// line nor in their environment.
    pub db_password: Option<String>,
    /// pg_dump binary; default the newest `/usr/lib/postgresql/*/bin/pg_dump`, else PATH.
    pub pg_dump: Option<PathBuf>,
    /// `"auto"`, `"none"`, or a path to the database's filestore directory.
    #[serde(default)]
    pub filestore: FilestoreSetting,
    /// Follow symbolic links under the filestore (to files and directories) and a root
    /// that is one, reading as the filestore's owner, and archive what they point to.
    /// Off: each link is skipped with a warning, and a root that is a link is refused.
    #[serde(default)]
    pub follow_links: bool,
    /// Odoo's configuration file: database connection and data_dir are read from it.
    pub odoo_conf: Option<PathBuf>,
    /// Where this job's archives go (default: the top-level `backup_dir`).
    pub backup_dir: Option<PathBuf>,
    /// `zip` (SQL + filestore, Odoo's format) or `dump` (pg_dump custom format).
    #[serde(default)]
    pub format: ArchiveFormat,
    /// Delete archives older than this many days.
    pub keep_days: Option<u32>,
    /// Keep at most this many archives (with tiers: keep the newest this many).
    pub keep_count: Option<u32>,
    /// Tier: the newest archive of each of the last N days (server local time).
    pub keep_daily: Option<u32>,
    /// Tier: the newest archive of each of the last N ISO weeks.
    pub keep_weekly: Option<u32>,
    /// Tier: the newest archive of each of the last N months.
    pub keep_monthly: Option<u32>,
    /// Tier: the newest archive of each of the last N years.
    pub keep_yearly: Option<u32>,
    /// When the daemon runs this job; absent: manual only.
    pub schedule: Option<Schedule>,
    /// Verify each archive right after writing it.
    #[serde(default)]
    pub verify_after_backup: bool,
    /// Per-job notification settings, replacing the global ones.
    pub notify: Option<NotifyConfig>,
    /// Remote destinations by name.
    #[serde(default)]
    pub destinations: BTreeMap<String, DestinationConfig>,
    /// Encrypt archives with age to these recipients (`<name>.zip.age`).
    pub encrypt: Option<EncryptConfig>,
    /// Restore drills run by the daemon: `drill = { every = 1, unit = "weeks" }`.
    pub drill: Option<DrillConfig>,
}

/// A job's restore drills: how often the daemon restores the newest archive of each of
/// the job's databases into a scratch database, compares its row counts and drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// Interval length in `unit`s, at least 1.
    pub every: u32,
    /// Interval unit.
    pub unit: ScheduleUnit,
    /// Time of day `HH:MM` (server local time), for `days` and `weeks` only.
    pub at: Option<String>,
    /// The age identity file that decrypts the job's archives (needed when the job has
    /// `encrypt`: an encrypted archive is only drilled once decrypted).
    pub identity: Option<PathBuf>,
    /// The database the scratch database is created and dropped from.
    #[serde(default = "defaults::maintenance_db")]
    pub maintenance_db: String,
    /// Connections loading the scratch database (default: the number of cores, at most 8).
    #[serde(default)]
    pub jobs: Option<u16>,
    /// A drill that takes longer than this many minutes (the time to recover) fails and
    /// is notified like any failed drill, even when the archive was restored whole.
    #[serde(default)]
    pub max_minutes: Option<u32>,
}

impl Default for DrillConfig {
    /// Weekly, no identity, through `postgres`: the settings of `sauvegarde drill` for a
    /// job without `drill`.
    fn default() -> Self {
        DrillConfig {
            every: 1,
            unit: ScheduleUnit::Weeks,
            at: None,
            identity: None,
            maintenance_db: defaults::maintenance_db(),
            jobs: None,
            max_minutes: None,
        }
    }
}

impl DrillConfig {
    /// The drill's timing as a schedule (the same rules as backups).
    pub fn schedule(&self) -> Schedule {
        Schedule {
            every: self.every,
            unit: self.unit,
            at: self.at.clone(),
        }
    }
}

/// A job's `encrypt` table: age recipients (public keys, not secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptConfig {
    /// `age1…` X25519 recipients and `ssh-ed25519 …`/`ssh-rsa …` public keys.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// A file in age's recipients-file format (one per line, `#` comments).
    pub recipients_file: Option<PathBuf>,
}

impl JobConfig {
    /// The name shown to users: `name`, or the job id.
    pub fn display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(id)
    }
}

impl Config {
    /// This configuration with job `job_id` narrowed to the one database `database`: the
    /// engine backs up, retains and exports one database at a time on such a copy.
    pub fn for_database(&self, job_id: &str, database: &str) -> Config {
        let mut config = self.clone();
        if let Some(job) = config.jobs.get_mut(job_id) {
            job.database = DatabaseSelection::One(database.to_string());
        }
        config
    }
}

/// Archive format of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveFormat {
    /// ZIP with `dump.sql`, `filestore/`, `manifest.json` (Odoo's database manager format).
    #[default]
    Zip,
    /// `pg_dump --format=c` output, database only.
    Dump,
}

impl ArchiveFormat {
    /// File extension of archives in this format.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::Dump => "dump",
        }
    }
}

/// Where the filestore is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FilestoreSetting {
    /// Found from odoo_conf's data_dir or Odoo's usual places.
    #[default]
    Auto,
    /// No filestore: the archive holds the database only.
    None,
    /// This directory.
    Path(PathBuf),
}

impl Serialize for FilestoreSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FilestoreSetting::Auto => s.serialize_str("auto"),
            FilestoreSetting::None => s.serialize_str("none"),
            FilestoreSetting::Path(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FilestoreSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "auto" => FilestoreSetting::Auto,
            "none" => FilestoreSetting::None,
            "" => {
                return Err(serde::de::Error::custom(
                    "empty filestore: use \"auto\", \"none\" or a path",
                ))
            }
            _ => FilestoreSetting::Path(PathBuf::from(text)),
        })
    }
}

/// A job's schedule: `{ every = 1, unit = "days", at = "02:30" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Interval length in `unit`s, at least 1.
    pub every: u32,
    /// Interval unit.
    pub unit: ScheduleUnit,
    /// Time of day `HH:MM` (server local time), for `days` and `weeks` only.
    pub at: Option<String>,
}

/// Unit of a schedule interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleUnit {
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
    /// Weeks.
    Weeks,
}

/// A remote destination, `[jobs.<id>.destinations.<name>]`: `type` picks the plugin, the
/// other keys except the host's own go to the plugin as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DestinationConfig {
    /// The plugin kind (`sftp`, `ftp`, `dropbox`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Remote retention, overriding the job's.
    pub keep_days: Option<u32>,
    /// Remote retention, overriding the job's.
    pub keep_count: Option<u32>,
    /// Remote retention tier, overriding the job's.
    pub keep_daily: Option<u32>,
    /// Remote retention tier, overriding the job's.
    pub keep_weekly: Option<u32>,
    /// Remote retention tier, overriding the job's.
    pub keep_monthly: Option<u32>,
    /// Remote retention tier, overriding the job's.
    pub keep_yearly: Option<u32>,
    /// Attempts after the first for transient and connection errors.
    pub retries: Option<u32>,
    /// Seconds a plugin call other than upload and download (opening the destination,
    /// test_connection, list, delete) may run before its worker is killed; default 120.
    pub plugin_timeout_secs: Option<u64>,
    /// Seconds an upload or a download may go without progress before its worker is
    /// killed; default 600. A transfer that moves has no time limit.
    pub stall_timeout_secs: Option<u64>,
    /// Everything else: the plugin's settings.
    #[serde(flatten)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// `[notify]`: when and how to tell the admin about backups.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Which events notify: `failure`, `success`.
    #[serde(default = "defaults::notify_on")]
    pub on: Vec<NotifyEvent>,
    /// Email through SMTP.
    pub email: Option<EmailConfig>,
    /// POST of the event as JSON.
    pub webhook: Option<WebhookConfig>,
    /// A program run with the event in environment variables.
    pub command: Option<CommandConfig>,
    /// Healthchecks pings: `/start`, success, `/fail` (whatever `on` says).
    pub healthchecks: Option<HealthchecksConfig>,
    /// A message in an Odoo Discuss channel through Odoo's external JSON-RPC API.
    pub odoo: Option<OdooNotifyConfig>,
}

/// Odoo Discuss settings: where and as whom to post.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooNotifyConfig {
    /// Odoo's base URL (`https://odoo.example.org`); the API is at `<url>/jsonrpc`.
    pub url: String,
    /// The Odoo database to log in to.
    pub database: String,
    /// The login of the user who posts (its API key is `api_key`).
    pub login: String,
    /// The user's API key; a secret, usually given as `api_key_file` (a file no other
    /// user may read or write).
    pub api_key: String,
    /// The Discuss channel's name, e.g. `backups`.
    pub channel: String,
}

/// Healthchecks settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthchecksConfig {
    /// The check's ping URL (`https://hc-ping.com/<uuid>`); a secret.
    pub url: String,
}

/// A notifying event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    /// A backup or an export failed.
    Failure,
    /// A backup and all its exports succeeded.
    Success,
}

/// SMTP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server.
    pub smtp_host: String,
    /// SMTP port (default 587 with STARTTLS, 465 with TLS, 25 otherwise).
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls`, or `none`.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// SMTP user.
    pub user: Option<String>,
    /// SMTP password.
    pub password: Option<String>,
    /// PEM file of CA certificates to trust for the SMTP server, besides the public roots
    /// (a private CA or a self-signed server certificate).
    pub ca_file: Option<PathBuf>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No encryption (local relays only).
    None,
}

/// Webhook settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// URL that receives the JSON event.
    pub url: String,
}

/// Command notifier settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Program and arguments.
    pub argv: Vec<String>,
}

mod defaults {
    use std::path::PathBuf;

    pub fn web_listen() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 8350))
    }

    pub fn backup_dir() -> PathBuf {
        PathBuf::from("/var/lib/odoo/backups")
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/sauvegarde")
    }
    pub fn plugin_dirs() -> Vec<PathBuf> {
        vec![PathBuf::from("/usr/lib/sauvegarde/plugins")]
    }
    pub fn max_parallel() -> usize {
        1
    }
    pub fn yes() -> bool {
        true
    }
    pub fn maintenance_db() -> String {
        "postgres".into()
    }
    pub fn notify_on() -> Vec<super::NotifyEvent> {
        vec![super::NotifyEvent::Failure]
    }
}

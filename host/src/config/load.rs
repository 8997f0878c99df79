//! Layered loading: built-in defaults, the system and user files (or `--config` files),
//! then `SAUVEGARDE_…` environment variables, checked into [`Config`] with every error
//! naming its key and the file or variable it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
    Figment, Metadata, Profile,
};

use super::scope::{JobProblems, Uses};
use super::secrets::{self, FileSecret};
use super::{Config, JobConfig, NotifyConfig, ScheduleUnit};

/// Prefix of configuration environment variables; `__` separates levels.
pub const ENV_PREFIX: &str = "SAUVEGARDE_";

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config` files, in order. Empty: the system file and the user's file.
    pub files: Vec<PathBuf>,
}

impl Sources {
    /// The files that will be read: the `--config` ones, or the default locations.
    pub fn config_files(&self) -> Vec<PathBuf> {
        if !self.files.is_empty() {
            return self.files.clone();
        }
        let mut files = vec![PathBuf::from("/etc/sauvegarde/sauvegarde.toml")];
        let user_dir = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
        if let Some(dir) = user_dir {
            files.push(dir.join("sauvegarde/sauvegarde.toml"));
        }
        files
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key at fault (`jobs.prod.keep_days`); empty for a whole file.
    pub key: String,
    /// The file or environment variable the value came from, when known.
    pub source: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, " (in {source})")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} error(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// A loaded configuration and what `config show` needs to say where values came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The checked configuration, secrets included (never print it whole).
    pub config: Config,
    /// The merged values, secret files resolved.
    pub tree: Dict,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Secrets that came from `<key>_file`.
    pub file_secrets: Vec<FileSecret>,
    /// The errors of jobs (left out of `config.jobs`) and of the global `[notify]` that
    /// did not stop the command: see [`JobProblems::warning`].
    pub problems: JobProblems,
    figment: Figment,
}

impl LoadedConfig {
    /// This configuration, or the errors that stop a command using `uses` of it.
    pub fn require(self, uses: Uses<'_>) -> Result<Self, ConfigErrors> {
        let stopping = self.problems.stopping(uses);
        if stopping.is_empty() {
            Ok(self)
        } else {
            Err(ConfigErrors(stopping))
        }
    }

    /// Where the value at dotted `key` came from: a file path, an environment variable, or
    /// "built-in default".
    pub fn source_of(&self, key: &str) -> Option<String> {
        if let Some(fs) = self.file_secrets.iter().find(|s| s.key == key) {
            return Some(format!("file {}", fs.file.display()));
        }
        source_name(&self.figment, key)
    }
}

fn source_name(figment: &Figment, key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    // A key that failed may not exist itself: fall back to its closest parent.
    (1..=parts.len()).rev().find_map(|n| {
        let k = parts[..n].join(".");
        figment.find_metadata(&k).map(|m| describe(m, &parts[..n]))
    })
}

fn describe(metadata: &Metadata, parts: &[&str]) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => path.display().to_string(),
        _ if metadata.name.contains("environment") => format!(
            "environment variable {ENV_PREFIX}{}",
            parts
                .iter()
                .map(|p| p.to_uppercase())
                .collect::<Vec<_>>()
                .join("__")
        ),
        Some(figment::Source::Code(_)) => "built-in default".to_string(),
        _ => metadata.name.to_string(),
    }
}

/// Loads and checks the configuration for a command that uses `uses` of it (see
/// [`super::scope`]): errors of the whole configuration, or of what the command uses, fail
/// it, naming every key at fault.
pub fn load(sources: &Sources, uses: Uses<'_>) -> Result<LoadedConfig, ConfigErrors> {
    load_partial(sources)?.require(uses)
}

/// Loads and checks the configuration; only errors of the whole configuration fail it. A
/// job with errors (of its own, or of the global `[notify]` it uses) is left out of
/// `config.jobs`, its errors kept in [`LoadedConfig::problems`]: see
/// [`LoadedConfig::require`].
pub fn load_partial(sources: &Sources) -> Result<LoadedConfig, ConfigErrors> {
    let files = sources.config_files();
    let mut errors = Vec::new();
    let mut figment =
        Figment::from(Serialized::defaults(builtin_defaults()).profile(Profile::Default));
    for file in &files {
        if !sources.files.is_empty() && !file.is_file() {
            errors.push(ConfigError {
                key: String::new(),
                source: Some(file.display().to_string()),
                message: "configuration file not found or not a file".into(),
            });
            continue;
        }
        if file.is_file() {
            if let Err(e) = std::fs::File::open(file) {
                errors.push(ConfigError {
                    key: String::new(),
                    source: Some(file.display().to_string()),
                    message: format!("cannot read configuration file: {e}"),
                });
                continue;
            }
            figment = figment.merge(Toml::file_exact(file));
        }
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }

    let mut tree: Dict = match figment.extract() {
        Ok(tree) => tree,
        Err(e) => return Err(ConfigErrors(figment_errors(&figment, e, ""))),
    };
    // A secret file that cannot be read is an error of the job (or `[notify]`) that names
    // it: its key is left unset and the checks go on.
    let (file_secrets, secret_errors) = secrets::resolve(&mut tree);
    let mut errors: Vec<ConfigError> = secret_errors
        .into_iter()
        .map(|(key, message)| ConfigError {
            source: source_name(&figment, &key),
            key,
            message,
        })
        .collect();

    // A secret whose file failed is unset: "required key is missing" there says it again.
    let unread: Vec<String> = errors
        .iter()
        .filter_map(|e| e.key.strip_suffix("_file").map(String::from))
        .collect();
    let (mut config, check_errors) = match check(&figment, &tree) {
        Ok(checked) => checked,
        Err(ConfigErrors(top)) => {
            return Err(ConfigErrors(errors.into_iter().chain(top).collect()))
        }
    };
    errors.extend(
        check_errors
            .into_iter()
            .filter(|e| !unread.contains(&e.key)),
    );
    // The jobs as written (also those that could not be read), and those without a
    // `notify` of their own.
    let no_jobs = Dict::new();
    let jobs = match tree.get("jobs") {
        Some(Value::Dict(_, jobs)) => jobs,
        _ => &no_jobs,
    };
    let job_ids: Vec<&str> = jobs.keys().map(String::as_str).collect();
    let notify_users = jobs
        .iter()
        .filter(|(_, job)| job.as_dict().is_none_or(|j| !j.contains_key("notify")))
        .map(|(id, _)| id.clone())
        .collect();
    let (whole, problems) = JobProblems::split(errors, &job_ids, notify_users);
    if !whole.is_empty() {
        return Err(ConfigErrors(
            whole.into_iter().chain(problems.all()).collect(),
        ));
    }
    for id in problems.broken_jobs() {
        config.jobs.remove(id);
    }
    config.origins = destination_origins(&figment, &config);
    Ok(LoadedConfig {
        config,
        tree,
        files: files.into_iter().filter(|f| f.is_file()).collect(),
        file_secrets,
        problems,
        figment,
    })
}

/// For every destination, the files or variables its keys came from.
fn destination_origins(
    figment: &Figment,
    config: &Config,
) -> std::collections::BTreeMap<String, String> {
    let mut origins = std::collections::BTreeMap::new();
    for (id, job) in &config.jobs {
        for (name, dest) in &job.destinations {
            let prefix = format!("jobs.{id}.destinations.{name}");
            let mut sources: Vec<String> = Vec::new();
            let keys = std::iter::once("type").chain(dest.settings.keys().map(String::as_str));
            for key in keys {
                if let Some(source) = source_name(figment, &format!("{prefix}.{key}")) {
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                }
            }
            if !sources.is_empty() {
                origins.insert(prefix, sources.join(" and "));
            }
        }
    }
    origins
}

/// A relative path would be resolved against whatever directory the command runs in.
fn absolute_path(figment: &Figment, key: &str, path: &Path) -> Option<ConfigError> {
    (!path.as_os_str().is_empty() && path.is_relative()).then(|| {
        error_at(
            figment,
            key,
            format!(
                "`{}` is a relative path: it would be resolved against whatever directory the command runs in (the history and locks would move with it); write an absolute path",
                path.display()
            ),
        )
    })
}

fn builtin_defaults() -> serde_json::Value {
    serde_json::json!({
        "backup_dir": super::defaults::backup_dir(),
        "state_dir": super::defaults::state_dir(),
        "plugin_dirs": super::defaults::plugin_dirs(),
        "max_parallel": super::defaults::max_parallel(),
    })
}

/// Deserializes the tree into [`Config`], job by job (and `[notify]` on its own) so that
/// errors in several jobs are all reported, then checks what types cannot express. Fails
/// when the top level cannot be read; otherwise returns the configuration (every job
/// that could be read) and every error found.
fn check(figment: &Figment, tree: &Dict) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let mut errors = Vec::new();
    let mut top = tree.clone();
    let notify = match top.remove("notify") {
        Some(value) => match value.deserialize::<NotifyConfig>() {
            Ok(notify) => notify,
            Err(e) => {
                errors.extend(figment_errors(figment, e, "notify"));
                NotifyConfig::default()
            }
        },
        None => NotifyConfig::default(),
    };
    let jobs = match top.remove("jobs") {
        Some(Value::Dict(_, jobs)) => jobs,
        Some(_) => {
            errors.push(error_at(
                figment,
                "jobs",
                "must be a table of jobs: [jobs.<id>]",
            ));
            Dict::new()
        }
        None => Dict::new(),
    };
    let mut config: Option<Config> = match Value::from(top).deserialize::<Config>() {
        Ok(c) => Some(Config { notify, ..c }),
        Err(e) => {
            errors.extend(figment_errors(figment, e, ""));
            None
        }
    };
    for (id, job) in &jobs {
        let prefix = format!("jobs.{id}");
        match job.deserialize::<JobConfig>() {
            Ok(job) => {
                errors.extend(validate_job(figment, id, &job));
                if let Some(c) = config.as_mut() {
                    c.jobs.insert(id.clone(), job);
                }
            }
            Err(e) => errors.extend(figment_errors(figment, e, &prefix)),
        }
    }
    if let Some(c) = &config {
        errors.extend(absolute_path(figment, "backup_dir", &c.backup_dir));
        errors.extend(absolute_path(figment, "state_dir", &c.state_dir));
        if let Some(file) = &c.metrics_file {
            errors.extend(absolute_path(figment, "metrics_file", file));
        }
        for (i, dir) in c.plugin_dirs.iter().enumerate() {
            errors.extend(absolute_path(figment, &format!("plugin_dirs.{i}"), dir));
        }
        for (id, job) in &c.jobs {
            let key = |k: &str| format!("jobs.{id}.{k}");
            if let Some(dir) = &job.backup_dir {
                errors.extend(absolute_path(figment, &key("backup_dir"), dir));
            }
            if let super::FilestoreSetting::Path(dir) = &job.filestore {
                errors.extend(absolute_path(figment, &key("filestore"), dir));
            }
            if let Some(file) = &job.odoo_conf {
                errors.extend(absolute_path(figment, &key("odoo_conf"), file));
            }
        }
        if c.max_parallel == 0 {
            errors.push(error_at(figment, "max_parallel", "must be at least 1"));
        }
        if let Some(web) = &c.web {
            errors.extend(validate_web(figment, web));
        }
        // `ca_file` of the global and per-job email settings: readable PEM certificates.
        let notifies = std::iter::once(("notify".to_string(), Some(&c.notify))).chain(
            c.jobs
                .iter()
                .map(|(id, job)| (format!("jobs.{id}.notify"), job.notify.as_ref())),
        );
        for (prefix, notify) in notifies {
            let hc = notify.and_then(|n| n.healthchecks.as_ref());
            if let Some(url) = hc.map(|h| h.url.as_str()) {
                let ok =
                    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    errors.push(error_at(
                        figment,
                        &format!("{prefix}.healthchecks.url"),
                        "must be an http:// or https:// ping URL, e.g. https://hc-ping.com/<uuid>",
                    ));
                }
            }
            if let Some(odoo) = notify.and_then(|n| n.odoo.as_ref()) {
                errors.extend(validate_odoo(figment, &format!("{prefix}.odoo"), odoo));
            }
            let email = notify.and_then(|n| n.email.as_ref());
            if let Some(path) = email.and_then(|e| e.ca_file.as_ref()) {
                if let Some(e) = absolute_path(figment, &format!("{prefix}.email.ca_file"), path) {
                    errors.push(e);
                } else if let Err(message) = crate::notify::email::read_ca_file(path) {
                    errors.push(error_at(
                        figment,
                        &format!("{prefix}.email.ca_file"),
                        message,
                    ));
                }
            }
        }
    }
    match config {
        Some(c) => Ok((c, errors)),
        None => Err(ConfigErrors(errors)),
    }
}

/// `[web]`: a way to log in, TLS files in pairs, and no plain HTTP on an address others
/// can reach unless a reverse proxy in front says it terminates TLS.
fn validate_web(figment: &Figment, web: &super::WebConfig) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if web.password_hash.is_none() && web.token.is_none() {
        errors.push(error_at(
            figment,
            "web",
            "sets neither `password_hash` nor `token_file`: nobody could log in",
        ));
    }
    if let Some(hash) = &web.password_hash {
        if argon2::password_hash::PasswordHash::new(hash).is_err() {
            // The value is a secret: say what it should look like, never what it is.
            errors.push(error_at(
                figment,
                "web.password_hash",
                "is not a PHC password hash string (`$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`); \
                 make one with `sauvegarde config hash-password`",
            ));
        }
    }
    if web.token.as_ref().is_some_and(|t| t.trim().len() < 16) {
        errors.push(error_at(
            figment,
            "web.token",
            "the API token is shorter than 16 characters: use a long random one \
             (`openssl rand -hex 32`)",
        ));
    }
    for (key, file) in [
        ("web.cert_file", &web.cert_file),
        ("web.key_file", &web.key_file),
    ] {
        if let Some(file) = file {
            errors.extend(absolute_path(figment, key, file));
        }
    }
    let tls = match (&web.cert_file, &web.key_file) {
        (Some(cert), Some(key)) => {
            if cert.is_absolute() && key.is_absolute() {
                if let Err(crate::web::WebError::Tls { key, file, message }) =
                    crate::web::tls::acceptor(cert, key)
                {
                    errors.push(error_at(figment, key, format!("{file}: {message}")));
                }
            }
            true
        }
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => {
            errors.push(error_at(
                figment,
                "web.cert_file",
                "`cert_file` and `key_file` go together: set both for TLS, or neither",
            ));
            false
        }
    };
    if !web.listen.ip().is_loopback() && !tls && !web.behind_proxy {
        errors.push(error_at(
            figment,
            "web.listen",
            format!(
                "{} is not a loopback address and there is no TLS: set `cert_file` and \
                 `key_file`, or `behind_proxy = true` when a reverse proxy in front \
                 terminates TLS (passwords would cross the network in clear)",
                web.listen
            ),
        ));
    }
    errors
}

/// The Odoo notifier's settings at `prefix`: an http(s) base URL, and a database, login
/// and channel that are not empty (the API key's file is checked when it is read).
fn validate_odoo(
    figment: &Figment,
    prefix: &str,
    odoo: &super::OdooNotifyConfig,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let url_ok = reqwest::Url::parse(&odoo.url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !url_ok {
        errors.push(error_at(
            figment,
            &format!("{prefix}.url"),
            "must be Odoo's http:// or https:// address, e.g. https://odoo.example.org \
             (the API is at <url>/jsonrpc)",
        ));
    }
    for (key, value, hint) in [
        ("database", &odoo.database, "the Odoo database to log in to"),
        ("login", &odoo.login, "the login of the user who posts"),
        ("channel", &odoo.channel, "the Discuss channel's name"),
        (
            "api_key",
            &odoo.api_key,
            "the user's API key, as `api_key_file`",
        ),
    ] {
        if value.trim().is_empty() {
            errors.push(error_at(
                figment,
                &format!("{prefix}.{key}"),
                format!("must not be empty: {hint}"),
            ));
        }
    }
    errors
}

fn error_at(figment: &Figment, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        source: source_name(figment, key),
        message: message.into(),
    }
}

fn validate_job(figment: &Figment, id: &str, job: &JobConfig) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let key = |k: &str| format!("jobs.{id}.{k}");
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        errors.push(error_at(
            figment,
            &format!("jobs.{id}"),
            "job ids may only use letters, digits, `_` and `-`",
        ));
    }
    if job.database.is_empty() {
        errors.push(error_at(
            figment,
            &key("database"),
            "must not be empty: a database name, a list of names, or \"*\"",
        ));
    }
    if let (super::FilestoreSetting::Path(_), Some(several)) =
        (&job.filestore, several_databases(&job.database))
    {
        errors.push(error_at(
            figment,
            &key("filestore"),
            format!(
                "a filestore path is one database's attachments, but `database` = {several}: \
                 every archive would carry that one filestore and no other database's. \
                 Use filestore = \"auto\" (with `data_dir` if needed: each database's own \
                 <data_dir>/filestore/<database>), or one job per database"
            ),
        ));
    }
    for name in job.database.fixed().unwrap_or_default() {
        if name.trim().is_empty() {
            continue; // said above
        }
        if let Err(why) = crate::naming::check_database_name(&name) {
            errors.push(error_at(
                figment,
                &key("database"),
                format!(
                    "{name:?} is not a database name sauvegarde can back up: {why}; \
                     archives and filestore directories are named after the database"
                ),
            ));
        }
    }
    if job.min_free_mib == Some(0) {
        errors.push(error_at(
            figment,
            &key("min_free_mib"),
            "must be at least 1; omit it for no fixed minimum",
        ));
    }
    if job.keep_count == Some(0) {
        errors.push(error_at(
            figment,
            &key("keep_count"),
            "must be at least 1 (the newest archive is always kept); omit it to keep any number",
        ));
    }
    for (k, v) in tier_keys(
        job.keep_daily,
        job.keep_weekly,
        job.keep_monthly,
        job.keep_yearly,
    ) {
        if v == Some(0) {
            errors.push(error_at(figment, &key(k), TIER_ZERO));
        }
    }
    if let Some(schedule) = &job.schedule {
        errors.extend(validate_timing(figment, &key("schedule"), schedule));
    }
    if let Some(drill) = &job.drill {
        errors.extend(validate_timing(figment, &key("drill"), &drill.schedule()));
        if drill.jobs.is_some_and(|j| !(1..=64).contains(&j)) {
            errors.push(error_at(
                figment,
                &key("drill.jobs"),
                "must be between 1 and 64 connections",
            ));
        }
        if drill.max_minutes == Some(0) {
            errors.push(error_at(
                figment,
                &key("drill.max_minutes"),
                "must be at least 1 (minutes a drill may take before it fails)",
            ));
        }
        if job.encrypt.is_some() && drill.identity.is_none() {
            errors.push(error_at(
                figment,
                &key("drill"),
                "the job encrypts its archives: a drill needs `identity`, the age identity file that decrypts them",
            ));
        }
    }
    if let Some(encrypt) = &job.encrypt {
        errors.extend(validate_encrypt(figment, id, encrypt));
    }
    for (name, dest) in &job.destinations {
        let dkey = key(&format!("destinations.{name}"));
        if dest.kind.trim().is_empty() {
            errors.push(error_at(
                figment,
                &format!("{dkey}.type"),
                "must name a plugin type",
            ));
        }
        if dest.keep_count == Some(0) {
            errors.push(error_at(
                figment,
                &format!("{dkey}.keep_count"),
                "must be at least 1",
            ));
        }
        for (k, v) in tier_keys(
            dest.keep_daily,
            dest.keep_weekly,
            dest.keep_monthly,
            dest.keep_yearly,
        ) {
            if v == Some(0) {
                errors.push(error_at(figment, &format!("{dkey}.{k}"), TIER_ZERO));
            }
        }
        for (k, v) in [
            ("plugin_timeout_secs", dest.plugin_timeout_secs),
            ("stall_timeout_secs", dest.stall_timeout_secs),
        ] {
            if v == Some(0) {
                errors.push(error_at(
                    figment,
                    &format!("{dkey}.{k}"),
                    "must be at least 1 (seconds)",
                ));
            }
        }
    }
    errors
}

/// The `database` setting as written, when it may name more than one database (a list of
/// several, or `"*"`).
fn several_databases(selection: &super::DatabaseSelection) -> Option<String> {
    match selection.fixed() {
        Some(names) if names.len() <= 1 => None,
        Some(names) => Some(format!("{names:?}")),
        None => Some("\"*\"".into()),
    }
}

/// `every`, `unit` and `at` of a schedule or a drill (`table` is its key).
fn validate_timing(figment: &Figment, table: &str, schedule: &super::Schedule) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if schedule.every == 0 {
        errors.push(error_at(
            figment,
            &format!("{table}.every"),
            "must be at least 1",
        ));
    }
    if let Some(at) = &schedule.at {
        if !matches!(schedule.unit, ScheduleUnit::Days | ScheduleUnit::Weeks) {
            errors.push(error_at(
                figment,
                &format!("{table}.at"),
                "only applies to unit = \"days\" or \"weeks\"",
            ));
        } else if parse_time_of_day(at).is_none() {
            errors.push(error_at(
                figment,
                &format!("{table}.at"),
                format!("`{at}` is not a time of day HH:MM (00:00 to 23:59)"),
            ));
        }
    }
    errors
}

/// The job's `encrypt` table: every recipient parses, the file is readable and valid, and
/// there is at least one recipient.
fn validate_encrypt(
    figment: &Figment,
    id: &str,
    encrypt: &super::EncryptConfig,
) -> Vec<ConfigError> {
    use crate::crypt::recipients::{check_file, parse_recipient};
    let mut errors = Vec::new();
    for (i, text) in encrypt.recipients.iter().enumerate() {
        if let Err(e) = parse_recipient(text) {
            errors.push(error_at(
                figment,
                &format!("jobs.{id}.encrypt.recipients[{i}]"),
                e.to_string(),
            ));
        }
    }
    let mut from_file = 0;
    if let Some(path) = &encrypt.recipients_file {
        match check_file(path) {
            Ok(n) => from_file = n,
            Err(e) => errors.push(error_at(
                figment,
                &format!("jobs.{id}.encrypt.recipients_file"),
                e.to_string(),
            )),
        }
    }
    if errors.is_empty() && encrypt.recipients.is_empty() && from_file == 0 {
        errors.push(error_at(
            figment,
            &format!("jobs.{id}.encrypt"),
            "no recipient: give `recipients` or a `recipients_file` with at least one",
        ));
    }
    errors
}

const TIER_ZERO: &str = "must be at least 1 (the number of periods whose newest archive is kept); omit it to keep no tier";

/// The retention tiers by key name.
fn tier_keys(
    daily: Option<u32>,
    weekly: Option<u32>,
    monthly: Option<u32>,
    yearly: Option<u32>,
) -> [(&'static str, Option<u32>); 4] {
    [
        ("keep_daily", daily),
        ("keep_weekly", weekly),
        ("keep_monthly", monthly),
        ("keep_yearly", yearly),
    ]
}

/// `HH:MM` as (hour, minute).
pub fn parse_time_of_day(text: &str) -> Option<(u8, u8)> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Turns figment's (possibly chained) error into ours, with keys made absolute.
fn figment_errors(figment: &Figment, error: figment::Error, prefix: &str) -> Vec<ConfigError> {
    error
        .into_iter()
        .map(|e| {
            use figment::error::Kind;
            let mut path: Vec<String> = prefix
                .split('.')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .chain(e.path.iter().cloned())
                .collect();
            let message = match &e.kind {
                Kind::UnknownField(field, expected) => {
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    unknown_key_message(field, expected)
                }
                Kind::MissingField(field) => {
                    if path.last().map(String::as_str) != Some(field.as_ref()) {
                        path.push(field.to_string());
                    }
                    "required key is missing".to_string()
                }
                other => other.to_string(),
            };
            let key = path.join(".");
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") || m.source.is_some() => Some(describe(
                    m,
                    &path.iter().map(String::as_str).collect::<Vec<_>>(),
                )),
                _ => source_name(figment, &key),
            };
            ConfigError {
                key,
                source,
                message,
            }
        })
        .collect()
}

/// ``unknown key `databse` — did you mean `database`?`` when a valid key is close enough,
/// else the list of valid keys.
fn unknown_key_message(field: &str, expected: &[&str]) -> String {
    if let Some(close) = closest_key(field, expected) {
        return format!("unknown key `{field}` — did you mean `{close}`?");
    }
    if expected.is_empty() {
        format!("unknown key `{field}`")
    } else {
        format!(
            "unknown key `{field}`; expected one of: {}",
            expected.join(", ")
        )
    }
}

/// The valid key nearest to `field` (a typo: a few edits away, or the same words in
/// another case or with `-` for `_`), if any is near enough.
pub fn closest_key<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    let normalized = field.to_lowercase().replace('-', "_");
    expected
        .iter()
        .map(|k| {
            let distance = strsim::damerau_levenshtein(&normalized, k);
            (distance, strsim::jaro_winkler(&normalized, k), *k)
        })
        .filter(|(distance, similarity, k)| {
            let allowed = (k.chars().count() / 3).max(1);
            *distance <= allowed || *similarity >= 0.9
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, k)| k)
}

#[cfg(test)]
mod job_tests {
    use super::{load, Sources, Uses};

    /// The errors about `[jobs.…]` of loading `text` as the only configuration file (other
    /// unit tests may set `SAUVEGARDE_…` variables meanwhile).
    fn errors_of(text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sauvegarde.toml");
        std::fs::write(&file, text).unwrap();
        match load(&Sources { files: vec![file] }, Uses::EveryJob) {
            Ok(_) => Vec::new(),
            Err(e) => {
                e.0.iter()
                    .filter(|e| e.key.starts_with("jobs."))
                    .map(ToString::to_string)
                    .collect()
            }
        }
    }

    #[test]
    fn a_filestore_path_with_several_databases_is_an_error_naming_the_key_and_file() {
        for database in [r#"["a", "b"]"#, r#""*""#] {
            let errors = errors_of(&format!(
                "[jobs.shop]\ndatabase = {database}\nfilestore = \"/srv/filestore/a\"\n"
            ));
            assert_eq!(errors.len(), 1, "{errors:?}");
            let e = &errors[0];
            assert!(e.starts_with("`jobs.shop.filestore`: "), "{e}");
            assert!(e.contains("sauvegarde.toml"), "{e}");
            assert!(e.contains("one job per database"), "{e}");
        }
        // One database, however written, or "auto" / "none" with several: fine.
        for ok in [
            "database = \"a\"\nfilestore = \"/srv/filestore/a\"",
            "database = [\"a\"]\nfilestore = \"/srv/filestore/a\"",
            "database = [\"a\", \"b\"]\nfilestore = \"auto\"",
            "database = \"*\"\nfilestore = \"none\"",
        ] {
            assert_eq!(
                errors_of(&format!("[jobs.shop]\n{ok}\n")),
                Vec::<String>::new()
            );
        }
    }
}

#[cfg(test)]
mod suggestion_tests {
    use super::{closest_key, unknown_key_message};

    const JOB_KEYS: &[&str] = &[
        "name",
        "active",
        "database",
        "db_host",
        "keep_days",
        "schedule",
    ];

    #[test]
    fn a_misspelt_key_suggests_the_closest_valid_one() {
        assert_eq!(closest_key("databse", JOB_KEYS), Some("database"));
        assert_eq!(closest_key("keep-days", JOB_KEYS), Some("keep_days"));
        assert_eq!(closest_key("db_hots", JOB_KEYS), Some("db_host"));
        assert_eq!(
            unknown_key_message("databse", JOB_KEYS),
            "unknown key `databse` — did you mean `database`?"
        );
    }

    #[test]
    fn a_key_like_no_valid_one_lists_them_all() {
        assert_eq!(closest_key("compression_level", JOB_KEYS), None);
        assert_eq!(
            unknown_key_message("zzz", &["name", "active"]),
            "unknown key `zzz`; expected one of: name, active"
        );
    }
}

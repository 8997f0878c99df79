//! Creating a plugin destination from `[jobs.<id>.destinations.<name>]`.

use sauvegarde_plugin_api::{ErrorKind, PluginError};

use crate::config::DestinationConfig;
use crate::plugins::PluginRegistry;
use crate::redact;
use crate::worker::{Timeouts, WorkerDestination};

/// Why an export could not be done; every variant names the job and destination.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No loaded plugin serves the destination's `type`.
    #[error("`jobs.{job}.destinations.{destination}.type`: no plugin of type `{kind}` is loaded (plugins found: {found}); run `sauvegarde plugins` to see why a file was refused")]
    UnknownType {
        /// Job id.
        job: String,
        /// Destination name.
        destination: String,
        /// The configured type.
        kind: String,
        /// The kinds that are loaded.
        found: String,
    },
    /// A configuration error of a destination, and the file or variable it came from.
    #[error("{error} (in {origin})")]
    InConfig {
        /// The error.
        error: Box<ExportError>,
        /// The file(s) or environment variable(s) of the destination's settings.
        origin: String,
    },
    /// The plugin refused the destination's settings, or an operation failed.
    #[error("job `{job}`, destination `{destination}`: {error}")]
    Plugin {
        /// Job id.
        job: String,
        /// Destination name.
        destination: String,
        /// The plugin's error, secrets masked.
        error: PluginError,
    },
}

impl ExportError {
    /// Wraps a plugin error, masking any secret it echoes.
    pub fn plugin(job: &str, destination: &str, error: PluginError) -> Self {
        let message = redact::scrub(error.message()).into_owned();
        ExportError::Plugin {
            job: job.to_string(),
            destination: destination.to_string(),
            error: PluginError::new(error.kind(), message),
        }
    }
}

/// Creates the destination `name` of job `job` through its plugin, in a worker process.
/// The host's own keys (`type`, `keep_*`, `retries`, `plugin_timeout_secs`,
/// `stall_timeout_secs`) are not passed on.
pub fn open_destination(
    registry: &PluginRegistry,
    job: &str,
    name: &str,
    config: &DestinationConfig,
) -> Result<WorkerDestination, ExportError> {
    let plugin = registry
        .get(&config.kind)
        .ok_or_else(|| ExportError::UnknownType {
            job: job.to_string(),
            destination: name.to_string(),
            kind: config.kind.clone(),
            found: match registry.kinds() {
                kinds if kinds.is_empty() => "none".to_string(),
                kinds => kinds.join(", "),
            },
        })?;
    let declared: Vec<&str> = plugin.secret_keys().iter().map(String::as_str).collect();
    register_secrets(&config.settings, &declared);
    let settings = serde_json::Value::Object(config.settings.clone()).to_string();
    let timeouts = Timeouts::from_settings(config.plugin_timeout_secs, config.stall_timeout_secs);
    plugin.open(&settings, timeouts).map_err(|e| {
        let e = if e.kind() == ErrorKind::Config {
            e.context(format!("in `jobs.{job}.destinations.{name}`"))
        } else {
            e
        };
        ExportError::plugin(job, name, e)
    })
}

/// Registers with the redactor, before the plugin sees them, the values of a
/// destination's secret settings: those its plugin `declared` and those secret by name
/// (already registered at load time; again for settings that did not come from a file),
/// whatever their type and length. From then on they are masked in logs (the plugin's
/// included), errors, the history and notifications.
fn register_secrets(settings: &serde_json::Map<String, serde_json::Value>, declared: &[&str]) {
    for (key, value) in settings {
        if declared.contains(&key.as_str()) || redact::is_secret_key(key) {
            redact::register_json(value);
        }
    }
}

/// Opens every destination of `jobs` (all jobs when `None`) without connecting: a
/// destination whose type has no plugin, or whose settings its plugin refuses, is an
/// error. Returns every error found. A constructor that crashed or hung its worker is
/// not a configuration error: it is logged, and that destination's exports fail.
pub fn check_destinations(
    config: &crate::config::Config,
    registry: &PluginRegistry,
    job: Option<&str>,
) -> Vec<ExportError> {
    config
        .jobs
        .iter()
        .filter(|(id, _)| job.is_none_or(|j| j == id.as_str()))
        .flat_map(|(id, job)| {
            job.destinations.iter().filter_map(move |(name, dest)| {
                let error = open_destination(registry, id, name, dest).err()?;
                Some(
                    match config
                        .origins
                        .get(&format!("jobs.{id}.destinations.{name}"))
                    {
                        Some(origin) => ExportError::InConfig {
                            error: Box::new(error),
                            origin: origin.clone(),
                        },
                        None => error,
                    },
                )
            })
        })
        .filter(is_configuration_error)
        .collect()
}

/// Every error on its own line.
pub fn join_errors(errors: &[impl std::fmt::Display]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_configuration_error(error: &ExportError) -> bool {
    match error {
        ExportError::UnknownType { .. } => true,
        ExportError::InConfig { error, .. } => is_configuration_error(error),
        ExportError::Plugin { error, .. } if error.kind() == ErrorKind::Config => true,
        ExportError::Plugin { .. } => {
            tracing::warn!("{error}");
            false
        }
    }
}

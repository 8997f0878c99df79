//! `config show`: every merged value with its source, secrets masked — by the host's
//! rules (key names, a webhook's `url`) and as each destination's plugin declares them.

use figment::value::{Dict, Value};
use serde::Serialize;

use std::collections::HashSet;

use super::{secrets::join, Config, LoadedConfig};
use crate::redact;

/// One line of `config show`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShownValue {
    /// Dotted key.
    pub key: String,
    /// The value, `"***"` for secrets.
    pub value: serde_json::Value,
    /// File, environment variable or "built-in default".
    pub source: Option<String>,
}

/// The destination keys the host keeps for itself (never passed to a plugin).
pub const HOST_DESTINATION_KEYS: &[&str] = &[
    "type",
    "keep_days",
    "keep_count",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
    "retries",
    "plugin_timeout_secs",
    "stall_timeout_secs",
];

/// The keys `config show` masks besides those secret by the host's own rules: the ones
/// each destination's plugin declares secret.
#[derive(Debug, Clone, Default)]
pub struct DeclaredSecrets {
    /// Dotted keys declared secret (`jobs.prod.destinations.s3.secret_access_key`).
    keys: HashSet<String>,
    /// Destinations whose plugin is not loaded (`jobs.prod.destinations.s3`): which of
    /// their keys are secrets cannot be told, so every plugin setting is masked.
    unknown: HashSet<String>,
}

impl DeclaredSecrets {
    /// For every destination of `config`: `declared(kind)` gives the keys its plugin
    /// declares secret, or `None` when no plugin of that kind is loaded.
    pub fn of(config: &Config, declared: impl Fn(&str) -> Option<Vec<String>>) -> Self {
        let mut out = DeclaredSecrets::default();
        for (job_id, job) in &config.jobs {
            for (name, dest) in &job.destinations {
                let table = format!("jobs.{job_id}.destinations.{name}");
                match declared(&dest.kind) {
                    Some(keys) => out.keys.extend(keys.iter().map(|k| join(&table, k))),
                    None => {
                        out.unknown.insert(table);
                    }
                }
            }
        }
        out
    }

    fn masks(&self, table: &str, key: &str) -> bool {
        self.keys.contains(&join(table, key))
            || (self.unknown.contains(table) && !HOST_DESTINATION_KEYS.contains(&key))
    }
}

/// Flattens the merged configuration into key/value/source rows, masking secrets: keys
/// secret by name, a webhook's `url`, and the keys `declared` by plugins. A secret's
/// value is masked whatever its type (a number, a list, a table).
pub fn rows(loaded: &LoadedConfig, declared: &DeclaredSecrets) -> Vec<ShownValue> {
    let mut out = Vec::new();
    flatten(loaded, declared, &loaded.tree, "", &mut out);
    out.extend(retention_modes(&loaded.config));
    out.extend(time_limits(&loaded.config));
    out
}

/// One `….time_limits` row per destination: when its worker is killed, defaults included.
fn time_limits(config: &Config) -> Vec<ShownValue> {
    let mut out = Vec::new();
    for (job_id, job) in &config.jobs {
        for (name, dest) in &job.destinations {
            let limits = crate::worker::Timeouts::from_settings(
                dest.plugin_timeout_secs,
                dest.stall_timeout_secs,
            );
            out.push(ShownValue {
                key: format!("jobs.{job_id}.destinations.{name}.time_limits"),
                value: serde_json::Value::String(format!(
                    "upload and download: {} s without progress; other calls: {} s",
                    limits.stall.as_secs(),
                    limits.other.as_secs()
                )),
                source: Some(
                    "derived from stall_timeout_secs and plugin_timeout_secs (defaults 600 and 120)"
                        .into(),
                ),
            });
        }
    }
    out
}

/// One `….retention` row per job and per destination: the retention mode its `keep_*`
/// keys put it in (limits, tiers or none) and the rules, as `prune --dry-run` applies them.
fn retention_modes(config: &Config) -> Vec<ShownValue> {
    let mut out = Vec::new();
    for (job_id, job) in &config.jobs {
        out.push(derived(
            format!("jobs.{job_id}.retention"),
            crate::retention::Policy::of(job, None).to_string(),
        ));
        for (name, dest) in &job.destinations {
            out.push(derived(
                format!("jobs.{job_id}.destinations.{name}.retention"),
                crate::retention::Policy::of(job, Some(dest)).to_string(),
            ));
        }
    }
    out
}

fn derived(key: String, value: String) -> ShownValue {
    ShownValue {
        key,
        value: serde_json::Value::String(value),
        source: Some("derived from the keep_* keys".into()),
    }
}

fn flatten(
    loaded: &LoadedConfig,
    declared: &DeclaredSecrets,
    dict: &Dict,
    prefix: &str,
    out: &mut Vec<ShownValue>,
) {
    for (key, value) in dict {
        let full = join(prefix, key);
        let secret = redact::is_secret_path(prefix, key) || declared.masks(prefix, key);
        match value {
            Value::Dict(_, child) if !secret => flatten(loaded, declared, child, &full, out),
            _ => {
                let shown = if secret {
                    serde_json::Value::String(redact::MASK.into())
                } else {
                    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
                };
                out.push(ShownValue {
                    source: loaded.source_of(&full),
                    key: full,
                    value: shown,
                });
            }
        }
    }
}

/// The rows as aligned `key = value  # source` text.
pub fn render_text(rows: &[ShownValue]) -> String {
    let width = rows
        .iter()
        .map(|r| r.key.len() + 3 + r.value.to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for r in rows {
        let line = format!("{} = {}", r.key, r.value);
        match &r.source {
            Some(source) => text.push_str(&format!("{line:<width$}  # {source}\n")),
            None => text.push_str(&format!("{line}\n")),
        }
    }
    text
}

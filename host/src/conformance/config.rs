//! The kit's input: one destination's table (as under `[jobs.<id>.destinations.<name>]`)
//! in its own TOML file, plus an optional `[conformance]` table saying how to make the
//! destination point at an absent directory, use wrong credentials, or reach nothing.

use std::path::Path;

use serde_json::{Map, Value};

/// Keys of a destination table that are the host's, never passed to the plugin.
const HOST_KEYS: &[&str] = &[
    "type",
    "retries",
    "plugin_timeout_secs",
    "stall_timeout_secs",
    "conformance",
];

/// Default size of the multi-chunk file: above the 5 MiB multipart minimum of S3 and the
/// chunk sizes of the shipped plugins, and not a multiple of any power of two.
pub const DEFAULT_LARGE_FILE_BYTES: u64 = 9 * 1024 * 1024 + 4321;

/// How one contract point that needs a different destination gets it.
#[derive(Debug, Clone, PartialEq)]
pub enum Variant {
    /// Not given: the point is not checked, which does not count as holding.
    Missing,
    /// `= false`: the destination has no such thing (no credentials, nothing to reach):
    /// the point does not apply and does not fail the check.
    NotApplicable,
    /// Settings merged over the destination's for this point.
    Overrides(Map<String, Value>),
}

/// A destination to check, read from a TOML file.
#[derive(Debug, Clone)]
pub struct KitConfig {
    /// `type`, when given (it must then be the plugin's kind).
    pub kind: Option<String>,
    /// The destination's settings as the plugin gets them.
    pub settings: Map<String, Value>,
    /// `plugin_timeout_secs`, when given: the limit of calls other than transfers.
    pub timeout_secs: Option<u64>,
    /// `stall_timeout_secs`, when given: the longest a transfer may go without progress.
    pub stall_secs: Option<u64>,
    /// `[conformance] absent_directory`: settings naming a remote directory that does
    /// not exist.
    pub absent_directory: Variant,
    /// `[conformance] wrong_credentials`: settings with credentials the server refuses.
    pub wrong_credentials: Variant,
    /// `[conformance] unreachable`: settings pointing at nothing listening.
    pub unreachable: Variant,
    /// `[conformance] large_file_bytes`: size of the multi-chunk file.
    pub large_file_bytes: u64,
}

/// What is wrong with the file, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum KitConfigError {
    /// The file cannot be read.
    #[error("cannot read {file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{file} is not valid TOML: {error}")]
    Toml {
        /// The file.
        file: String,
        /// Why.
        error: String,
    },
    /// A key has the wrong type or an unknown name.
    #[error("{file}: `{key}`: {message}")]
    Key {
        /// The file.
        file: String,
        /// The key at fault.
        key: String,
        /// What to do.
        message: String,
    },
}

impl KitConfig {
    /// Reads `file`.
    pub fn load(file: &Path) -> Result<Self, KitConfigError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|error| KitConfigError::Read {
            file: name.clone(),
            error,
        })?;
        Self::parse(&text, &name)
    }

    /// Parses the text of `file`.
    pub fn parse(text: &str, file: &str) -> Result<Self, KitConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| KitConfigError::Toml {
            file: file.to_string(),
            error: e.message().to_string(),
        })?;
        let key_error = |key: &str, message: &str| KitConfigError::Key {
            file: file.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        let Value::Object(mut all) = serde_json::to_value(&table)
            .map_err(|e| key_error("(file)", &format!("cannot be converted: {e}")))?
        else {
            return Err(key_error("(file)", "must be a table"));
        };
        let kind = match all.get("type") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(key_error("type", "must be a string (the plugin's kind)")),
        };
        let seconds = |key: &str| match all.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64().filter(|s| *s > 0) {
                Some(s) => Ok(Some(s)),
                None => Err(key_error(key, "must be a positive number of seconds")),
            },
        };
        let timeout_secs = seconds("plugin_timeout_secs")?;
        let stall_secs = seconds("stall_timeout_secs")?;
        let conformance = match all.remove("conformance") {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(key_error("conformance", "must be a table")),
        };
        for key in HOST_KEYS {
            all.remove(*key);
        }
        // Retention settings (`keep_days`, `keep_count`, …) are the host's too.
        all.retain(|k, _| !k.starts_with("keep_"));
        let mut config = KitConfig {
            kind,
            settings: all,
            timeout_secs,
            stall_secs,
            absent_directory: Variant::Missing,
            wrong_credentials: Variant::Missing,
            unreachable: Variant::Missing,
            large_file_bytes: DEFAULT_LARGE_FILE_BYTES,
        };
        for (key, value) in conformance {
            let full = format!("conformance.{key}");
            let variant = || {
                match &value {
                Value::Bool(false) => Ok(Variant::NotApplicable),
                Value::Object(m) => Ok(Variant::Overrides(m.clone())),
                _ => Err(key_error(
                    &full,
                    "must be a table of settings merged over the destination's, or false when it does not apply",
                )),
            }
            };
            match key.as_str() {
                "absent_directory" => config.absent_directory = variant()?,
                "wrong_credentials" => config.wrong_credentials = variant()?,
                "unreachable" => config.unreachable = variant()?,
                "large_file_bytes" => {
                    config.large_file_bytes = value
                        .as_u64()
                        .filter(|n| *n >= 2)
                        .ok_or_else(|| key_error(&full, "must be a number of bytes, at least 2"))?
                }
                _ => {
                    return Err(key_error(
                        &full,
                        "unknown key (expected absent_directory, wrong_credentials, unreachable, large_file_bytes)",
                    ))
                }
            }
        }
        Ok(config)
    }

    /// The settings with `overrides` merged over them.
    pub fn with(&self, overrides: &Map<String, Value>) -> Map<String, Value> {
        let mut settings = self.settings.clone();
        for (k, v) in overrides {
            settings.insert(k.clone(), v.clone());
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_not_passed_and_the_conformance_table_is_read() {
        let c = KitConfig::parse(
            r#"
            type = "sftp"
            host = "h"
            keep_days = 3
            retries = 2
            password = "pw"
            [conformance]
            absent_directory = { remote_dir = "/nonexistent/x" }
            wrong_credentials = { password = "wrong-password" }
            unreachable = false
            "#,
            "d.toml",
        )
        .unwrap();
        assert_eq!(c.kind.as_deref(), Some("sftp"));
        let keys: Vec<&str> = c.settings.keys().map(String::as_str).collect();
        assert_eq!(keys, ["host", "password"]);
        assert_eq!(c.unreachable, Variant::NotApplicable);
        let Variant::Overrides(o) = &c.wrong_credentials else {
            panic!("{:?}", c.wrong_credentials)
        };
        assert_eq!(c.with(o)["password"], "wrong-password");
        assert!(matches!(c.absent_directory, Variant::Overrides(_)));
        assert_eq!(c.large_file_bytes, DEFAULT_LARGE_FILE_BYTES);
    }

    #[test]
    fn a_missing_variant_is_not_checked_and_a_bad_key_is_named() {
        let c = KitConfig::parse("dir = \"/x\"", "d.toml").unwrap();
        assert_eq!(c.absent_directory, Variant::Missing);
        let e = KitConfig::parse("[conformance]\nwrong_credential = {}", "d.toml").unwrap_err();
        assert!(
            e.to_string().contains("`conformance.wrong_credential`"),
            "{e}"
        );
        let e = KitConfig::parse("[conformance]\nunreachable = true", "d.toml").unwrap_err();
        assert!(
            e.to_string().contains("or false when it does not apply"),
            "{e}"
        );
    }
}

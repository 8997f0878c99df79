//! `config show`: every merged value with its source, secrets masked.

use figment::value::{Dict, Value};
use serde::Serialize;

use super::{secrets::join, LoadedConfig};
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

/// Flattens the merged configuration into key/value/source rows, masking secrets.
pub fn rows(loaded: &LoadedConfig) -> Vec<ShownValue> {
    let mut out = Vec::new();
    flatten(loaded, &loaded.tree, "", &mut out);
    out
}

fn flatten(loaded: &LoadedConfig, dict: &Dict, prefix: &str, out: &mut Vec<ShownValue>) {
    for (key, value) in dict {
        let full = join(prefix, key);
        match value {
            Value::Dict(_, child) => flatten(loaded, child, &full, out),
            _ => {
                let shown = if redact::is_secret_key(key) {
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

//! `<secret>_file = "/path"`: a secret read from a file (works with systemd's
//! `LoadCredential=`: a relative path is looked up in `$CREDENTIALS_DIRECTORY`), for every
//! key that is a secret by the host's rules ([`redact::is_secret_path`]: `db_password`,
//! `app_secret`, a webhook's `url`, …).

use std::path::{Path, PathBuf};

use figment::value::{Dict, Value};

use crate::redact;

/// A secret that was read from a file, for `config show`.
#[derive(Debug, Clone)]
pub struct FileSecret {
    /// Dotted key of the secret (`jobs.prod.db_password`).
    pub key: String,
    /// The file it came from.
    pub file: PathBuf,
}

/// Replaces every `<secret>_file` key of `tree` with `<secret>` holding the file's content
/// (one trailing newline removed), registers every secret value with the redactor, and
/// returns where each file secret came from, and the errors as `(key, message)`: a
/// `<secret>_file` that cannot be read is removed and `<secret>` left unset.
pub fn resolve(tree: &mut Dict) -> (Vec<FileSecret>, Vec<(String, String)>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    walk(tree, "", &mut found, &mut errors);
    (found, errors)
}

fn walk(
    dict: &mut Dict,
    prefix: &str,
    found: &mut Vec<FileSecret>,
    errors: &mut Vec<(String, String)>,
) {
    let file_keys: Vec<String> = dict
        .keys()
        .filter(|k| {
            k.strip_suffix("_file")
                .is_some_and(|secret| redact::is_secret_path(prefix, secret))
        })
        .cloned()
        .collect();
    for file_key in file_keys {
        let secret_key = file_key.trim_end_matches("_file").to_string();
        let full = join(prefix, &secret_key);
        let Some(Value::String(_, path)) = dict.remove(&file_key) else {
            errors.push((
                join(prefix, &file_key),
                "must be a file path (a string)".into(),
            ));
            continue;
        };
        if dict.contains_key(&secret_key) {
            errors.push((
                full,
                format!("both `{secret_key}` and `{file_key}` are set: keep one"),
            ));
            continue;
        }
        let file = credential_path(Path::new(&path));
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let text = text
                    .strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_string();
                dict.insert(secret_key, Value::from(text));
                found.push(FileSecret { key: full, file });
            }
            Err(e) => errors.push((
                join(prefix, &file_key),
                format!("cannot read secret file {}: {e}", file.display()),
            )),
        }
    }
    for (key, value) in dict.iter_mut() {
        if redact::is_secret_path(prefix, key) {
            // Whatever its type: a numeric PIN or a list of codes is as secret as a string.
            match serde_json::to_value(&*value) {
                Ok(json) => redact::register_json(&json),
                Err(e) => {
                    tracing::debug!(key = %join(prefix, key), "secret value not registered: {e}")
                }
            }
        } else if let Value::Dict(_, child) = value {
            walk(child, &join(prefix, key), found, errors);
        }
    }
}

fn credential_path(path: &Path) -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if path.is_relative() => Path::new(&dir).join(path),
        _ => path.to_path_buf(),
    }
}

/// `prefix.key`, or `key` at the top.
pub fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

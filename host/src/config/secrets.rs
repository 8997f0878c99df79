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
        if must_be_private(prefix, &secret_key) {
            if let Some(problem) = open_to_others(&file) {
                errors.push((join(prefix, &file_key), problem));
                continue;
            }
        }
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

/// Whether the file of the secret `key` of `table` must be closed to other users: the
/// Odoo notifier's API key (a key that others can read is a key that others can log in
/// to Odoo with) and the status page's API token (one that starts backups). The older secrets keep their rules (any readable file), so that no
/// working configuration breaks.
fn must_be_private(table: &str, key: &str) -> bool {
    (key == "api_key" && (table == "notify.odoo" || table.ends_with(".notify.odoo")))
        || (table == "web" && key == "token")
}

/// Why `file` may not hold a private secret: others may read or write it. `None` when
/// only its owner and group may, or when it cannot be examined (reading it says why).
fn open_to_others(file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode();
    (mode & 0o007 != 0).then(|| {
        format!(
            "secret file {} can be read or written by other users (mode {:04o}): refused; \
             make it readable by its owner only (`chmod 600 {}`)",
            file.display(),
            mode & 0o7777,
            file.display()
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_odoo_api_key_file_must_be_closed_to_other_users() {
        assert!(must_be_private("notify.odoo", "api_key"));
        assert!(must_be_private("jobs.prod.notify.odoo", "api_key"));
        assert!(must_be_private("web", "token"));
        assert!(!must_be_private("notify.email", "password"));
        assert!(!must_be_private("jobs.prod.destinations.s3", "api_key"));

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key");
        std::fs::write(&file, "k").expect("write");
        for (mode, refused) in [(0o600, false), (0o640, false), (0o644, true), (0o602, true)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let problem = open_to_others(&file);
            assert_eq!(problem.is_some(), refused, "{mode:o}: {problem:?}");
            if let Some(p) = problem {
                assert!(
                    p.contains(&format!("mode {mode:04o}")) && p.contains("chmod 600"),
                    "{p}"
                );
            }
        }
        assert!(open_to_others(&dir.path().join("missing")).is_none());
    }
}

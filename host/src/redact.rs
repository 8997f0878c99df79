//! Keeps secrets out of everything the host prints or stores.
//!
//! Every secret value read from the configuration is registered here; text that may echo
//! one back (plugin errors, plugin log lines, pg_dump's stderr) goes through [`scrub`]
//! before it reaches a log, the terminal or the history database.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Remembers `value` as a secret. Very short values are not registered: masking every
/// "a" in a log would make it unreadable and protects nothing.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < 4 {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// Whether a configuration key holds a secret, by its name.
pub fn is_secret_key(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "password",
        "passphrase",
        "private_key",
        "secret",
        "token",
        "api_key",
        "secret_access_key",
    ];
    const SUFFIXES: &[&str] = &["_password", "_passphrase", "_secret", "_token"];
    NAMES.contains(&name) || SUFFIXES.iter().any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked() {
        register("hunter2-very-secret");
        register("ab");
        assert_eq!(
            scrub("login failed for hunter2-very-secret at host ab"),
            "login failed for *** at host ab"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn secret_key_names() {
        for k in [
            "password",
            "db_password",
            "passphrase",
            "private_key",
            "app_secret",
            "refresh_token",
            "secret_access_key",
            "session_token",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "user",
            "host",
            "private_key_file",
            "app_key",
            "known_hosts_file",
            "keep_days",
            "access_key_id",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}

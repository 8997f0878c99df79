//! Keeps secrets out of everything the host prints or stores.
//!
//! Every secret value read from the configuration is registered here — values of keys
//! named like secrets when the configuration is loaded, values of the keys a plugin
//! declares secret when one of its destinations is opened — whatever their type or
//! length; text that may echo one back (plugin errors, plugin log lines, pg_dump's
//! stderr) goes through [`scrub`] before it reaches a log, the terminal, a notification
//! or the history database.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are masked only where they stand as a whole word (between
/// characters that are not letters or digits): a 2-character password is still kept out
/// of messages without turning every "ab" inside other words into the mask.
const WHOLE_WORD_BELOW: usize = 4;

/// Remembers `value` as a secret (surrounding whitespace ignored; an empty value is not
/// a secret).
pub fn register(value: &str) {
    let value = value.trim();
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Remembers every value inside a secret setting, whatever its type: a string, a number
/// or a boolean as written, each element of an array, each value of a table.
pub fn register_json(value: &serde_json::Value) {
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => register(s),
        serde_json::Value::Array(items) => items.iter().for_each(register_json),
        serde_json::Value::Object(map) => map.values().for_each(register_json),
        other => register(&other.to_string()),
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
        if !out.contains(secret.as_str()) {
            continue;
        }
        if secret.chars().count() >= WHOLE_WORD_BELOW {
            out = out.replace(secret.as_str(), MASK);
        } else {
            out = replace_whole_words(&out, secret);
        }
    }
    Cow::Owned(out)
}

/// `text` with each occurrence of `word` that is not part of a longer word replaced.
fn replace_whole_words(text: &str, word: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(word) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let prev = head.chars().next_back().or(before);
        let after = &tail[word.len()..];
        if is_word(prev) || is_word(after.chars().next()) {
            out.push_str(word);
        } else {
            out.push_str(MASK);
        }
        before = word.chars().next_back();
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Whether the value at `key` of table `table` (dotted, `""` at the top) is a secret by
/// the host's own rules: a secret key name, or a webhook's `url` (which often carries
/// the token that authorises the POST).
pub fn is_secret_path(table: &str, key: &str) -> bool {
    let url_table = |t: &str| table == t || table.ends_with(&format!(".{t}"));
    is_secret_key(key)
        || (key == "url" && (url_table("webhook") || url_table("healthchecks")))
        || (table == "web" && key == "password_hash")
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
        assert_eq!(
            scrub("login failed for hunter2-very-secret at host ab"),
            "login failed for *** at host ab"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_secrets_are_masked_as_whole_words() {
        register("q7");
        assert_eq!(
            scrub("pin q7 refused (q7x and aq7 are other words); q7"),
            "pin *** refused (q7x and aq7 are other words); ***"
        );
    }

    #[test]
    fn secrets_of_every_type_are_registered() {
        register_json(&serde_json::json!({
            "n": 480_913,
            "list": ["first-code-7a", 55],
            "flag": null,
        }));
        assert_eq!(
            scrub("pin 480913, codes first-code-7a and 55"),
            "pin ***, codes *** and ***"
        );
    }

    #[test]
    fn a_webhook_url_is_a_secret() {
        assert!(is_secret_path("notify.webhook", "url"));
        assert!(is_secret_path("jobs.prod.notify.webhook", "url"));
        assert!(!is_secret_path("jobs.prod.destinations.dav", "url"));
        assert!(is_secret_path("notify.healthchecks", "url"));
        assert!(is_secret_path("jobs.prod.notify.healthchecks", "url"));
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

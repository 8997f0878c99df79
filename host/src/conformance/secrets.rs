//! The secrets point: no value of a secret setting (declared by the plugin, or secret by
//! its name for the host) may appear in any error, log event or answer of the plugin.

use serde_json::{Map, Value};

use super::{Kit, Variant, Verdict};
use crate::redact;

/// Secrets shorter than this count only as a whole word (as the host masks them).
const WHOLE_WORD_BELOW: usize = 4;

/// Every text inside a secret value: strings, numbers as written, array elements.
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push(s.trim().to_string()),
        Value::Array(items) => items.iter().for_each(|v| texts(v, out)),
        Value::Object(map) => map.values().for_each(|v| texts(v, out)),
        other => out.push(other.to_string()),
    }
}

/// `(key, value)` of every secret the kit hands the plugin.
fn secret_values(kit: &Kit) -> Vec<(String, String)> {
    let mut settings: Vec<&Map<String, Value>> = vec![&kit.config().settings];
    for variant in [
        &kit.config().absent_directory,
        &kit.config().wrong_credentials,
        &kit.config().unreachable,
    ] {
        if let Variant::Overrides(o) = variant {
            settings.push(o);
        }
    }
    let mut found = Vec::new();
    for map in settings {
        for (key, value) in map {
            if kit.secret_keys().iter().any(|k| k == key) || redact::is_secret_key(key) {
                let mut values = Vec::new();
                texts(value, &mut values);
                for v in values.into_iter().filter(|v| !v.is_empty()) {
                    if !found.iter().any(|(_, f)| f == &v) {
                        found.push((key.clone(), v));
                    }
                }
            }
        }
    }
    found
}

/// Masks the secrets in what the kit itself prints and logs.
pub(super) fn register(kit: &Kit) {
    for (_, value) in secret_values(kit) {
        redact::register(&value);
    }
}

/// Whether `secret` is in `text` (as a whole word when it is short).
fn appears(text: &str, secret: &str) -> bool {
    if secret.chars().count() >= WHOLE_WORD_BELOW {
        return text.contains(secret);
    }
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(secret).any(|(at, _)| {
        !is_word(text[..at].chars().next_back())
            && !is_word(text[at + secret.len()..].chars().next())
    })
}

/// The verdict, from everything recorded during the run.
pub(super) fn check(kit: &Kit) -> Verdict {
    let secrets = secret_values(kit);
    if secrets.is_empty() {
        let declared = match kit.secret_keys() {
            [] => "none".to_string(),
            keys => keys.join(", "),
        };
        return Verdict::NotApplicable(format!(
            "the configuration holds no secret setting (declared by the plugin: {declared})"
        ));
    }
    let seen = kit.seen().all();
    for (source, text) in &seen {
        if let Some((key, _)) = secrets.iter().find(|(_, s)| appears(text, s)) {
            return Verdict::Fail(format!(
                "the value of `{key}` appears in {source}: {}",
                redact::scrub(text)
            ));
        }
    }
    let keys: Vec<&str> = secrets.iter().map(|(k, _)| k.as_str()).collect();
    let mut keys = keys;
    keys.dedup();
    Verdict::Pass(format!(
        "no value of {} in {} errors, log events and answers (log level trace)",
        keys.join(", "),
        seen.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::appears;

    #[test]
    fn short_secrets_count_only_as_whole_words() {
        assert!(appears("password hunter2 refused", "hunter2"));
        assert!(appears("pin 42 refused", "42"));
        assert!(!appears("port 4242", "42"));
        assert!(appears("x", "x"));
        assert!(!appears("example", "x"));
    }
}

//! WebDAV answers as the host's error kinds: 401 is `auth` (never retried), 403
//! `permission`, 507 `quota`, 5xx `transient`.

use sauvegarde_opendal_common::errors;
use sauvegarde_plugin_api::{ErrorKind, PluginError};

use crate::config::Config;

/// The kind of an HTTP status the server answered with.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Auth,
        403 => ErrorKind::Permission,
        404 | 409 => ErrorKind::NotFound,
        507 | 413 => ErrorKind::Quota,
        408 | 423 | 429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// Advice for a status.
pub fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Auth => ": check `user` and `password` (Nextcloud: an app password)",
        ErrorKind::Permission => ": the account may not write to this collection",
        ErrorKind::Quota => ": the account's quota is full or the file is too large",
        ErrorKind::Transient => ": temporary server failure, will be retried",
        _ => "",
    }
}

/// A failure of operation `what`, from a status the server answered with.
pub fn status(config: &Config, status: u16, what: &str) -> PluginError {
    let kind = kind_of_status(status);
    PluginError::new(
        kind,
        format!(
            "{what}: {} answered HTTP {status}{}",
            config.url,
            hint(kind)
        ),
    )
}

/// Maps an OpenDAL failure of operation `what`.
pub fn map(config: &Config, err: &opendal::Error, what: &str) -> PluginError {
    if let Some(code) = errors::status(err) {
        let kind = kind_of_status(code);
        if kind != ErrorKind::Other {
            return PluginError::new(
                kind,
                format!("{what}: {} answered HTTP {code}{}", config.url, hint(kind)),
            );
        }
    }
    errors::map(err, what, &config.url)
}

/// A failure to send a request of operation `what` (no answer).
pub fn transport(config: &Config, err: &reqwest::Error, what: &str) -> PluginError {
    let mut text = err.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    if err.is_timeout() {
        PluginError::transient(format!("{what}: {} timed out ({text})", config.url))
    } else if err.is_connect() {
        PluginError::connect(format!(
            "{what}: cannot connect to {} ({text}){}",
            config.url,
            errors::tls_hint(&text)
        ))
    } else {
        PluginError::transient(format!(
            "{what}: connection to {} lost ({text})",
            config.url
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind_of_status(401), ErrorKind::Auth);
        assert_eq!(kind_of_status(403), ErrorKind::Permission);
        assert_eq!(kind_of_status(507), ErrorKind::Quota);
        assert_eq!(kind_of_status(503), ErrorKind::Transient);
        assert_eq!(kind_of_status(404), ErrorKind::NotFound);
    }
}

//! OpenDAL failures as the host's error kinds, with messages that say what failed. The
//! plugins look at service-specific codes first (S3's `SignatureDoesNotMatch`, WebDAV's
//! 401) and fall back to [`map`] for the rest.

use std::error::Error as _;
use std::io;

use sauvegarde_plugin_api::{ErrorKind, PluginError};

/// The HTTP status of the server's answer, when the failure is one.
pub fn status(err: &opendal::Error) -> Option<u16> {
    let text = err.to_string();
    let at = text.find("status: ")? + "status: ".len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
}

/// The lowest-level cause of a failure (a refused connection, a TLS alert, …), if any.
pub fn root_cause(err: &opendal::Error) -> Option<String> {
    let mut cause: Option<&dyn std::error::Error> = err.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    last
}

/// The `reqwest` error under an OpenDAL failure, when the request did not get an answer.
fn transport_error(err: &opendal::Error) -> Option<&reqwest::Error> {
    let mut cause: Option<&dyn std::error::Error> = err.source();
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

/// A short text of `err`: its message (bounded), the status and the root cause.
pub fn describe(err: &opendal::Error) -> String {
    let mut message: String = err.message().chars().take(400).collect();
    if message.is_empty() {
        message = err.kind().to_string();
    }
    if let Some(status) = status(err) {
        message = format!("HTTP {status}: {message}");
    }
    if let Some(cause) = root_cause(err) {
        if !message.contains(&cause) {
            message = format!("{message} ({cause})");
        }
    }
    message
}

/// Advice for a TLS failure.
pub fn tls_hint(text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("issuer") || lower.contains("tls") {
        "; if the server uses a self-signed or private CA certificate, point `ca_file` at it"
    } else {
        ""
    }
}

/// The generic mapping: no answer → connect (or transient once a transfer was under way),
/// 5xx, 429 and time-outs → transient, 404 → not found, 403 → permission.
pub fn map(err: &opendal::Error, what: &str, endpoint: &str) -> PluginError {
    let text = describe(err);
    if let Some(transport) = transport_error(err) {
        if transport.is_timeout() {
            return PluginError::transient(format!("{what}: {endpoint} timed out ({text})"));
        }
        if transport.is_connect() {
            let hint = tls_hint(&text);
            return PluginError::connect(format!(
                "{what}: cannot connect to {endpoint} ({text}){hint}"
            ));
        }
        return PluginError::transient(format!("{what}: connection to {endpoint} lost ({text})"));
    }
    let status = status(err);
    let kind = match (err.kind(), status) {
        (_, Some(500..=599)) | (opendal::ErrorKind::RateLimited, _) => ErrorKind::Transient,
        (opendal::ErrorKind::NotFound, _) => ErrorKind::NotFound,
        (opendal::ErrorKind::ConfigInvalid, _) => ErrorKind::Config,
        (opendal::ErrorKind::PermissionDenied, _) => ErrorKind::Permission,
        _ if err.is_temporary() => ErrorKind::Transient,
        _ => ErrorKind::Other,
    };
    PluginError::new(kind, format!("{what}: {text}"))
}

/// A local file error.
pub fn local(err: io::Error, what: &str) -> PluginError {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        io::ErrorKind::StorageFull => ErrorKind::Quota,
        _ => ErrorKind::Other,
    };
    PluginError::new(kind, format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_from_the_response_context() {
        let err = opendal::Error::new(opendal::ErrorKind::Unexpected, "boom")
            .with_context("response", "Parts { status: 503, version: HTTP/1.1 }");
        assert_eq!(status(&err), Some(503));
        assert_eq!(map(&err, "x", "e").kind(), ErrorKind::Transient);
        let err = opendal::Error::new(opendal::ErrorKind::NotFound, "gone");
        assert_eq!(status(&err), None);
        assert_eq!(map(&err, "x", "e").kind(), ErrorKind::NotFound);
    }
}

//! Maps suppaftp failures and FTP reply codes to the host's error kinds, with messages that
//! say what failed. Server replies are quoted; they never contain the password.

use std::io;

use sauvegarde_plugin_api::{ErrorKind, PluginError};
use suppaftp::FtpError;

/// The kind of a reply code, `if_550` deciding what a bare 550 means for this operation.
pub fn kind_of_code(code: u32, text: &str, if_550: ErrorKind) -> ErrorKind {
    let lower = text.to_ascii_lowercase();
    match code {
        530 | 430 => ErrorKind::Auth,
        552 | 452 => ErrorKind::Quota,
        550 | 553 => {
            if [
                "permission",
                "denied",
                "not allowed",
                "forbidden",
                "read-only",
            ]
            .iter()
            .any(|w| lower.contains(w))
            {
                ErrorKind::Permission
            } else if [
                "no such",
                "not found",
                "does not exist",
                "doesn't exist",
                "not exist",
            ]
            .iter()
            .any(|w| lower.contains(w))
            {
                ErrorKind::NotFound
            } else {
                if_550
            }
        }
        400..=499 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// The kind of an I/O error on an established session.
fn io_kind(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        _ => ErrorKind::Transient,
    }
}

/// An error from an FTP operation; `what` names the operation and path.
pub fn ftp(err: FtpError, what: &str, if_550: ErrorKind) -> PluginError {
    match err {
        FtpError::UnexpectedResponse(resp) => {
            let code = resp.status.code();
            let text = String::from_utf8_lossy(&resp.body).trim().to_string();
            let kind = kind_of_code(code, &text, if_550);
            let hint = match kind {
                ErrorKind::Auth => ": check `user` and `password`",
                ErrorKind::Permission => ": check the account's rights on `remote_dir`",
                ErrorKind::Quota => ": free space on the server or raise the quota",
                ErrorKind::Transient => ": temporary server failure, will be retried",
                _ => "",
            };
            PluginError::new(kind, format!("{what}: server replied {text}{hint}"))
        }
        FtpError::ConnectionError(e) => {
            PluginError::new(io_kind(&e), format!("{what}: connection failed ({e})"))
        }
        FtpError::SecureError(e) => {
            PluginError::connect(format!("{what}: TLS failed ({e}){}", tls_hint(&e)))
        }
        FtpError::BadResponse => {
            PluginError::transient(format!("{what}: the server sent a malformed reply"))
        }
        other => PluginError::other(format!("{what}: {other}")),
    }
}

/// Advice for a TLS failure message.
pub fn tls_hint(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("issuer") {
        ": if the server uses a self-signed or private CA certificate, point `ca_file` at it"
    } else {
        ""
    }
}

/// A local file error.
pub fn local(err: io::Error, what: &str) -> PluginError {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        _ => ErrorKind::Other,
    };
    PluginError::new(kind, format!("{what}: {err}"))
}

/// The reply code of an error, if the server answered.
pub fn code_of(err: &FtpError) -> Option<u32> {
    match err {
        FtpError::UnexpectedResponse(resp) => Some(resp.status.code()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let nf = ErrorKind::NotFound;
        assert_eq!(kind_of_code(530, "Login incorrect.", nf), ErrorKind::Auth);
        assert_eq!(kind_of_code(552, "quota", nf), ErrorKind::Quota);
        assert_eq!(kind_of_code(421, "busy", nf), ErrorKind::Transient);
        assert_eq!(
            kind_of_code(550, "Permission denied.", nf),
            ErrorKind::Permission
        );
        assert_eq!(
            kind_of_code(550, "No such file or directory.", ErrorKind::Permission),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of_code(550, "Failed.", ErrorKind::Permission),
            ErrorKind::Permission
        );
        assert_eq!(kind_of_code(500, "what", nf), ErrorKind::Other);
    }
}

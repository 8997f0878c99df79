//! Maps libssh2 and I/O failures to the host's error kinds, with messages that say what
//! failed. libssh2's own messages never contain credentials.

use std::io;

use sauvegarde_plugin_api::{ErrorKind, PluginError};
use ssh2::ErrorCode;

// SFTP status codes (draft-ietf-secsh-filexfer, as libssh2 reports them).
const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
const FX_NO_CONNECTION: i32 = 6;
const FX_CONNECTION_LOST: i32 = 7;
const FX_NO_SUCH_PATH: i32 = 10;
const FX_WRITE_PROTECT: i32 = 12;
const FX_NO_SPACE_ON_FILESYSTEM: i32 = 14;
const FX_QUOTA_EXCEEDED: i32 = 15;

// libssh2 session error codes.
const ERROR_FILE: i32 = -16;
const ERROR_AUTHENTICATION_FAILED: i32 = -18;
const ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;

/// The kind of an SFTP or session error met while talking to an authenticated server.
pub fn kind_of(err: &ssh2::Error) -> ErrorKind {
    match err.code() {
        ErrorCode::SFTP(FX_NO_SUCH_FILE | FX_NO_SUCH_PATH) => ErrorKind::NotFound,
        ErrorCode::SFTP(FX_PERMISSION_DENIED | FX_WRITE_PROTECT) => ErrorKind::Permission,
        ErrorCode::SFTP(FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED) => ErrorKind::Quota,
        ErrorCode::SFTP(FX_NO_CONNECTION | FX_CONNECTION_LOST) => ErrorKind::Transient,
        ErrorCode::SFTP(_) => ErrorKind::Other,
        ErrorCode::Session(ERROR_AUTHENTICATION_FAILED | ERROR_PUBLICKEY_UNVERIFIED) => {
            ErrorKind::Auth
        }
        // Socket errors, timeouts, a server that went away: worth another try.
        ErrorCode::Session(_) => ErrorKind::Transient,
    }
}

/// Whether the error is the server saying the path does not exist.
pub fn is_not_found(err: &ssh2::Error) -> bool {
    kind_of(err) == ErrorKind::NotFound
}

/// An error from an SFTP operation: `what` says which operation on which path.
pub fn sftp(err: ssh2::Error, what: impl std::fmt::Display) -> PluginError {
    let kind = kind_of(&err);
    let hint = match kind {
        ErrorKind::NotFound => " (no such file or directory)",
        ErrorKind::Permission => ": check the account's rights on `remote_dir`",
        ErrorKind::Quota => ": free space on the server or raise the account's quota",
        ErrorKind::Transient => ": the connection failed, the transfer will be retried",
        _ => "",
    };
    PluginError::new(kind, format!("{what} failed: {}{hint}", describe(&err)))
}

/// An error while setting up the SSH session (handshake): the server could not be reached
/// properly, worth a retry.
pub fn handshake(err: ssh2::Error, address: &str) -> PluginError {
    PluginError::connect(format!(
        "SSH handshake with {address} failed: {}; check that `host`/`port` point to an SSH \
         server",
        describe(&err)
    ))
}

/// An error while authenticating as `user` with `method`.
pub fn auth(err: ssh2::Error, user: &str, address: &str, method: &str) -> PluginError {
    match err.code() {
        ErrorCode::Session(ERROR_FILE) => PluginError::config(format!(
            "the private key from `{method}` could not be loaded ({}): check the key and \
             `passphrase` (an encrypted key needs it)",
            describe(&err)
        )),
        ErrorCode::Session(ERROR_AUTHENTICATION_FAILED | ERROR_PUBLICKEY_UNVERIFIED) => {
            PluginError::auth(format!(
                "{address} refused {method} authentication for user `{user}`: check `user` \
                 and `{method}`"
            ))
        }
        _ => PluginError::new(
            kind_of(&err),
            format!(
                "authentication as `{user}` on {address} failed: {}",
                describe(&err)
            ),
        ),
    }
}

/// A local I/O error on `path` (the file being uploaded or downloaded).
pub fn local(err: io::Error, what: impl std::fmt::Display) -> PluginError {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::Quota,
        _ => ErrorKind::Other,
    };
    PluginError::new(kind, format!("{what} failed: {err}"))
}

/// An error from reading or writing an open remote file. ssh2's `Read`/`Write` turn its
/// error into an `io::Error` that keeps only the message, so the kind is recovered from
/// ssh2's fixed texts for SFTP status codes; anything else (socket, timeout, closed
/// channel) means the connection failed.
pub fn transfer(err: io::Error, what: &str) -> PluginError {
    let text = err.to_string();
    let kind = match text.as_str() {
        _ if err.kind() == io::ErrorKind::NotFound => ErrorKind::NotFound,
        "permission denied" | "file is write protected" => ErrorKind::Permission,
        "no space on filesystem" | "quota exceeded" => ErrorKind::Quota,
        "failure" | "bad message" | "operation unsupported" | "invalid handle" => ErrorKind::Other,
        _ => ErrorKind::Transient,
    };
    let hint = match kind {
        ErrorKind::Quota => ": free space on the server or raise the account's quota",
        ErrorKind::Transient => ": the connection failed, the transfer will be retried",
        _ => "",
    };
    PluginError::new(kind, format!("{what} failed: {text}{hint}"))
}

/// libssh2's message, with the numeric code for reference.
fn describe(err: &ssh2::Error) -> String {
    let code = match err.code() {
        ErrorCode::Session(c) => format!("libssh2 error {c}"),
        ErrorCode::SFTP(c) => format!("SFTP status {c}"),
    };
    format!("{} [{code}]", err.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sftp_status_codes_map_to_kinds() {
        let cases = [
            (FX_NO_SUCH_FILE, ErrorKind::NotFound),
            (FX_PERMISSION_DENIED, ErrorKind::Permission),
            (FX_NO_SPACE_ON_FILESYSTEM, ErrorKind::Quota),
            (FX_QUOTA_EXCEEDED, ErrorKind::Quota),
            (FX_CONNECTION_LOST, ErrorKind::Transient),
            (4, ErrorKind::Other),
        ];
        for (code, kind) in cases {
            let err = ssh2::Error::new(ErrorCode::SFTP(code), "x");
            assert_eq!(kind_of(&err), kind, "status {code}");
        }
    }

    #[test]
    fn transfer_errors_keep_their_kind_through_io_error() {
        // ssh2 builds these io::Errors from `Error::from_errno`, whose texts are fixed.
        let quota = io::Error::other("no space on filesystem");
        assert_eq!(transfer(quota, "w").kind(), ErrorKind::Quota);
        let lost = io::Error::other("error receiving on socket");
        assert_eq!(transfer(lost, "w").kind(), ErrorKind::Transient);
        let denied = io::Error::other("permission denied");
        assert_eq!(transfer(denied, "w").kind(), ErrorKind::Permission);
    }

    #[test]
    fn session_codes_map_to_kinds() {
        let err = ssh2::Error::new(ErrorCode::Session(ERROR_AUTHENTICATION_FAILED), "x");
        assert_eq!(kind_of(&err), ErrorKind::Auth);
        // LIBSSH2_ERROR_SOCKET_RECV
        let err = ssh2::Error::new(ErrorCode::Session(-43), "x");
        assert_eq!(kind_of(&err), ErrorKind::Transient);
    }

    #[test]
    fn bad_key_file_is_a_config_error_and_auth_refusal_an_auth_error() {
        let err = ssh2::Error::new(ErrorCode::Session(ERROR_FILE), "unable to extract");
        assert_eq!(
            auth(err, "u", "h:22", "private_key").kind(),
            ErrorKind::Config
        );
        let err = ssh2::Error::new(ErrorCode::Session(ERROR_AUTHENTICATION_FAILED), "x");
        let e = auth(err, "u", "h:22", "password");
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(
            e.message().contains("`u`") && e.message().contains("h:22"),
            "{e}"
        );
    }
}

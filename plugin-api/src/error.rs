use std::fmt;

use abi_stable::{std_types::RString, StableAbi};

/// What went wrong, coarsely: the host decides from this whether to retry and how to word
/// the failure for the user.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The destination's configuration is invalid (unknown key, missing value, bad format).
    Config,
    /// The server refused the credentials (wrong password, revoked token, rejected key).
    Auth,
    /// The server could not be reached (refused, timed out, DNS, TLS handshake).
    /// The host retries these.
    Connect,
    /// The named remote file or directory does not exist.
    NotFound,
    /// The account may not do this (read-only directory, forbidden path).
    Permission,
    /// The destination is full or over its quota.
    Quota,
    /// A temporary failure worth retrying (connection reset mid-transfer, rate limit, 5xx).
    /// The host retries these.
    Transient,
    /// The host asked to stop (the progress callback returned `false`).
    Cancelled,
    /// Anything else, including a panic caught at the plugin boundary.
    Other,
}

impl ErrorKind {
    /// The lower-case name used in logs, history and JSON output (`"not_found"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::Connect => "connect",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Permission => "permission",
            ErrorKind::Quota => "quota",
            ErrorKind::Transient => "transient",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Other => "other",
        }
    }

    /// Whether the host retries an operation that failed with this kind.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Connect | ErrorKind::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned by a plugin: a [`ErrorKind`] and a message for the user.
///
/// The message should say what failed and what to do about it (the host adds the job and
/// destination names). It must never contain a secret from the configuration.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    kind: ErrorKind,
    message: RString,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: RString::from(message.into()),
        }
    }

    /// A [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A [`ErrorKind::Auth`] error.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// A [`ErrorKind::Connect`] error.
    pub fn connect(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Connect, message)
    }

    /// A [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A [`ErrorKind::Permission`] error.
    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permission, message)
    }

    /// A [`ErrorKind::Quota`] error.
    pub fn quota(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Quota, message)
    }

    /// A [`ErrorKind::Transient`] error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A [`ErrorKind::Cancelled`] error.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// A [`ErrorKind::Other`] error.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for the user.
    pub fn message(&self) -> &str {
        self.message.as_str()
    }

    /// The same error with `context: ` put before its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(self.kind, format!("{context}: {}", self.message))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for PluginError {}

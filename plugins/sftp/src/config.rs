//! The destination's configuration: the keys users write, checked once at construction.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sauvegarde_plugin_api::{parse_config, PluginError};
use serde::Deserialize;

/// Default SSH port.
const DEFAULT_PORT: u16 = 22;
/// Default network timeout when `timeout_secs` is not set.
const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The keys as written in the destination table. Secrets are kept out of `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    user: String,
    password: Option<String>,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    passphrase: Option<String>,
    #[serde(default = "default_remote_dir")]
    remote_dir: String,
    known_hosts_file: Option<PathBuf>,
    host_key_fingerprint: Option<String>,
    #[serde(default)]
    accept_new_host_key: bool,
    timeout_secs: Option<u64>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_remote_dir() -> String {
    ".".to_string()
}

/// How the client proves who it is.
pub enum Credentials {
    /// Password authentication.
    Password(String),
    /// A private key given as its PEM/OpenSSH text.
    KeyContent {
        key: String,
        passphrase: Option<String>,
    },
    /// A private key read from a file by libssh2.
    KeyFile {
        path: PathBuf,
        passphrase: Option<String>,
    },
}

impl Credentials {
    /// A short name of the method, for messages ("password", "private_key", …).
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::Password(_) => "password",
            Credentials::KeyContent { .. } => "private_key",
            Credentials::KeyFile { .. } => "private_key_file",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password(_) => f.write_str("Password(<redacted>)"),
            Credentials::KeyContent { passphrase, .. } => f
                .debug_struct("KeyContent")
                .field("key", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
            Credentials::KeyFile { path, passphrase } => f
                .debug_struct("KeyFile")
                .field("path", path)
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// How the server's host key is verified.
#[derive(Debug, Clone)]
pub struct HostKeyPolicy {
    /// `host_key_fingerprint`, normalised to `SHA256:<base64 without padding>`.
    pub fingerprint: Option<String>,
    /// `known_hosts_file`, in OpenSSH format.
    pub known_hosts_file: Option<PathBuf>,
    /// `accept_new_host_key`: append an unknown key to `known_hosts_file`.
    pub accept_new: bool,
}

/// A validated SFTP destination configuration.
#[derive(Debug)]
pub struct Config {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Account name.
    pub user: String,
    /// Authentication material.
    pub credentials: Credentials,
    /// Remote directory holding the backups (relative to the login directory unless absolute).
    pub remote_dir: String,
    /// Host key verification.
    pub host_key: HostKeyPolicy,
    /// Timeout for connecting and for each network operation.
    pub timeout: Duration,
}

impl Config {
    /// Parses and checks the JSON configuration handed over by the host.
    pub fn from_json(json: &str) -> Result<Config, PluginError> {
        let raw: RawConfig = parse_config(json)?;
        let host = raw.host.trim().to_string();
        if host.is_empty() {
            return Err(PluginError::config(
                "`host` is empty: set the SFTP server name",
            ));
        }
        if raw.user.is_empty() {
            return Err(PluginError::config(
                "`user` is empty: set the SSH account name",
            ));
        }
        let credentials = credentials(
            raw.password,
            raw.private_key,
            raw.private_key_file,
            raw.passphrase,
        )?;
        let fingerprint = raw
            .host_key_fingerprint
            .as_deref()
            .map(normalise_fingerprint)
            .transpose()?;
        if raw.accept_new_host_key && raw.known_hosts_file.is_none() {
            return Err(PluginError::config(
                "`accept_new_host_key = true` needs `known_hosts_file`: the file where the \
                 server's key is recorded on first connection",
            ));
        }
        let remote_dir = raw.remote_dir.trim_end_matches('/').to_string();
        let remote_dir = if remote_dir.is_empty() {
            // "/" trimmed to nothing: the root directory.
            if raw.remote_dir.starts_with('/') {
                "/"
            } else {
                "."
            }
            .to_string()
        } else {
            remote_dir
        };
        let timeout_secs = raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 || timeout_secs > u64::from(u32::MAX / 1000) {
            return Err(PluginError::config(format!(
                "`timeout_secs = {timeout_secs}` is out of range: use 1 to {}",
                u32::MAX / 1000
            )));
        }
        Ok(Config {
            host,
            port: raw.port,
            user: raw.user,
            credentials,
            remote_dir,
            host_key: HostKeyPolicy {
                fingerprint,
                known_hosts_file: raw.known_hosts_file,
                accept_new: raw.accept_new_host_key,
            },
            timeout: Duration::from_secs(timeout_secs),
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Picks exactly one authentication method from the configured keys.
fn credentials(
    password: Option<String>,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    passphrase: Option<String>,
) -> Result<Credentials, PluginError> {
    let given = [
        password.is_some(),
        private_key.is_some(),
        private_key_file.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(PluginError::config(format!(
            "set exactly one of `password`, `private_key` or `private_key_file` ({given} given)"
        )));
    }
    if let Some(password) = password {
        if passphrase.is_some() {
            return Err(PluginError::config(
                "`passphrase` unlocks a private key: it is not used with `password`",
            ));
        }
        return Ok(Credentials::Password(password));
    }
    let passphrase = passphrase.filter(|p| !p.is_empty());
    if let Some(key) = private_key {
        if !key.contains("PRIVATE KEY-----") {
            return Err(PluginError::config(
                "`private_key` does not look like a private key: paste the whole PEM/OpenSSH \
                 text, from `-----BEGIN … PRIVATE KEY-----` to the END line",
            ));
        }
        return Ok(Credentials::KeyContent { key, passphrase });
    }
    match private_key_file {
        Some(path) => Ok(Credentials::KeyFile { path, passphrase }),
        None => Err(PluginError::config(
            "set one of `password`, `private_key` or `private_key_file`",
        )),
    }
}

/// Accepts `SHA256:<base64>` as `ssh-keygen -lf` prints it (padding optional).
fn normalise_fingerprint(text: &str) -> Result<String, PluginError> {
    use base64::Engine as _;
    let bad = || {
        PluginError::config(format!(
            "`host_key_fingerprint = \"{text}\"` is not a SHA256 fingerprint: write it as \
             `ssh-keygen -lf` prints it, e.g. \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\""
        ))
    };
    let body = text.trim().strip_prefix("SHA256:").ok_or_else(bad)?;
    let body = body.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| bad())?;
    if bytes.len() != 32 {
        return Err(bad());
    }
    Ok(format!("SHA256:{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    fn parse(json: &str) -> Result<Config, PluginError> {
        Config::from_json(json)
    }

    #[test]
    fn minimal_password_config_gets_defaults() {
        let c = parse(r#"{"host":"h","user":"u","password":"pw"}"#).unwrap();
        assert_eq!(c.port, 22);
        assert_eq!(c.remote_dir, ".");
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(!c.host_key.accept_new);
        assert_eq!(c.credentials.method(), "password");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse(r#"{"host":"h","user":"u","pasword":"pw"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("pasword"), "{err}");
    }

    #[test]
    fn exactly_one_auth_method() {
        let err = parse(r#"{"host":"h","user":"u"}"#).unwrap_err();
        assert!(err.message().contains("exactly one"), "{err}");
        let err =
            parse(r#"{"host":"h","user":"u","password":"p","private_key_file":"/k"}"#).unwrap_err();
        assert!(err.message().contains("2 given"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let c = parse(r#"{"host":"h","user":"u","password":"hunter2-secret"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"));
        let err = parse(r#"{"host":"h","user":"u","private_key":"s3cr3t-key-text"}"#).unwrap_err();
        assert!(!err.message().contains("s3cr3t-key-text"), "{err}");
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkeymaterial\n-----END OPENSSH PRIVATE KEY-----";
        let json = serde_json::json!({"host":"h","user":"u","private_key":key,"passphrase":"pass-phrase-9"});
        let c = parse(&json.to_string()).unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("keymaterial") && !debug.contains("pass-phrase-9"),
            "{debug}"
        );
    }

    #[test]
    fn fingerprint_is_checked_and_normalised() {
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let json =
            format!(r#"{{"host":"h","user":"u","password":"p","host_key_fingerprint":"{fp}="}}"#);
        assert_eq!(
            parse(&json).unwrap().host_key.fingerprint.as_deref(),
            Some(fp)
        );
        let err =
            parse(r#"{"host":"h","user":"u","password":"p","host_key_fingerprint":"MD5:ab"}"#)
                .unwrap_err();
        assert!(err.message().contains("host_key_fingerprint"), "{err}");
    }

    #[test]
    fn accept_new_needs_a_known_hosts_file() {
        let err = parse(r#"{"host":"h","user":"u","password":"p","accept_new_host_key":true}"#)
            .unwrap_err();
        assert!(err.message().contains("known_hosts_file"), "{err}");
    }

    #[test]
    fn remote_dir_trailing_slash_is_trimmed() {
        let c = parse(r#"{"host":"h","user":"u","password":"p","remote_dir":"/srv/b/"}"#).unwrap();
        assert_eq!(c.remote_dir, "/srv/b");
        let c = parse(r#"{"host":"h","user":"u","password":"p","remote_dir":"/"}"#).unwrap();
        assert_eq!(c.remote_dir, "/");
    }
}

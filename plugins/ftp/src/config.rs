//! The destination's configuration, as the user writes it (unknown keys are errors).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sauvegarde_plugin_api::{parse_config, PluginError};
use serde::Deserialize;

/// Whether and how the control and data connections are protected with explicit TLS.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// AUTH TLS is mandatory: a server that does not offer it is an error (the default).
    #[default]
    Required,
    /// Try AUTH TLS, and fall back to plain FTP if the server does not offer it. Opt-in
    /// and downgradable: a machine in the middle that answers 502 to AUTH TLS gets the
    /// password in clear. Only for servers without TLS.
    Auto,
    /// Plain FTP: credentials and data go in clear.
    Off,
}

/// One FTP destination.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server host name or address.
    pub host: String,
    /// Control port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Account name.
    pub user: String,
    /// Account password (never logged nor shown).
    pub password: String,
    /// Directory the archives go to; created level by level if missing.
    #[serde(default)]
    pub remote_dir: String,
    /// Passive data connections (the client connects to the server).
    #[serde(default = "default_true")]
    pub passive: bool,
    /// TLS policy.
    #[serde(default)]
    pub tls: TlsMode,
    /// Extra trusted CA certificates (PEM), e.g. for a self-signed server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (dangerous; warned about on every connection).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Connect and read/write timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_port() -> u16 {
    21
}

fn default_true() -> bool {
    true
}

fn default_timeout() -> u64 {
    30
}

impl Config {
    /// Parses and checks the configuration JSON handed over by the host.
    pub fn parse(json: &str) -> Result<Config, PluginError> {
        let config: Config = parse_config(json)?;
        if config.host.trim().is_empty() {
            return Err(PluginError::config(
                "`host` is empty: set the FTP server's name",
            ));
        }
        if config.user.is_empty() {
            return Err(PluginError::config(
                "`user` is empty: set the FTP account name",
            ));
        }
        if config.timeout_secs == 0 {
            return Err(PluginError::config(
                "`timeout_secs` must be at least 1 (seconds)",
            ));
        }
        if config.insecure_skip_verify && config.tls == TlsMode::Off {
            return Err(PluginError::config(
                "`insecure_skip_verify` has no meaning with `tls = \"off\"`: remove one of them",
            ));
        }
        Ok(config)
    }

    /// The I/O timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The remote directory's components, without empty parts.
    pub fn remote_dir_parts(&self) -> Vec<&str> {
        self.remote_dir
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    }

    /// Whether `remote_dir` is absolute (starts at the server's root).
    pub fn remote_dir_is_absolute(&self) -> bool {
        self.remote_dir.starts_with('/')
    }

    /// `host:port` for messages.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("remote_dir", &self.remote_dir)
            .field("passive", &self.passive)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    #[test]
    fn defaults_apply() {
        let c = Config::parse(r#"{"host":"h","user":"u","password":"p"}"#).unwrap();
        assert_eq!(c.port, 21);
        assert!(c.passive);
        assert_eq!(c.tls, TlsMode::Required);
        assert!(!c.insecure_skip_verify);
    }

    #[test]
    fn unknown_key_is_named() {
        let err =
            Config::parse(r#"{"host":"h","user":"u","password":"p","tsl":"off"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("tsl"), "{err}");
    }

    #[test]
    fn bad_tls_value_is_rejected() {
        let err =
            Config::parse(r#"{"host":"h","user":"u","password":"p","tls":"yes"}"#).unwrap_err();
        assert!(err.message().contains("yes"), "{err}");
    }

    #[test]
    fn debug_hides_password() {
        let c = Config::parse(r#"{"host":"h","user":"u","password":"s3cr3t-pw"}"#).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-pw"));
    }

    #[test]
    fn remote_dir_parts_skip_empty() {
        let c = Config::parse(r#"{"host":"h","user":"u","password":"p","remote_dir":"/a//b/"}"#)
            .unwrap();
        assert_eq!(c.remote_dir_parts(), vec!["a", "b"]);
        assert!(c.remote_dir_is_absolute());
    }
}

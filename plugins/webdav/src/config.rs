//! The destination's configuration, as the user writes it (unknown keys are errors).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sauvegarde_plugin_api::{parse_config, PluginError};
use serde::Deserialize;
use url::Url;

/// One WebDAV destination.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collection archives go to, e.g.
    /// `https://cloud.example.org/remote.php/dav/files/USER/backups/`.
    pub url: String,
    /// Account name.
    pub user: String,
    /// Password or app password (never logged nor shown).
    pub password: String,
    /// Extra trusted CA certificates (PEM).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connect and read timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    60
}

/// The parsed `url`: where the server is and which collection.
#[derive(Debug, Clone)]
pub struct Collection {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The collection's path, starting and ending with `/`, percent-decoded.
    pub path: String,
    /// The collection's URL, ending with `/`.
    pub url: Url,
}

impl Config {
    /// Parses and checks the configuration JSON handed over by the host.
    pub fn parse(json: &str) -> Result<(Config, Collection), PluginError> {
        let config: Config = parse_config(json)?;
        let mut url = Url::parse(&config.url).map_err(|e| {
            PluginError::config(format!("`url` = {:?} is not a URL ({e})", config.url))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(PluginError::config(format!(
                "`url` = {:?}: expected an http:// or https:// URL of the collection",
                config.url
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PluginError::config(
                "`url` must not carry credentials: use `user` and `password`",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PluginError::config(
                "`url` must not have a query (?…) or a fragment (#…)",
            ));
        }
        if config.user.is_empty() {
            return Err(PluginError::config("`user` is empty: set the account name"));
        }
        if config.timeout_secs == 0 {
            return Err(PluginError::config(
                "`timeout_secs` must be at least 1 (seconds)",
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let origin = url.origin().ascii_serialization();
        let path = percent_decode(url.path());
        Ok((config, Collection { origin, path, url }))
    }

    /// The I/O timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Decodes `%XX` escapes (OpenDAL encodes paths itself).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    #[test]
    fn url_is_split_into_origin_and_collection() {
        let (_, c) = Config::parse(
            r#"{"url":"https://cloud.example.org/remote.php/dav/files/a%20b/backups","user":"u","password":"p"}"#,
        )
        .unwrap();
        assert_eq!(c.origin, "https://cloud.example.org");
        assert_eq!(c.path, "/remote.php/dav/files/a b/backups/");
        assert!(c.url.as_str().ends_with("/backups/"));
    }

    #[test]
    fn credentials_in_the_url_and_unknown_keys_are_refused() {
        let err =
            Config::parse(r#"{"url":"https://u:p@h/dav/","user":"u","password":"p"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = Config::parse(r#"{"url":"https://h/","user":"u","password":"p","pass":"x"}"#)
            .unwrap_err();
        assert!(err.message().contains("pass"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let (c, _) =
            Config::parse(r#"{"url":"https://h/","user":"u","password":"s3cr3t-pw"}"#).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-pw"));
    }
}

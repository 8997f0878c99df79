//! The destination's configuration: the keys users write, checked once at construction.

use std::fmt;
use std::time::Duration;

use sauvegarde_plugin_api::{parse_config, PluginError};
use serde::Deserialize;

/// Dropbox's RPC endpoint base.
pub const DEFAULT_API_URL: &str = "https://api.dropboxapi.com/2";
/// Dropbox's content (upload/download) endpoint base.
pub const DEFAULT_CONTENT_URL: &str = "https://content.dropboxapi.com/2";
/// Dropbox's OAuth2 token endpoint.
pub const DEFAULT_OAUTH_URL: &str = "https://api.dropboxapi.com/oauth2/token";

/// Default upload chunk, MiB.
const DEFAULT_CHUNK_MIB: u64 = 32;
/// Dropbox's per-request limit is 150 MiB; the largest multiple of 4 below it.
const MAX_CHUNK_MIB: u64 = 148;
/// Default timeout of one HTTP request (a whole chunk must go through in it).
const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// The keys as written in the destination table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    app_key: String,
    app_secret: Option<String>,
    refresh_token: String,
    #[serde(default)]
    folder: String,
    chunk_size_mib: Option<u64>,
    timeout_secs: Option<u64>,
    api_url: Option<String>,
    content_url: Option<String>,
    oauth_url: Option<String>,
}

/// The checked configuration. Secrets are kept out of `Debug`.
#[derive(Clone)]
pub struct Config {
    /// The app key (client id); not a secret.
    pub app_key: String,
    /// The app secret; `None` for PKCE apps.
    pub app_secret: Option<String>,
    /// The long-lived refresh token.
    pub refresh_token: String,
    /// The folder, normalised: `""` for the root, else `/A/B` (no trailing slash).
    pub folder: String,
    /// Upload chunk size in bytes (a multiple of 4 MiB).
    pub chunk_size: u64,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// RPC base URL, without a trailing slash.
    pub api_url: String,
    /// Content base URL, without a trailing slash.
    pub content_url: String,
    /// OAuth2 token endpoint.
    pub oauth_url: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_key", &self.app_key)
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_token", &"<redacted>")
            .field("folder", &self.folder)
            .field("chunk_size", &self.chunk_size)
            .field("timeout", &self.timeout)
            .field("api_url", &self.api_url)
            .field("content_url", &self.content_url)
            .field("oauth_url", &self.oauth_url)
            .finish()
    }
}

impl Config {
    /// Parses and checks the destination's JSON configuration.
    pub fn parse(json: &str) -> Result<Self, PluginError> {
        let raw: RawConfig = parse_config(json)?;
        if raw.app_key.trim().is_empty() {
            return Err(PluginError::config(
                "`app_key` is empty: set your Dropbox app's key",
            ));
        }
        if raw.refresh_token.trim().is_empty() {
            return Err(PluginError::config(
                "`refresh_token` is empty: run `sauvegarde-dropbox-auth` to get one",
            ));
        }
        let chunk_mib = raw.chunk_size_mib.unwrap_or(DEFAULT_CHUNK_MIB);
        if chunk_mib == 0 || chunk_mib % 4 != 0 || chunk_mib > MAX_CHUNK_MIB {
            return Err(PluginError::config(format!(
                "`chunk_size_mib` = {chunk_mib} is invalid: use a multiple of 4 between 4 and \
                 {MAX_CHUNK_MIB} (Dropbox accepts at most 150 MiB per request)"
            )));
        }
        let timeout_secs = raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(PluginError::config("`timeout_secs` must be at least 1"));
        }
        Ok(Config {
            app_key: raw.app_key.trim().to_string(),
            app_secret: raw.app_secret.filter(|s| !s.is_empty()),
            refresh_token: raw.refresh_token.trim().to_string(),
            folder: normalise_folder(&raw.folder),
            chunk_size: chunk_mib << 20,
            timeout: Duration::from_secs(timeout_secs),
            api_url: base_url("api_url", raw.api_url, DEFAULT_API_URL)?,
            content_url: base_url("content_url", raw.content_url, DEFAULT_CONTENT_URL)?,
            oauth_url: base_url("oauth_url", raw.oauth_url, DEFAULT_OAUTH_URL)?,
        })
    }

    /// The Dropbox path of a file in the configured folder.
    pub fn remote_path(&self, name: &str) -> Result<String, PluginError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(PluginError::other(format!(
                "invalid remote file name {name:?}: it must be a bare file name"
            )));
        }
        Ok(format!("{}/{name}", self.folder))
    }
}

/// `"OdooBackups"`, `"/OdooBackups/"`, `"//a//b/"` → `/OdooBackups`, `/a/b`; `""`, `"/"` → `""`
/// (Dropbox's name for the root).
pub fn normalise_folder(folder: &str) -> String {
    folder
        .split('/')
        .filter(|part| !part.is_empty())
        .fold(String::new(), |mut path, part| {
            path.push('/');
            path.push_str(part);
            path
        })
}

/// Checks a configured URL (http or https) and drops its trailing slash.
fn base_url(key: &str, value: Option<String>, default: &str) -> Result<String, PluginError> {
    let url = value.unwrap_or_else(|| default.to_string());
    let url = url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(PluginError::config(format!(
            "`{key}` = {url:?} is not an http(s) URL"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    fn parse(extra: &str) -> Result<Config, PluginError> {
        Config::parse(&format!(r#"{{"app_key":"k","refresh_token":"r"{extra}}}"#))
    }

    #[test]
    fn folder_is_normalised() {
        assert_eq!(normalise_folder("OdooBackups"), "/OdooBackups");
        assert_eq!(normalise_folder("/OdooBackups/"), "/OdooBackups");
        assert_eq!(normalise_folder("//a//b/"), "/a/b");
        assert_eq!(normalise_folder(""), "");
        assert_eq!(normalise_folder("/"), "");
    }

    #[test]
    fn defaults_and_chunk_size_checks() {
        let config = parse("").unwrap();
        assert_eq!(config.chunk_size, 32 << 20);
        assert_eq!(config.api_url, DEFAULT_API_URL);
        assert_eq!(config.remote_path("a.zip").unwrap(), "/a.zip");
        assert_eq!(
            parse(r#","chunk_size_mib":148"#).unwrap().chunk_size,
            148 << 20
        );
        for bad in ["0", "6", "152"] {
            let err = parse(&format!(r#","chunk_size_mib":{bad}"#)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.message().contains("chunk_size_mib"), "{err}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config = parse(r#","app_secret":"s3cr3t-value""#).unwrap();
        let text = format!("{config:?}");
        assert!(
            !text.contains("s3cr3t-value") && !text.contains("\"r\""),
            "{text}"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse(r#","folderr":"x""#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("folderr"), "{err}");
    }
}

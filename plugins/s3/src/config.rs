//! The destination's configuration, as the user writes it (unknown keys are errors).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sauvegarde_plugin_api::{parse_config, PluginError};
use serde::Deserialize;

/// Where the credentials come from.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Credentials {
    /// `access_key_id` and `secret_access_key` of this table, nothing else.
    #[default]
    Config,
    /// The AWS defaults: `AWS_*` environment variables, `~/.aws`, instance metadata.
    Ambient,
}

/// One S3 destination.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix ("directory") the archives go under.
    #[serde(default)]
    pub prefix: String,
    /// Service URL; default AWS for the region.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region used for signing.
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key (never logged nor shown).
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Temporary session token (never logged nor shown).
    #[serde(default)]
    pub session_token: Option<String>,
    /// Where the credentials come from.
    #[serde(default)]
    pub credentials: Credentials,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    #[serde(default)]
    pub path_style: bool,
    /// Storage class of the uploaded objects (`STANDARD_IA`, `GLACIER_IR`, …).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Extra trusted CA certificates (PEM).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Multipart part size in MiB (5 to 5120).
    #[serde(default = "default_part_size")]
    pub part_size_mib: u64,
    /// Parts uploaded at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Connect and read timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_part_size() -> u64 {
    8
}

/// Two parts in flight keep a loopback or LAN link busy while the export's memory stays
/// near 40 MiB (`bench/s3-upload.sh`); raise it for high-latency links.
fn default_concurrency() -> usize {
    2
}

fn default_timeout() -> u64 {
    60
}

impl Config {
    /// Parses and checks the configuration JSON handed over by the host.
    pub fn parse(json: &str) -> Result<Config, PluginError> {
        let mut config: Config = parse_config(json)?;
        if config.bucket.trim().is_empty() {
            return Err(PluginError::config("`bucket` is empty: name the bucket"));
        }
        if !(5..=5120).contains(&config.part_size_mib) {
            return Err(PluginError::config(format!(
                "`part_size_mib` = {}: S3 parts are 5 to 5120 MiB",
                config.part_size_mib
            )));
        }
        if !(1..=16).contains(&config.concurrency) {
            return Err(PluginError::config(format!(
                "`concurrency` = {}: between 1 and 16 parts at a time",
                config.concurrency
            )));
        }
        if config.timeout_secs == 0 {
            return Err(PluginError::config(
                "`timeout_secs` must be at least 1 (seconds)",
            ));
        }
        if let Some(endpoint) = &config.endpoint {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                return Err(PluginError::config(format!(
                    "`endpoint` = {endpoint:?}: write the URL with its scheme, e.g. \"https://{endpoint}\""
                )));
            }
            if endpoint.contains('@') {
                return Err(PluginError::config(
                    "`endpoint` must not carry credentials: use `access_key_id` and `secret_access_key`",
                ));
            }
        }
        match (
            config.credentials,
            &config.access_key_id,
            &config.secret_access_key,
        ) {
            (Credentials::Config, Some(_), Some(_)) => {}
            (Credentials::Config, _, _) => {
                return Err(PluginError::config(
                    "`access_key_id` and `secret_access_key` are both needed (or \
                     `credentials = \"ambient\"` to use the AWS environment, ~/.aws or \
                     instance metadata)",
                ))
            }
            (Credentials::Ambient, None, None) => {}
            (Credentials::Ambient, _, _) => {
                return Err(PluginError::config(
                    "`credentials = \"ambient\"` takes the keys from the environment: remove \
                     `access_key_id` and `secret_access_key`, or the `credentials` line",
                ))
            }
        }
        if config.session_token.is_some() && config.credentials == Credentials::Ambient {
            return Err(PluginError::config(
                "`session_token` has no meaning with `credentials = \"ambient\"`",
            ));
        }
        config.prefix = config
            .prefix
            .split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        Ok(config)
    }

    /// The I/O timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The endpoint for messages.
    pub fn endpoint_text(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }

    /// `bucket/prefix/` for messages.
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("bucket `{}`", self.bucket)
        } else {
            format!("bucket `{}`, prefix `{}/`", self.bucket, self.prefix)
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("credentials", &self.credentials)
            .field("path_style", &self.path_style)
            .field("storage_class", &self.storage_class)
            .field("ca_file", &self.ca_file)
            .field("part_size_mib", &self.part_size_mib)
            .field("concurrency", &self.concurrency)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauvegarde_plugin_api::ErrorKind;

    const KEYS: &str = r#""access_key_id":"AK","secret_access_key":"s3cr3t-key""#;

    #[test]
    fn defaults_apply_and_prefix_is_normalised() {
        let c = Config::parse(&format!(r#"{{"bucket":"b","prefix":"/a//b/",{KEYS}}}"#)).unwrap();
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.part_size_mib, 8);
        assert_eq!(c.prefix, "a/b");
        assert_eq!(c.credentials, Credentials::Config);
        assert!(!c.path_style);
    }

    #[test]
    fn keys_are_required_unless_ambient() {
        let err = Config::parse(r#"{"bucket":"b"}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("ambient"), "{err}");
        Config::parse(r#"{"bucket":"b","credentials":"ambient"}"#).unwrap();
        let err = Config::parse(&format!(
            r#"{{"bucket":"b","credentials":"ambient",{KEYS}}}"#
        ))
        .unwrap_err();
        assert!(err.message().contains("remove"), "{err}");
    }

    #[test]
    fn small_parts_and_unknown_keys_are_refused() {
        let err =
            Config::parse(&format!(r#"{{"bucket":"b","part_size_mib":1,{KEYS}}}"#)).unwrap_err();
        assert!(err.message().contains("part_size_mib"), "{err}");
        let err = Config::parse(&format!(r#"{{"bucket":"b","regoin":"x",{KEYS}}}"#)).unwrap_err();
        assert!(err.message().contains("regoin"), "{err}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Config::parse(&format!(r#"{{"bucket":"b",{KEYS}}}"#)).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-key"));
    }
}

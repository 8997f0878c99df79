//! S3 error codes as the host's error kinds: refused credentials are `auth` (never
//! retried), a missing bucket is a configuration error, the rest as OpenDAL classifies it.

use sauvegarde_opendal_common::errors;
use sauvegarde_plugin_api::{ErrorKind, PluginError};

use crate::config::Config;

/// S3 codes that mean the credentials were refused.
const AUTH_CODES: [&str; 7] = [
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "NotSignedUp",
];

/// Maps a failure of operation `what` against this destination.
pub fn map(config: &Config, err: &opendal::Error, what: &str) -> PluginError {
    let text = err.to_string();
    let code = |c: &str| text.contains(&format!("\"{c}\""));
    if let Some(c) = AUTH_CODES.iter().find(|c| code(c)) {
        return PluginError::auth(format!(
            "{what}: {} refused the credentials ({c}): check `access_key_id` and \
             `secret_access_key`{}",
            config.endpoint_text(),
            if config.session_token.is_some() {
                " and `session_token`"
            } else {
                ""
            }
        ));
    }
    if code("NoSuchBucket") {
        return PluginError::config(format!(
            "{what}: bucket `{}` does not exist on {}: create it, or correct `bucket`, \
             `endpoint` or `region`",
            config.bucket,
            config.endpoint_text()
        ));
    }
    if code("AccessDenied") {
        return PluginError::permission(format!(
            "{what}: access denied on {}: the key may not write to it ({})",
            config.location(),
            errors::describe(err)
        ));
    }
    if errors::status(err) == Some(401) {
        return PluginError::auth(format!(
            "{what}: {} refused the credentials: {}",
            config.endpoint_text(),
            errors::describe(err)
        ));
    }
    let mapped = errors::map(err, what, &config.endpoint_text());
    if mapped.kind() == ErrorKind::Config && text.contains("region") {
        return mapped.context("set `region`");
    }
    mapped
}

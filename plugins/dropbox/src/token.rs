//! Short-lived access tokens obtained from the refresh token, cached until shortly before
//! they expire.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use sauvegarde_plugin_api::PluginError;
use serde::Deserialize;

use crate::config::Config;
use crate::errors::{host_of, transport_error};

/// How long before its announced expiry a token is replaced (at most half its lifetime).
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// An access token and when to stop using it.
struct Cached {
    token: String,
    refresh_after: Instant,
}

/// Hands out a valid access token, refreshing it when needed.
#[derive(Default)]
pub struct TokenSource {
    cached: Mutex<Option<Cached>>,
}

/// The token endpoint's success answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// The token endpoint's error answer (`{"error":"invalid_grant", …}`).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

impl TokenSource {
    /// A valid access token: the cached one if it is not about to expire, else a fresh one.
    pub fn get(&self, client: &Client, config: &Config) -> Result<String, PluginError> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| PluginError::other("token cache poisoned by an earlier panic"))?;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_after {
                return Ok(c.token.clone());
            }
        }
        let fresh = refresh(client, config)?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `token` (the server said it expired) so the next [`get`](Self::get) refreshes.
    pub fn invalidate(&self, token: &str) {
        if let Ok(mut cached) = self.cached.lock() {
            if cached.as_ref().is_some_and(|c| c.token == token) {
                *cached = None;
            }
        }
    }
}

/// Exchanges the refresh token for an access token.
fn refresh(client: &Client, config: &Config) -> Result<Cached, PluginError> {
    let host = host_of(&config.oauth_url);
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", config.refresh_token.as_str()),
        ("client_id", config.app_key.as_str()),
    ];
    if let Some(secret) = &config.app_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let started = Instant::now();
    let response = client
        .post(&config.oauth_url)
        .form(&form)
        .send()
        .map_err(|e| transport_error("access token refresh", host, &e))?;
    let status = response.status();
    let body = response
        .text()
        .map_err(|e| transport_error("access token refresh", host, &e))?;
    if status.is_success() {
        let answer: TokenAnswer = serde_json::from_str(&body).map_err(|e| {
            PluginError::other(format!(
                "{host} answered the token refresh with unexpected JSON: {e}"
            ))
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(14_400));
        let margin = EXPIRY_MARGIN.min(lifetime / 2);
        tracing::debug!(
            expires_in = lifetime.as_secs(),
            "refreshed the Dropbox access token"
        );
        return Ok(Cached {
            token: answer.access_token,
            refresh_after: started + lifetime - margin,
        });
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(PluginError::transient(format!(
            "{host} could not refresh the access token (HTTP {status}); try again later"
        )));
    }
    let oauth: Option<OAuthError> = serde_json::from_str(&body).ok();
    match oauth {
        Some(e) if e.error == "invalid_grant" => Err(PluginError::auth(
            "Dropbox rejected the refresh token (invalid_grant): it was revoked or is wrong; \
             run `sauvegarde-dropbox-auth` to get a new one and update `refresh_token`",
        )),
        Some(e) if e.error.starts_with("invalid_client") => Err(PluginError::auth(format!(
            "Dropbox rejected the app credentials ({}): check `app_key` and `app_secret` \
             (leave `app_secret` out only for PKCE refresh tokens)",
            e.error
        ))),
        Some(e) => Err(PluginError::auth(format!(
            "Dropbox refused the token refresh: {}{}",
            e.error,
            e.error_description
                .map(|d| format!(" ({})", redact(&d, config)))
                .unwrap_or_default()
        ))),
        None => Err(PluginError::auth(format!(
            "Dropbox refused the token refresh with HTTP {status}"
        ))),
    }
}

/// Removes the configured secrets from a server-supplied text before it goes into a message.
fn redact(text: &str, config: &Config) -> String {
    let mut out = text.replace(&config.refresh_token, "<redacted>");
    if let Some(secret) = &config.app_secret {
        out = out.replace(secret, "<redacted>");
    }
    out
}

//! One Dropbox API call over HTTP: the three argument styles (RPC, upload, download), the
//! bearer token, and the retry policy (expired token, 429, 5xx, dropped connections).

use std::time::Duration;

use bytes::Bytes;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use sauvegarde_plugin_api::PluginError;
use serde_json::Value;

use crate::arg::header_json;
use crate::config::Config;
use crate::errors::{auth_error, host_of, route_error, transport_error, ApiError};
use crate::token::TokenSource;

/// Attempts of one call when the server is busy, failing or drops the connection.
const MAX_ATTEMPTS: u32 = 6;
/// First backoff after a 5xx or a dropped connection; doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// Wait after a 429 that does not say how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Longest wait honoured from a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a route takes its argument and gives its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// JSON body in, JSON body out, on the API host.
    Rpc,
    /// Argument in `Dropbox-API-Arg`, raw bytes in, JSON body out, on the content host.
    Upload,
    /// Argument in `Dropbox-API-Arg`, result in `Dropbox-API-Result`, bytes out.
    Download,
}

/// A Dropbox client for one destination.
pub struct Api {
    client: Client,
    /// The destination's configuration.
    pub config: Config,
    tokens: TokenSource,
}

/// What a call produced: a successful response, or a route error (HTTP 409) for the caller
/// to interpret (`not_found` while listing is not a failure, `incorrect_offset` is resumed).
pub type Answer = Result<Response, ApiError>;

impl Api {
    /// A client with the configured timeouts.
    pub fn new(config: Config) -> Result<Self, PluginError> {
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(30).min(config.timeout))
            .user_agent(concat!("sauvegarde-dropbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PluginError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Api {
            client,
            config,
            tokens: TokenSource::default(),
        })
    }

    /// Makes sure an access token can be obtained now (refreshing it if needed).
    pub fn check_token(&self) -> Result<(), PluginError> {
        self.tokens.get(&self.client, &self.config).map(|_| ())
    }

    /// Calls an RPC route and parses its JSON result.
    pub fn rpc(
        &self,
        what: &str,
        route: &str,
        arg: &Value,
    ) -> Result<Result<Value, ApiError>, PluginError> {
        match self.call(what, route, Style::Rpc, arg, None)? {
            Ok(response) => Ok(Ok(json_body(what, response)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Calls an RPC route; a route error is a failure.
    pub fn rpc_ok(&self, what: &str, route: &str, arg: &Value) -> Result<Value, PluginError> {
        self.rpc(what, route, arg)?
            .map_err(|e| route_error(what, &e))
    }

    /// Calls an upload route with `body` and parses its JSON result.
    pub fn upload(
        &self,
        what: &str,
        route: &str,
        arg: &Value,
        body: Bytes,
    ) -> Result<Result<Value, ApiError>, PluginError> {
        match self.call(what, route, Style::Upload, arg, Some(body))? {
            Ok(response) => Ok(Ok(json_body(what, response)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Calls a route, retrying what is worth retrying. Returns the response of a 2xx, or the
    /// parsed route error of a 409; every other outcome is an error of the matching kind.
    pub fn call(
        &self,
        what: &str,
        route: &str,
        style: Style,
        arg: &Value,
        body: Option<Bytes>,
    ) -> Result<Answer, PluginError> {
        let base = match style {
            Style::Rpc => &self.config.api_url,
            Style::Upload | Style::Download => &self.config.content_url,
        };
        let host = host_of(base);
        let url = format!("{base}/{route}");
        let mut refreshed = false;
        let mut attempt = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            attempt += 1;
            let token = self.tokens.get(&self.client, &self.config)?;
            let mut request = self.client.post(&url).bearer_auth(&token);
            request = match style {
                Style::Rpc => request
                    .header("Content-Type", "application/json")
                    .body(arg.to_string()),
                Style::Upload => request
                    .header("Dropbox-API-Arg", header_json(arg))
                    .header("Content-Type", "application/octet-stream")
                    .body(body.clone().unwrap_or_default()),
                Style::Download => request.header("Dropbox-API-Arg", header_json(arg)),
            };
            let failure = match request.send() {
                Err(e) if e.is_connect() => return Err(transport_error(what, host, &e)),
                Err(e) => transport_error(what, host, &e),
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Ok(Ok(response));
                    }
                    let retry_after = retry_after_header(&response);
                    let text = response.text().unwrap_or_default();
                    match status {
                        StatusCode::CONFLICT => {
                            return match ApiError::parse(&text) {
                                Some(err) => {
                                    tracing::debug!(route, summary = %err.summary, "route error");
                                    Ok(Err(err))
                                }
                                None => Err(PluginError::other(format!(
                                    "{host} answered the {what} with an unreadable error (HTTP 409)"
                                ))),
                            };
                        }
                        StatusCode::UNAUTHORIZED => {
                            let expired = ApiError::parse(&text)
                                .is_some_and(|e| e.has("expired_access_token"));
                            if expired && !refreshed {
                                tracing::debug!(route, "access token expired; refreshing it");
                                self.tokens.invalidate(&token);
                                refreshed = true;
                                attempt -= 1;
                                continue;
                            }
                            return Err(auth_error(what, &text));
                        }
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = retry_after
                                .or_else(|| retry_after_body(&text))
                                .unwrap_or(DEFAULT_RETRY_AFTER)
                                .min(MAX_RETRY_AFTER);
                            if attempt >= MAX_ATTEMPTS {
                                return Err(PluginError::transient(format!(
                                    "Dropbox kept rate-limiting the {what} (HTTP 429, {attempt} attempts); try again later"
                                )));
                            }
                            tracing::info!(
                                route,
                                wait_secs = wait.as_secs_f64(),
                                "rate limited by Dropbox; waiting"
                            );
                            std::thread::sleep(wait);
                            continue;
                        }
                        StatusCode::FORBIDDEN => {
                            return Err(PluginError::permission(format!(
                                "Dropbox forbade the {what} (HTTP 403): {}",
                                first_line(&text)
                            )));
                        }
                        s if s.is_server_error() => PluginError::transient(format!(
                            "Dropbox failed the {what} with HTTP {s}"
                        )),
                        s => {
                            return Err(PluginError::other(format!(
                                "Dropbox rejected the {what} (HTTP {s}): {}",
                                first_line(&text)
                            )));
                        }
                    }
                }
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(failure.context(format!("after {attempt} attempts")));
            }
            tracing::info!(route, attempt, error = %failure, backoff_ms = backoff.as_millis() as u64, "retrying");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Parses a successful JSON answer.
fn json_body(what: &str, response: Response) -> Result<Value, PluginError> {
    let text = response.text().map_err(|e| {
        PluginError::transient(format!(
            "reading Dropbox's answer to the {what} failed: {e}"
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        PluginError::other(format!(
            "Dropbox answered the {what} with unexpected JSON: {e}"
        ))
    })
}

/// `Retry-After: <seconds>`.
fn retry_after_header(response: &Response) -> Option<Duration> {
    let value = response.headers().get("Retry-After")?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// `{"error": {"retry_after": <seconds>}}` in a 429 body, if it is JSON.
fn retry_after_body(text: &str) -> Option<Duration> {
    let value: Value = serde_json::from_str(text).ok()?;
    value
        .get("error")?
        .get("retry_after")?
        .as_u64()
        .map(Duration::from_secs)
}

/// The first line of a plain-text error, shortened.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}

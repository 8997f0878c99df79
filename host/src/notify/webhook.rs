//! Webhook channel: POST of the event as JSON.

use std::time::Duration;

use super::{Event, NotifyError};
use crate::config::WebhookConfig;

const CHANNEL: &str = "webhook";

/// POSTs `event` as JSON to the configured URL; any non-2xx answer is an error. Blocking.
pub fn send(config: &WebhookConfig, event: &Event) -> Result<(), NotifyError> {
    // The URL may carry a token: log the host only.
    let shown = reqwest::Url::parse(&config.url).map_err(|e| {
        NotifyError::new(CHANNEL, format!("`notify.webhook.url` is not a URL: {e}"))
    })?;
    let shown = format!("{}://{}", shown.scheme(), shown.host_str().unwrap_or("?"));
    let body = crate::redact::scrub(
        &serde_json::to_string(event)
            .map_err(|e| NotifyError::new(CHANNEL, format!("cannot encode the event: {e}")))?,
    )
    .into_owned();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("sauvegarde/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::new(CHANNEL, format!("cannot create the HTTP client: {e}")))?;
    let response = client
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .map_err(|e| {
            NotifyError::new(
                CHANNEL,
                format!(
                    "POST to {shown} failed: {}; check `notify.webhook.url`",
                    e.without_url()
                ),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(NotifyError::new(
            CHANNEL,
            format!("{shown} answered {status}"),
        ));
    }
    tracing::info!(job = event.job, url = shown, "notification posted");
    Ok(())
}

//! Notifications after a backup: the [`event::Event`] model and its channels
//! ([`email`], [`webhook`], [`command`], [`odoo`] — a message in an Odoo Discuss channel —
//! and [`healthchecks`] pings). `[notify]` applies to every job unless the job
//! has its own `[jobs.<id>.notify]`, which replaces it whole.
//!
//! A failing channel is logged and never fails the backup. Every text that leaves the
//! process goes through [`crate::redact::scrub`], so no configured secret reaches a mail,
//! a webhook or a command's environment.

pub mod command;
pub mod email;
pub mod event;
mod events;
pub mod healthchecks;
pub mod odoo;
pub mod webhook;

pub use event::{DestinationState, Event, EventState};
pub use healthchecks::RunPings;

use crate::config::{Config, NotifyConfig, NotifyEvent};

/// Why a channel could not deliver a notification (the message names the channel and
/// the server or program; it never holds a secret).
#[derive(Debug, thiserror::Error)]
#[error("{channel} notification failed: {message}")]
pub struct NotifyError {
    /// `email`, `webhook`, `command`, `odoo` or `healthchecks`.
    pub channel: &'static str,
    /// What went wrong, secrets masked.
    pub message: String,
}

impl NotifyError {
    pub(crate) fn new(channel: &'static str, message: impl std::fmt::Display) -> Self {
        NotifyError {
            channel,
            message: crate::redact::scrub(&message.to_string()).into_owned(),
        }
    }
}

/// The notification settings that apply to `job_id`: its own, else the global ones.
pub fn settings_for<'a>(config: &'a Config, job_id: &str) -> &'a NotifyConfig {
    config
        .jobs
        .get(job_id)
        .and_then(|j| j.notify.as_ref())
        .unwrap_or(&config.notify)
}

/// Whether `event` is sent under `on`: its state is one of them, or it is a success with
/// warnings and `on` holds `failure` (what an admin must hear of reaches whoever listens
/// for trouble).
pub fn wanted(on: &[NotifyEvent], event: &Event) -> bool {
    match event.state {
        EventState::Success => {
            on.contains(&NotifyEvent::Success)
                || (!event.warnings.is_empty() && on.contains(&NotifyEvent::Failure))
        }
        EventState::Failure => on.contains(&NotifyEvent::Failure),
    }
}

/// Sends `event` through every configured channel if [`wanted`]. Blocking (SMTP, HTTP, a
/// child process): call it from a plain thread or `spawn_blocking`. Returns the errors of
/// the channels that failed, already logged.
pub fn send(settings: &NotifyConfig, event: &Event) -> Vec<NotifyError> {
    if !wanted(&settings.on, event) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if let Some(email) = &settings.email {
        if let Err(e) = email::send(email, event) {
            errors.push(e);
        }
    }
    if let Some(hook) = &settings.webhook {
        if let Err(e) = webhook::send(hook, event) {
            errors.push(e);
        }
    }
    if let Some(cmd) = &settings.command {
        if let Err(e) = command::run(cmd, event) {
            errors.push(e);
        }
    }
    if let Some(odoo) = &settings.odoo {
        if let Err(e) = odoo::send(odoo, event) {
            errors.push(e);
        }
    }
    for e in &errors {
        tracing::error!(job = event.job, "{e}; the backup itself is not affected");
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_with_warnings_reaches_those_listening_for_failures() {
        let mut e = event::tests::event("done");
        e.state = EventState::Success;
        let failures = [NotifyEvent::Failure];
        assert!(!wanted(&failures, &e));
        assert!(wanted(&[NotifyEvent::Success], &e));
        e.warnings
            .push("4 archive(s) older than keep_days = 30 kept".into());
        assert!(wanted(&failures, &e));
        assert!(!wanted(&[], &e));
        assert_eq!(
            e.subject(),
            format!("[sauvegarde] Production: backup succeeded with warnings on h")
        );
        assert!(e
            .text()
            .contains("Warning: 4 archive(s) older than keep_days = 30 kept"));
        let env = e.env();
        assert!(env
            .iter()
            .any(|(k, v)| k == "SAUVEGARDE_EVENT_WARNINGS" && v.contains("keep_days = 30")));
    }
}

//! Email channel: one plain-text mail per event through SMTP (lettre, rustls).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::{Event, NotifyError};
use crate::config::{EmailConfig, SmtpSecurity};

const CHANNEL: &str = "email";

/// The SMTP port used when `smtp_port` is absent.
pub fn default_port(security: SmtpSecurity) -> u16 {
    match security {
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    }
}

fn mailbox(key: &str, text: &str) -> Result<Mailbox, NotifyError> {
    text.parse().map_err(|e| {
        NotifyError::new(
            CHANNEL,
            format!("`notify.email.{key}` = \"{text}\" is not an email address: {e}"),
        )
    })
}

/// Builds the message for `event`.
pub fn message(config: &EmailConfig, event: &Event) -> Result<Message, NotifyError> {
    let mut builder = Message::builder()
        .from(mailbox("from", &config.from)?)
        .subject(crate::redact::scrub(&event.subject()).into_owned())
        .header(ContentType::TEXT_PLAIN);
    if config.to.is_empty() {
        return Err(NotifyError::new(
            CHANNEL,
            "`notify.email.to` is empty: add at least one recipient",
        ));
    }
    for to in &config.to {
        builder = builder.to(mailbox("to", to)?);
    }
    builder
        .body(event.text())
        .map_err(|e| NotifyError::new(CHANNEL, format!("cannot build the message: {e}")))
}

/// Sends `event` by mail. Blocking.
pub fn send(config: &EmailConfig, event: &Event) -> Result<(), NotifyError> {
    let message = message(config, event)?;
    let port = config
        .smtp_port
        .unwrap_or_else(|| default_port(config.security));
    let host = config.smtp_host.as_str();
    let tls = || {
        TlsParameters::new(host.to_string())
            .map_err(|e| NotifyError::new(CHANNEL, format!("TLS setup for {host}: {e}")))
    };
    let mut builder = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(30)));
    builder = match config.security {
        SmtpSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
        SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
        SmtpSecurity::None => builder.tls(Tls::None),
    };
    if let Some(user) = &config.user {
        let password = config.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let transport = builder.build();
    transport.send(&message).map_err(|e| {
        NotifyError::new(
            CHANNEL,
            format!(
                "SMTP server {host}:{port} ({:?}): {e}; check `notify.email.smtp_host`, `smtp_port`, `security` and the credentials",
                config.security
            ),
        )
    })?;
    tracing::info!(job = event.job, smtp = %format!("{host}:{port}"), recipients = config.to.len(), "notification mailed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::EventState;

    fn event() -> Event {
        Event {
            event: "backup",
            job: "prod".into(),
            job_name: "Production".into(),
            database: "prod".into(),
            state: EventState::Success,
            archive: Some("/b/prod.zip".into()),
            size: Some(10),
            sha256: None,
            started: "2026-01-01T00:00:00Z".into(),
            duration_secs: 1.0,
            destinations: vec![],
            message: "ok".into(),
            host: "h".into(),
        }
    }

    fn config(from: &str, to: &[&str]) -> EmailConfig {
        EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: Some(1),
            security: SmtpSecurity::None,
            user: Some("u".into()),
            password: Some("email-unit-secret-77".into()),
            from: from.into(),
            to: to.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn bad_addresses_name_the_key() {
        let e = message(&config("not an address", &["a@b.c"]), &event()).unwrap_err();
        assert!(e.to_string().contains("notify.email.from"), "{e}");
        let e = message(&config("a@b.c", &[]), &event()).unwrap_err();
        assert!(e.to_string().contains("notify.email.to"), "{e}");
    }

    #[test]
    fn unreachable_server_error_names_it_without_the_password() {
        crate::redact::register("email-unit-secret-77");
        let e = send(&config("a@b.c", &["d@e.f"]), &event()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("127.0.0.1:1"), "{text}");
        assert!(!text.contains("email-unit-secret-77"), "{text}");
    }

    #[test]
    fn default_ports() {
        assert_eq!(default_port(SmtpSecurity::Starttls), 587);
        assert_eq!(default_port(SmtpSecurity::Tls), 465);
        assert_eq!(default_port(SmtpSecurity::None), 25);
    }
}

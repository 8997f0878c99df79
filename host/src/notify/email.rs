//! Email channel: one plain-text mail per event through SMTP (lettre, rustls). The
//! server's certificate is checked against the public roots plus the optional `ca_file`;
//! with `security = "starttls"` a server that does not offer STARTTLS is refused before
//! anything (credentials included) is sent.

use std::path::Path;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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

/// Reads `ca_file`: one or more PEM certificates to trust. The error says what is wrong
/// with the file (unreadable, no certificate, not a usable certificate).
pub fn read_ca_file(path: &Path) -> Result<Certificate, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not_pem = || {
        format!(
            "{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        )
    };
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(not_pem());
    }
    let cert = Certificate::from_pem(&pem).map_err(|_| not_pem())?;
    // Building TLS settings with it parses every certificate, as sending will.
    TlsParameters::builder("localhost".into())
        .add_root_certificate(cert)
        .build()
        .map_err(|e| format!("{} is not a usable CA certificate: {e}", path.display()))?;
    Certificate::from_pem(&pem).map_err(|_| not_pem())
}

/// TLS settings for `host`: the public roots, plus `ca_file` when set.
fn tls_parameters(config: &EmailConfig, host: &str) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = &config.ca_file {
        let cert = read_ca_file(path)
            .map_err(|e| NotifyError::new(CHANNEL, format!("`notify.email.ca_file`: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| NotifyError::new(CHANNEL, format!("TLS setup for {host}: {e}")))
}

/// A hint for the admin when an SMTP error is about TLS.
fn tls_hint(error: &str, security: SmtpSecurity) -> &'static str {
    if error.contains("certificate") || error.contains("UnknownIssuer") {
        " — the server's TLS certificate is not trusted: if it comes from a private CA or is \
         self-signed, set `notify.email.ca_file` to that CA's PEM file"
    } else if error.contains("STARTTLS") && security == SmtpSecurity::Starttls {
        " — the server does not offer STARTTLS: nothing more was sent (no credentials, no mail); \
         use `security = \"tls\"` if it expects TLS from the start (port 465)"
    } else {
        ""
    }
}

/// Sends `event` by mail. Blocking.
pub fn send(config: &EmailConfig, event: &Event) -> Result<(), NotifyError> {
    let message = message(config, event)?;
    let port = config
        .smtp_port
        .unwrap_or_else(|| default_port(config.security));
    let host = config.smtp_host.as_str();
    let mut builder = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(30)));
    builder = match config.security {
        // Required: no fallback to plain text when the server does not offer STARTTLS.
        SmtpSecurity::Starttls => builder.tls(Tls::Required(tls_parameters(config, host)?)),
        SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters(config, host)?)),
        SmtpSecurity::None => builder.tls(Tls::None),
    };
    if let Some(user) = &config.user {
        let password = config.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let transport = builder.build();
    transport.send(&message).map_err(|e| {
        let error = e.to_string();
        NotifyError::new(
            CHANNEL,
            format!(
                "SMTP server {host}:{port} ({:?}): {error}{}; check `notify.email.smtp_host`, `smtp_port`, `security`, `ca_file` and the credentials",
                config.security,
                tls_hint(&error, config.security),
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
            warnings: vec![],
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
            ca_file: None,
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

    /// A self-signed certificate (openssl, EC P-256, CN=localhost, valid until 2126).
    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBkjCCATigAwIBAgIUCveg60kk4Bnjau/Hdc+6qlHZIcUwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTEwMTA0OVoYDzIxMjYxMTAx\n\
MTAxMDQ5WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n\
PQMBBwNCAATT2dMedGB9kGd5wlL+x39BspZXscM/jUspCFZ5h8a8wiHcC+tGXY8D\n\
+CiCK9Un97Q0TPx3dZHjj8cNMiD9RIAvo2YwZDAdBgNVHQ4EFgQU5rg6Xay0zJOv\n\
4qvEuVLw8Pz7f1YwHwYDVR0jBBgwFoAU5rg6Xay0zJOv4qvEuVLw8Pz7f1YwFAYD\n\
VR0RBA0wC4IJbG9jYWxob3N0MAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0EAwIDSAAw\n\
RQIgMSEzzvacnm+Kf5DenMQeDj0JzzcVS2vbxbrt7u58oWwCIQDDp6blUls+XFu+\n\
PSxSrx9YBKj3/t2yqU1FDUu8jKvnbg==\n\
-----END CERTIFICATE-----";

    #[test]
    fn ca_file_is_read_and_its_problems_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("# our CA\n{CERT_PEM}\n")).unwrap();
        assert!(read_ca_file(&good).is_ok());

        let missing = dir.path().join("missing.pem");
        let e = read_ca_file(&missing).unwrap_err();
        assert!(
            e.contains("cannot read") && e.contains("missing.pem"),
            "{e}"
        );

        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = read_ca_file(&key_only).unwrap_err();
        assert!(
            e.contains("no PEM certificate") && e.contains("key.pem"),
            "{e}"
        );

        // Valid PEM framing around bytes that are not a certificate.
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = read_ca_file(&garbage).unwrap_err();
        assert!(e.contains("garbage.pem"), "{e}");
    }

    #[test]
    fn tls_errors_get_a_hint() {
        let e = "Connection error: invalid peer certificate: UnknownIssuer";
        assert!(tls_hint(e, SmtpSecurity::Starttls).contains("ca_file"));
        let e = "internal client error: STARTTLS is not supported on this server";
        assert!(tls_hint(e, SmtpSecurity::Starttls).contains("no credentials, no mail"));
        assert_eq!(
            tls_hint("network error: connection refused", SmtpSecurity::Tls),
            ""
        );
    }

    #[test]
    fn default_ports() {
        assert_eq!(default_port(SmtpSecurity::Starttls), 587);
        assert_eq!(default_port(SmtpSecurity::Tls), 465);
        assert_eq!(default_port(SmtpSecurity::None), 25);
    }
}

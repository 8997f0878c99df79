//! End to end: notifications of the real daemon reach a real SMTP server (aiosmtpd), a
//! real HTTP server and a command, without any secret; a failing notifier never fails
//! the backup; a job's own `notify` replaces the global one. Mail goes over STARTTLS or
//! implicit TLS to servers with a private certificate trusted through `ca_file`; an
//! untrusted certificate or a server without STARTTLS stops the mail, never the backup,
//! and never lets the password out in clear.

mod daemon_common;

use daemon_common::{World, WAIT};
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::smtp::{SmtpServer, SmtpTls};
use sauvegarde_tests::webhook::WebhookServer;

const EVERY_MINUTE: &str = "schedule = { every = 1, unit = \"minutes\" }";
const DB_PASSWORD: &str = "db-pw-Zq81xT4r";
const SMTP_PASSWORD: &str = "smtp-pw-Hh27vN0c";

fn assert_no_secret(what: &str, text: &str) {
    for secret in [DB_PASSWORD, SMTP_PASSWORD] {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

#[test]
fn success_and_failure_reach_email_webhook_and_command_without_secrets() {
    let w = World::new(&["alpha", "beta"]);
    let smtp = SmtpServer::with_auth("backup", SMTP_PASSWORD);
    let hook = WebhookServer::start();
    let env_file = w.path("events.env");
    // A pg_dump that fails and echoes the password it was given: the message must be masked.
    let leaky = w.pg_dump_wrapper(
        "echo \"auth failed for password $(cut -d: -f5- \"$PGPASSFILE\")\" >&2\nexit 1",
    );
    let text = w.header(2)
        + &format!(
            "[notify]\non = [\"success\", \"failure\"]\n\
             email = {{ smtp_host = \"127.0.0.1\", smtp_port = {}, security = \"none\", user = \"backup\", \
             password = \"{SMTP_PASSWORD}\", from = \"sauvegarde@example.org\", to = [\"admin@example.org\"] }}\n\
             webhook = {{ url = \"{}\" }}\n\
             command = {{ argv = [\"/bin/sh\", \"-c\", \"env | grep ^SAUVEGARDE_EVENT_ >> {}\"] }}\n\n",
            smtp.port(),
            hook.url("/hook"),
            env_file.display()
        )
        + &w.job("good", "alpha", &format!("{EVERY_MINUTE}\ndb_password = \"{DB_PASSWORD}\""))
        + &w.job("bad", "beta", &format!("{EVERY_MINUTE}\ndb_password = \"{DB_PASSWORD}\"\npg_dump = {leaky:?}"));
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);

    let ok = hook.wait_for(WAIT, |r| {
        r.json()["job"] == "good" && r.json()["state"] == "success"
    });
    assert_eq!(ok.method, "POST");
    assert_eq!(ok.path, "/hook");
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let ev = ok.json();
    assert!(
        ev["archive"].as_str().expect("archive").ends_with(".dump"),
        "{ev}"
    );
    assert!(ev["size"].as_u64().expect("size") > 0, "{ev}");
    assert!(ev["duration_secs"].as_f64().is_some(), "{ev}");
    assert_eq!(ev["destinations"], serde_json::json!([]), "{ev}");
    assert_eq!(ev["database"], "alpha");

    let failed = hook.wait_for(WAIT, |r| {
        r.json()["job"] == "bad" && r.json()["state"] == "failure"
    });
    let message = failed.json()["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(
        message.contains("pg_dump failed") && message.contains("***"),
        "{message}"
    );

    let good_mail = smtp.wait_for(WAIT, |m| {
        m.data
            .contains("Subject: [sauvegarde] good: backup succeeded")
    });
    let bad_mail = smtp.wait_for(WAIT, |m| {
        m.data.contains("Subject: [sauvegarde] bad: backup FAILED")
    });
    assert_eq!(
        good_mail.login.as_deref(),
        Some("backup"),
        "SMTP AUTH was used"
    );
    assert_eq!(good_mail.to, vec!["admin@example.org".to_string()]);
    assert!(
        bad_mail.data.contains("pg_dump failed"),
        "{}",
        bad_mail.data
    );

    d.wait_until("both command notifications", || {
        let env = std::fs::read_to_string(&env_file).unwrap_or_default();
        env.contains("SAUVEGARDE_EVENT_JOB=good") && env.contains("SAUVEGARDE_EVENT_JOB=bad")
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());

    for r in hook.requests() {
        assert_no_secret("webhook body", &r.body);
    }
    for m in smtp.mails() {
        assert_no_secret("mail", &m.data);
    }
    let env = std::fs::read_to_string(&env_file).expect("command output");
    assert!(env.contains("SAUVEGARDE_EVENT_STATE=failure"), "{env}");
    assert_no_secret("command environment", &env);
    assert_no_secret("daemon log", &d.log());
}

#[test]
fn failing_notifiers_never_fail_the_backup_and_a_job_notify_replaces_the_global_one() {
    let w = World::new(&["alpha", "beta"]);
    let broken = WebhookServer::with_status(500);
    let good = WebhookServer::start();
    let closed_port = sauvegarde_tests::net::free_port();
    let text = w.header(2)
        + &format!(
            "[notify]\non = [\"success\", \"failure\"]\n\
             email = {{ smtp_host = \"127.0.0.1\", smtp_port = {closed_port}, security = \"none\", \
             password = \"{SMTP_PASSWORD}\", from = \"sauvegarde@example.org\", to = [\"admin@example.org\"] }}\n\
             webhook = {{ url = \"{}\" }}\n\
             command = {{ argv = [\"/bin/false\"] }}\n\n",
            broken.url("/global")
        )
        + &w.job("global", "alpha", EVERY_MINUTE)
        + &w.job(
            "own",
            "beta",
            &format!("{EVERY_MINUTE}\nnotify = {{ on = [\"success\"], webhook = {{ url = \"{}\" }} }}", good.url("/own")),
        );
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);

    good.wait_for(WAIT, |r| r.path == "/own" && r.json()["job"] == "own");
    broken.wait_for(WAIT, |r| r.json()["job"] == "global");
    d.wait_until(
        "two successful backups of the job with broken notifiers",
        || w.done(&cfg, "global") >= 2,
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());

    let log = d.log();
    for channel in [
        "email notification failed",
        "webhook notification failed",
        "command notification failed",
    ] {
        assert!(log.contains(channel), "missing `{channel}` in:\n{log}");
    }
    assert!(
        w.history(&cfg, "global")
            .iter()
            .all(|r| r["state"] == "done"),
        "a notifier failed a backup"
    );
    assert!(
        good.requests().iter().all(|r| r.json()["job"] == "own"),
        "the global settings leaked into `own`"
    );
    assert!(
        broken
            .requests()
            .iter()
            .all(|r| r.json()["job"] == "global"),
        "`own` used the global settings"
    );
    assert_no_secret("daemon log", &log);
}

/// `notify = { … }` of a job mailing through `smtp` with `security`, as user `backup`, and
/// trusting `ca_file` when given.
fn email_notify(smtp: &SmtpServer, security: &str, ca_file: Option<&std::path::Path>) -> String {
    let ca = ca_file
        .map(|p| format!(", ca_file = {:?}", p))
        .unwrap_or_default();
    format!(
        "notify = {{ on = [\"success\", \"failure\"], email = {{ smtp_host = \"127.0.0.1\", smtp_port = {}, \
         security = \"{security}\", user = \"backup\", password = \"{SMTP_PASSWORD}\"{ca}, \
         from = \"sauvegarde@example.org\", to = [\"admin@example.org\"] }} }}",
        smtp.port()
    )
}

#[test]
fn mail_goes_over_starttls_and_implicit_tls_to_a_server_trusted_through_ca_file() {
    let w = World::new(&["alpha"]);
    let starttls = SmtpServer::with_tls(SmtpTls::Starttls, Some(("backup", SMTP_PASSWORD)));
    let implicit = SmtpServer::with_tls(SmtpTls::Implicit, Some(("backup", SMTP_PASSWORD)));
    let text = w.header(2)
        + &w.job(
            "viastarttls",
            "alpha",
            &format!(
                "{EVERY_MINUTE}\n{}",
                email_notify(&starttls, "starttls", starttls.ca_file())
            ),
        )
        + &w.job(
            "viatls",
            "alpha",
            &format!(
                "{EVERY_MINUTE}\n{}",
                email_notify(&implicit, "tls", implicit.ca_file())
            ),
        );
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);

    for (job, smtp) in [("viastarttls", &starttls), ("viatls", &implicit)] {
        let subject = format!("Subject: [sauvegarde] {job}: backup succeeded");
        let mail = smtp.wait_for(WAIT, |m| m.data.contains(&subject));
        assert_eq!(
            mail.login.as_deref(),
            Some("backup"),
            "{job}: SMTP AUTH used"
        );
        assert_eq!(mail.to, vec!["admin@example.org".to_string()]);
        let attempts = smtp.auth_attempts();
        assert!(
            !attempts.is_empty() && attempts.iter().all(|a| a == "tls backup"),
            "{job}: credentials must only travel inside TLS: {attempts:?}"
        );
    }
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    for smtp in [&starttls, &implicit] {
        for m in smtp.mails() {
            assert_no_secret("mail", &m.data);
        }
    }
    assert!(!d.log().contains("notification failed"), "{}", d.log());
    assert_no_secret("daemon log", &d.log());
}

#[test]
fn untrusted_certificate_or_missing_starttls_stops_the_mail_not_the_backup() {
    let w = World::new(&["alpha"]);
    // Servers with a certificate nobody told the daemon to trust.
    let untrusted = SmtpServer::with_tls(SmtpTls::Starttls, Some(("backup", SMTP_PASSWORD)));
    let untrusted_tls = SmtpServer::with_tls(SmtpTls::Implicit, Some(("backup", SMTP_PASSWORD)));
    // A server that offers AUTH in clear and no STARTTLS: `starttls` must not fall back.
    let plain = SmtpServer::with_auth("backup", SMTP_PASSWORD);
    let jobs = [
        ("untrusted", &untrusted, "starttls"),
        ("untrustedtls", &untrusted_tls, "tls"),
        ("nostarttls", &plain, "starttls"),
    ];
    let mut text = w.header(3);
    for (job, smtp, security) in jobs {
        text += &w.job(
            job,
            "alpha",
            &format!("{EVERY_MINUTE}\n{}", email_notify(smtp, security, None)),
        );
    }
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);

    let failure_line = |log: &str, smtp: &SmtpServer| -> Option<String> {
        let server = format!("SMTP server 127.0.0.1:{}", smtp.port());
        log.lines()
            .find(|l| l.contains("email notification failed") && l.contains(&server))
            .map(String::from)
    };
    let log_path = d.log.clone();
    d.wait_until(
        "a mail failure logged for each job, and backups done",
        || {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            jobs.iter()
                .all(|(job, smtp, _)| failure_line(&log, smtp).is_some() && w.done(&cfg, job) >= 1)
        },
    );
    // Before stopping the daemon (which interrupts the backup running then).
    for (job, _, _) in jobs {
        let rows = w.history(&cfg, job);
        assert!(
            rows.iter()
                .all(|r| r["state"] == "done" || r["state"] == "running"),
            "{job}: a mail failure changed the backup: {rows:?}"
        );
    }
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    let log = d.log();

    for smtp in [&untrusted, &untrusted_tls] {
        let line = failure_line(&log, smtp).expect("failure line");
        assert!(
            line.contains("certificate") && line.contains("ca_file"),
            "the error must name the TLS problem and the fix: {line}"
        );
    }
    let line = failure_line(&log, &plain).expect("failure line");
    assert!(
        line.contains("STARTTLS") && line.contains("no credentials, no mail"),
        "{line}"
    );
    for (job, smtp, _) in jobs {
        assert!(smtp.mails().is_empty(), "{job}: a mail got through");
        assert_eq!(
            smtp.auth_attempts(),
            Vec::<String>::new(),
            "{job}: credentials were sent"
        );
    }
    assert_no_secret("daemon log", &log);
}

#[test]
fn ca_file_is_checked_at_load_naming_the_key_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sauvegarde.toml");
    let write = |ca: &std::path::Path| {
        std::fs::write(
            &cfg,
            format!(
                "state_dir = {:?}\nplugin_dirs = []\n\n[notify]\nemail = {{ smtp_host = \"smtp.example.org\", \
                 ca_file = {ca:?}, from = \"a@example.org\", to = [\"b@example.org\"] }}\n",
                dir.path().join("state")
            ),
        )
        .unwrap();
    };
    let sauvegarde = |args: &[&str]| {
        std::process::Command::new(artifacts().host_bin())
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run sauvegarde")
    };

    let missing = dir.path().join("no-such-ca.pem");
    write(&missing);
    let out = sauvegarde(&["config", "check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("notify.email.ca_file") && err.contains("no-such-ca.pem"),
        "{err}"
    );

    let not_a_cert = dir.path().join("notes.txt");
    std::fs::write(&not_a_cert, "not a certificate\n").unwrap();
    write(&not_a_cert);
    let out = sauvegarde(&["config", "check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("notify.email.ca_file") && err.contains("no PEM certificate"),
        "{err}"
    );

    let cert_dir = dir.path().join("tls");
    std::fs::create_dir(&cert_dir).unwrap();
    let cert = sauvegarde_tests::ftp::TestCert::generate(&cert_dir);
    write(&cert.cert);
    let out = sauvegarde(&["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sauvegarde(&["config", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("notify.email.ca_file = ")
                && l.contains(&cert.cert.display().to_string())),
        "{shown}"
    );
}

//! End to end: notifications of the real daemon reach a real SMTP server (aiosmtpd), a
//! real HTTP server and a command, without any secret; a failing notifier never fails
//! the backup; a job's own `notify` replaces the global one.

mod daemon_common;

use daemon_common::{World, WAIT};
use sauvegarde_tests::smtp::SmtpServer;
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
    let leaky = w.pg_dump_wrapper("echo \"auth failed for password $PGPASSWORD\" >&2\nexit 1");
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

//! End to end: the real `sauvegarde daemon` against a throwaway PostgreSQL, with a
//! one-second schedule minute (`SGD_TEST_MINUTE_SECS`), a test `NOTIFY_SOCKET`, SIGHUP
//! reloads and SIGTERM in the middle of a backup.

mod daemon_common;

use daemon_common::{NotifySocket, World};

const EVERY_MINUTE: &str = "schedule = { every = 1, unit = \"minutes\" }";

#[test]
fn runs_jobs_on_schedule_notifies_systemd_and_reloads_on_sighup() {
    let w = World::new(&["alpha", "beta", "gamma"]);
    let query = {
        let p = w.path("query.toml");
        std::fs::write(&p, w.header(1)).expect("write query config");
        p
    };
    let mut text =
        w.header(2) + &w.job("a", "alpha", EVERY_MINUTE) + &w.job("b", "beta", EVERY_MINUTE);
    let cfg = w.write_config(&text);
    let mut sock = NotifySocket::bind(w.dir.path());
    let mut d = w.daemon(&cfg, Some(&sock.path));

    let ready = sock.expect("READY=1", |m| m.lines().any(|l| l == "READY=1"));
    assert!(ready.contains("STATUS="), "{ready}");

    // Both jobs run, repeatedly, each an interval after its previous success.
    d.wait_until("two backups of each job", || {
        w.done(&query, "a") >= 2 && w.done(&query, "b") >= 2
    });
    for job in ["a", "b"] {
        let files = w.files(job);
        assert!(
            files.iter().filter(|f| f.ends_with(".dump")).count() >= 2,
            "{job}: {files:?}"
        );
        let starts: Vec<String> = w
            .history(&query, job)
            .iter()
            .filter(|r| r["state"] == "done")
            .map(|r| r["started"].as_str().expect("started").to_string())
            .collect();
        // Whole-second start times, one (test) minute = 1 s apart at least: all distinct.
        let mut unique = starts.clone();
        unique.dedup();
        assert_eq!(unique, starts, "{job}: two runs in the same interval");
    }
    sock.expect("a STATUS line", |m| {
        m.starts_with("STATUS=") && (m.contains("next:") || m.contains("backing up"))
    });

    // SIGHUP with a new job: RELOADING=1, READY=1, and the new job runs.
    text += &w.job("c", "gamma", EVERY_MINUTE);
    std::fs::write(&cfg, &text).expect("rewrite config");
    d.signal("HUP");
    sock.expect("RELOADING=1", |m| m.lines().any(|l| l == "RELOADING=1"));
    sock.expect("READY=1 after reload", |m| {
        m.lines().any(|l| l == "READY=1")
    });
    d.wait_until("a backup of the added job", || w.done(&query, "c") >= 1);

    // SIGHUP with an invalid file: logged, the previous configuration keeps running.
    std::fs::write(&cfg, "backup_dir = [not valid").expect("break config");
    d.signal("HUP");
    sock.expect("READY=1 after a failed reload", |m| {
        m.lines().any(|l| l == "READY=1")
    });
    let before = w.done(&query, "c");
    d.wait_until("job c to keep running on the old configuration", || {
        w.done(&query, "c") > before
    });
    assert!(d.log().contains("keeping the previous one"), "{}", d.log());

    d.signal("TERM");
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", d.log());
    for job in ["a", "b", "c"] {
        assert!(
            w.files(job).iter().all(|f| !f.ends_with(".partial")),
            "{job}: {:?}",
            w.files(job)
        );
    }
}

#[test]
fn sigterm_during_a_backup_exits_0_removes_the_partial_and_records_interrupted() {
    let w = World::new(&["alpha"]);
    // pg_dump writes its output, then hangs with stdout open: the backup stays running.
    let slow = w.pg_dump_wrapper("\"$REAL\" \"$@\"\nexec sleep 300");
    let text = w.header(1)
        + &w.job(
            "slow",
            "alpha",
            &format!("{EVERY_MINUTE}\npg_dump = {slow:?}"),
        );
    let cfg = w.write_config(&text);
    let mut sock = NotifySocket::bind(w.dir.path());
    let mut d = w.daemon(&cfg, Some(&sock.path));
    sock.expect("READY=1", |m| m.lines().any(|l| l == "READY=1"));
    d.wait_until("a partial archive", || {
        w.files("slow").iter().any(|f| f.ends_with(".partial"))
    });

    d.signal("TERM");
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", d.log());
    sock.expect("STOPPING=1", |m| m.lines().any(|l| l == "STOPPING=1"));
    assert_eq!(
        w.files("slow"),
        Vec::<String>::new(),
        "nothing partial or final may be left"
    );
    let rows = w.history(&cfg, "slow");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["state"], "failed", "{rows:?}");
    assert!(
        rows[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted"),
        "{rows:?}"
    );
}

#[test]
fn manual_and_inactive_jobs_are_never_run_and_the_watchdog_is_fed() {
    let w = World::new(&["alpha", "beta", "gamma"]);
    let text = w.header(3)
        + &w.job("scheduled", "alpha", EVERY_MINUTE)
        + &w.job("manual", "beta", "")
        + &w.job("off", "gamma", &format!("{EVERY_MINUTE}\nactive = false"));
    let cfg = w.write_config(&text);
    let mut sock = NotifySocket::bind(w.dir.path());
    let mut d = w.daemon_with_env(&cfg, Some(&sock.path), &[("WATCHDOG_USEC", "400000")]);
    sock.expect("WATCHDOG=1", |m| m.lines().any(|l| l == "WATCHDOG=1"));
    d.wait_until("three scheduled backups", || w.done(&cfg, "scheduled") >= 3);
    d.signal("INT");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    assert!(w.history(&cfg, "manual").is_empty());
    assert!(w.history(&cfg, "off").is_empty());
    assert!(w.files("manual").is_empty() && w.files("off").is_empty());
}

#[test]
fn an_invalid_configuration_at_start_exits_2_naming_the_key() {
    let w = World::new(&[]);
    let text = w.header(1)
        + &w.job(
            "bad",
            "alpha",
            "schedule = { every = 1, unit = \"hours\", at = \"02:00\" }",
        );
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(2), "{}", d.log());
    assert!(d.log().contains("schedule.at"), "{}", d.log());
}

#[test]
fn the_daemon_on_the_packaged_configuration_idles_and_says_why() {
    // The file as the package installs it (no job), its directories in the test's own.
    let dir = tempfile::tempdir().expect("temp dir");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/sauvegarde.example.toml");
    let mut sock = NotifySocket::bind(dir.path());
    let log = dir.path().join("daemon.log");
    let mut cmd = std::process::Command::new(sauvegarde_tests::build::artifacts().host_bin());
    cmd.arg("--config")
        .arg(&example)
        .arg("daemon")
        .env("SAUVEGARDE_STATE_DIR", dir.path().join("state"))
        .env("SAUVEGARDE_BACKUP_DIR", dir.path().join("backups"))
        .env("SAUVEGARDE_PLUGIN_DIRS", "[]")
        .env("NOTIFY_SOCKET", &sock.path)
        .env_remove("WATCHDOG_USEC")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut d = daemon_common::Daemon {
        child: sauvegarde_tests::process::KillOnDrop::spawn(&mut cmd),
        log,
    };
    let ready = sock.expect("READY=1", |m| m.lines().any(|l| l == "READY=1"));
    assert!(
        ready.contains("STATUS=idle; no job configured: run `sauvegarde config init`"),
        "{ready}"
    );
    // Still there a moment later: under systemd, an exit would be restarted in a loop.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        d.child.0.try_wait().expect("try_wait").is_none(),
        "{}",
        d.log()
    );
    assert!(d.log().contains("no job configured"), "{}", d.log());
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
}

#[test]
fn scheduled_backups_are_exported_and_a_failed_export_is_notified() {
    use sauvegarde_tests::sshd::{Sshd, PASSWORD, PASSWORD_USER};
    use sauvegarde_tests::webhook::WebhookServer;
    let w = World::new(&["alpha"]);
    let sshd = Sshd::start();
    let hook = WebhookServer::start();
    let text = w.header(1)
        + &w.job(
            "a",
            "alpha",
            &format!(
                "{EVERY_MINUTE}\nnotify = {{ on = [\"success\", \"failure\"], webhook = {{ url = \"{}\" }} }}\n\n\
                 [jobs.a.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\n\
                 user = \"{PASSWORD_USER}\"\npassword = \"{PASSWORD}\"\nhost_key_fingerprint = \"{}\"\n\
                 remote_dir = {:?}\nretries = 0\ntimeout_secs = 10\n",
                hook.url("/hook"),
                sshd.port(),
                sshd.host_key_fingerprint(),
                sshd.data_dir(),
            ),
        );
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);
    let ok = hook.wait_for(std::time::Duration::from_secs(90), |r| {
        r.json()["state"] == "success"
    });
    let event = ok.json();
    assert_eq!(
        event["destinations"],
        serde_json::json!([{"name": "offsite", "state": "done", "message": null}]),
        "{event}"
    );
    let archive = std::path::PathBuf::from(event["archive"].as_str().expect("archive"));
    let remote = sshd.data_dir().join(archive.file_name().expect("name"));
    assert_eq!(
        std::fs::read(&remote).expect("exported by the daemon"),
        std::fs::read(&archive).expect("local archive")
    );

    // The server goes away: the next backups are kept locally, the export failure notified.
    sshd.kill();
    let failed = hook.wait_for(std::time::Duration::from_secs(90), |r| {
        r.json()["state"] == "failure"
    });
    let event = failed.json();
    assert_eq!(event["destinations"][0]["state"], "failed", "{event}");
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("export to offsite failed"),
        "{event}"
    );
    let local = std::path::PathBuf::from(event["archive"].as_str().expect("archive"));
    assert!(local.is_file(), "the local archive is kept");
    assert!(!failed.body.contains(PASSWORD));
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
}

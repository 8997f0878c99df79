//! Restore drills end to end with a real PostgreSQL: the daemon drills the job's newest
//! archive when due (restored into a scratch database, row counts compared, dropped),
//! records the result (`history`, `jobs`, the metrics file), and a drill of a corrupted
//! newest archive fails, is recorded and notified, and touches no archive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sauvegarde_tests::age;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::webhook::WebhookServer;
use serde_json::Value;

/// A config for `prod` with a drill, a metrics file and a webhook hearing every event.
fn drill_config(w: &OdooWorld, hook: &WebhookServer, job_extra: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(w.path("textfile")).unwrap();
    let metrics = w.path("textfile/sauvegarde.prom");
    let cfg = w.config(
        &format!("drill = {{ every = 1, unit = \"days\" }}\n{job_extra}"),
        &format!(
            "[notify]\non = [\"success\", \"failure\"]\nwebhook = {{ url = {:?} }}\n",
            hook.url("/hook")
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("metrics_file = {metrics:?}\n{text}")).unwrap();
    (cfg, metrics)
}

fn json(cfg: &Path, args: &[&str]) -> Value {
    let out = cli::run(cfg, args, "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The drills `history --json` shows under each backup, newest backup first.
fn drills(cfg: &Path) -> Vec<Value> {
    json(cfg, &["history", "--json"])
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| r["drills"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn samples(path: &Path) -> BTreeMap<String, f64> {
    std::fs::read_to_string(path)
        .expect("metrics file")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample");
            (k.to_string(), v.parse().expect("value"))
        })
        .collect()
}

fn promtool_check(path: &Path) {
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).expect("metrics file"))
        .output()
        .expect("promtool (Debian package prometheus)");
    assert!(out.status.success(), "promtool: {}", text(&out));
}

fn unix(v: &Value) -> f64 {
    let t: jiff::Timestamp = v.as_str().expect("time").parse().expect("rfc3339");
    t.as_millisecond() as f64 / 1000.0
}

/// Scratch databases and roles left on the cluster.
fn leftovers(w: &OdooWorld) -> String {
    w.pg.psql(
        "postgres",
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'sauvegarde_verify_%' \
         UNION ALL SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE 'sauvegarde_verify_%'",
    )
    .trim()
    .to_string()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_drill_due_in_the_daemon_runs_and_records_its_result() {
    let w = OdooWorld::new(60);
    let hook = WebhookServer::start();
    let (cfg, metrics) = drill_config(&w, &hook, "schedule = { every = 1, unit = \"hours\" }");
    // Before any archive there is nothing to drill: no next drill.
    let jobs = json(&cfg, &["jobs", "--json"]);
    assert_eq!(jobs[0]["next_drill"], Value::Null, "{jobs}");

    let log = w.path("daemon.log");
    let mut daemon = KillOnDrop::spawn(
        cli::host(&cfg, &["daemon"], "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    // The backup is due at once; the drill as soon as there is an archive.
    wait_until("the daemon's drill", Duration::from_secs(120), || {
        !drills(&cfg).is_empty()
    });
    let drill = hook.wait_for(Duration::from_secs(30), |r| r.json()["event"] == "drill");
    daemon.kill();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("scheduled restore drill starting"), "{log}");

    let history = json(&cfg, &["history", "--json"]);
    let backup = &history[0];
    assert_eq!(backup["state"], "done", "{history}");
    let d = &backup["drills"][0];
    assert_eq!(d["ok"], true, "{history}");
    assert_eq!(d["database"], "prod");
    assert_eq!(d["backup_id"], backup["id"]);
    assert_eq!(d["archive"], backup["path"]);
    // The rows restored are the dump's, table by table (as `verify` counts them).
    let report = {
        let out = cli::run(
            &cfg,
            &["verify", backup["path"].as_str().unwrap(), "--json"],
            "warn",
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let tables = report["tables"].as_object().expect("tables");
    let dump_rows: u64 = tables.values().filter_map(|t| t["dump"].as_u64()).sum();
    assert!(dump_rows >= 60, "{report}");
    assert_eq!(d["rows"].as_u64(), Some(dump_rows), "{history}");
    assert_eq!(d["tables"].as_u64(), Some(tables.len() as u64), "{history}");
    // The scratch database and its throwaway role are gone.
    assert_eq!(leftovers(&w), "", "scratch database or role left behind");

    // `jobs` shows it, and when the next one is due (a day later).
    let jobs = json(&cfg, &["jobs", "--json"]);
    assert_eq!(jobs[0]["drills"][0]["ok"], true, "{jobs}");
    let next = jobs[0]["next_drill"].as_str().expect("next drill");
    assert!(
        unix(&Value::from(next)) > unix(&d["started"]) + 86_000.0,
        "{jobs}"
    );
    let table = cli::run(&cfg, &["jobs"], "warn");
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("drill prod"),
        "{}",
        text(&table)
    );
    let table = cli::run(&cfg, &["history"], "warn");
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(&format!("ok: {} tables", tables.len())),
        "{}",
        text(&table)
    );

    // The metrics file exports it, and parses.
    promtool_check(&metrics);
    let got = samples(&metrics);
    let labels = "{job=\"prod\",database=\"prod\"}";
    assert_eq!(
        got[&format!("sauvegarde_last_drill_success_timestamp_seconds{labels}")],
        unix(&d["finished"])
    );
    assert_eq!(got[&format!("sauvegarde_last_drill_success{labels}")], 1.0);
    // Its time to recover: the drill's duration, the archive's size, the connections.
    let seconds = d["seconds"].as_f64().expect("seconds");
    assert!(
        seconds > 0.0 && seconds <= unix(&d["finished"]) - unix(&d["started"]) + 1.0,
        "{history}"
    );
    assert_eq!(d["bytes"], backup["size"], "{history}");
    assert!(d["jobs"].as_u64().is_some_and(|j| j >= 1), "{history}");
    assert_eq!(
        got[&format!("sauvegarde_last_drill_duration_seconds{labels}")],
        seconds
    );
    assert_eq!(jobs[0]["drills"][0]["seconds"], d["seconds"], "{jobs}");

    // The success was notified (the channels' `on` lists it).
    let event = drill.json();
    assert_eq!(event["state"], "success", "{event}");
    assert_eq!(event["archive"], backup["path"]);

    // A restarted daemon does not drill again before the interval.
    let mut daemon = KillOnDrop::spawn(
        cli::host(&cfg, &["daemon"], "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_secs(4));
    daemon.kill();
    assert_eq!(drills(&cfg).len(), 1);
}

#[test]
fn a_drill_of_a_corrupted_newest_archive_fails_and_notifies() {
    let w = OdooWorld::new(40);
    let hook = WebhookServer::start();
    // No schedule: the drill runs on its own timing, backups are made by hand.
    let (cfg, metrics) = drill_config(&w, &hook, "");
    for _ in 0..2 {
        let out = cli::run(&cfg, &["backup", "prod", "--no-notify"], "warn");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        std::thread::sleep(Duration::from_millis(1100));
    }
    // A drill by hand of the sound archive.
    let out = cli::run(&cfg, &["drill", "prod", "--no-notify"], "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("✓ prod: "),
        "{}",
        text(&out)
    );
    let out = cli::run(&cfg, &["drill", "nosuchjob"], "warn");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = cli::run(&cfg, &["drill", "prod", "--database", "other"], "warn");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no archive of database `other`"),
        "{}",
        text(&out)
    );

    let history = json(&cfg, &["history", "--json"]);
    let newest = PathBuf::from(history[0]["path"].as_str().unwrap());
    let older = PathBuf::from(history[1]["path"].as_str().unwrap());
    let older_bytes = std::fs::read(&older).unwrap();
    // One byte flipped in the middle of the newest archive.
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&newest, &bytes).unwrap();

    // The drill by hand was a moment ago: a one-minute interval (a minute lasts 1 s in
    // test mode) makes the daemon's drill due at once.
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text_cfg.replace(
            "drill = { every = 1, unit = \"days\" }",
            "drill = { every = 1, unit = \"minutes\" }",
        ),
    )
    .unwrap();
    let mut daemon = KillOnDrop::spawn(
        cli::host(&cfg, &["daemon"], "info")
            .env("SGD_TEST_MINUTE_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let failure = hook.wait_for(Duration::from_secs(120), |r| {
        r.json()["event"] == "drill" && r.json()["state"] == "failure"
    });
    daemon.kill();
    let event = failure.json();
    assert_eq!(event["database"], "prod", "{event}");
    assert_eq!(event["archive"], newest.display().to_string(), "{event}");
    let message = event["message"].as_str().unwrap();
    assert!(message.contains("fails verification"), "{message}");

    // Recorded under the corrupted archive's backup, and in the metrics.
    let history = json(&cfg, &["history", "--json"]);
    let failed: Vec<&Value> = history[0]["drills"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["ok"] == false)
        .collect();
    assert!(!failed.is_empty(), "{history}");
    assert_eq!(failed[0]["rows"], Value::Null);
    let got = samples(&metrics);
    let labels = "{job=\"prod\",database=\"prod\"}";
    assert_eq!(got[&format!("sauvegarde_last_drill_success{labels}")], 0.0);
    // The earlier successful drill still dates the last success.
    assert!(got.contains_key(&format!(
        "sauvegarde_last_drill_success_timestamp_seconds{labels}"
    )));
    promtool_check(&metrics);

    // Nothing was deleted, renamed or left on the server; `drill` by hand says so too.
    assert!(newest.exists());
    assert_eq!(std::fs::read(&older).unwrap(), older_bytes);
    assert_eq!(leftovers(&w), "");
    let out = cli::run(&cfg, &["drill", "prod", "--json", "--no-notify"], "warn");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lines[0]["ok"], false, "{lines}");
    assert!(
        lines[0]["message"].as_str().unwrap().contains("sha256"),
        "{lines}"
    );
}

#[test]
fn an_encrypted_archive_is_drilled_with_the_identity_and_only_with_it() {
    let w = OdooWorld::new(50);
    let hook = WebhookServer::start();
    let (key, recipient) = age::keygen(w.dir.path(), "drill.key");
    let encrypt = format!("encrypt = {{ recipients = [{recipient:?}] }}");
    let (cfg, _) = drill_config(&w, &hook, &encrypt);
    // Without `identity`: a configuration error naming the key.
    let out = cli::run(&cfg, &["jobs"], "warn");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jobs.prod.drill") && err.contains("identity"),
        "{err}"
    );

    let (cfg, _) = drill_config(
        &w,
        &hook,
        &format!("{encrypt}\ndrill = {{ every = 1, unit = \"days\", identity = {key:?} }}"),
    );
    // `drill_config` wrote a `drill` line already: keep the one with the identity.
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text_cfg.replacen("drill = { every = 1, unit = \"days\" }\n", "", 1),
    )
    .unwrap();
    let out = cli::run(&cfg, &["backup", "prod", "--no-notify"], "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tmp = w.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = cli::host(&cfg, &["drill", "prod", "--json", "--no-notify"], "warn")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        lines[0]["archive"].as_str().unwrap().ends_with(".zip.age"),
        "{lines}"
    );
    assert!(lines[0]["rows"].as_u64().unwrap() >= 50, "{lines}");
    // The decrypted copy is gone (and was never in $TMPDIR).
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    assert_eq!(
        age::decrypted_copies(&w.path("state")),
        Vec::<String>::new()
    );
    assert_eq!(leftovers(&w), "");

    // A wrong identity: the drill fails, saying why.
    let (other, _) = age::keygen(w.dir.path(), "other.key");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text_cfg.replace(&format!("{key:?}"), &format!("{other:?}")),
    )
    .unwrap();
    let out = cli::run(&cfg, &["drill", "prod", "--no-notify"], "warn");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("✗ prod: "),
        "{}",
        text(&out)
    );
}

#[test]
fn a_history_that_cannot_be_written_does_not_stop_a_drill() {
    let w = OdooWorld::new(50);
    let hook = WebhookServer::start();
    let (cfg, _) = drill_config(&w, &hook, "");
    let out = cli::run(&cfg, &["backup", "prod", "--no-notify"], "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A history written by a "newer sauvegarde": read, never written.
    let db = w.path("state/history.sqlite");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); \
             c.execute('UPDATE schema_version SET version = 99'); c.commit(); \
             c.execute('PRAGMA journal_mode = DELETE'); c.close()",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let before = std::fs::read(&db).unwrap();
    let out = cli::run(&cfg, &["drill", "prod"], "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("✓ prod: "),
        "{}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("newer sauvegarde") && stderr.contains("not recorded"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the history was written"
    );
    // Still heard of: the success reached the webhook.
    let event = hook.wait_for(Duration::from_secs(10), |r| r.json()["event"] == "drill");
    assert_eq!(event.json()["state"], "success");
}

#[test]
fn a_drill_slower_than_max_minutes_fails_and_is_notified() {
    let w = OdooWorld::new(60);
    let hook = WebhookServer::start();
    let (cfg, metrics) = drill_config(&w, &hook, "");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text_cfg.replace(
            "drill = { every = 1, unit = \"days\" }",
            "drill = { every = 1, unit = \"days\", max_minutes = 1, jobs = 2 }",
        ),
    )
    .unwrap();
    let out = cli::run(&cfg, &["backup", "prod", "--no-export"], "warn");
    assert!(out.status.success(), "{}", text(&out));
    // The drill stopped just before its restore for a minute: the time to recover of a
    // database too big for its server.
    let (paused, _) = sauvegarde_tests::hostile::run_to_pause(
        &mut cli::host(&cfg, &["drill", "prod"], "info"),
        "drill-restore",
    );
    std::thread::sleep(Duration::from_secs(61));
    let out = paused.resume();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let d = &drills(&cfg)[0];
    assert_eq!(d["ok"], false, "{d}");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("restored whole, but the drill took 1 min")
            && message.contains("over its max_minutes = 1"),
        "{message}"
    );
    assert!(d["seconds"].as_f64().unwrap() > 60.0, "{d}");
    assert_eq!(d["jobs"], 2, "{d}");
    let event = hook.wait_for(Duration::from_secs(30), |r| r.json()["event"] == "drill");
    assert_eq!(event.json()["state"], "failure", "{}", event.json());
    let got = samples(&metrics);
    let labels = "{job=\"prod\",database=\"prod\"}";
    assert_eq!(got[&format!("sauvegarde_last_drill_success{labels}")], 0.0);
    assert!(got[&format!("sauvegarde_last_drill_duration_seconds{labels}")] > 60.0);
    assert_eq!(leftovers(&w), "", "scratch database or role left behind");
}

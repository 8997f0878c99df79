//! Monitoring the way operations teams do, end to end with a real PostgreSQL: Healthchecks
//! pings received by a real local HTTP server, in order, for a success and a failure (with
//! the run's log, secrets masked), retried and never failing a backup; and the Prometheus
//! metrics file, checked by `promtool check metrics` and against `history --json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::webhook::{Request, WebhookServer};
use serde_json::Value;

const SECRET: &str = "hc-db-secret-7d41";

/// A `pg_dump` that echoes its password file (where the secret is) and fails.
fn leaky_pg_dump(w: &OdooWorld) -> PathBuf {
    let script = w.path("leaky_pg_dump");
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 15.0'; exit 0; fi\n\
         echo \"cannot dump: $(cat \"$PGPASSFILE\")\" >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    script
}

fn pings(server: &WebhookServer) -> Vec<(String, String)> {
    server
        .requests()
        .into_iter()
        .map(|r: Request| (r.method, r.path))
        .collect()
}

fn pair(method: &str, path: &str) -> (String, String) {
    (method.to_string(), path.to_string())
}

/// Gives the configuration `cfg` a plugin directory holding the `test-probe` plugin, and
/// the top-level lines `top` first.
fn with_probe_plugin(w: &OdooWorld, cfg: &Path, top: &str) {
    let plugins = w.path("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        artifacts().plugin("test_plugin"),
        plugins.join("libprobe.so"),
    )
    .unwrap();
    let text_cfg = std::fs::read_to_string(cfg).unwrap();
    std::fs::write(
        cfg,
        format!("{top}{text_cfg}")
            .replace("plugin_dirs = []", &format!("plugin_dirs = [{plugins:?}]")),
    )
    .unwrap();
}

#[test]
fn healthchecks_hears_start_then_success_or_fail_with_the_runs_log_secrets_masked() {
    let w = OdooWorld::new(50);
    let hc = WebhookServer::start();
    let cfg = w.config(
        "",
        &format!(
            "[notify]\nhealthchecks = {{ url = {:?} }}\n",
            hc.url("/ping/5f0c-uuid")
        ),
    );
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pings(&hc),
        vec![
            pair("POST", "/ping/5f0c-uuid/start"),
            pair("POST", "/ping/5f0c-uuid")
        ]
    );
    let body = &hc.requests()[1].body;
    assert!(body.contains("backup done"), "{body}");
    assert!(
        body.ends_with("success: backup done\n") || body.contains("success:"),
        "{body}"
    );

    // A failure, with a job-level check (replacing the global one) and a pg_dump that
    // echoes the database password.
    let hc_job = WebhookServer::start();
    let bad = w.config(
        &format!(
            "db_password = {SECRET:?}\npg_dump = {:?}\n[jobs.prod.notify]\nhealthchecks = {{ url = {:?} }}\n",
            leaky_pg_dump(&w),
            hc_job.url("/ping/job-uuid/")
        ),
        &format!(
            "[notify]\nhealthchecks = {{ url = {:?} }}\n",
            hc.url("/ping/5f0c-uuid")
        ),
    );
    let out = cli::run(&bad, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(hc.requests().len(), 2, "the global check is not pinged");
    assert_eq!(
        pings(&hc_job),
        vec![
            pair("POST", "/ping/job-uuid/start"),
            pair("POST", "/ping/job-uuid/fail")
        ]
    );
    let body = &hc_job.requests()[1].body;
    assert!(body.contains("cannot dump"), "{body}");
    assert!(body.contains("***"), "{body}");
    assert!(!body.contains(SECRET), "{body}");
    assert!(body.len() <= 10_000, "{}", body.len());
    // The ping URL holds the check's key: `config show` masks it.
    let out = cli::run(&bad, &["config", "show"], "warn");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("job-uuid"),
        "{}",
        text(&out)
    );

    // --no-notify: no ping.
    let cfg = w.config(
        "",
        &format!(
            "[notify]\nhealthchecks = {{ url = {:?} }}\n",
            hc.url("/ping/5f0c-uuid")
        ),
    );
    let out = cli::run(&cfg, &["backup", "prod", "--no-notify"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(hc.requests().len(), 2);
}

/// An export that fails: the `/fail` body holds what each destination's thread logged (the
/// good upload's throughput, the failed one's error) and what the plugin itself logged from
/// its worker process, its declared secret masked.
#[test]
fn the_fail_ping_holds_the_exports_and_their_plugins_lines_secrets_masked() {
    const PASSCODE: &str = "probe-passcode-93c1";
    let w = OdooWorld::new(50);
    let hc = WebhookServer::start();
    let cfg = w.config(
        &format!(
            "[jobs.prod.destinations.copy]\ntype = \"test-probe\"\ndir = {:?}\n\
             [jobs.prod.destinations.careless]\ntype = \"test-probe\"\nleak_secrets = true\n\
             passcode = {PASSCODE:?}\nretries = 0\n",
            w.path("remote")
        ),
        &format!(
            "[notify]\nhealthchecks = {{ url = {:?} }}\n",
            hc.url("/ping/exports-uuid")
        ),
    );
    with_probe_plugin(&w, &cfg, "");
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        pings(&hc),
        vec![
            pair("POST", "/ping/exports-uuid/start"),
            pair("POST", "/ping/exports-uuid/fail")
        ]
    );
    let body = &hc.requests()[1].body;
    // The good destination's own line, from its export thread.
    assert!(body.contains("uploaded prod_"), "{body}");
    assert!(body.contains("MiB/s"), "{body}");
    // The plugin's log line, relayed from its worker process, and the failed export's.
    assert!(body.contains("probe upload with"), "{body}");
    assert!(body.contains("export failed"), "{body}");
    assert!(!body.contains(PASSCODE), "{body}");
    assert!(!text(&out).contains(PASSCODE), "{}", text(&out));
}

#[test]
fn a_healthchecks_server_that_fails_is_retried_and_never_fails_the_backup() {
    let w = OdooWorld::new(50);
    let hc = WebhookServer::with_status(500);
    let cfg = w.config(
        "",
        &format!(
            "[notify]\nhealthchecks = {{ url = {:?} }}\n",
            hc.url("/p/u")
        ),
    );
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = pings(&hc);
    let starts = got.iter().filter(|p| p.1 == "/p/u/start").count();
    let successes = got.iter().filter(|p| p.1 == "/p/u").count();
    assert_eq!((starts, successes), (4, 4), "{got:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the backup itself is not affected"),
        "{}",
        text(&out)
    );
}

/// The samples of a metrics file: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_string(), v.parse().expect("value"))
        })
        .collect()
}

fn unix(rfc3339: &Value) -> f64 {
    let t: jiff::Timestamp = rfc3339.as_str().expect("time").parse().expect("rfc3339");
    t.as_millisecond() as f64 / 1000.0
}

fn promtool_check(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).expect("metrics file"))
        .output()
        .expect("promtool (Debian package prometheus; scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "promtool: {}\n{}",
        text(&out),
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn the_metrics_file_parses_with_promtool_and_matches_the_history() {
    let w = OdooWorld::new(50);
    let metrics = w.path("textfile/sauvegarde.prom");
    std::fs::create_dir(w.path("textfile")).unwrap();
    std::fs::create_dir(w.path("remote")).unwrap();
    let cfg = w.config(
        &format!(
            "[jobs.prod.destinations.copy]\ntype = \"test-probe\"\ndir = {:?}\n\
             [jobs.prod.destinations.broken]\ntype = \"test-probe\"\npanic_in = \"upload\"\nretries = 0\n",
            w.path("remote")
        ),
        &format!(
            "[jobs.nightly]\ndatabase = \"prod\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\n\
             db_user = \"postgres\"\nfilestore = \"none\"\npg_dump = \"/nonexistent/pg_dump\"\n",
            w.pg.port()
        ),
    );
    // `metrics_file` is a top-level key: put it first.
    with_probe_plugin(&w, &cfg, &format!("metrics_file = {metrics:?}\n"));

    for _ in 0..2 {
        let out = cli::run(&cfg, &["backup", "prod"], "info");
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    }
    let out = cli::run(&cfg, &["backup", "nightly"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    promtool_check(&metrics);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&metrics).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    let got = samples(&std::fs::read_to_string(&metrics).unwrap());

    let history = cli::history(&cfg);
    let rows = history.as_array().expect("rows");
    let prod: Vec<&Value> = rows.iter().filter(|r| r["job"] == "prod").collect();
    let newest = prod[0];
    let p = "{job=\"prod\",database=\"prod\"}";
    let n = "{job=\"nightly\",database=\"prod\"}";
    let value = |k: String| {
        *got.get(&k)
            .unwrap_or_else(|| panic!("{k} missing from {got:?}"))
    };
    assert_eq!(
        value(format!("sauvegarde_last_success_timestamp_seconds{p}")),
        unix(&newest["finished"])
    );
    assert_eq!(
        value(format!("sauvegarde_last_backup_duration_seconds{p}")),
        unix(&newest["finished"]) - unix(&newest["started"])
    );
    assert_eq!(
        value(format!("sauvegarde_last_backup_size_bytes{p}")),
        newest["size"].as_f64().unwrap()
    );
    assert_eq!(value(format!("sauvegarde_last_run_success{p}")), 1.0);
    assert_eq!(value(format!("sauvegarde_last_run_success{n}")), 0.0);
    assert_eq!(
        value("sauvegarde_backups_total{job=\"prod\",database=\"prod\",result=\"success\"}".into()),
        2.0
    );
    assert_eq!(
        value(
            "sauvegarde_backups_total{job=\"nightly\",database=\"prod\",result=\"failure\"}".into()
        ),
        1.0
    );
    assert!(!got.contains_key(&format!("sauvegarde_last_success_timestamp_seconds{n}")));
    let nightly = rows
        .iter()
        .find(|r| r["job"] == "nightly")
        .expect("nightly row");
    assert_eq!(
        value(format!("sauvegarde_last_run_timestamp_seconds{n}")),
        unix(&nightly["finished"])
    );
    // Exports: every attempt of `broken` failed, `copy` succeeded twice.
    let exports: Vec<Value> = prod
        .iter()
        .flat_map(|r| r["exports"].as_array().cloned().unwrap_or_default())
        .collect();
    let failed = exports
        .iter()
        .filter(|e| e["destination"] == "broken" && e["state"] == "failed")
        .count();
    assert!(failed >= 2, "{history}");
    assert_eq!(
        value("sauvegarde_export_failures_total{job=\"prod\",destination=\"broken\"}".into()),
        failed as f64
    );
    assert_eq!(
        value("sauvegarde_export_failures_total{job=\"prod\",destination=\"copy\"}".into()),
        0.0
    );
    let last_copy = exports
        .iter()
        .filter(|e| e["destination"] == "copy" && e["state"] == "done")
        .map(|e| unix(&e["updated"]))
        .fold(0.0, f64::max);
    assert_eq!(
        value(
            "sauvegarde_export_last_success_timestamp_seconds{job=\"prod\",destination=\"copy\"}"
                .into()
        ),
        last_copy
    );
    assert!(!got.contains_key(
        "sauvegarde_export_last_success_timestamp_seconds{job=\"prod\",destination=\"broken\"}"
    ));

    // `test` rewrites it, and so does the daemon at start (from the history: after a
    // restart the values are the same).
    std::fs::remove_file(&metrics).unwrap();
    let out = cli::run(&cfg, &["test", "prod", "copy"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(samples(&std::fs::read_to_string(&metrics).unwrap()), got);
    std::fs::remove_file(&metrics).unwrap();
    let mut daemon = KillOnDrop::spawn(
        cli::host(&cfg, &["daemon"], "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !metrics.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.kill();
    assert_eq!(samples(&std::fs::read_to_string(&metrics).unwrap()), got);
    promtool_check(&metrics);
}

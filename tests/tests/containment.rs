//! Containment: exporter code runs in worker processes. A plugin that segfaults, aborts,
//! exits, overflows its stack or hangs costs one failed export (the real `sauvegarde`
//! binary, a real PostgreSQL, the `test-probe` plugin misbehaving on request), never the
//! other destination, the history record or the daemon.

mod daemon_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::odoo_world::OdooWorld;

/// `[jobs.prod.destinations.good]` exports into `good/`; `bad` into `bad/` with `bad_extra`.
fn write_config(w: &OdooWorld, case: &str, bad_extra: &str) -> PathBuf {
    let dir = w.path(case);
    for sub in ["good", "bad", "backups"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    w.config(
        &format!("backup_dir = {:?}", dir.join("backups")),
        &format!(
            "[jobs.prod.destinations.good]\ntype = \"test-probe\"\ndir = {:?}\n\n\
             [jobs.prod.destinations.bad]\ntype = \"test-probe\"\ndir = {:?}\nretries = 1\n{bad_extra}\n",
            dir.join("good"),
            dir.join("bad"),
        ),
    )
}

fn archive_of(out: &Output) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The newest backup's export rows of `destination`: (attempt, state, message).
fn attempts(config: &Path, destination: &str) -> Vec<(u64, String, String)> {
    let history = cli::history(config);
    let mut rows: Vec<_> = history[0]["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .filter(|e| e["destination"] == destination)
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap(),
                e["state"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Runs `backup prod` with `bad` misbehaving `how` in `op`: exit 3, `good` has the
/// archive, `bad` has one failed attempt whose message is `expect`'s.
fn backup_survives(w: &OdooWorld, op: &str, how: &str, expect: &[&str]) {
    let case = format!("{how}-in-{op}");
    let config = write_config(
        w,
        &case,
        &format!("misbehave_in = \"{op}\"\nmisbehave = \"{how}\""),
    );
    let out = cli::run(&config, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(3), "{case}: {}", text(&out));
    let archive = archive_of(&out);
    let name = archive.file_name().unwrap();
    let copy = w.path(&case).join("good").join(name);
    assert_eq!(sha256(&copy), sha256(&archive), "{case}: good has its copy");
    assert!(!w.path(&case).join("bad").join(name).exists(), "{case}");
    let good = attempts(&config, "good");
    assert_eq!(good.len(), 1, "{case}: {good:?}");
    assert_eq!(good[0].1, "done", "{case}: {good:?}");
    let bad = attempts(&config, "bad");
    assert_eq!(bad.len(), 1, "{case}: a crash is not retried: {bad:?}");
    assert_eq!(bad[0].1, "failed", "{case}: {bad:?}");
    for part in expect {
        assert!(
            bad[0].2.contains(part),
            "{case}: {:?} lacks {part:?}",
            bad[0].2
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(expect[0]), "{case}: {stderr}");
}

#[test]
fn a_crashing_exporter_fails_only_its_destination_and_is_recorded_with_the_signal() {
    let w = OdooWorld::new(300);
    for op in ["upload", "new"] {
        let during = if op == "new" {
            "during opening the destination"
        } else {
            "during upload"
        };
        let segv = format!("exporter `test-probe` died: signal 11 (SIGSEGV) {during}");
        backup_survives(&w, op, "segfault", &[&segv]);
        backup_survives(
            &w,
            op,
            "abort",
            &["exporter `test-probe` died: signal 6 (SIGABRT", during],
        );
        backup_survives(
            &w,
            op,
            "exit",
            &["exporter `test-probe` died: exit status 3", during],
        );
        // Rust's guard-page handler aborts on a stack overflow.
        backup_survives(
            &w,
            op,
            "stack_overflow",
            &["exporter `test-probe` died: signal", during],
        );
    }
}

#[test]
fn a_hung_plugin_call_is_killed_at_its_timeout_and_retried_like_a_transient_error() {
    let w = OdooWorld::new(300);
    // An upload that never reports progress stalls from its start.
    let config = write_config(
        &w,
        "hang",
        "misbehave_in = \"upload\"\nmisbehave = \"hang\"\nstall_timeout_secs = 1",
    );
    sauvegarde_tests::build::artifacts(); // built before the clock starts
    let started = Instant::now();
    let out = cli::run(&config, &["backup", "prod"], "info");
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let archive = archive_of(&out);
    let copy = w.path("hang/good").join(archive.file_name().unwrap());
    assert_eq!(sha256(&copy), sha256(&archive));
    let bad = attempts(&config, "bad");
    assert_eq!(bad.len(), 2, "retried once: {bad:?}");
    for (_, state, message) in &bad {
        assert_eq!(state, "failed");
        assert!(
            message.contains("exporter `test-probe` made no progress for 1 s during upload")
                && message.contains("(transient)"),
            "{message}"
        );
    }
    // Two attempts: SIGTERM at 1 s, SIGKILL 5 s later (the plugin ignores SIGTERM), 2 s
    // of backoff between them.
    assert!(took < Duration::from_secs(40), "took {took:?}");

    // A constructor that hangs is killed the same way; the good destination still gets
    // its copy.
    let config2 = write_config(
        &w,
        "hang-new",
        "misbehave_in = \"new\"\nmisbehave = \"hang\"\nplugin_timeout_secs = 1",
    );
    let out = cli::run(&config2, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let archive = archive_of(&out);
    assert!(w
        .path("hang-new/good")
        .join(archive.file_name().unwrap())
        .is_file());
    let bad = attempts(&config2, "bad");
    assert!(
        bad[0]
            .2
            .contains("timed out after 1 s during opening the destination"),
        "{bad:?}"
    );
}

#[test]
fn crashes_in_test_list_and_download_are_failed_calls_that_name_the_signal() {
    let w = OdooWorld::new(300);
    // test_connection: the good destination is tested in the same run.
    let config = write_config(
        &w,
        "test",
        "misbehave_in = \"test_connection\"\nmisbehave = \"segfault\"",
    );
    let out = cli::run(&config, &["test", "prod"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("exporter `test-probe` died: signal 11 (SIGSEGV) during test_connection"),
        "{all}"
    );
    assert!(all.contains("probe ok"), "{all}");

    // list, in the remote retention after a successful upload.
    let config = write_config(&w, "list", "misbehave_in = \"list\"\nmisbehave = \"abort\"");
    let out = cli::run(&config, &["backup", "prod"], "info");
    let archive = archive_of(&out);
    let name = archive.file_name().unwrap();
    assert!(w.path("list/good").join(name).is_file(), "{}", text(&out));
    assert!(w.path("list/bad").join(name).is_file(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exporter `test-probe` died: signal 6 (SIGABRT) during list"),
        "{stderr}"
    );

    // download, for a restore.
    let config = write_config(
        &w,
        "download",
        "misbehave_in = \"download\"\nmisbehave = \"exit\"",
    );
    std::fs::copy(&archive, w.path("download/bad").join(name)).unwrap();
    let out = cli::run(
        &config,
        &[
            "restore",
            name.to_str().unwrap(),
            "--database",
            "restored_never",
            "--from",
            "prod/bad",
        ],
        "info",
    );
    assert!(!out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("exporter `test-probe` died: exit status 3 during download"),
        "{all}"
    );
}

#[test]
fn plugin_panics_are_still_errors_through_the_worker() {
    let w = OdooWorld::new(300);
    let config = write_config(&w, "panic", "panic_in = \"upload\"");
    let out = cli::run(&config, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let bad = attempts(&config, "bad");
    assert!(
        bad[0]
            .2
            .contains("plugin panicked in upload: probe asked to panic in upload"),
        "{bad:?}"
    );
}

fn workers_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) state ppid …
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmdline.split(|b| *b == 0).any(|a| a == b"__worker") {
            found.push(pid);
        }
    }
    found
}

const EVERY_MINUTE: &str = "schedule = { every = 1, unit = \"minutes\" }";

#[test]
fn the_daemon_survives_a_crashing_exporter_and_runs_the_next_due_job() {
    use daemon_common::World;
    let w = World::new(&["alpha", "beta"]);
    std::fs::create_dir_all(w.path("out")).unwrap();
    let text = w.header(1)
        + &w.job("crashy", "alpha", EVERY_MINUTE)
        + &format!(
            "[jobs.crashy.destinations.bad]\ntype = \"test-probe\"\ndir = {:?}\nmisbehave_in = \"upload\"\nmisbehave = \"segfault\"\n\n",
            w.path("out")
        )
        + &w.job("steady", "beta", EVERY_MINUTE);
    let cfg = w.write_config(&text);
    let mut d = w.daemon(&cfg, None);
    d.wait_until("two backups of each job", || {
        w.done(&cfg, "crashy") >= 2 && w.done(&cfg, "steady") >= 2
    });
    // The newest backup with a finished export (a newer one may be running).
    let history = w.history(&cfg, "crashy");
    let export = history
        .iter()
        .filter_map(|b| b["exports"].as_array()?.first().cloned())
        .find(|e| e["state"] != "running")
        .expect("a finished export");
    assert_eq!(export["state"], "failed", "{export}");
    assert!(
        export["message"]
            .as_str()
            .unwrap_or_default()
            .contains("died: signal 11 (SIGSEGV) during upload"),
        "{export}"
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
}

#[test]
fn sigterm_to_the_daemon_ends_a_hung_worker_within_10_s_and_workers_get_no_secrets() {
    use daemon_common::World;
    let w = World::new(&["alpha"]);
    std::fs::create_dir_all(w.path("out")).unwrap();
    let text = w.header(1)
        + &w.job("stuck", "alpha", EVERY_MINUTE)
        + &format!(
            "[jobs.stuck.destinations.bad]\ntype = \"test-probe\"\ndir = {:?}\nmisbehave_in = \"upload\"\nmisbehave = \"hang\"\n",
            w.path("out")
        );
    let cfg = w.write_config(&text);
    let secret = "not-for-plugins-7c1f";
    let mut d = w.daemon_with_env(
        &cfg,
        None,
        &[("SAUVEGARDE_JOBS__STUCK__DB_PASSWORD", secret)],
    );
    let daemon_pid = d.child.pid();
    let mut worker = Vec::new();
    d.wait_until("a worker hung in upload", || {
        worker = workers_of(daemon_pid);
        !worker.is_empty()
            && w.history(&cfg, "stuck").first().is_some_and(|b| {
                b["exports"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["state"] == "running"))
            })
    });
    // Still there (not a probe that came and went).
    std::thread::sleep(Duration::from_millis(300));
    let worker = workers_of(daemon_pid);
    assert_eq!(worker.len(), 1, "{worker:?}");
    let worker = worker[0];
    let environ = std::fs::read(format!("/proc/{worker}/environ")).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains(secret),
        "the worker's environment holds the job's secret"
    );
    let cmdline = std::fs::read(format!("/proc/{worker}/cmdline")).unwrap();
    let args: Vec<_> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(args.len(), 2, "{args:?}");
    assert_eq!(args[1], "__worker");

    let started = Instant::now();
    d.signal("TERM");
    let status = d.wait_exit();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}: {}", d.log());
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(
        !Path::new(&format!("/proc/{worker}")).exists()
            || std::fs::read_to_string(format!("/proc/{worker}/stat"))
                .unwrap_or_default()
                .contains(") Z"),
        "worker {worker} outlived the daemon"
    );
    let history = w.history(&cfg, "stuck");
    let export = &history[0]["exports"][0];
    assert_ne!(export["state"], "running", "{export}");
}

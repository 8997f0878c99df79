//! Transfers are limited by progress, not by duration, and what a worker writes is
//! bounded: the real binary, a real PostgreSQL, the `test-probe` plugin misbehaving on
//! request. A slow upload that moves succeeds however long it takes; one that stops moving
//! fails `stall_timeout_secs` after its last movement; a plugin that writes 100 MiB on one
//! line, garbage, or closes its output costs one failed attempt within seconds, naming the
//! plugin, and never the host's memory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::odoo_world::OdooWorld;

/// `[jobs.prod]` with one destination, `remote`, exporting into `<case>/remote` with no
/// retry and `settings`.
fn config(w: &OdooWorld, case: &str, settings: &str) -> PathBuf {
    let dir = w.path(case);
    for sub in ["remote", "backups"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    w.config(
        &format!("backup_dir = {:?}", dir.join("backups")),
        &format!(
            "[jobs.prod.destinations.remote]\ntype = \"test-probe\"\ndir = {:?}\nretries = 0\n{settings}\n",
            dir.join("remote"),
        ),
    )
}

/// The newest backup's export attempts: (attempt, state, message).
fn attempts(config: &Path) -> Vec<(u64, String, String)> {
    let history = cli::history(config);
    history[0]["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap(),
                e["state"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A command run to its end, with its host process's peak resident memory.
struct Watched {
    out: Output,
    /// `VmHWM` of the `sauvegarde` process, in bytes (its workers are other processes).
    peak_rss: u64,
    took: Duration,
}

fn drain(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = from.read_to_end(&mut all);
        all
    })
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `backup prod` with `config`, sampling its peak memory; a command still running
/// after `limit` is killed and the test fails (a host that waits for a broken worker
/// forever would hang here).
fn backup_watched(config: &Path, limit: Duration) -> Watched {
    sauvegarde_tests::build::artifacts(); // built before the clock starts
    let started = Instant::now();
    let mut child: Child = cli::host(config, &["backup", "prod"], "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sauvegarde");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let mut peak_rss = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm(child.id()) {
            peak_rss = peak_rss.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`backup` did not end within {limit:?}: {}",
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Watched {
        out: Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        peak_rss,
        took: started.elapsed(),
    }
}

/// The message of the one failed attempt of the newest backup (not retried).
fn one_failed_attempt(config: &Path, run: &Watched) -> String {
    assert_eq!(run.out.status.code(), Some(3), "{}", text(&run.out));
    let attempts = attempts(config);
    assert_eq!(attempts.len(), 1, "not retried: {attempts:?}");
    assert_eq!(attempts[0].1, "failed", "{attempts:?}");
    attempts[0].2.clone()
}

#[test]
fn a_plugin_printing_100_mib_on_one_line_fails_naming_the_plugin_and_the_host_stays_small() {
    let w = OdooWorld::new(50);
    let cfg = config(
        &w,
        "flood",
        "misbehave_in = \"upload\"\nmisbehave = \"flood\"",
    );
    let run = backup_watched(&cfg, Duration::from_secs(60));
    let message = one_failed_attempt(&cfg, &run);
    assert!(
        message.contains("exporter `test-probe` (")
            && message.contains("libsauvegarde_test_plugin.so) broke the worker protocol during upload: it wrote a line longer than 1 MiB; its worker was killed"),
        "{message}"
    );
    // The host held at most 1 MiB of the line: its peak is its usual size, far below the
    // 100 MiB it was sent.
    eprintln!(
        "peak RSS of the host: {:.1} MiB",
        run.peak_rss as f64 / (1 << 20) as f64
    );
    assert!(
        run.peak_rss < 48 << 20,
        "peak RSS {} MiB",
        run.peak_rss >> 20
    );
    // SIGTERM at once, SIGKILL 5 s later (the plugin ignores SIGTERM).
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
}

#[test]
fn a_worker_whose_output_closes_or_turns_to_garbage_is_killed_within_seconds() {
    let w = OdooWorld::new(50);
    for (how, said) in [
        (
            "close_output",
            "broke the worker protocol during upload: it closed its output but went on running; its worker was killed",
        ),
        (
            "garbage",
            "broke the worker protocol during upload: it wrote a line that is not a frame of the protocol",
        ),
    ] {
        let cfg = config(
            &w,
            how,
            &format!("misbehave_in = \"upload\"\nmisbehave = \"{how}\""),
        );
        let run = backup_watched(&cfg, Duration::from_secs(60));
        let message = one_failed_attempt(&cfg, &run);
        assert!(message.contains(said), "{how}: {message}");
        // The plugin sleeps through SIGTERM: 1 s to exit on its own, 5 s to SIGKILL, and
        // the backup itself.
        eprintln!("{how}: the backup took {:?}", run.took);
        assert!(run.took < Duration::from_secs(20), "{how}: took {:?}", run.took);
        let archive = PathBuf::from(String::from_utf8_lossy(&run.out.stdout).trim());
        assert!(archive.is_file(), "{how}: the local archive stays");
    }
}

#[test]
fn a_slow_but_steady_upload_succeeds_however_far_past_its_stall_limit() {
    let w = OdooWorld::new(50);
    let cfg = config(&w, "steady", "upload_secs = 30\nstall_timeout_secs = 5");
    let run = backup_watched(&cfg, Duration::from_secs(120));
    assert_eq!(run.out.status.code(), Some(0), "{}", text(&run.out));
    assert!(run.took >= Duration::from_secs(30), "took {:?}", run.took);
    let archive = PathBuf::from(String::from_utf8_lossy(&run.out.stdout).trim());
    let copy = w.path("steady/remote").join(archive.file_name().unwrap());
    assert_eq!(sha256(&copy), sha256(&archive));
    let attempts = attempts(&cfg);
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].1, "done", "{attempts:?}");
}

#[test]
fn an_upload_that_stops_moving_fails_within_its_stall_limit() {
    let w = OdooWorld::new(50);
    // The plugin moves for 2 s, then reports the same byte count every 100 ms.
    let cfg = config(&w, "stall", "misbehave = \"stall\"\nstall_timeout_secs = 5");
    let run = backup_watched(&cfg, Duration::from_secs(60));
    let ended = SystemTime::now();
    let message = one_failed_attempt(&cfg, &run);
    assert!(
        message.contains(
            "exporter `test-probe` made no progress for 5 s during upload (stall_timeout_secs); its worker was killed"
        ) && message.contains("(transient)"),
        "{message}"
    );
    let stalled_at = std::fs::metadata(w.path("stall/remote/.stalled"))
        .and_then(|m| m.modified())
        .expect("the plugin marked when it stopped moving");
    let after = ended.duration_since(stalled_at).unwrap();
    eprintln!("the backup ended {after:?} after the upload stopped moving");
    // Not before the limit (the 2 s of movement did not count), and within it: the
    // plugin stops at the host's SIGTERM, so no kill grace is needed.
    assert!(
        after >= Duration::from_secs(4) && after <= Duration::from_secs(8),
        "failed {after:?} after it stopped moving"
    );
}

#[test]
fn config_show_states_both_limits_and_a_zero_limit_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let write = |limits: &str| {
        let path = dir.path().join("sauvegarde.toml");
        std::fs::write(
            &path,
            format!(
                "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n[jobs.prod]\ndatabase = \"prod\"\n\n\
                 [jobs.prod.destinations.remote]\ntype = \"test-probe\"\n{limits}\n",
                dir.path().join("backups"),
                dir.path().join("state"),
            ),
        )
        .unwrap();
        path
    };
    let cfg = write("stall_timeout_secs = 5");
    let out = cli::run(&cfg, &["config", "show"], "warn");
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("jobs.prod.destinations.remote.stall_timeout_secs = 5")
            && shown.contains(
                "jobs.prod.destinations.remote.time_limits = \"upload and download: 5 s without progress; other calls: 120 s\""
            ),
        "{shown}"
    );
    for key in ["stall_timeout_secs", "plugin_timeout_secs"] {
        let cfg = write(&format!("{key} = 0"));
        let out = cli::run(&cfg, &["config", "check"], "warn");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains(&format!("jobs.prod.destinations.remote.{key}"))
                && said.contains("must be at least 1 (seconds)"),
            "{said}"
        );
    }
}

//! Free space first, end to end: a small tmpfs as `backup_dir`. When it holds less than the
//! last archive × 1.2, or less than `min_free_mib`, the next backup fails at once with a
//! message naming the directory and both sizes, a failure notification goes out, no file
//! is written and the older archives stay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::tmpfs::Tmpfs;
use sauvegarde_tests::webhook::WebhookServer;

const WAIT: Duration = Duration::from_secs(30);

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read backup dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn config(w: &OdooWorld, hook: &WebhookServer, extra: &str) -> PathBuf {
    w.config(
        extra,
        &format!(
            "[notify]\non = [\"failure\"]\nwebhook = {{ url = \"{}\" }}\n",
            hook.url("/hook")
        ),
    )
}

#[test]
fn less_room_than_the_last_archive_with_its_margin_refuses_at_once_keeping_the_older_one() {
    let w = OdooWorld::new(200);
    let tmpfs = Tmpfs::mount(w.backups(), 16);
    let hook = WebhookServer::start();
    let cfg = config(&w, &hook, "");
    let metrics = w.path("sauvegarde.prom");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("metrics_file = {metrics:?}\n{text_cfg}")).unwrap();
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert!(out.status.success(), "{}", text(&out));
    let first = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let first_bytes = std::fs::read(&first).expect("first archive");
    let size = first_bytes.len() as u64;

    // Room for one more archive of the same size, but not for the 20 % margin.
    tmpfs.fill_until(size + size / 10);
    let before = files(&w.backups());
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not enough free space"), "{}", text(&out));
    assert!(
        stderr.contains(&w.backups().display().to_string()),
        "the message names the directory: {}",
        text(&out)
    );
    assert!(stderr.contains("× 1.2"), "{}", text(&out));
    // Nothing written, the older archive intact.
    assert_eq!(files(&w.backups()), before);
    assert_eq!(std::fs::read(&first).expect("first archive"), first_bytes);
    // The admin hears of it, and the history records it.
    let event = hook
        .wait_for(WAIT, |r| r.json()["state"] == "failure")
        .json();
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not enough free space"),
        "{event}"
    );
    assert_eq!(event["database"], "prod", "{event}");
    let history = cli::history(&cfg);
    assert_eq!(history[0]["state"], "failed", "{history:#}");
    assert_eq!(history[0]["database"], "prod", "{history:#}");
    // So does the metrics file, under the database's own labels.
    let samples = std::fs::read_to_string(&metrics).expect("metrics file");
    for line in [
        "sauvegarde_last_run_success{job=\"prod\",database=\"prod\"} 0\n",
        "sauvegarde_backups_total{job=\"prod\",database=\"prod\",result=\"failure\"} 1\n",
    ] {
        assert!(samples.contains(line), "{line} not in {samples}");
    }
    assert!(!samples.contains("database=\"\""), "{samples}");

    // Room made: the backup runs again.
    std::fs::remove_file(w.backups().join("filler.bin")).expect("remove filler");
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn min_free_mib_refuses_a_backup_below_it_even_without_a_previous_archive() {
    let w = OdooWorld::new(50);
    let _tmpfs = Tmpfs::mount(w.backups(), 4);
    let hook = WebhookServer::start();
    let cfg = config(&w, &hook, "min_free_mib = 8");
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`min_free_mib` = 8"), "{}", text(&out));
    assert!(files(&w.backups()).is_empty(), "{:?}", files(&w.backups()));
    hook.wait_for(WAIT, |r| r.json()["state"] == "failure");

    // Below the floor of the file system it is fine.
    let cfg = config(&w, &hook, "min_free_mib = 1");
    let out = cli::run(&cfg, &["backup", "prod"], "info");
    assert!(out.status.success(), "{}", text(&out));
}

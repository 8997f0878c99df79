//! Retention tiers end to end: archives made by real backups at faked dates (libfaketime)
//! around the spring DST change in Europe/Paris, then `prune --dry-run` and `prune` with
//! `keep_daily`/`keep_weekly`/`keep_monthly`, the server's zone given by `TZ`.

use std::path::{Path, PathBuf};
use std::process::Output;

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;

/// Runs sauvegarde with the clock at `local` (Europe/Paris local time) and `TZ` set.
fn at(config: &Path, local: &str, args: &[&str]) -> Output {
    cli::faked(config, args, "info", &format!("@{local}"))
        .env("TZ", "Europe/Paris")
        .output()
        .expect("run sauvegarde under faketime")
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn tiers_keep_the_newest_of_each_local_day_week_and_month_and_prune_says_which() {
    let w = OdooWorld::new(50);
    // Made without any rule: every archive stays.
    let plain = w.config("", "");
    // Paris local times; the names are in UTC.
    let made_at = [
        ("2026-03-27 11:00:00", "prod_2026-03-27_10-00"), // Fri 27, W13
        ("2026-03-28 23:30:00", "prod_2026-03-28_22-30"), // Sat 28, W13
        ("2026-03-29 00:30:00", "prod_2026-03-28_23-30"), // Sun 29 (before DST), W13
        ("2026-03-29 23:30:00", "prod_2026-03-29_21-30"), // Sun 29 (after DST), W13
        ("2026-03-30 00:30:00", "prod_2026-03-29_22-30"), // Mon 30, W14
        ("2026-03-31 12:00:00", "prod_2026-03-31_10-00"), // Tue 31, W14
        ("2026-04-01 12:00:00", "prod_2026-04-01_10-00"), // Wed 1 April, W14
    ];
    let mut names = Vec::new();
    for (local, prefix) in made_at {
        let out = at(&plain, local, &["backup", "prod"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let name = name_of(&PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        assert!(name.starts_with(prefix), "{name} made at {local}");
        names.push(name);
    }

    let tiers = w.config("keep_daily = 3\nkeep_weekly = 2\nkeep_monthly = 2", "");
    let now = "2026-04-01 14:00:00";
    let out = at(&tiers, now, &["prune", "prod", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains(
            "retention here: tiers: an archive is kept if any rule keeps it (keep_daily = 3, keep_weekly = 2, keep_monthly = 2)"
        ),
        "{listed}"
    );
    // `config show` says which mode each job is in, before anything is pruned.
    let shown = config_show(&tiers, now);
    assert!(
        shown.contains(
            "jobs.prod.retention = \"tiers: an archive is kept if any rule keeps it (keep_daily = 3, keep_weekly = 2, keep_monthly = 2)\""
        ),
        "{shown}"
    );
    let path = |i: usize| w.backups().join(&names[i]).display().to_string();
    let expect_line = |i: usize, why: &str| {
        let line = format!("{}: {why}", path(i));
        assert!(listed.lines().any(|l| l == line), "{line}\nin:\n{listed}");
    };
    expect_line(6, "kept: the newest of this job's archives");
    expect_line(5, "kept: daily (2026-03-31), monthly (2026-03)");
    // Monday 30th 00:30 in Paris is still Sunday 29th in UTC: the zone decides.
    expect_line(4, "kept: daily (2026-03-30)");
    expect_line(3, "kept: weekly (2026-W13)");
    for i in 0..3 {
        let line = format!("would delete {} (no keep rule keeps it)", path(i));
        assert!(listed.lines().any(|l| l == line), "{line}\nin:\n{listed}");
    }
    let mut before: Vec<String> = names.clone();
    before.sort();
    assert_eq!(files(&w.backups()), before, "a dry run deletes nothing");

    let out = at(&tiers, now, &["prune", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut kept: Vec<String> = names[3..].to_vec();
    kept.sort();
    assert_eq!(files(&w.backups()), kept);
    // The history says so too.
    let history = cli::history(&tiers);
    let deleted: Vec<&str> = history
        .as_array()
        .expect("history rows")
        .iter()
        .filter(|r| r["state"] == "deleted")
        .filter_map(|r| r["file_name"].as_str())
        .collect();
    assert_eq!(deleted.len(), 3, "{history}");

    // (Each `w.config` rewrites the one configuration file: these come last.)
    let plain = w.config("", "");
    let shown = config_show(&plain, now);
    assert!(
        shown.contains(
            "jobs.prod.retention = \"none: no keep_* rule is set, every archive is kept\""
        ),
        "{shown}"
    );
    // A destination's own keys override the job's, key by key.
    let with_destination = w.config(
        "keep_days = 30\n[jobs.prod.destinations.nas]\ntype = \"nowhere\"\nkeep_count = 4",
        "",
    );
    let shown = config_show(&with_destination, now);
    assert!(
        shown.contains(
            "jobs.prod.destinations.nas.retention = \"limits: an archive goes when older than keep_days or beyond keep_count (keep_days = 30, keep_count = 4)\""
        ),
        "{shown}"
    );
}

/// What `config show` prints for `config`, at local time `local`.
fn config_show(config: &Path, local: &str) -> String {
    let out = at(config, local, &["config", "show"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("backup dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

//! Readable output of the real binary: `history` and `jobs` with column headers and human
//! sizes (`--json` keeps bytes), `history --job J --limit N`, and "did you mean" for an
//! unknown configuration key.

use std::path::{Path, PathBuf};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;

fn backup(config: &Path, job: &str) -> PathBuf {
    let out = cli::run(
        config,
        &["backup", job, "--no-export", "--no-notify"],
        "warn",
    );
    assert!(out.status.success(), "{}", text(&out));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn stdout(config: &Path, args: &[&str]) -> String {
    let out = cli::run(config, args, "warn");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two jobs of the same database: `prod` and `copy`.
fn two_jobs(w: &OdooWorld) -> PathBuf {
    w.config(
        "",
        &format!(
            "[jobs.copy]\ndatabase = \"prod\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\n\
             db_user = \"postgres\"\nfilestore = \"none\"\n",
            w.pg.port()
        ),
    )
}

#[test]
fn history_has_column_headers_and_human_sizes_while_json_keeps_bytes() {
    let w = OdooWorld::new(3000);
    let cfg = w.config("", "");
    let archive = backup(&cfg, "prod");
    let bytes = std::fs::metadata(&archive).unwrap().len();
    assert!(bytes > 1024, "fixture archive too small to show a unit");

    let human = stdout(&cfg, &["history"]);
    let mut lines = human.lines();
    let header = lines.next().unwrap();
    for column in ["ID", "JOB", "STATE", "STARTED", "SIZE", "ARCHIVE"] {
        assert!(header.contains(column), "header {header:?}");
    }
    let row = lines.next().unwrap();
    let expected = sauvegarde::table::human_size(bytes);
    assert!(expected.ends_with("KiB") || expected.ends_with("MiB"));
    assert!(row.contains(&expected), "row {row:?} lacks {expected}");
    assert!(!row.contains(&bytes.to_string()), "row {row:?} shows bytes");

    let json = cli::history(&cfg);
    assert_eq!(json[0]["size"].as_u64(), Some(bytes), "{json}");
}

#[test]
fn history_job_and_limit_select_the_latest_rows_of_one_job() {
    let w = OdooWorld::new(50);
    let cfg = two_jobs(&w);
    backup(&cfg, "prod");
    // Two backups of one job in the same second would share a name.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let latest = backup(&cfg, "prod");
    backup(&cfg, "copy");

    let json: serde_json::Value = serde_json::from_str(&stdout(
        &cfg,
        &["history", "--job", "prod", "--limit", "1", "--json"],
    ))
    .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["job"], "prod");
    assert_eq!(rows[0]["path"], latest.display().to_string());

    let human = stdout(&cfg, &["history", "--job", "prod", "--limit", "1"]);
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 2, "header and one row: {human}");
    assert!(lines[1].contains("prod"), "{human}");
    assert!(!human.contains("copy"), "{human}");
}

#[test]
fn jobs_has_column_headers_and_the_last_backups_human_size() {
    let w = OdooWorld::new(3000);
    let cfg = two_jobs(&w);
    let archive = backup(&cfg, "prod");
    let bytes = std::fs::metadata(&archive).unwrap().len();

    let human = stdout(&cfg, &["jobs"]);
    let mut lines = human.lines();
    let header = lines.next().unwrap();
    for column in ["JOB", "NAME", "DATABASE", "SCHEDULE", "LAST", "NEXT"] {
        assert!(header.contains(column), "header {header:?}");
    }
    let rows: Vec<&str> = lines.collect();
    let copy = rows.iter().find(|l| l.starts_with("copy")).unwrap();
    assert!(copy.contains("never"), "{human}");
    let prod = rows.iter().find(|l| l.starts_with("prod")).unwrap();
    assert!(
        prod.contains(&sauvegarde::table::human_size(bytes)),
        "{human}"
    );
    // Column starts line up under the header.
    let at = header.find("DATABASE").unwrap();
    assert_eq!(&prod[at..at + 4], "prod", "{human}");
}

#[test]
fn an_unknown_key_suggests_the_closest_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sauvegarde.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = {:?}\nplugin_dirs = []\n[jobs.prod]\ndatabse = \"prod\"\n",
            dir.path()
        ),
    )
    .unwrap();
    let out = cli::run(&cfg, &["config", "check"], "warn");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown key `databse` — did you mean `database`?"),
        "{stderr}"
    );
    assert!(stderr.contains("jobs.prod.databse"), "{stderr}");
}

#[test]
fn a_filestore_path_for_several_databases_is_refused_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sauvegarde.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = {:?}\nplugin_dirs = []\n[jobs.shops]\ndatabase = [\"shop\", \"shop_eu\"]\n\
             filestore = \"/var/lib/odoo/filestore/shop\"\n",
            dir.path()
        ),
    )
    .unwrap();
    let out = cli::run(&cfg, &["config", "check"], "warn");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`jobs.shops.filestore`"), "{stderr}");
    assert!(stderr.contains(&cfg.display().to_string()), "{stderr}");
    assert!(stderr.contains("one job per database"), "{stderr}");
}

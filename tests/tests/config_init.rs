//! `config init` against a throwaway PostgreSQL cluster and an odoo.conf: one job per Odoo
//! database, a file that `config check` accepts and `backup` uses, never an overwrite
//! (but of the untouched packaged example).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::text;
use sauvegarde_tests::postgres::PgCluster;

struct World {
    pg: PgCluster,
    dir: tempfile::TempDir,
}

impl World {
    /// Odoo databases `prod` and `shop.eu`, a plain database `other`, and an odoo.conf
    /// pointing at the cluster with `data_dir` in the test's directory.
    fn new() -> Self {
        let pg = PgCluster::start();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("odoo-data");
        pg.create_odoo_fixture("prod", "17.0.1.3", &data.join("filestore/prod"), 40);
        pg.create_odoo_fixture("shop.eu", "16.0.1.3", &data.join("filestore/shop.eu"), 40);
        pg.createdb("other");
        std::fs::write(
            dir.path().join("odoo.conf"),
            format!(
                "[options]\ndb_host = 127.0.0.1\ndb_port = {}\ndb_user = postgres\n\
                 db_password = False\ndata_dir = {}\n",
                pg.port(),
                data.display()
            ),
        )
        .unwrap();
        World { pg, dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn init(&self, output: &Path, odoo_conf: &Path) -> Output {
        Command::new(artifacts().host_bin())
            .args(["config", "init", "--odoo-conf"])
            .arg(odoo_conf)
            .arg("--output")
            .arg(output)
            .arg("--backup-dir")
            .arg(self.path("backups"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    }
}

#[test]
fn init_writes_one_daily_seven_day_job_per_odoo_database_and_checks_it() {
    let w = World::new();
    let output = w.path("etc/sauvegarde.toml");
    let out = w.init(&output, &w.path("odoo.conf"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration OK: 2 job(s)"), "{stdout}");

    let written = std::fs::read_to_string(&output).unwrap();
    assert!(
        written.starts_with("# sauvegarde configuration"),
        "{written}"
    );
    let value: toml::Table = toml::from_str(&written).unwrap();
    let jobs = value["jobs"].as_table().unwrap();
    let ids: Vec<&String> = jobs.keys().collect();
    assert_eq!(ids, ["prod", "shop_eu"], "{written}");
    assert_eq!(jobs["shop_eu"]["database"].as_str(), Some("shop.eu"));
    for job in jobs.values() {
        assert_eq!(job["keep_days"].as_integer(), Some(7));
        assert_eq!(job["schedule"]["every"].as_integer(), Some(1));
        assert_eq!(job["schedule"]["unit"].as_str(), Some("days"));
    }
    let mode = std::fs::metadata(&output).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);

    // The file works: a backup of prod with its filestore (found through data_dir).
    let out = Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(&output)
        .args(["backup", "prod", "--no-export", "--no-notify"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        archive.starts_with(w.path("backups")),
        "{}",
        archive.display()
    );
    let listing = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(names.contains("filestore/"), "{}", text(&listing));
    drop(w.pg);
}

#[test]
fn init_never_overwrites_an_existing_file() {
    let w = World::new();
    let output = w.path("sauvegarde.toml");
    std::fs::write(&output, "# mine\n").unwrap();
    let out = w.init(&output, &w.path("odoo.conf"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--output"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "# mine\n");
}

#[test]
fn init_writes_over_the_untouched_packaged_example_and_never_over_an_edited_one() {
    let w = World::new();
    let example = std::fs::read(
        sauvegarde_tests::build::workspace_root().join("packaging/sauvegarde.example.toml"),
    )
    .unwrap();
    // Untouched: replaced by a configuration for this server.
    let output = w.path("etc/sauvegarde/sauvegarde.toml");
    std::fs::create_dir_all(output.parent().unwrap()).unwrap();
    std::fs::write(&output, &example).unwrap();
    let out = w.init(&output, &w.path("odoo.conf"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("in place of the untouched packaged example"),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(
        written.starts_with("# sauvegarde configuration"),
        "{written}"
    );
    assert!(written.contains("[jobs.prod]"), "{written}");
    // ... and from then on it is the admin's: a second run leaves it alone.
    let out = w.init(&output, &w.path("odoo.conf"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), written);

    // Edited by one byte (an uncommented job, a comment): somebody's configuration.
    for edit in [&b"\n"[..], b"# mine\n"] {
        let edited = w.path("edited.toml");
        let mut text_edited = example.clone();
        text_edited.extend_from_slice(edit);
        std::fs::write(&edited, &text_edited).unwrap();
        let out = w.init(&edited, &w.path("odoo.conf"));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("already exists and is not the untouched packaged example"),
            "{}",
            text(&out)
        );
        assert_eq!(std::fs::read(&edited).unwrap(), text_edited);
    }
}

#[test]
fn init_without_an_odoo_conf_says_which_file_and_how_to_name_another() {
    let w = World::new();
    let output = w.path("sauvegarde.toml");
    let out = w.init(&output, &w.path("missing/odoo.conf"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing/odoo.conf"), "{stderr}");
    assert!(stderr.contains("--odoo-conf"), "{stderr}");
    assert!(!output.exists());
}

//! Many databases per job, end to end with the real binary and a real PostgreSQL 15: three
//! Odoo-shaped databases (two of them `shop` and `shop_eu`, a prefix of one another), an
//! excluded Odoo one and a plain PostgreSQL one on one cluster. `database = "*"` backs up
//! exactly the Odoo ones, each restorable with its filestore; `exclude` is honoured;
//! retention counts per database; one made unreadable (`REVOKE CONNECT`) fails alone; a
//! database created later is picked up at the next run; the daemon retries only the
//! database that failed; a run that cannot list the databases fails each of them; each
//! database's newest export to a destination (sshd) is kept.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::postgres::{read_tree, PgCluster};
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::sshd::{self, Sshd};

const ODOO: [&str; 3] = ["gamma", "shop", "shop_eu"];

/// A cluster with the databases above, a non-superuser role `backup` that may read them
/// all (`pg_read_all_data`), and a directory with `data/filestore/<db>` for each.
struct World {
    pg: PgCluster,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let pg = PgCluster::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let w = World { pg, dir };
        for db in ODOO.iter().chain(&["demo_1"]) {
            w.odoo(db);
        }
        w.pg.createdb("plain");
        w.pg.psql("plain", "CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
        w.pg.psql(
            "postgres",
            "CREATE ROLE backup LOGIN; GRANT pg_read_all_data TO backup;",
        );
        w
    }

    fn odoo(&self, db: &str) {
        let filestore = self.path("data/filestore").join(db);
        self.pg.create_odoo_fixture(db, "17.0.1.3", &filestore, 50);
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A `[jobs.all]` backing up `database` as the role `backup`, plus `extra` lines, and
    /// a `[jobs.admin]` (as `postgres`) used only to restore.
    fn config(&self, database: &str, extra: &str) -> PathBuf {
        let text = format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n\
             [jobs.all]\ndatabase = {database}\ndb_host = \"127.0.0.1\"\ndb_port = {port}\n\
             db_user = \"backup\"\ndata_dir = {:?}\nexclude = [\"demo_*\"]\n{extra}\n\n\
             [jobs.admin]\ndatabase = \"postgres\"\ndb_host = \"127.0.0.1\"\ndb_port = {port}\n\
             db_user = \"postgres\"\n",
            self.path("backups"),
            self.path("state"),
            self.path("data"),
            port = self.pg.port(),
        );
        let path = self.path("sauvegarde.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        cli::host(config, args, "info")
            .env_remove("PGPASSWORD")
            .output()
            .expect("run sauvegarde")
    }

    /// Archive files in the backup directory, sorted.
    fn archives(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("backups"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The archives of database `db` (its exact name: `shop` is not `shop_eu`).
    fn archives_of(&self, db: &str) -> Vec<String> {
        self.archives()
            .into_iter()
            .filter(|n| {
                n.strip_prefix(db)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|r| r.len() == "2024-01-01_00-00-00.zip".len())
            })
            .collect()
    }
}

fn printed_paths(out: &Output) -> Vec<PathBuf> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

#[test]
fn star_backs_up_every_odoo_database_but_the_excluded_and_each_restores_with_its_filestore() {
    let w = World::new();
    let cfg = w.config("\"*\"", "");
    let out = w.run(&cfg, &["backup", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    let paths = printed_paths(&out);
    assert_eq!(paths.len(), 3, "{}", text(&out));
    for db in ODOO {
        assert_eq!(w.archives_of(db).len(), 1, "{db}: {:?}", w.archives());
    }
    // Neither the excluded Odoo database nor the plain one.
    assert!(w.archives_of("demo_1").is_empty(), "{:?}", w.archives());
    assert!(w.archives_of("plain").is_empty(), "{:?}", w.archives());

    // Each archive is its own database's, with its own filestore.
    for db in ODOO {
        let archive = w.path("backups").join(&w.archives_of(db)[0]);
        let copy = format!("copy_{db}");
        let restored = w.path("restored").join(db);
        let out = w.run(
            &cfg,
            &[
                "restore",
                archive.to_str().unwrap(),
                "--database",
                &copy,
                "--job",
                "admin",
                "--filestore-dir",
                restored.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{db}: {}", text(&out));
        w.pg.assert_same_tables(db, &copy);
        assert_eq!(
            read_tree(&restored),
            read_tree(&w.path("data/filestore").join(db)),
            "{db}"
        );
    }

    // The history records each database on its own row.
    let history = cli::history(&cfg);
    let mut dbs: Vec<&str> = history
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["job"] == "all")
        .map(|r| r["database"].as_str().expect("database"))
        .collect();
    dbs.sort();
    assert_eq!(dbs, ODOO);
}

#[test]
fn retention_counts_each_database_apart_and_never_mixes_shop_with_shop_eu() {
    let w = World::new();
    let cfg = w.config("[\"shop\", \"shop_eu\"]", "keep_count = 2");
    for _ in 0..3 {
        let out = w.run(&cfg, &["backup", "all"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(w.archives_of("shop").len(), 2, "{:?}", w.archives());
    assert_eq!(w.archives_of("shop_eu").len(), 2, "{:?}", w.archives());
    // prune sees the same: nothing more to delete.
    let out = w.run(&cfg, &["prune", "all", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("would delete"),
        "{}",
        text(&out)
    );
    assert_eq!(w.archives().len(), 4, "{:?}", w.archives());
}

#[test]
fn each_database_keeps_its_newest_export_on_a_destination() {
    let w = World::new();
    let sshd = Sshd::start();
    // Locally everything stays; the destination keeps one archive per database.
    let cfg = w.config(
        "[\"gamma\", \"shop\"]",
        &format!(
            "[jobs.all.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             user = {:?}\npassword = {:?}\nhost_key_fingerprint = {:?}\nremote_dir = {:?}\n\
             keep_count = 1\n",
            sshd.port(),
            sshd::PASSWORD_USER,
            sshd::PASSWORD,
            sshd.host_key_fingerprint(),
            sshd.data_dir(),
        ),
    );
    let out = w.run(&cfg, &["backup", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    // The clock set back a day: each database's newest export has an older name than its
    // previous one (kept, dated in the future by this clock).
    let out = cli::faked(&cfg, &["backup", "all"], "info", "-1d")
        .env_remove("PGPASSWORD")
        .output()
        .expect("backup under faketime");
    assert!(out.status.success(), "{}", text(&out));
    let exported = printed_paths(&out);
    assert_eq!(exported.len(), 2, "{}", text(&out));
    let remote = |name: &str| sshd.data_dir().join(name).exists();
    // Clock right again, a prune: by name each database's older archive is beyond
    // keep_count = 1, but it is that database's newest export (gamma's is not the job's
    // newest: shop was exported after it), and so it stays.
    let out = w.run(&cfg, &["prune", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    for path in &exported {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(remote(name), "{name} was deleted\n{listed}");
        assert!(
            listed.contains(&format!(
                "offsite:{name}: kept: the newest archive exported"
            )),
            "{listed}"
        );
    }
    assert_eq!(
        std::fs::read_dir(sshd.data_dir()).unwrap().count(),
        4,
        "{listed}"
    );
}

#[test]
fn a_database_the_role_cannot_connect_to_fails_alone_and_one_created_later_is_picked_up() {
    let w = World::new();
    w.pg.psql("postgres", "REVOKE CONNECT ON DATABASE gamma FROM PUBLIC;");
    let cfg = w.config("\"*\"", "");
    let out = w.run(&cfg, &["backup", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`gamma`"), "{}", text(&out));
    assert!(stderr.contains("1 of 3 databases failed"), "{}", text(&out));
    // The others were backed up all the same.
    assert_eq!(printed_paths(&out).len(), 2, "{}", text(&out));
    assert_eq!(w.archives_of("shop").len(), 1);
    assert_eq!(w.archives_of("shop_eu").len(), 1);
    assert!(w.archives_of("gamma").is_empty());
    // The history and `jobs` list the failed database with the others.
    let history = cli::history(&cfg);
    let gamma = history
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["database"] == "gamma")
        .expect("a row for gamma");
    assert_eq!(gamma["state"], "failed", "{gamma}");
    let states = job_states(&w, &cfg);
    assert_eq!(
        states,
        [("gamma", "failed"), ("shop", "done"), ("shop_eu", "done")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // Access restored and a new Odoo database: the next run takes all four.
    w.pg.psql("postgres", "GRANT CONNECT ON DATABASE gamma TO PUBLIC;");
    w.odoo("delta");
    let out = w.run(&cfg, &["backup", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(printed_paths(&out).len(), 4, "{}", text(&out));
    assert_eq!(w.archives_of("delta").len(), 1, "{:?}", w.archives());
    assert_eq!(w.archives_of("gamma").len(), 1, "{:?}", w.archives());
}

#[test]
fn an_exclude_that_leaves_nothing_fails_the_run_saying_so() {
    let w = World::new();
    let cfg = w.config("\"demo_1\"", "");
    let out = w.run(&cfg, &["backup", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database to back up"),
        "{}",
        text(&out)
    );
}

/// The databases of job `all` in `jobs --json`, with the state of each one's latest run.
fn job_states(w: &World, cfg: &Path) -> Vec<(String, String)> {
    let out = w.run(cfg, &["jobs", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let all = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["id"] == "all")
        .expect("job all")
        .clone();
    all["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|r| {
            (
                r["database"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_run_that_cannot_list_the_databases_is_a_failure_of_each_database_it_backs_up() {
    let w = World::new();
    let cfg = w.config("\"*\"", "");
    let out = w.run(&cfg, &["backup", "all"]);
    assert!(out.status.success(), "{}", text(&out));

    // The server moved away: `"*"` cannot list the databases. The run fails, and the
    // history, `jobs` and the metrics say so for each database the job backs up, instead
    // of going on showing the last success.
    let metrics = w.path("sauvegarde.prom");
    let good = std::fs::read_to_string(&cfg).unwrap();
    let moved = good.replacen(&format!("db_port = {}", w.pg.port()), "db_port = 1", 1);
    std::fs::write(&cfg, format!("metrics_file = {metrics:?}\n{moved}")).unwrap();
    let out = w.run(&cfg, &["backup", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let history = cli::history(&cfg);
    let mut failed: Vec<&str> = history
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["job"] == "all" && r["state"] == "failed")
        .map(|r| r["database"].as_str().expect("database"))
        .collect();
    failed.sort();
    assert_eq!(failed, ODOO, "{history:#}");
    assert_eq!(
        job_states(&w, &cfg),
        ODOO.map(|db| (db.to_string(), "failed".to_string()))
    );
    let samples = std::fs::read_to_string(&metrics).expect("metrics file");
    for db in ODOO {
        let line = format!("sauvegarde_last_run_success{{job=\"all\",database=\"{db}\"}} 0\n");
        assert!(samples.contains(&line), "{line} not in {samples}");
    }
    assert!(!samples.contains("database=\"\""), "{samples}");
    // Nothing was deleted for it.
    for db in ODOO {
        assert_eq!(w.archives_of(db).len(), 1, "{db}: {:?}", w.archives());
    }

    // A job that never listed its databases has none to record: the error alone says it.
    std::fs::remove_dir_all(w.path("state")).unwrap();
    let out = w.run(&cfg, &["backup", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let history = cli::history(&cfg);
    assert_eq!(history.as_array().map(Vec::len), Some(0), "{history:#}");
}

/// The `failed` rows of `database` in the history of job `all`.
fn failures_of(cfg: &Path, database: &str) -> usize {
    cli::history(cfg)
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["job"] == "all" && r["database"] == database && r["state"] == "failed")
        .count()
}

/// Polls `done` every 200 ms for at most two minutes; false on time-out.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn a_daemon_retry_backs_up_only_the_database_that_failed() {
    let w = World::new();
    // `gamma` comes first in a run: the later successes of the others must not hide it.
    w.pg.psql("postgres", "REVOKE CONNECT ON DATABASE gamma FROM PUBLIC;");
    let cfg = w.config("\"*\"", "schedule = { every = 1, unit = \"days\" }");
    let log = w.path("daemon.log");
    let mut daemon = KillOnDrop::spawn(
        cli::host(&cfg, &["daemon"], "info")
            .env("SGD_TEST_MINUTE_SECS", "1")
            .env_remove("PGPASSWORD")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file")),
    );
    // The first run backs up `shop` and `shop_eu`; `gamma` fails, and is retried after
    // the backoff (a minute lasts 1 s here: 5 s, then 10 s), alone.
    let retried = eventually(|| failures_of(&cfg, "gamma") >= 3);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(retried, "gamma was not retried:\n{}", log_text());
    assert_eq!(w.archives_of("shop").len(), 1, "{:?}", w.archives());
    assert_eq!(w.archives_of("shop_eu").len(), 1, "{:?}", w.archives());
    assert!(
        log_text().contains("retry: skipped, its latest backup succeeded"),
        "{}",
        log_text()
    );

    // Access granted: the next retry backs it up, and still only it.
    w.pg.psql("postgres", "GRANT CONNECT ON DATABASE gamma TO PUBLIC;");
    let backed_up = eventually(|| w.archives_of("gamma").len() == 1);
    assert!(backed_up, "gamma was not backed up:\n{}", log_text());
    // No retry follows a retry that left nothing failing.
    std::thread::sleep(Duration::from_secs(6));
    daemon.kill();
    assert_eq!(w.archives_of("gamma").len(), 1, "{:?}", w.archives());
    assert_eq!(w.archives_of("shop").len(), 1, "{:?}", w.archives());
    assert_eq!(w.archives_of("shop_eu").len(), 1, "{:?}", w.archives());
}

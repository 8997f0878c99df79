//! End-to-end tests of the backup engine against a real PostgreSQL 15: archives restored
//! the way Odoo restores them, failures, signals, locks, retention and history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::{odoo_extract, read_tree, PgCluster, BIN};
use sauvegarde_tests::process::KillOnDrop;

/// One test's world: a cluster, the Odoo-shaped `prod`, its filestore, a config.
struct World(OdooWorld);

impl std::ops::Deref for World {
    type Target = OdooWorld;
    fn deref(&self) -> &OdooWorld {
        &self.0
    }
}

impl World {
    fn new() -> Self {
        World(OdooWorld::new(3000))
    }

    /// Writes the config with a `prod` job plus `extra` lines in the job table.
    fn config(&self, extra: &str) -> PathBuf {
        self.0.config(extra, "")
    }

    fn cmd(&self, config: &Path, args: &[&str]) -> Command {
        cli::host(config, args, "info")
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        cli::run(config, args, "info")
    }

    fn history(&self, config: &Path) -> serde_json::Value {
        cli::history(config)
    }

    fn backup_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.backups())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A `pg_dump` wrapper script: `body` runs with `$REAL` the real pg_dump.
    fn wrapper(&self, body: &str) -> PathBuf {
        let path = self.path("fake/pg_dump");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/bash\nREAL={BIN}/pg_dump\n{body}\n")).unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .unwrap();
        path
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn zip_backup_restores_like_odoo() {
    let w = World::new();
    let cfg = w.config("");
    let out = w.run(&cfg, &["backup", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(archive.parent(), Some(w.backups().as_path()));
    let name = archive.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("prod_")
            && name.ends_with(".zip")
            && name.len() == "prod_2024-01-01_00-00-00.zip".len(),
        "{name}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(w.backup_files(), vec![name.to_string()]);

    // Restore as Odoo does: extract dump.sql and filestore/, new db, psql -q -f.
    let x = w.path("extract");
    odoo_extract(&archive, &x);
    w.pg.createdb("restored");
    let restore =
        w.pg.client("psql")
            .args(["-q", "-d", "restored", "-f"])
            .arg(x.join("dump.sql"))
            .output()
            .unwrap();
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(
        !String::from_utf8_lossy(&restore.stderr).contains("ERROR"),
        "{}",
        text(&restore)
    );
    w.pg.assert_same_tables("prod", "restored");
    assert_eq!(
        read_tree(&x.join("filestore")),
        read_tree(&w.path("filestore"))
    );

    // Manifest.
    let script = "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.read('manifest.json').decode())";
    let m = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", text(&m));
    let manifest: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(manifest["odoo_dump"], "1");
    assert_eq!(manifest["db_name"], "prod");
    assert_eq!(manifest["version"], "17.0");
    assert_eq!(manifest["major_version"], "17.0");
    assert_eq!(
        manifest["version_info"],
        serde_json::json!([17, 0, 0, "final", 0, ""])
    );
    assert_eq!(manifest["pg_version"], "15.0");
    assert_eq!(
        manifest["modules"],
        serde_json::json!({"base": "17.0.1.3", "mail": "17.0.1.15", "web": "17.0.1.0"})
    );
    assert_eq!(manifest["sauvegarde.tables"]["public.res_partner"], 3000);
    assert_eq!(manifest["sauvegarde.tables"]["extra.Mixed Case"], 2);
    // Entry order and compression: dump.sql first, manifest last; random files stored.
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
                  for i in z.infolist(): print(i.filename, i.compress_type, i.file_size)";
    let l = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&l.stdout).to_string();
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("dump.sql 8 "), "{listing}");
    assert!(
        lines.last().unwrap().starts_with("manifest.json 8 "),
        "{listing}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("filestore/") && l.contains(" 0 2")),
        "a stored file: {listing}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("filestore/") && l.contains(" 8 ")),
        "a deflated file: {listing}"
    );

    // History: done, size and checksum of the file.
    let h = w.history(&cfg);
    let row = &h[0];
    assert_eq!(row["state"], "done");
    assert_eq!(row["path"], archive.to_str().unwrap());
    assert_eq!(row["size"], std::fs::metadata(&archive).unwrap().len());
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    assert_eq!(
        row["sha256"].as_str().unwrap(),
        String::from_utf8_lossy(&sum.stdout)
            .split(' ')
            .next()
            .unwrap()
    );

    // jobs --json shows the last result.
    let j = w.run(&cfg, &["jobs", "--json"]);
    assert!(j.status.success(), "{}", text(&j));
    let jobs: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(jobs[0]["id"], "prod");
    assert_eq!(jobs[0]["last"]["state"], "done");
}

#[test]
fn non_odoo_database_and_dump_format() {
    let w = World::new();
    w.pg.createdb("app");
    w.pg.psql("app", "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'é' || i FROM generate_series(1, 500) i;");
    let cfg = w.config("");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap()
        + &format!(
            "\n[jobs.app]\ndatabase = \"app\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\ndb_user = \"postgres\"\nfilestore = \"none\"\n\
             \n[jobs.appdump]\ndatabase = \"app\"\nformat = \"dump\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\ndb_user = \"postgres\"\n",
            w.pg.port(),
            w.pg.port()
        );
    std::fs::write(&cfg, text_cfg).unwrap();

    let out = w.run(&cfg, &["backup", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.read('manifest.json').decode())\nprint(sorted(z.namelist()))";
    let m = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&archive)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&m.stdout).to_string();
    let (json, names) = printed.trim_end().rsplit_once('\n').unwrap();
    let manifest: serde_json::Value = serde_json::from_str(json).unwrap();
    for k in [
        "odoo_dump",
        "version",
        "version_info",
        "major_version",
        "modules",
    ] {
        assert!(manifest.get(k).is_none(), "{k} in {manifest}");
    }
    assert_eq!(manifest["db_name"], "app");
    assert_eq!(names, "['dump.sql', 'manifest.json']");

    let out = w.run(&cfg, &["backup", "appdump"]);
    assert!(out.status.success(), "{}", text(&out));
    let dump = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(dump.to_str().unwrap().ends_with(".dump"));
    w.pg.createdb("app2");
    let r =
        w.pg.client("pg_restore")
            .args(["--no-owner", "--dbname=app2"])
            .arg(&dump)
            .output()
            .unwrap();
    assert!(r.status.success(), "{}", text(&r));
    compare_tables_simple(&w.pg, "app", "app2");
}

fn compare_tables_simple(pg: &PgCluster, a: &str, b: &str) {
    assert_eq!(pg.tables(a), pg.tables(b));
    for t in pg.tables(a) {
        assert_eq!(pg.table_digest(a, &t), pg.table_digest(b, &t), "{t}");
    }
}

#[test]
fn pg_dump_failing_midway_leaves_nothing_and_records_its_message() {
    let w = World::new();
    let fake =
        w.wrapper("\"$REAL\" \"$@\"\necho 'pg_dump: error: simulated failure midway' >&2\nexit 1");
    let cfg = w.config(&format!("pg_dump = {fake:?}"));
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("simulated failure midway"),
        "{}",
        text(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(w.backup_files(), Vec::<String>::new());
    let h = w.history(&cfg);
    assert_eq!(h[0]["state"], "failed");
    assert!(
        h[0]["message"]
            .as_str()
            .unwrap()
            .contains("simulated failure midway"),
        "{h}"
    );
}

#[test]
fn bad_pg_dump_path_and_dropped_database() {
    let w = World::new();
    let cfg = w.config("pg_dump = \"/nonexistent/bin/pg_dump\"");
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/bin/pg_dump") && err.contains("prod"),
        "{err}"
    );
    assert_eq!(w.backup_files(), Vec::<String>::new());
    assert_eq!(w.history(&cfg)[0]["state"], "failed");

    // pg_dump runs but the database is gone (dropped by the wrapper before dumping).
    let port = w.pg.port();
    let fake = w.wrapper(&format!(
        "{BIN}/psql -X -q -h 127.0.0.1 -p {port} -U postgres -d postgres -c 'DROP DATABASE prod' >&2\nexec \"$REAL\" \"$@\""
    ));
    let cfg = w.config(&format!("pg_dump = {fake:?}"));
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        text(&out)
    );
    assert_eq!(w.backup_files(), Vec::<String>::new());
    let h = w.history(&cfg);
    assert!(
        h[0]["message"].as_str().unwrap().contains("does not exist"),
        "{h}"
    );
}

#[test]
fn unwritable_backup_dir_is_a_clear_error() {
    let w = World::new();
    // A path below a regular file fails even for root.
    std::fs::write(w.path("plainfile"), "x").unwrap();
    let cfg = w.config(&format!("backup_dir = {:?}", w.path("plainfile/backups")));
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plainfile/backups") && err.contains("backup directory"),
        "{err}"
    );
}

struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_keeps_older_archives_and_leaves_no_partial() {
    let w = World::new();
    let small = w.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&small)
        .output()
        .unwrap();
    assert!(
        mount.status.success(),
        "mount tmpfs (needs root): {}",
        text(&mount)
    );
    let _guard = Mount(small.clone());
    let older = small.join("prod_2020-01-01_00-00-00.zip");
    std::fs::write(&older, b"older archive").unwrap();
    // A filestore that cannot fit: 3 MiB of incompressible data.
    std::fs::write(
        w.path("filestore/big.bin"),
        sauvegarde_tests::postgres::pseudo_random(9, 3 << 20),
    )
    .unwrap();
    let cfg = w.config(&format!("backup_dir = {small:?}"));
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("disk is full") && err.contains(".partial"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![older.file_name().unwrap().to_owned()]);
    assert_eq!(std::fs::read(&older).unwrap(), b"older archive");
    assert_eq!(w.history(&cfg)[0]["state"], "failed");
}

/// pg_dump that dumps, then hangs with stdout still open.
/// A pg_dump that hangs in every call, `--version` included (the first one the backup
/// makes): it writes its pid to `fake/pid`, then sleeps holding its stdout open.
fn hanging_wrapper(w: &World) -> PathBuf {
    let pid_file = w.path("fake/pid");
    w.wrapper(&format!(
        "\"$REAL\" \"$@\"\necho $$ > {pid_file:?}\nexec sleep 120"
    ))
}

fn wait_running(w: &World, cfg: &Path) {
    wait_until("a running backup with a partial file", || {
        w.backup_files().iter().any(|f| f.ends_with(".partial"))
            && w.history(cfg)
                .get(0)
                .is_some_and(|r| r["state"] == "running")
    });
}

/// Where the backup is stuck when SIGTERM arrives.
enum Hang {
    /// pg_dump has written the dump but keeps its stdout open.
    Dump,
    /// `pg_dump --version` (for the manifest) never returns.
    VersionProbe,
    /// psql, counting rows for the manifest, never returns.
    CatalogueQuery,
}

/// `backup prod` stuck at `hang` stops on SIGTERM within seconds: exit 1, no partial or
/// final archive, a `failed` row saying "interrupted", and the stuck program is gone.
fn sigterm_while(hang: Hang) {
    let w = World::new();
    let pid_file = w.path("fake/pid");
    let fake = match hang {
        Hang::Dump => w.wrapper(&format!(
            "if [ \"$1\" = --version ]; then exec \"$REAL\" \"$@\"; fi\n\
             \"$REAL\" \"$@\"\necho $$ > {pid_file:?}\nexec sleep 120"
        )),
        Hang::VersionProbe => hanging_wrapper(&w),
        Hang::CatalogueQuery => {
            let fake = w.wrapper("exec \"$REAL\" \"$@\"");
            // The backup uses the psql next to the configured pg_dump.
            let psql = fake.with_file_name("psql");
            std::fs::write(
                &psql,
                format!("#!/bin/bash\necho $$ > {pid_file:?}\nexec sleep 120\n"),
            )
            .unwrap();
            Command::new("chmod")
                .arg("755")
                .arg(&psql)
                .status()
                .unwrap();
            fake
        }
    };
    let cfg = w.config(&format!("pg_dump = {fake:?}"));
    let log = std::fs::File::create(w.path("backup.log")).unwrap();
    let mut child = KillOnDrop::spawn(
        w.cmd(&cfg, &["backup", "prod"])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log),
    );
    wait_running(&w, &cfg);
    wait_until("the stuck program's pid", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n'))
    });
    let stuck: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let log = || std::fs::read_to_string(w.path("backup.log")).unwrap_or_default();
    let signalled = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.pid().to_string()])
        .status()
        .unwrap();
    let deadline = signalled + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "backup did not stop after SIGTERM; its log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // SIGTERM to the stuck program's group is enough: no wait for the SIGKILL fallback.
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}; log:\n{}",
        log()
    );
    assert_eq!(status.code(), Some(1), "{}", log());
    assert_eq!(w.backup_files(), Vec::<String>::new());
    let h = w.history(&cfg);
    assert_eq!(h.as_array().map(Vec::len), Some(1), "{h}");
    assert_eq!(h[0]["state"], "failed", "{h}");
    assert!(
        h[0]["message"].as_str().unwrap().contains("interrupted"),
        "{h}"
    );
    // The stuck program did not outlive the backup (a zombie waiting for init counts as
    // gone).
    wait_until("the stuck program to be gone", || {
        std::fs::read_to_string(format!("/proc/{stuck}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    });
}

#[test]
fn sigterm_while_pg_dump_hangs_removes_partial_and_records_interrupted() {
    sigterm_while(Hang::Dump);
}

#[test]
fn sigterm_while_pg_dump_version_hangs_removes_partial_and_records_interrupted() {
    sigterm_while(Hang::VersionProbe);
}

#[test]
fn sigterm_while_a_catalogue_query_hangs_removes_partial_and_records_interrupted() {
    sigterm_while(Hang::CatalogueQuery);
}

#[test]
fn concurrent_backup_is_refused_and_stale_run_is_recovered() {
    let w = World::new();
    let fake = hanging_wrapper(&w);
    let cfg = w.config(&format!("pg_dump = {fake:?}"));
    let mut first = KillOnDrop::spawn(
        w.cmd(&cfg, &["backup", "prod"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_running(&w, &cfg);
    let second = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("already running") && err.contains(&first.pid().to_string()),
        "{err}"
    );

    // Crash the first one: its partial file and `running` row stay behind...
    first.kill();
    // The orphaned pg_dump stand-in (its pid, written by the wrapper).
    if let Ok(pid) = std::fs::read_to_string(w.path("fake/pid")) {
        Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .ok();
    }
    assert!(w.backup_files().iter().any(|f| f.ends_with(".partial")));
    // ...until the next start, which marks it failed and removes the partial.
    let cfg = w.config("");
    let out = w.run(&cfg, &["backup", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        w.backup_files().iter().all(|f| !f.ends_with(".partial")),
        "{:?}",
        w.backup_files()
    );
    let h = w.history(&cfg);
    let states: Vec<_> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["done", "failed"], "{h}");
    assert!(h[1]["message"].as_str().unwrap().contains("died"), "{h}");
}

#[test]
fn retention_keeps_what_it_cannot_prove_and_prune_adopt_claims_it() {
    let w = World::new();
    std::fs::create_dir_all(w.backups()).unwrap();
    let names = [
        "prod_2020-01-01_00-00-00.zip",
        "prod_2020-01-02_00-00-00.zip",
        "prod_2020-01-03_00-00-00.zip",
        "prod_2020-01-04_00-00-00.dump",
        "prod_2020-01-01_00-00-00.zip.bak",
        "prodx_2020-01-01_00-00-00.zip",
        "notes.txt",
    ];
    for n in names {
        std::fs::write(w.backups().join(n), n).unwrap();
    }
    let cfg = w.config("keep_days = 30\nkeep_count = 5");
    // Files copied in by hand: no history, no manifest. Nothing is deleted; the dry run
    // says why.
    let out = w.run(&cfg, &["prune", "prod", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("prod_2020-01-01_00-00-00.zip: not this job's")
            && !listed.contains("would delete"),
        "{listed}"
    );
    let out = w.run(&cfg, &["prune", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.backup_files().len(), names.len());
    // Claimed with --adopt (listed first by --dry-run), they are the job's, in either
    // format (a job whose `format` changed still owns its older archives): the newest old
    // archive (the `.dump`) survives even though too old, the others go.
    let out = w.run(&cfg, &["prune", "prod", "--adopt", "--dry-run"]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("would adopt") && listed.contains("would delete"),
        "{listed}"
    );
    assert_eq!(w.backup_files().len(), names.len());
    let out = w.run(&cfg, &["prune", "prod", "--adopt"]);
    assert!(out.status.success(), "{}", text(&out));
    let files = w.backup_files();
    assert!(
        files.contains(&"prod_2020-01-04_00-00-00.dump".to_string()),
        "{files:?}"
    );
    for gone in [
        "prod_2020-01-01_00-00-00.zip",
        "prod_2020-01-02_00-00-00.zip",
        "prod_2020-01-03_00-00-00.zip",
    ] {
        assert!(!files.contains(&gone.to_string()), "{gone}: {files:?}");
    }
    // A backup after years without one does not count the old archive's age across that
    // gap: it is kept, and the run says why; `prune` run by a person then deletes it.
    // Foreign files survive throughout.
    let out = w.run(&cfg, &["backup", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("gap"), "{}", text(&out));
    let new = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(w
        .backup_files()
        .contains(&"prod_2020-01-04_00-00-00.dump".to_string()));
    let out = w.run(&cfg, &["prune", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut expected = vec![
        new.file_name().unwrap().to_str().unwrap().to_string(),
        "notes.txt".into(),
        "prod_2020-01-01_00-00-00.zip.bak".into(),
        "prodx_2020-01-01_00-00-00.zip".into(),
    ];
    expected.sort();
    assert_eq!(w.backup_files(), expected);
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let w = World::new();
    let cfg = w.config("keep_days = \"many\"\nformat = \"tar\"");
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jobs.prod.keep_days") || err.contains("jobs.prod.format"),
        "{err}"
    );
    let cfg = w.config("");
    let out = w.run(&cfg, &["backup", "nosuchjob"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchjob"));
}

#[test]
fn password_never_leaks_in_errors_or_history() {
    let w = World::new();
    let fake = w.wrapper(
        "echo \"connection failed for password $(cut -d: -f5- \"$PGPASSFILE\")\" >&2\nexit 1",
    );
    let cfg = w.config(&format!(
        "pg_dump = {fake:?}\ndb_password = \"Sup3r-Secret-Pw\"\nfilestore = \"none\""
    ));
    // `filestore` given twice is a config error: rewrite without the first one.
    let body = std::fs::read_to_string(&cfg).unwrap().replacen(
        &format!("filestore = {:?}\n", w.path("filestore")),
        "",
        1,
    );
    std::fs::write(&cfg, body).unwrap();
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("connection failed for password ***"), "{all}");
    assert!(!all.contains("Sup3r-Secret-Pw"), "{all}");
    let h = w.history(&cfg).to_string();
    assert!(!h.contains("Sup3r-Secret-Pw") && h.contains("***"), "{h}");
}

#[test]
fn adhoc_backup_needs_no_config() {
    let w = World::new();
    let out_dir = w.path("adhoc");
    std::fs::create_dir_all(&out_dir).unwrap();
    // An empty file stands for "no configuration": without --config the command would
    // read the machine's /etc/sauvegarde, which no test may.
    let empty = w.path("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(&empty)
        .args(["backup", "--database", "prod", "--output-dir"])
        .env("XDG_CONFIG_HOME", w.path("xdg"))
        .arg(&out_dir)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", w.pg.port().to_string())
        .env("PGUSER", "postgres")
        .env("SAUVEGARDE_STATE_DIR", w.path("state"))
        .env("HOME", w.path("home"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(archive.parent(), Some(out_dir.as_path()));
    let x = w.path("x");
    odoo_extract(&archive, &x);
    assert!(x.join("dump.sql").is_file());
}

//! Ownership and trust, end to end with a real PostgreSQL and sshd: retention deletes only
//! the archives this job made on this host; names never collide; a clock that jumps never
//! costs the archive just written; a corrupt, read-only or newer history never stops a
//! backup; and `backup` run by hand notifies like a scheduled run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::sshd::{self, Sshd};
use serde_json::Value;

struct World(OdooWorld);

impl std::ops::Deref for World {
    type Target = OdooWorld;
    fn deref(&self) -> &OdooWorld {
        &self.0
    }
}

impl World {
    fn new() -> Self {
        World(OdooWorld::new(50))
    }

    /// A `[jobs.<id>]` table on `prod` with `extra` lines, writing to `backups/`.
    fn job(&self, id: &str, extra: &str) -> String {
        format!(
            "\n[jobs.{id}]\ndatabase = \"prod\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\n\
             db_user = \"postgres\"\nfilestore = {:?}\n{extra}\n",
            self.pg.port(),
            self.path("filestore"),
        )
    }

    /// A config with `prod` (its `extra` lines) and more tables in `tail`.
    fn config(&self, extra: &str, tail: &str) -> PathBuf {
        self.0.config(extra, tail)
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        cli::run(config, args, "info")
    }

    fn backup(&self, config: &Path, job: &str) -> PathBuf {
        let out = self.run(config, &["backup", job]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn backup_files(&self) -> Vec<String> {
        files_in(&self.backups())
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Writes a ZIP as Odoo's database manager makes it: dump.sql and a manifest without
/// sauvegarde's ownership record.
fn odoo_made_zip(path: &Path) {
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
        \x20   z.writestr('dump.sql', 'SELECT 1;\\n')\n\
        \x20   z.writestr('manifest.json', '{\"odoo_dump\": \"1\", \"db_name\": \"shop\", \"version\": \"17.0\"}')\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn two_jobs_on_one_database_keep_each_others_archives() {
    let w = World::new();
    let cfg = w.config("keep_count = 3", &w.job("hourly", "keep_count = 1"));
    let mut daily = Vec::new();
    let mut hourly = Vec::new();
    for round in 0..3 {
        daily.push(name_of(&w.backup(&cfg, "prod")));
        if round < 2 {
            hourly.push(name_of(&w.backup(&cfg, "hourly")));
        }
    }
    // The hourly job keeps its newest one; every daily archive survives its retention.
    let mut expected: Vec<String> = daily.iter().chain(hourly.last()).cloned().collect();
    expected.sort();
    assert_eq!(w.backup_files(), expected);

    // `prune --dry-run` of the hourly job says why the daily archives stay.
    let out = w.run(&cfg, &["prune", "hourly", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    for d in &daily {
        assert!(
            listed.contains(&format!("{d}: not this job's (made by job `prod`), kept")),
            "{listed}"
        );
    }
}

#[test]
fn two_jobs_started_together_twenty_times_all_succeed() {
    let w = World::new();
    let cfg = w.config("", &w.job("hourly", ""));
    let mut names = Vec::new();
    for round in 0..20 {
        let start = |job: &str| {
            cli::host(&cfg, &["backup", job], "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (a, b) = (start("prod"), start("hourly"));
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out));
            names.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 40, "two runs shared a name: {names:?}");
    let files = w.backup_files();
    assert_eq!(files.len(), 40, "{files:?}");
    assert!(files.iter().all(|f| !f.ends_with(".partial")), "{files:?}");
}

#[test]
fn an_archive_of_odoos_own_manager_is_never_deleted() {
    let w = World::new();
    std::fs::create_dir_all(w.backups()).unwrap();
    let odoo = w.backups().join("prod_2020-01-01_00-00-00.zip");
    odoo_made_zip(&odoo);
    let before = sha256(&odoo);
    let cfg = w.config("keep_count = 1\nkeep_days = 1", "");
    w.backup(&cfg, "prod");
    let newest = w.backup(&cfg, "prod");
    assert!(odoo.exists(), "{:?}", w.backup_files());
    assert_eq!(sha256(&odoo), before);
    assert_eq!(
        w.backup_files(),
        vec![name_of(&odoo), name_of(&newest)],
        "the job's own older archive goes, Odoo's stays"
    );
    let out = w.run(&cfg, &["prune", "prod", "--dry-run"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("prod_2020-01-01_00-00-00.zip: not this job's"),
        "{listed}"
    );
    // Claimed explicitly, it is the job's like any other: listed first, then pruned.
    let out = w.run(&cfg, &["prune", "prod", "--adopt", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("would adopt {}", odoo.display())),
        "{}",
        text(&out)
    );
    assert!(odoo.exists());
    let out = w.run(&cfg, &["prune", "prod", "--adopt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!odoo.exists(), "{}", text(&out));
    assert_eq!(w.backup_files(), vec![name_of(&newest)]);
}

#[test]
fn a_clock_that_ran_ahead_never_costs_the_archive_just_written() {
    let w = World::new();
    let cfg = w.config(
        "keep_count = 1\nkeep_days = 1\nschedule = { every = 1, unit = \"days\" }",
        "",
    );
    let out = cli::faked(&cfg, &["backup", "prod"], "info", "@2031-06-01 12:00:00")
        .output()
        .expect("faketime backup");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let future = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        name_of(&future).starts_with("prod_2031-06-01_"),
        "{future:?}"
    );

    // The scheduler takes a last success in the future as now: the job is not stalled
    // until 2031.
    let out = w.run(&cfg, &["jobs", "--json"]);
    let jobs: Value = serde_json::from_slice(&out.stdout).expect("jobs json");
    let next = jobs[0]["next"].as_str().expect("next").to_string();
    assert!(next.as_str() < "2030", "next backup {next}\n{}", text(&out));

    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let now = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(now.exists(), "the archive just written was deleted");
    assert!(
        future.exists(),
        "an archive dated in the future was deleted"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dated in the future"),
        "{}",
        text(&out)
    );
}

#[test]
fn two_hosts_sharing_one_sftp_directory_never_prune_each_other() {
    let w = World::new();
    let sshd = Sshd::start();
    let host = |name: &str, keep: u32| -> PathBuf {
        let text = format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n{}\
             keep_count = {keep}\n\n[jobs.prod.destinations.offsite]\ntype = \"sftp\"\n\
             host = \"127.0.0.1\"\nport = {}\nuser = {:?}\npassword = {:?}\n\
             host_key_fingerprint = {:?}\nremote_dir = {:?}\n",
            w.path(&format!("{name}/backups")),
            w.path(&format!("{name}/state")),
            w.job("prod", "").trim_start(),
            sshd.port(),
            sshd::PASSWORD_USER,
            sshd::PASSWORD,
            sshd.host_key_fingerprint(),
            sshd.data_dir(),
        );
        let path = w.path(&format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let first = host("first", 3);
    let second = host("second", 1);
    let mut first_names = Vec::new();
    for _ in 0..3 {
        first_names.push(name_of(&w.backup(&first, "prod")));
    }
    let remote = |n: &str| sshd.data_dir().join(n).exists();
    assert!(first_names.iter().all(|n| remote(n)));
    // Two hosts backing up in the same second would upload the same name (each host only
    // sees its own directory): start the second host's backups in another second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let s1 = name_of(&w.backup(&second, "prod"));
    let s2 = name_of(&w.backup(&second, "prod"));
    for n in &first_names {
        assert!(remote(n), "the second host deleted {n} of the first");
    }
    // The second host's own retention still works on its own uploads.
    assert!(
        remote(&s2) && !remote(&s1),
        "{:?}",
        files_in(&sshd.data_dir())
    );
    let out = w.run(&second, &["prune", "prod", "--dry-run"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&format!(
            "offsite:{}: not this job's (not uploaded by this job from this host), kept",
            first_names[0]
        )),
        "{listed}"
    );
}

#[test]
fn a_job_whose_format_changed_still_prunes_its_archives_of_the_other_format() {
    let w = World::new();
    let dump = w.config("format = \"dump\"\nkeep_count = 2", "");
    let dumps: Vec<PathBuf> = (0..2).map(|_| w.backup(&dump, "prod")).collect();
    assert!(dumps.iter().all(|d| name_of(d).ends_with(".dump")));
    let zip = w.config("keep_count = 2", "");
    let first = w.backup(&zip, "prod");
    assert!(!dumps[0].exists(), "{:?}", w.backup_files());
    let second = w.backup(&zip, "prod");
    assert_eq!(w.backup_files(), vec![name_of(&first), name_of(&second)]);
}

/// An SFTP destination `offsite` of job `job` on `sshd`.
fn sftp_destination(job: &str, sshd: &Sshd) -> String {
    format!(
        "\n[jobs.{job}.destinations.offsite]\ntype = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\n\
         user = {:?}\npassword = {:?}\nhost_key_fingerprint = {:?}\nremote_dir = {:?}\n",
        sshd.port(),
        sshd::PASSWORD_USER,
        sshd::PASSWORD,
        sshd.host_key_fingerprint(),
        sshd.data_dir(),
    )
}

#[test]
fn a_renamed_jobs_archives_are_claimed_with_adopt_from_job_here_and_on_the_destination() {
    let w = World::new();
    let sshd = Sshd::start();
    // The job was `nightly`…
    let before = w.config(
        "",
        &(w.job("nightly", "") + &sftp_destination("nightly", &sshd)),
    );
    let old: Vec<String> = (0..2)
        .map(|_| name_of(&w.backup(&before, "nightly")))
        .collect();
    // …and is now `prod`, which keeps one archive.
    let after = w.config("keep_count = 1", &sftp_destination("prod", &sshd));
    let newest = name_of(&w.backup(&after, "prod"));
    let remote = |n: &str| sshd.data_dir().join(n).exists();
    for n in &old {
        assert!(w.backups().join(n).exists() && remote(n), "{n}");
    }
    // Kept as not this job's, and the listing says how to claim them.
    let out = w.run(&after, &["prune", "prod", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    let claim = "to claim it if this job was renamed from `nightly`: `sauvegarde prune prod --adopt --from-job nightly`";
    let here = format!(
        "{}: not this job's (made by job `nightly`, which is no longer configured), kept; {claim}",
        w.backups().join(&old[0]).display()
    );
    let there = format!(
        "offsite:{}: not this job's (uploaded by job `nightly`, which is no longer configured), kept; {claim}",
        old[0]
    );
    assert!(listed.contains(&here), "{here}\nin:\n{listed}");
    assert!(listed.contains(&there), "{there}\nin:\n{listed}");
    // A configured job's archives are its own: never claimed.
    let with_hourly = w.config(
        "keep_count = 1",
        &(sftp_destination("prod", &sshd) + &w.job("hourly", "")),
    );
    let out = w.run(
        &with_hourly,
        &["prune", "prod", "--adopt", "--from-job", "hourly"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from-job `hourly` is a configured job"),
        "{}",
        text(&out)
    );
    // Claimed: listed as adopted, then pruned as the job's own, here and there.
    let after = w.config("keep_count = 1", &sftp_destination("prod", &sshd));
    let out = w.run(
        &after,
        &["prune", "prod", "--adopt", "--from-job", "nightly"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    for n in &old {
        let path = w.backups().join(n);
        assert!(
            listed.contains(&format!("adopted {}", path.display())),
            "{listed}"
        );
        assert!(listed.contains(&format!("adopted offsite:{n}")), "{listed}");
        assert!(!path.exists() && !remote(n), "{n} kept\n{listed}");
    }
    assert_eq!(w.backup_files(), vec![newest.clone()]);
    assert!(remote(&newest));
    // The history's rows of those archives are the job's now.
    let history = cli::history(&after);
    for row in history.as_array().unwrap() {
        if old.iter().any(|n| row["file_name"] == n.as_str()) {
            assert_eq!(
                (row["job"].as_str(), row["state"].as_str()),
                (Some("prod"), Some("deleted")),
                "{row}"
            );
        }
    }
}

/// A job with a command notifier that appends each event's state to `events.txt`.
fn notifying_config(w: &World, job_extra: &str) -> PathBuf {
    let script = w.path("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$SAUVEGARDE_EVENT_EVENT $SAUVEGARDE_EVENT_STATE $SAUVEGARDE_EVENT_MESSAGE\" >> {:?}\n",
            w.path("events.txt")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .unwrap();
    w.config(
        job_extra,
        &format!(
            "[notify]\non = [\"failure\", \"success\"]\ncommand = {{ argv = [{:?}] }}\n",
            script
        ),
    )
}

fn events(w: &World) -> String {
    std::fs::read_to_string(w.path("events.txt")).unwrap_or_default()
}

#[test]
fn a_backup_run_by_hand_notifies_like_a_scheduled_one() {
    let w = World::new();
    let cfg = notifying_config(&w, "");
    w.backup(&cfg, "prod");
    assert!(events(&w).contains("backup success"), "{:?}", events(&w));
    // --no-notify: nothing.
    std::fs::remove_file(w.path("events.txt")).unwrap();
    let out = w.run(&cfg, &["backup", "prod", "--no-notify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(events(&w), "");
    // A failure is heard of too.
    let bad = notifying_config(&w, "pg_dump = \"/nonexistent/pg_dump\"");
    let out = w.run(&bad, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(events(&w).contains("backup failure"), "{:?}", events(&w));
}

#[test]
fn a_corrupt_history_is_moved_aside_rebuilt_from_manifests_and_notified() {
    let w = World::new();
    let cfg = notifying_config(&w, "keep_count = 2");
    let first = w.backup(&cfg, "prod");
    let state = w.path("state");
    std::fs::write(
        state.join("history.sqlite"),
        b"this is not a database at all",
    )
    .unwrap();
    for side in ["history.sqlite-wal", "history.sqlite-shm"] {
        let _ = std::fs::remove_file(state.join(side));
    }
    let second = w.backup(&cfg, "prod");
    assert!(first.exists() && second.exists());
    let aside: Vec<String> = files_in(&state)
        .into_iter()
        .filter(|f| f.starts_with("history.sqlite.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", files_in(&state));
    assert!(events(&w).contains("history failure"), "{:?}", events(&w));
    // The first archive was re-adopted from its manifest: the new history knows both, and
    // retention treats the first as the job's.
    let history = cli::history(&cfg);
    let paths: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "done")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&first.to_str().unwrap()), "{history}");
    let third = w.backup(&cfg, "prod");
    assert!(
        !first.exists(),
        "the re-adopted archive is under retention again"
    );
    assert!(second.exists() && third.exists());
}

/// A tmpfs mounted on `dir` (read-only after `prepare` ran), unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs (needs root): {}",
            text(&out)
        );
        Mount(dir.to_path_buf())
    }

    fn read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount ro: {}", text(&out));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_history_never_stops_a_backup_and_retention_waits() {
    let w = World::new();
    let mount = Mount::tmpfs(&w.path("state"));
    let cfg = w.config("keep_count = 1", "");
    let first = w.backup(&cfg, "prod");
    mount.read_only();
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let second = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(second.exists());
    assert!(first.exists(), "retention ran without a history");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("history unavailable"), "{stderr}");
    // Read-only commands still read it, and `jobs` says why backups are not recorded.
    let history = cli::history(&cfg);
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    let out = w.run(&cfg, &["jobs"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("history unavailable"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_full_state_dir_is_named_and_read_only_commands_still_read() {
    let w = World::new();
    let _mount = Mount::tmpfs(&w.path("state"));
    let cfg = w.config("keep_count = 1", "");
    let first = w.backup(&cfg, "prod");
    // Fill the state directory's file system.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", w.path("state/filler").display()))
        .output()
        .unwrap();
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the disk holding the state directory is full"),
        "{stderr}"
    );
    assert!(first.exists(), "retention ran without a history");
    assert_eq!(w.backup_files().len(), 2);
    let history = cli::history(&cfg);
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    let out = w.run(&cfg, &["jobs"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_history_of_a_newer_version_is_never_written_and_backups_go_on() {
    let w = World::new();
    let cfg = w.config("keep_count = 1", "");
    let first = w.backup(&cfg, "prod");
    let db = w.path("state/history.sqlite");
    let out = Command::new("python3")
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
    let before = sha256(&db);
    let out = w.run(&cfg, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer sauvegarde"), "{stderr}");
    assert_eq!(sha256(&db), before, "the newer history was written");
    assert!(first.exists(), "retention ran without a usable history");
    assert_eq!(w.backup_files().len(), 2);
}

mod daemon_common;

/// The daemon keeps its schedule when the history is broken in the way `spoil` breaks it
/// (after one manual backup made the state directory): the job runs again and again, and
/// systemd's status says why nothing is recorded.
fn daemon_keeps_its_schedule(spoil: impl FnOnce(&daemon_common::World, &Path), status: &str) {
    let w = daemon_common::World::new(&["alpha"]);
    let state = w.path("state");
    let mount = Mount::tmpfs(&state);
    let cfg = w.write_config(
        &(w.header(1) + &w.job("a", "alpha", "schedule = { every = 1, unit = \"minutes\" }")),
    );
    let out = cli::run(&cfg, &["backup", "a"], "warn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    spoil(&w, &state);
    if status == "read-only" {
        mount.read_only();
    }
    let mut sock = daemon_common::NotifySocket::bind(w.dir.path());
    let mut d = w.daemon(&cfg, Some(&sock.path));
    sock.expect("READY=1", |m| m.lines().any(|l| l == "READY=1"));
    d.wait_until("three more backups", || {
        w.files("a").iter().filter(|f| f.ends_with(".dump")).count() >= 4
    });
    if status != "corrupt" {
        sock.expect("a status naming the history", |m| {
            m.contains("STATUS=history unavailable")
        });
    }
    d.signal("TERM");
    assert!(d.wait_exit().success(), "{}", d.log());
}

#[test]
fn the_daemon_keeps_its_schedule_with_a_corrupt_history() {
    daemon_keeps_its_schedule(
        |_, state| std::fs::write(state.join("history.sqlite"), b"garbage, not sqlite").unwrap(),
        "corrupt",
    );
}

#[test]
fn the_daemon_keeps_its_schedule_with_a_read_only_history() {
    daemon_keeps_its_schedule(|_, _| {}, "read-only");
}

#[test]
fn the_daemon_keeps_its_schedule_with_a_newer_history() {
    daemon_keeps_its_schedule(
        |_, state| {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
                     c.execute('UPDATE schema_version SET version = 99'); c.commit()",
                ])
                .arg(state.join("history.sqlite"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        },
        "newer",
    );
}

//! Hostile neighbours, end to end with the real binary run as root and a real PostgreSQL:
//! a database named like a path is a failed database of its run, never a path; a
//! filestore's owner (an unprivileged account) cannot make root archive a file it could
//! not read itself, by a link at the root, a hard link inside, or a directory swapped for a
//! link while the backup walks it; and a restore writes only inside its target, whichever
//! of its steps finds its directory swapped for a link. The swaps happen at test-only
//! pause points of the debug binary (`SGD_TEST_PAUSE`), one step at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::hostile::{
    chmod, chown_tree, listing, run_to_pause, swap_for_link, unprivileged_user,
};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::{odoo_extract, read_tree, PgCluster};

/// What no archive may ever hold: a file only root may read.
const SECRET: &[u8] = b"root:$6$only-root-may-read-this\n";

/// `prod` (from [`OdooWorld`]) with its filestore copied to `odoo/filestore/prod`, where
/// `odoo` and everything in it belongs to the unprivileged account (Odoo's data_dir), and
/// `secret/` (root's, 0755) holding `ab/` with the root-only file `stolen` (0600) and the
/// world-readable `public`.
struct World {
    w: OdooWorld,
    uid: u32,
    gid: u32,
}

impl World {
    fn new() -> Self {
        let (uid, gid) = unprivileged_user();
        let w = OdooWorld::new(50);
        // The account must be able to reach its data_dir.
        chmod(w.dir.path(), 0o755);
        let filestore = w.path("odoo/filestore/prod");
        std::fs::create_dir_all(filestore.parent().unwrap()).unwrap();
        copy_tree(&w.path("filestore"), &filestore);
        chown_tree(&w.path("odoo"), uid, gid);
        let secret = w.path("secret/ab");
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(secret.join("stolen"), SECRET).unwrap();
        chmod(&secret.join("stolen"), 0o600);
        std::fs::write(secret.join("public"), b"anyone may read this").unwrap();
        World { w, uid, gid }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.w.path(rel)
    }

    fn filestore(&self) -> PathBuf {
        self.path("odoo/filestore/prod")
    }

    /// A configuration whose job `prod` backs up `prod` with its filestore at
    /// [`World::filestore`], plus `extra` lines.
    fn config(&self, extra: &str) -> PathBuf {
        let text = format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n[jobs.prod]\n\
             database = \"prod\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\ndb_user = \"postgres\"\n\
             filestore = {:?}\n{extra}\n",
            self.w.backups(),
            self.path("state"),
            self.w.pg.port(),
            self.filestore(),
        );
        let path = self.path("sauvegarde.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The filestore of the archive `out` printed, relative path → content.
    fn archived(&self, out: &Output) -> BTreeMap<String, Vec<u8>> {
        let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(archive.is_file(), "no archive: {}", text(out));
        let dest = self.path(&format!("extract-{}", archive.display().to_string().len()));
        let _ = std::fs::remove_dir_all(&dest);
        odoo_extract(&archive, &dest);
        let files = dest.join("filestore");
        if files.exists() {
            read_tree(&files)
        } else {
            BTreeMap::new()
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn no_secret_in(files: &BTreeMap<String, Vec<u8>>) {
    assert!(
        !files.values().any(|v| v.as_slice() == SECRET),
        "a root-only file was archived: {:?}",
        files.keys()
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `ln -s to at`, the link owned by the unprivileged account, as if it made it.
fn link_as_owner(w: &World, to: &Path, at: &Path) {
    std::os::unix::fs::symlink(to, at).unwrap();
    std::os::unix::fs::lchown(at, Some(w.uid), Some(w.gid)).unwrap();
}

#[test]
fn a_database_named_like_a_path_fails_alone_and_nothing_is_written_outside_backup_dir() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pg.create_odoo_fixture("shop", "17.0.1.3", &data.join("filestore/shop"), 50);
    // What any role with CREATEDB can do.
    pg.psql("postgres", "CREATE DATABASE \"../../escape\"");
    pg.psql(
        "../../escape",
        "CREATE TABLE ir_module_module (id serial, name varchar, state varchar, latest_version varchar)",
    );
    let backups = dir.path().join("a/b/backups");
    let events = dir.path().join("events");
    let config = dir.path().join("sauvegarde.toml");
    std::fs::write(
        &config,
        format!(
            "backup_dir = {backups:?}\nstate_dir = {:?}\nplugin_dirs = []\n\n\
             [notify]\non = [\"failure\"]\ncommand = {{ argv = [\"/bin/sh\", \"-c\", \
             \"echo \\\"$SAUVEGARDE_EVENT_MESSAGE\\\" >> {}\"] }}\n\n\
             [jobs.all]\ndatabase = \"*\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\n\
             db_user = \"postgres\"\ndata_dir = {data:?}\n",
            dir.path().join("state"),
            events.display(),
            pg.port(),
        ),
    )
    .unwrap();
    let out = cli::run(&config, &["backup", "all"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The healthy database is backed up, and only into backup_dir.
    let archives: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert!(archives[0].starts_with("shop_"), "{archives:?}");
    // Nothing named after the other one anywhere.
    let everything = listing(dir.path());
    let escaped: Vec<_> = everything
        .keys()
        .filter(|p| p.to_string_lossy().contains("escape"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
    // Said, with the database named, and notified.
    let said = stderr(&out);
    assert!(
        said.contains("\"../../escape\"") && said.contains("no safe file name"),
        "{said}"
    );
    let notified = std::fs::read_to_string(&events).unwrap_or_default();
    assert!(
        notified.contains("../../escape"),
        "notification: {notified}"
    );
}

#[test]
fn a_configured_database_named_like_a_path_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sauvegarde.toml");
    for name in ["../../escape", "..", "-x", "a\\nb"] {
        std::fs::write(
            &config,
            format!(
                "state_dir = {:?}\nplugin_dirs = []\n[jobs.prod]\ndatabase = [\"prod\", \"{name}\"]\n",
                dir.path()
            ),
        )
        .unwrap();
        let out = cli::run(&config, &["config", "check"], "warn");
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        let said = stderr(&out);
        assert!(
            said.contains("jobs.prod.database") && said.contains("not a database name"),
            "{name}: {said}"
        );
    }
    std::fs::write(
        &config,
        format!("state_dir = {:?}\nplugin_dirs = []\n", dir.path()),
    )
    .unwrap();
    let out = cli::host(
        &config,
        &["backup", "--database", "../../escape", "--no-export"],
        "warn",
    )
    .current_dir(dir.path())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_filestore_root_its_owner_links_to_root_only_files_is_refused_or_read_as_the_owner() {
    let w = World::new();
    let real = w.filestore();
    let _ = std::fs::remove_dir_all(&real);
    link_as_owner(&w, &w.path("secret"), &real);

    // Links not followed: the backup of prod fails, and says why.
    let out = cli::run(&w.config(""), &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains("is a symbolic link") && said.contains("follow_links = true"),
        "{said}"
    );
    assert!(std::fs::read_dir(w.w.backups())
        .map(|d| d.count() == 0)
        .unwrap_or(true));

    // Followed (as an admin who moved a filestore would): read as its owner, who may
    // read `public` but not `stolen`.
    let out = cli::run(
        &w.config("follow_links = true"),
        &["backup", "prod"],
        "info",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files = w.archived(&out);
    no_secret_in(&files);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["ab/public"]);
    let said = stderr(&out);
    assert!(
        said.lines()
            .any(|l| l.contains("ab/stolen") && l.contains("not readable by sgd-odoo")),
        "{said}"
    );
}

#[test]
fn a_root_only_file_hard_linked_into_the_filestore_is_not_archived() {
    let w = World::new();
    // The kernel stops the account itself (fs.protected_hardlinks); root, or a system
    // without that protection, may still leave such a link.
    std::fs::hard_link(
        w.path("secret/ab/stolen"),
        w.filestore().join("checklist/stolen"),
    )
    .unwrap();
    let out = cli::run(&w.config(""), &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let files = w.archived(&out);
    no_secret_in(&files);
    let mut expected = read_tree(&w.path("filestore"));
    assert!(!expected.is_empty());
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    expected.retain(|k, v| files.get(k) == Some(v));
    assert_eq!(
        expected.len(),
        files.len(),
        "every other file archived intact"
    );
    assert!(
        stderr(&out)
            .lines()
            .any(|l| l.contains("checklist/stolen") && l.contains("not readable by sgd-odoo")),
        "{}",
        text(&out)
    );
}

/// At each step of the walk in turn, the directory about to be opened (the root, a
/// directory, the directory of a file) is moved aside and replaced by a link to a
/// directory holding files of the same names: root-only ones, and readable ones only a
/// walk that looked a path up again would find. None of them is archived.
#[test]
fn a_filestore_directory_swapped_for_a_link_during_the_walk_is_never_followed() {
    const DECOY: &[u8] = b"readable, but not the filestore's file\n";
    let w = World::new();
    let config = w.config("");
    let original = read_tree(&w.filestore());
    for point in ["filestore-root", "filestore-dir", "filestore-file"] {
        let (paused, at) =
            run_to_pause(&mut cli::host(&config, &["backup", "prod"], "info"), point);
        let swapped = if point == "filestore-file" {
            at.parent().unwrap().to_path_buf()
        } else {
            at.clone()
        };
        let decoy = w.path(&format!("decoy-{point}"));
        std::fs::create_dir_all(decoy.join("ab")).unwrap();
        std::fs::write(decoy.join(at.file_name().unwrap()), DECOY).unwrap();
        for secret in ["stolen", "ab/stolen"] {
            std::fs::write(decoy.join(secret), SECRET).unwrap();
            chmod(&decoy.join(secret), 0o600);
        }
        swap_for_link(&swapped, &decoy);
        let out = paused.resume();
        let said = stderr(&out);
        match point {
            "filestore-root" => {
                assert_eq!(out.status.code(), Some(1), "{point}: {}", text(&out));
                assert!(said.contains("was replaced"), "{point}: {said}");
            }
            _ => {
                assert_eq!(out.status.code(), Some(0), "{point}: {}", text(&out));
                let files = w.archived(&out);
                no_secret_in(&files);
                assert!(
                    !files.values().any(|v| v.as_slice() == DECOY),
                    "{point}: a path was looked up again"
                );
                let relative = at.strip_prefix(w.filestore()).unwrap();
                let relative = relative.to_str().unwrap();
                if point == "filestore-dir" {
                    assert!(
                        said.lines()
                            .any(|l| l.contains(relative) && l.contains("not followed")),
                        "{point}: {said}"
                    );
                    assert!(!files.keys().any(|k| k.starts_with(relative)));
                } else {
                    // Opened relative to the directory it was listed in, where it now is.
                    assert_eq!(files.get(relative), original.get(relative), "{point}");
                }
            }
        }
        // Back as it was, for the next step.
        std::fs::remove_file(&swapped).unwrap();
        let mut moved = swapped.as_os_str().to_owned();
        moved.push(".moved");
        std::fs::rename(&moved, &swapped).unwrap();
    }
}

/// At each step of a restore in turn (staging directory made, a directory made, a file
/// about to be created, the rename into place), the directory it works in is moved aside
/// and replaced by a link to a directory outside (root's, as `/etc`, and the account's
/// own): the restore fails and rolls back, and nothing there is created, removed or
/// changes owner, mode or time.
#[test]
fn a_restore_whose_directory_is_swapped_for_a_link_at_any_step_writes_nothing_outside() {
    let w = World::new();
    let config = w.config("");
    let out = cli::run(&config, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let decoys = w.path("decoys");
    std::fs::create_dir_all(decoys.join("etc/ssl")).unwrap();
    std::fs::write(decoys.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    chmod(&decoys.join("etc/ssl"), 0o700);
    std::fs::create_dir_all(decoys.join("home/docs")).unwrap();
    std::fs::write(decoys.join("home/notes"), b"mine").unwrap();
    chown_tree(&decoys.join("home"), w.uid, w.gid);
    let parent = w.path("odoo/filestore");
    let mut case = 0;
    for point in [
        "restore-staging",
        "restore-dir",
        "restore-file",
        "restore-commit",
    ] {
        for decoy in ["etc", "home"] {
            case += 1;
            let database = format!("copy{case}");
            let target = parent.join(&database);
            let before = listing(&decoys);
            let (paused, at) = run_to_pause(
                &mut cli::host(
                    &config,
                    &[
                        "restore",
                        &archive,
                        "--job",
                        "prod",
                        "--database",
                        &database,
                        "--filestore-dir",
                        target.to_str().unwrap(),
                    ],
                    "info",
                ),
                point,
            );
            let swapped = if point == "restore-file" {
                at.parent().unwrap().to_path_buf()
            } else {
                at.clone()
            };
            swap_for_link(&swapped, &decoys.join(decoy));
            let out = paused.resume();
            let what = format!("{point} → {decoy}");
            assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
            assert!(
                stderr(&out).contains("during the restore"),
                "{what}: {}",
                text(&out)
            );
            assert_eq!(listing(&decoys), before, "{what}: the outside changed");
            assert!(
                std::fs::symlink_metadata(&target).is_err(),
                "{what}: the target exists"
            );
            let databases = w.w.pg.psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{database}'"),
            );
            assert_eq!(databases, "0", "{what}: the database was not rolled back");
        }
    }
}

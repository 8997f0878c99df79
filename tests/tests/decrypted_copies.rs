//! Decrypted copies — `verify`, `restore` and drills of an encrypted archive decrypt it
//! whole first — live in a private directory under `state_dir` (mode 0700, root's, never
//! in `$TMPDIR`) on a disk checked for room before a byte is written. What a SIGKILLed
//! process left there is removed by the next process that decrypts and by the daemon's
//! start; a live process's copy, even a stopped one's, never is. The real binary, a real
//! PostgreSQL, keys from the reference `age` tool, a tmpfs as the full disk.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::age::{self, decrypted_copies};
use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::tmpfs::Tmpfs;

/// The room asked beyond the plaintext (`crypt::plaintext::SLACK`).
const SLACK: u64 = 1024 * 1024;

const WAIT: Duration = Duration::from_secs(60);

/// An encrypted job whose commands run with `$TMPDIR` = `tmp/`.
struct Encrypted<'w> {
    w: &'w OdooWorld,
    cfg: PathBuf,
    key: PathBuf,
    archive: PathBuf,
}

impl<'w> Encrypted<'w> {
    /// Backs `prod` up, encrypted to a fresh age key; `state` may be mounted first.
    fn new(w: &'w OdooWorld) -> Self {
        std::fs::create_dir_all(w.path("tmp")).unwrap();
        let (key, recipient) = age::keygen(w.dir.path(), "key.txt");
        let cfg = w.config(&format!("encrypt = {{ recipients = [{recipient:?}] }}"), "");
        let mut e = Encrypted {
            w,
            cfg,
            key,
            archive: PathBuf::new(),
        };
        let out = e.run(&["backup", "prod", "--no-export"]);
        assert!(out.status.success(), "{}", text(&out));
        e.archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        e
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = cli::host(&self.cfg, args, "info");
        c.env("TMPDIR", self.w.path("tmp"));
        c
    }

    /// [`Encrypted::verify`] started in the background, its report in `report.txt`.
    fn spawn_verify(&self, extra: &[&str]) -> KillOnDrop {
        let report = std::fs::File::create(self.w.path("report.txt")).unwrap();
        KillOnDrop::spawn(self.verify(extra).stdout(report))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sauvegarde")
    }

    /// `verify ARCHIVE --identity KEY` with `extra` arguments.
    fn verify(&self, extra: &[&str]) -> Command {
        let mut args = vec![
            "verify",
            self.archive.to_str().unwrap(),
            "--identity",
            self.key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.cmd(&args)
    }

    fn state(&self) -> PathBuf {
        self.w.path("state")
    }

    /// Nothing in `$TMPDIR`, ever.
    fn assert_tmpdir_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.w.path("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }

    /// Waits until a copy that is not one of `known` holds its plaintext; its directory's
    /// name.
    fn wait_for_new_copy(&self, known: &[String]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            for name in decrypted_copies(&self.state()) {
                let dir = self.state().join("decrypt").join(&name);
                let full = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| f.metadata().is_ok_and(|m| m.len() >= 4));
                if full && !known.contains(&name) {
                    return name;
                }
            }
            assert!(Instant::now() < deadline, "no decrypted copy appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

fn mode(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.permissions().mode() & 0o7777, m.uid())
}

#[test]
fn a_decryption_without_room_fails_before_writing_and_says_how_much_it_needs() {
    let w = OdooWorld::new(300);
    let tmpfs = Tmpfs::mount(w.path("state"), 8);
    let e = Encrypted::new(&w);
    // The plaintext's size, by the reference tool.
    let plain = e.w.path("plain.zip");
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(&e.key)
        .arg("-o")
        .arg(&plain)
        .arg(&e.archive)
        .output()
        .expect("run age");
    assert!(out.status.success(), "{}", text(&out));
    let size = std::fs::metadata(&plain).unwrap().len();

    // Room for the slack and half the plaintext.
    tmpfs.fill_until(SLACK + size / 2);
    let free = tmpfs.free();
    let out = e.run(&[
        "restore",
        e.archive.to_str().unwrap(),
        "--identity",
        e.key.to_str().unwrap(),
        "--database",
        "prod_copy",
        "--no-filestore",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    let dir = e.state().join("decrypt");
    for part in [
        "not enough free space to decrypt",
        &format!("in {} (under state_dir)", dir.display()),
        "nothing was written",
        "nothing was restored",
    ] {
        assert!(said.contains(part), "{part:?} not in {said}");
    }
    assert!(
        !e.w.pg
            .psql("postgres", "SELECT datname FROM pg_database")
            .lines()
            .any(|d| d == "prod_copy"),
        "the database was created"
    );
    // Nothing was written: no copy, the free space as it was (the directory itself
    // aside).
    assert_eq!(decrypted_copies(&e.state()), Vec::<String>::new());
    assert!(tmpfs.free() + 4096 >= free, "{} < {free}", tmpfs.free());
    e.assert_tmpdir_empty();

    // `verify` says the same in its `decrypt` check.
    let out = e.verify(&["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let decrypt = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "decrypt")
        .expect("a decrypt check");
    assert_eq!(decrypt["status"], "failed", "{decrypt}");
    assert!(
        decrypt["detail"]
            .as_str()
            .unwrap()
            .contains("not enough free space to decrypt"),
        "{decrypt}"
    );

    // With room for the plaintext and the slack, the same decryption goes through: the
    // check counts the plaintext's size, exactly.
    std::fs::remove_file(e.state().join("filler.bin")).unwrap();
    tmpfs.fill_until(SLACK + size + 64 * 1024);
    let out = e.verify(&[]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(decrypted_copies(&e.state()), Vec::<String>::new());
    e.assert_tmpdir_empty();
}

#[test]
fn a_killed_verify_leaves_plaintext_the_next_start_removes_never_a_live_processs_copy() {
    let w = OdooWorld::new(300);
    let e = Encrypted::new(&w);
    let dir = e.state().join("decrypt");

    // A: killed outright while its copy exists.
    let mut a = e.spawn_verify(&["--restore", "--job", "prod"]);
    let a_copy = e.wait_for_new_copy(&[]);
    a.kill();
    let a_dir = dir.join(&a_copy);
    let plaintext: Vec<_> = std::fs::read_dir(&a_dir)
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .collect();
    assert_eq!(plaintext.len(), 1, "{plaintext:?}");
    assert!(
        std::fs::read(&plaintext[0])
            .unwrap()
            .starts_with(b"PK\x03\x04"),
        "the plaintext is left behind"
    );
    // Root's and private, all the way down.
    assert_eq!(mode(&dir), (0o700, 0));
    assert_eq!(mode(&a_dir), (0o700, 0));
    assert_eq!(mode(&plaintext[0]), (0o600, 0));

    // B, the next process that decrypts, removes A's copy before it writes its own.
    let mut b = e.spawn_verify(&["--restore", "--job", "prod"]);
    let b_copy = e.wait_for_new_copy(std::slice::from_ref(&a_copy));
    signal(b.pid(), "STOP");
    assert!(!a_dir.exists(), "A's copy is still there");
    assert_eq!(decrypted_copies(&e.state()), vec![b_copy.clone()]);

    // C runs while B, alive, is stopped with its copy: B's copy stays.
    let out = e.verify(&[]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(decrypted_copies(&e.state()), vec![b_copy.clone()]);

    // B goes on as if nothing happened, and takes its copy with it.
    signal(b.pid(), "CONT");
    let status = b.0.wait().unwrap();
    assert!(
        status.success(),
        "B: {status}: {}",
        std::fs::read_to_string(e.w.path("report.txt")).unwrap()
    );
    assert_eq!(decrypted_copies(&e.state()), Vec::<String>::new());

    // The daemon's start removes a killed process's copy too.
    let mut d = e.spawn_verify(&["--restore", "--job", "prod"]);
    e.wait_for_new_copy(&[]);
    d.kill();
    assert_eq!(decrypted_copies(&e.state()).len(), 1);
    let mut daemon = KillOnDrop::spawn(e.cmd(&["daemon"]).stdout(Stdio::null()));
    let deadline = Instant::now() + WAIT;
    while !decrypted_copies(&e.state()).is_empty() {
        assert!(
            daemon.0.try_wait().unwrap().is_none(),
            "the daemon exited before removing the copy"
        );
        assert!(Instant::now() < deadline, "the daemon left the copy");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(daemon.pid(), "TERM");
    let _ = daemon.0.wait();
    e.assert_tmpdir_empty();
}

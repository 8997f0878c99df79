//! Helpers for the tests where an untrusted user lives next to root: an unprivileged
//! account that owns a filestore, a listing of a directory precise enough to see any change
//! (type, mode, owner, group, size, modification time), and the real binary driven to a
//! test-only pause point (`SGD_TEST_PAUSE`, debug builds) where the test changes the file
//! system, then resumed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The account standing for the Odoo user (created once per machine, no home, no shell).
pub const USER: &str = "sgd-odoo";

/// The uid and gid of [`USER`], created if needed (idempotent; needs root).
pub fn unprivileged_user() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, USER]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let _ = Command::new("useradd")
            .args(["--system", "-M", "-s", "/usr/sbin/nologin", USER])
            .stderr(Stdio::null())
            .status();
    }
    (
        id("-u").expect("create the test user (needs root)"),
        id("-g").expect("group of the test user"),
    )
}

/// `chown -R uid:gid path`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown {}", path.display());
}

/// Sets the mode of `path`.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// What a listing records of one entry: kind, mode, owner, group, size, mtime (ns).
pub type Stamp = (String, u32, u32, u32, u64, i128);

/// Every entry under `dir`, `dir` included, links not followed: any creation, removal,
/// change of owner, mode, size or modification time shows.
pub fn listing(dir: &Path) -> BTreeMap<PathBuf, Stamp> {
    fn stamp(m: &std::fs::Metadata) -> Stamp {
        let kind = if m.file_type().is_symlink() {
            "link"
        } else if m.is_dir() {
            "dir"
        } else {
            "file"
        };
        (
            kind.to_string(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        )
    }
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Stamp>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let m = std::fs::symlink_metadata(e.path()).expect("lstat");
            out.insert(e.path(), stamp(&m));
            if m.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    out.insert(
        dir.to_path_buf(),
        stamp(&std::fs::symlink_metadata(dir).expect("lstat")),
    );
    walk(dir, &mut out);
    out
}

/// Moves the directory `path` aside (to `<path>.moved`, as its owner could) and puts a
/// symbolic link to `to` in its place.
pub fn swap_for_link(path: &Path, to: &Path) {
    let mut moved = path.as_os_str().to_owned();
    moved.push(".moved");
    std::fs::rename(path, &moved).unwrap_or_else(|e| panic!("move {}: {e}", path.display()));
    std::os::unix::fs::symlink(to, path).unwrap_or_else(|e| panic!("link {}: {e}", path.display()));
}

/// The real binary running until a pause point.
pub struct Paused {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: String,
}

/// Starts `command` (the binary) with `SGD_TEST_PAUSE=point`, and waits until it stops
/// there. Returns the process and the path the point is about. Panics (naming the point
/// and showing the output) when the process ends without pausing.
pub fn run_to_pause(command: &mut Command, point: &str) -> (Paused, PathBuf) {
    let mut child = command
        .env("SGD_TEST_PAUSE", point)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sauvegarde");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut paused = Paused {
        child,
        lines,
        stderr: String::new(),
    };
    let prefix = format!("SGD_TEST_PAUSED {point} ");
    let deadline = Instant::now() + Duration::from_secs(120);
    let path = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match paused.lines.recv_timeout(left) {
            Ok(line) => {
                paused.stderr.push_str(&line);
                paused.stderr.push('\n');
                if let Some(path) = line.strip_prefix(&prefix) {
                    break PathBuf::from(path);
                }
            }
            Err(_) => {
                let out = paused.finish();
                panic!(
                    "sauvegarde never paused at `{point}`: status {:?}\nstderr: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    };
    // The line is written just before the process stops itself: wait until it has.
    let stat = format!("/proc/{}/stat", paused.child.id());
    while !std::fs::read_to_string(&stat).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('T'))
    }) {
        assert!(
            Instant::now() < deadline,
            "sauvegarde did not stop at `{point}`"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (paused, path)
}

impl Paused {
    /// Resumes the process and waits for its end.
    pub fn resume(self) -> Output {
        let status = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "SIGCONT");
        self.finish()
    }

    fn finish(mut self) -> Output {
        let mut stdout = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut stdout);
        }
        let status = self.child.wait().expect("wait for sauvegarde");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        Output {
            status,
            stdout,
            stderr: self.stderr.into_bytes(),
        }
    }
}

//! The harness's guard, `tests/harness/state-guard` (run by nextest around every test
//! binary, and by `scripts/test` around the whole run), catches a write into the machine's
//! own sauvegarde state. The writes are made inside a private mount namespace in which
//! `/etc` and `/var/lib` are overlays whose upper layers are in a temporary directory:
//! the guard sees them there, the machine never does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::build::workspace_root;
use sauvegarde_tests::cli::text;

fn guard() -> PathBuf {
    workspace_root().join("tests/harness/state-guard")
}

/// Runs `setup` then `state-guard sh -c <command>` in a new mount namespace where `/etc`
/// and `/var/lib` are overlays on `scratch`, with `HOME=<scratch>/home`.
fn guarded_in_namespace(scratch: &Path, setup: &str, command: &str) -> Output {
    let script = r#"
set -e
for layer in etc var-lib; do mkdir -p "$SCRATCH/$layer/upper" "$SCRATCH/$layer/work"; done
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$SCRATCH/etc/upper,workdir=$SCRATCH/etc/work" /etc
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$SCRATCH/var-lib/upper,workdir=$SCRATCH/var-lib/work" /var/lib
sh -c "$SETUP"
exec "$GUARD" sh -c "$COMMAND"
"#;
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("SCRATCH", scratch)
        .env("SETUP", setup)
        .env("COMMAND", command)
        .env("GUARD", guard())
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run unshare")
}

/// A name no real installation has, so that the machine can be checked afterwards.
fn marker() -> String {
    format!("state-guard-test-{}", std::process::id())
}

#[test]
fn a_write_into_the_machines_sauvegarde_state_fails_the_guard() {
    let m = marker();
    let writes = [
        format!("/var/lib/sauvegarde/{m}.sqlite"),
        format!("/var/lib/sauvegarde/locks/{m}.lock"),
        format!("/etc/sauvegarde/{m}.toml"),
        format!("/var/lib/odoo/backups/{m}.zip"),
        format!("$HOME/.config/sauvegarde/{m}.toml"),
    ];
    for path in &writes {
        let scratch = tempfile::tempdir().unwrap();
        let out = guarded_in_namespace(
            scratch.path(),
            "",
            &format!("mkdir -p \"$(dirname {path})\" && echo written > {path}"),
        );
        assert_eq!(out.status.code(), Some(1), "{path}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = path.replace("$HOME", &scratch.path().join("home").display().to_string());
        assert!(
            stderr.contains("state-guard: the machine's own sauvegarde state changed")
                && stderr.contains("+ f 8 ") // a new 8-byte file: "written\n"
                && stderr.contains(&shown),
            "{path}: {}",
            text(&out)
        );
    }
    // The writes stayed in the namespace.
    for path in writes.iter().filter(|p| !p.starts_with("$HOME")) {
        assert!(!Path::new(path).exists(), "{path} reached the machine");
    }
}

#[test]
fn a_change_to_an_existing_file_fails_the_guard() {
    let scratch = tempfile::tempdir().unwrap();
    let history = format!("/var/lib/sauvegarde/{}.sqlite", marker());
    // Same size, later modification time: still caught.
    let out = guarded_in_namespace(
        scratch.path(),
        &format!("mkdir -p /var/lib/sauvegarde && echo before > {history} && touch -d '2020-01-01' {history}"),
        &format!("echo after_ > {history}"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("- f 7 ") && stderr.contains("+ f 7 ") && stderr.contains(&history),
        "{}",
        text(&out)
    );
    // A removed file too.
    let scratch = tempfile::tempdir().unwrap();
    let out = guarded_in_namespace(
        scratch.path(),
        &format!("mkdir -p /var/lib/sauvegarde && echo before > {history}"),
        &format!("rm {history}"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!Path::new(&history).exists());
}

#[test]
fn the_guard_passes_a_command_that_writes_elsewhere_with_its_exit_status() {
    let scratch = tempfile::tempdir().unwrap();
    let elsewhere = scratch.path().join("private-state");
    for (code, expected) in [("0", Some(0)), ("3", Some(3))] {
        let out = guarded_in_namespace(
            scratch.path(),
            // What already exists is no change.
            &format!(
                "mkdir -p /var/lib/sauvegarde && echo kept > /var/lib/sauvegarde/{}",
                marker()
            ),
            &format!(
                "mkdir -p {0} && echo ok > {0}/history.sqlite && exit {code}",
                elsewhere.display()
            ),
        );
        assert_eq!(out.status.code(), expected, "{}", text(&out));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("state-guard"),
            "{}",
            text(&out)
        );
    }
}

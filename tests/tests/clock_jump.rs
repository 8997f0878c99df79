//! A clock five years ahead never empties the shelf, end to end with the real binary, a
//! real PostgreSQL and sshd, and libfaketime: four good backups, then one under
//! `FAKETIME=+1826d` with `keep_days = 30`, `keep_count = 10`. Every earlier archive stays,
//! here and on the destination; the run says why (its log, `backup`'s stderr, and the
//! notification that failure listeners receive); `prune --dry-run` says what a person's
//! `prune` would do, and `prune` lists them and deletes them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::sshd::{self, Sshd};

const AHEAD: &str = "+1826d";

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("prod_"))
        .collect();
    v.sort();
    v
}

/// The config: `prod` with `keep_days = 30`, `keep_count = 10`, an SFTP destination, and a
/// command notifier on failures only (the default) appending each event's state and
/// warnings to `events.txt`.
fn config(w: &OdooWorld, sshd: &Sshd) -> PathBuf {
    let script = w.path("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"$SAUVEGARDE_EVENT_STATE\" \"$SAUVEGARDE_EVENT_WARNINGS\" >> {:?}\n",
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
        &format!(
            "keep_days = 30\nkeep_count = 10\n\n[jobs.prod.destinations.offsite]\ntype = \"sftp\"\n\
             host = \"127.0.0.1\"\nport = {}\nuser = {:?}\npassword = {:?}\n\
             host_key_fingerprint = {:?}\nremote_dir = {:?}\n",
            sshd.port(),
            sshd::PASSWORD_USER,
            sshd::PASSWORD,
            sshd.host_key_fingerprint(),
            sshd.data_dir(),
        ),
        &format!("[notify]\ncommand = {{ argv = [{script:?}] }}\n"),
    )
}

fn backup(out: Output) -> PathBuf {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn a_clock_five_years_ahead_keeps_every_earlier_archive_and_a_persons_prune_deletes_them_after_listing(
) {
    let w = OdooWorld::new(50);
    let sshd = Sshd::start();
    let cfg = config(&w, &sshd);
    let good: Vec<String> = (0..4)
        .map(|_| name_of(&backup(cli::run(&cfg, &["backup", "prod"], "info"))))
        .collect();

    let out = cli::faked(&cfg, &["backup", "prod"], "info", AHEAD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let jumped = name_of(&backup(out));
    assert!(jumped.starts_with("prod_203"), "{jumped}");
    let mut all = good.clone();
    all.push(jumped.clone());
    all.sort();
    assert_eq!(files_in(&w.backups()), all, "the shelf was emptied here");
    assert_eq!(
        files_in(&sshd.data_dir()),
        all,
        "the shelf was emptied on the destination"
    );
    let why =
        "4 archive(s) older than keep_days = 30 kept: age is not counted across a 1826-day gap";
    assert!(stderr.contains(&format!("warning: {why}")), "{stderr}");
    // The notification, though the backup succeeded, reaches those listening for failures,
    // with the reason here and on the destination.
    let events = std::fs::read_to_string(w.path("events.txt")).unwrap_or_default();
    assert!(events.contains(&format!("success|{why}")), "{events}");
    assert!(events.contains(&format!("on offsite: {why}")), "{events}");

    // What a person's prune would do, and why.
    let out = cli::faked(&cfg, &["prune", "prod", "--dry-run"], "warn", AHEAD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("keep_days is counted across a 1826-day gap in this job's archives"),
        "{listed}"
    );
    let reason = "(older than keep_days = 30 counted across a 1826-day gap in this job's archives";
    for name in &good {
        let local = w.backups().join(name);
        for place in [local.display().to_string(), format!("offsite:{name}")] {
            let line = format!("would delete {place} {reason}");
            assert!(listed.contains(&line), "{line}\nin:\n{listed}");
        }
    }
    assert_eq!(files_in(&w.backups()), all, "a dry run deletes nothing");

    let out = cli::faked(&cfg, &["prune", "prod"], "warn", AHEAD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    for name in &good {
        let line = format!("deleted offsite:{name} {reason}");
        assert!(listed.contains(&line), "{line}\nin:\n{listed}");
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keep_days applied across a gap"),
        "{}",
        text(&out)
    );
    assert_eq!(files_in(&w.backups()), vec![jumped.clone()]);
    assert_eq!(files_in(&sshd.data_dir()), vec![jumped]);
}

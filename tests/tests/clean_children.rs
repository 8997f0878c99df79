//! Children start clean: pg_dump, psql and the notification command inherit no variable
//! of the configuration (`SAUVEGARDE_*`) and no `CREDENTIALS_DIRECTORY`, so no secret of
//! the daemon's environment; PostgreSQL programs get the job's password through a
//! private password file that is gone once they have exited, on success and on failure.

mod daemon_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::BIN;

/// The job's database password: given in the daemon's environment, required by the server.
const DB_PASSWORD: &str = "Pg-Pass-7f3e-env-only";
/// Another job's password, read from a systemd credential file.
const CREDENTIAL_SECRET: &str = "Credential-Secret-19c";
/// Another secret given in the environment (the SMTP password, a third job's password).
const SMTP_PASSWORD: &str = "Smtp-Env-Secret-5d2";

/// Writes an executable wrapper `fake/<program>` that records, per call, its arguments,
/// its whole environment and its password file (path, content, modes) in `calls/`, then
/// runs the real program, or fails when `fake/fail` exists (except for `--version`).
fn recording_wrapper(dir: &Path, program: &str) -> PathBuf {
    let calls = dir.join("calls");
    std::fs::create_dir_all(&calls).unwrap();
    let path = dir.join("fake").join(program);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let script = format!(
        r#"#!/bin/bash
out={calls}/{program}.$$
printf '%s\n' "$*" > "$out.args"
env > "$out.env"
if [ -n "$PGPASSFILE" ]; then
  printf '%s' "$PGPASSFILE" > "$out.passfile"
  cat "$PGPASSFILE" > "$out.content"
  stat -c %a "$PGPASSFILE" "$(dirname "$PGPASSFILE")" > "$out.modes"
fi
if [ -e {fail} ] && [ "$1" != "--version" ]; then
  echo "{program}: simulated failure" >&2
  exit 1
fi
exec {BIN}/{program} "$@"
"#,
        calls = calls.display(),
        fail = dir.join("fake/fail").display(),
    );
    std::fs::write(&path, script).unwrap();
    let status = Command::new("chmod")
        .arg("755")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// The recorded calls: `program.pid` → (suffix → content).
fn calls(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("calls")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let (call, what) = name.rsplit_once('.').unwrap();
        out.entry(call.to_string()).or_default().insert(
            what.to_string(),
            std::fs::read_to_string(entry.path()).unwrap(),
        );
    }
    out
}

/// Asserts that an environment (`env` output) holds no secret and no private variable.
fn assert_clean_env(what: &str, env: &str) {
    for secret in [DB_PASSWORD, CREDENTIAL_SECRET, SMTP_PASSWORD] {
        assert!(!env.contains(secret), "{what} holds a secret:\n{env}");
    }
    for line in env.lines() {
        assert!(
            !line.starts_with("SAUVEGARDE_") || line.starts_with("SAUVEGARDE_EVENT_"),
            "{what} inherited {line}"
        );
        assert!(
            !line.starts_with("CREDENTIALS_DIRECTORY=") && !line.starts_with("PGPASSWORD="),
            "{what} inherited {line}"
        );
    }
}

/// A credentials directory (systemd's `LoadCredential=`) holding `other_db`.
fn credentials(dir: &Path) -> PathBuf {
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("other_db"), CREDENTIAL_SECRET).unwrap();
    creds
}

#[test]
fn pg_programs_read_the_password_from_a_private_file_removed_afterwards_and_inherit_no_secret() {
    let w = OdooWorld::new(300);
    w.pg.require_password(DB_PASSWORD);
    let pg_dump = recording_wrapper(w.path("").as_path(), "pg_dump");
    // psql is taken from the directory of the configured pg_dump.
    recording_wrapper(w.path("").as_path(), "psql");
    let creds = credentials(&w.path(""));
    let config = w.config(
        &format!("pg_dump = {pg_dump:?}"),
        "[jobs.other]\ndatabase = \"other\"\ndb_password_file = \"other_db\"\n\n\
         [jobs.third]\ndatabase = \"third\"\n",
    );
    let host = |args: &[&str]| {
        cli::host(&config, args, "info")
            .env("SAUVEGARDE_JOBS__PROD__DB_PASSWORD", DB_PASSWORD)
            .env("SAUVEGARDE_JOBS__THIRD__DB_PASSWORD", SMTP_PASSWORD)
            .env("CREDENTIALS_DIRECTORY", &creds)
            // No other way to the password: not libpq's variable, not ~/.pgpass.
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env("HOME", w.path("home"))
            .output()
            .unwrap()
    };

    // The server refuses connections without the password: success proves libpq read it.
    let out = host(&["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = calls(&w.path(""));
    let programs = |calls: &BTreeMap<String, BTreeMap<String, String>>, p: &str| {
        calls.keys().filter(|k| k.starts_with(p)).count()
    };
    assert!(programs(&first, "psql.") >= 3, "{first:#?}");
    assert!(programs(&first, "pg_dump.") >= 2, "{first:#?}"); // --version, then the dump

    // Make every pg_dump and psql fail: their password files must go all the same.
    std::fs::write(w.path("fake/fail"), "").unwrap();
    let out = host(&["backup", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = calls(&w.path(""));
    assert!(all.len() > first.len(), "{all:#?}");

    for (call, files) in &all {
        assert_clean_env(call, &files["env"]);
        if files["args"].trim() == "--version" {
            assert!(!files.contains_key("passfile"), "{call}: {files:#?}");
            continue;
        }
        let passfile = Path::new(&files["passfile"]);
        assert_eq!(
            files["content"],
            format!("*:*:*:*:{DB_PASSWORD}\n"),
            "{call}"
        );
        assert_eq!(
            files["modes"], "600\n700\n",
            "{call}: file and directory modes"
        );
        assert!(
            !passfile.exists() && !passfile.parent().unwrap().exists(),
            "{call}: {} left behind",
            passfile.display()
        );
    }
    let history = host(&["history", "--json"]);
    assert!(history.status.success(), "{}", text(&history));
    let logs = format!("{}{}", text(&out), text(&history));
    assert!(!logs.contains(DB_PASSWORD), "{logs}");
}

#[test]
fn the_notify_command_gets_the_event_but_no_secret_of_the_daemon_environment() {
    use daemon_common::World;
    let w = World::new(&["alpha"]);
    let env_file = w.path("notify.env");
    let creds = credentials(w.dir.path());
    let text = w.header(1)
        + &format!(
            "[notify]\non = [\"success\"]\n\
             email = {{ smtp_host = \"127.0.0.1\", smtp_port = 9, security = \"none\", user = \"backup\", \
             from = \"sauvegarde@example.org\", to = [\"admin@example.org\"] }}\n\
             command = {{ argv = [\"/bin/sh\", \"-c\", \"env > {}.part && mv {0}.part {0}\"] }}\n\n",
            env_file.display()
        )
        + &w.job("good", "alpha", "schedule = { every = 1, unit = \"minutes\" }")
        + "[jobs.other]\ndatabase = \"other\"\nactive = false\ndb_password_file = \"other_db\"\n";
    let config = w.write_config(&text);
    let creds = creds.display().to_string();
    let mut d = w.daemon_with_env(
        &config,
        None,
        &[
            ("SAUVEGARDE_JOBS__GOOD__DB_PASSWORD", DB_PASSWORD),
            ("SAUVEGARDE_NOTIFY__EMAIL__PASSWORD", SMTP_PASSWORD),
            ("CREDENTIALS_DIRECTORY", &creds),
        ],
    );
    d.wait_until("the command notification", || env_file.exists());
    d.signal("TERM");
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("SAUVEGARDE_EVENT_JOB=good"), "{env}");
    assert!(env.contains("SAUVEGARDE_EVENT_STATE=success"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    assert_clean_env("the notify command's environment", &env);
}

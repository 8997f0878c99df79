//! Secrets a plugin declares (`secrets: [..]` in `export_plugin!`) are masked like the
//! host's own: in `config show`, in the logs (the plugin's included), in error messages
//! and in everything the history keeps — whatever the key's name, the value's type or its
//! length. The test plugin declares keys the host cannot guess and leaks them on purpose.

use std::path::{Path, PathBuf};
use std::process::Output;

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::cli::{self, text};

const ACCESS_KEY: &str = "AKIA-third-party-9f8e7d";
const PIN: &str = "480913";
const CODES: [&str; 2] = ["rc-alpha-1234", "rc-beta-5678"];
/// A short secret: masked where it stands as a word.
const PASSCODE: &str = "q7";

struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::copy(
            artifacts().plugin("test_plugin"),
            plugins.join("libprobe.so"),
        )
        .unwrap();
        let config = dir.path().join("sauvegarde.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = {state:?}\nbackup_dir = {backups:?}\nplugin_dirs = [{plugins:?}]\n\n\
                 [jobs.j]\ndatabase = \"x\"\n\n\
                 [jobs.j.destinations.probe]\ntype = \"test-probe\"\nleak_secrets = true\n\
                 secret_access_key = \"{ACCESS_KEY}\"\npasscode = \"{PASSCODE}\"\npin = {PIN}\n\
                 recovery_codes = [\"{}\", \"{}\"]\n",
                CODES[0],
                CODES[1],
                state = dir.path().join("state"),
                backups = dir.path().join("backups"),
            ),
        )
        .unwrap();
        World { dir, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        cli::run(&self.config, args, "trace")
    }
}

/// Fails when `text` holds any of the secrets (the short one as a word of its own).
fn assert_masked(what: &str, text: &str) {
    for secret in [ACCESS_KEY, PIN, CODES[0], CODES[1]] {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
    for shown in [
        format!("passcode={PASSCODE}"),
        format!("\"{PASSCODE}\""),
        format!(" {PASSCODE} "),
    ] {
        assert!(!text.contains(&shown), "{what} shows {shown}:\n{text}");
    }
}

/// Every file under `dir`, as text.
fn stored(dir: &Path) -> String {
    sauvegarde_tests::postgres::read_tree(dir)
        .into_values()
        .map(|bytes| String::from_utf8_lossy(&bytes).to_string())
        .collect()
}

#[test]
fn secrets_a_plugin_declares_are_masked_in_config_show_logs_errors_and_history() {
    let w = World::new();

    for args in [&["config", "show"][..], &["config", "show", "--json"]] {
        let out = w.run(args);
        assert!(out.status.success(), "{}", text(&out));
        let all = text(&out);
        assert_masked("config show", &all);
        // Masked, not left out.
        let shown = |key: &str| -> String {
            let full = format!("jobs.j.destinations.probe.{key}");
            if args.len() == 3 {
                let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let row = rows.as_array().unwrap().iter().find(|r| r["key"] == full);
                row.map(|r| r["value"].to_string()).unwrap_or_default()
            } else {
                let line = all.lines().find(|l| l.starts_with(&format!("{full} = ")));
                line.unwrap_or_default().to_string()
            }
        };
        for key in ["secret_access_key", "passcode", "pin", "recovery_codes"] {
            assert!(
                shown(key).contains("\"***\""),
                "{key} not shown masked: {all}"
            );
        }
        // What is not secret still shows.
        assert!(all.contains("test-probe"), "{all}");
    }

    // The plugin logs every secret and puts them in its error.
    let out = w.run(&["test", "j"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("probe test_connection with key=***"), "{all}");
    assert!(all.contains("passcode=***"), "{all}");
    assert!(
        all.contains("probe test_connection refused with key=***"),
        "{all}"
    );
    assert_masked("test output", &all);

    let archive = w.dir.path().join("x_2026-01-02_03-04-05.zip");
    std::fs::write(&archive, b"not really a zip").unwrap();
    let out = w.run(&["export", "j", archive.to_str().unwrap()]);
    // A failed upload: exit 3 (the exit code table).
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("probe upload refused with key=***"), "{all}");
    assert_masked("export output", &all);

    let out = w.run(&["jobs", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_masked("jobs --json", &text(&out));
    let out = w.run(&["history", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_masked("history --json", &text(&out));
    // Every file the program keeps: the history database (and its WAL), locks.
    let kept = stored(&w.dir.path().join("state"));
    assert!(
        kept.contains("probe test_connection refused"),
        "the test was not recorded"
    );
    assert_masked("the state directory", &kept);
}

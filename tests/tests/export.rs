//! Export orchestration end to end: the real `sauvegarde` binary backs up a real PostgreSQL
//! database and sends the archive to SFTP (OpenSSH), FTPS (pyftpdlib) and Dropbox (the local
//! stand-in) at once; failures, retries, remote retention, history, secrets, cancellation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::dropbox::{DropboxServer, APP_KEY, APP_SECRET};
use sauvegarde_tests::files::sha256;
use sauvegarde_tests::ftp::{self, FtpServer};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::process::KillOnDrop;
use sauvegarde_tests::sshd::{self, Sshd};
use serde_json::{json, Value};

/// A database, three servers and a config with one destination on each.
struct World {
    base: OdooWorld,
    sshd: Sshd,
    ftp: FtpServer,
    dropbox: DropboxServer,
    refresh_token: String,
}

const OLD: [&str; 3] = [
    "prod_2020-01-01_00-00-00.zip",
    "prod_2020-01-02_00-00-00.zip",
    "prod_2020-01-03_00-00-00.zip",
];
const FOREIGN: [&str; 2] = ["other_2020-01-01_00-00-00.zip", "notes.txt"];

impl World {
    fn new() -> Self {
        let dropbox = DropboxServer::start();
        let refresh_token = dropbox.issue_refresh_token();
        World {
            base: OdooWorld::new(300),
            sshd: Sshd::start(),
            ftp: FtpServer::pyftpdlib_tls(),
            dropbox,
            refresh_token,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.base.path(rel)
    }

    fn destinations(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "offsite",
                json!({
                    "type": "sftp",
                    "host": "127.0.0.1",
                    "port": self.sshd.port(),
                    "user": sshd::PASSWORD_USER,
                    "password": sshd::PASSWORD,
                    "host_key_fingerprint": self.sshd.host_key_fingerprint(),
                    "remote_dir": self.sshd.data_dir(),
                    "timeout_secs": 10,
                }),
            ),
            (
                "nas",
                json!({
                    "type": "ftp",
                    "host": "127.0.0.1",
                    "port": self.ftp.port(),
                    "user": ftp::USER,
                    "password": ftp::PASSWORD,
                    "ca_file": self.ftp.ca_file(),
                    "remote_dir": "/",
                    "timeout_secs": 10,
                }),
            ),
            (
                "cloud",
                json!({
                    "type": "dropbox",
                    "app_key": APP_KEY,
                    "app_secret": APP_SECRET,
                    "refresh_token": self.refresh_token,
                    "folder": "OdooBackups/",
                    "api_url": self.dropbox.api_url(),
                    "content_url": self.dropbox.content_url(),
                    "oauth_url": self.dropbox.oauth_url(),
                    "timeout_secs": 30,
                }),
            ),
        ]
    }

    /// The config: a `prod` job with `job_extra` lines and the three destinations, each
    /// with the keys of `overrides[name]` merged in (a null removes a key).
    fn config(&self, job_extra: &str, overrides: Value) -> PathBuf {
        let mut text = String::new();
        for (name, mut table) in self.destinations() {
            if let Some(extra) = overrides.get(name).and_then(Value::as_object) {
                for (k, v) in extra {
                    if v.is_null() {
                        table.as_object_mut().unwrap().remove(k);
                    } else {
                        table[k] = v.clone();
                    }
                }
            }
            text.push_str(&format!("\n[jobs.prod.destinations.{name}]\n"));
            for (k, v) in table.as_object().unwrap() {
                // JSON strings, numbers and booleans are valid TOML values.
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        self.base.config(job_extra, &text)
    }

    fn cmd(&self, config: &Path, args: &[&str]) -> Command {
        cli::host(config, args, "debug")
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        cli::run(config, args, "debug")
    }

    fn history(&self, config: &Path) -> Value {
        cli::history(config)
    }

    /// Where each destination keeps a remote file named `name`, if it is there.
    fn remote(&self, dest: &str, name: &str) -> Option<PathBuf> {
        let path = match dest {
            "offsite" => self.sshd.data_dir().join(name),
            "nas" => self.ftp.root().join(name),
            _ => {
                return self
                    .dropbox
                    .stored(&format!("/OdooBackups/{name}"))
                    .map(|(_, p)| p)
            }
        };
        path.exists().then_some(path)
    }

    /// Puts the old archives and the foreign files on every destination.
    fn seed_remotes(&self) {
        for name in OLD.iter().chain(FOREIGN.iter()) {
            let content = format!("old file {name}");
            for dir in [self.sshd.data_dir(), self.ftp.root().to_path_buf()] {
                std::fs::write(dir.join(name), &content).expect("seed");
            }
            self.dropbox
                .put_file(&format!("/OdooBackups/{name}"), content.as_bytes());
        }
        // The FTP and SFTP servers run as their users.
        let _ = Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(self.sshd.data_dir())
            .arg(self.ftp.root())
            .status();
    }
}

fn archive_of(out: &Output) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Export attempts of the newest backup, as (destination, attempt, state).
fn attempts(history: &Value) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = history[0]["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .map(|e| {
            (
                e["destination"].as_str().unwrap().to_string(),
                e["attempt"].as_u64().unwrap(),
                e["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn one_run_exports_to_all_three_and_prunes_only_old_archives_of_the_job() {
    let w = World::new();
    w.seed_remotes();
    let config = w.config("keep_count = 2", json!({}));
    // The seeded archives were not uploaded by this job: claimed explicitly, they are.
    let out = w.run(&config, &["prune", "prod", "--adopt", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    for dest in ["offsite", "nas", "cloud"] {
        for old in OLD {
            assert!(
                listed.contains(&format!("would adopt {dest}:{old}")),
                "{listed}"
            );
        }
    }
    // Adopted under a policy that deletes nothing yet.
    let config = w.config("keep_count = 5", json!({}));
    let out = w.run(&config, &["prune", "prod", "--adopt"]);
    assert!(out.status.success(), "{}", text(&out));
    let config = w.config("keep_count = 2", json!({}));

    let out = w.run(&config, &["test", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches('✓').count(), 3);

    let out = w.run(&config, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let archive = archive_of(&out);
    let name = archive.file_name().unwrap().to_str().unwrap().to_string();
    let local = sha256(&archive);
    for dest in ["offsite", "nas", "cloud"] {
        let remote = w
            .remote(dest, &name)
            .unwrap_or_else(|| panic!("{dest} has no {name}\n{}", text(&out)));
        assert_eq!(sha256(&remote), local, "{dest}");
        // keep_count = 2: the new archive and the newest old one stay.
        assert!(w.remote(dest, OLD[2]).is_some(), "{dest} lost {}", OLD[2]);
        for old in &OLD[..2] {
            assert!(w.remote(dest, old).is_none(), "{dest} still has {old}");
        }
        for foreign in FOREIGN {
            assert!(w.remote(dest, foreign).is_some(), "{dest} lost {foreign}");
        }
    }
    let history = w.history(&config);
    assert_eq!(
        attempts(&history),
        vec![
            ("cloud".into(), 1, "done".into()),
            ("nas".into(), 1, "done".into()),
            ("offsite".into(), 1, "done".into()),
        ]
    );
    // `jobs` shows the connection tests.
    let out = w.run(&config, &["jobs", "--json"]);
    let jobs: Value = serde_json::from_slice(&out.stdout).expect("jobs json");
    let tests = jobs[0]["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 3, "{jobs}");
    assert!(tests.iter().all(|t| t["ok"] == json!(true)), "{jobs}");

    // `prune --dry-run` everywhere: nothing more to delete (the newest are protected).
    let out = w.run(&config, &["prune", "prod", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to delete"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_destination_down_gives_exit_3_and_the_next_run_succeeds() {
    let mut w = World::new();
    let config = w.config("", json!({"offsite": {"retries": 1}}));
    w.sshd.kill();
    let out = w.run(&config, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let archive = archive_of(&out);
    assert!(
        archive.is_file(),
        "the local archive is kept\n{}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("✗ offsite (sftp)"), "{stderr}");
    let name = archive.file_name().unwrap().to_str().unwrap();
    assert!(w.remote("nas", name).is_some());
    assert!(w.remote("cloud", name).is_some());
    let history = w.history(&config);
    assert_eq!(history[0]["state"], "done");
    assert_eq!(
        attempts(&history),
        vec![
            ("cloud".into(), 1, "done".into()),
            ("nas".into(), 1, "done".into()),
            ("offsite".into(), 1, "failed".into()),
            ("offsite".into(), 2, "failed".into()),
        ]
    );
    let failure = history[0]["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["destination"] == "offsite")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        failure.contains("cannot connect") && failure.contains("(connect)"),
        "{failure}"
    );

    w.sshd.restart(false);
    std::thread::sleep(Duration::from_millis(1100)); // a new archive name
    let out = w.run(&config, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let archive = archive_of(&out);
    let name = archive.file_name().unwrap().to_str().unwrap();
    let remote = w
        .remote("offsite", name)
        .expect("uploaded after the restart");
    assert_eq!(sha256(&remote), sha256(&archive));
    assert!(attempts(&w.history(&config)).iter().all(|a| a.2 == "done"));
}

#[test]
fn secrets_of_a_failing_run_appear_nowhere() {
    let w = World::new();
    let wrong_sftp = "Wrong-sftp-Secret-41x";
    let wrong_ftp = "Wrong-ftp-Secret-77q";
    let config = w.config(
        "",
        json!({"offsite": {"password": wrong_sftp}, "nas": {"password": wrong_ftp}}),
    );
    let mut outputs = Vec::new();
    for args in [
        &["backup", "prod"][..],
        &["test", "prod"],
        &["config", "show"],
        &["config", "show", "--json"],
        &["history", "--json"],
        &["jobs", "--json"],
    ] {
        let mut cmd = w.cmd(&config, args);
        cmd.env("RUST_LOG", "trace");
        let out = cmd.output().expect("run");
        if args[0] == "backup" {
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            // Authentication failures are not retried.
            let history = w.history(&config);
            let failed: Vec<_> = attempts(&history)
                .into_iter()
                .filter(|a| a.2 == "failed")
                .collect();
            assert_eq!(
                failed,
                vec![
                    ("nas".into(), 1, "failed".into()),
                    ("offsite".into(), 1, "failed".into())
                ]
            );
        }
        outputs.push(text(&out));
    }
    // Every file the program keeps: history database (and its WAL), locks.
    let stored: Vec<String> = sauvegarde_tests::postgres::read_tree(&w.path("state"))
        .into_values()
        .map(|bytes| String::from_utf8_lossy(&bytes).to_string())
        .collect();
    assert!(!stored.is_empty());
    for secret in [wrong_sftp, wrong_ftp, APP_SECRET, w.refresh_token.as_str()] {
        for (i, o) in outputs.iter().enumerate() {
            assert!(!o.contains(secret), "output {i} leaks {secret}:\n{o}");
        }
        for s in &stored {
            assert!(!s.contains(secret), "the state directory holds {secret}");
        }
    }
    assert!(outputs[0].contains("auth"), "{}", outputs[0]);
}

#[test]
fn an_unknown_destination_type_is_a_config_error() {
    let w = World::new();
    // A type no plugin serves (a tape library, say).
    let config = w.config("", json!({"nas": {"type": "tape"}}));
    let out = w.run(&config, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("jobs.prod.destinations.nas.type"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`tape`") && stderr.contains("sftp"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(in {})", config.display())),
        "the file is named: {stderr}"
    );
    let out = w.run(&config, &["backup", "prod"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        !w.path("backups").exists() || std::fs::read_dir(w.path("backups")).unwrap().count() == 0
    );
    // A plugin setting with a typo is named with its key path too.
    let config = w.config("", json!({"offsite": {"remote_dri": "/x"}}));
    let out = w.run(&config, &["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("jobs.prod.destinations.offsite") && stderr.contains("remote_dri"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(in {})", config.display())),
        "the file is named: {stderr}"
    );
}

#[test]
fn sigterm_cancels_a_running_export_without_a_remote_file() {
    let w = World::new();
    let config = w.config("", json!({"nas": {"type": "sftp"}}));
    // Only the SFTP destination, with a file big enough to be caught mid-upload.
    let config_text = std::fs::read_to_string(&config).unwrap();
    let sftp_only: String = config_text
        .split("\n[jobs.prod.destinations.")
        .filter(|part| !part.starts_with("nas]") && !part.starts_with("cloud]"))
        .collect::<Vec<_>>()
        .join("\n[jobs.prod.destinations.");
    std::fs::write(&config, sftp_only).unwrap();
    let name = "prod_2024-05-05_05-05-05.zip";
    let big = w.path(name);
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(3 << 30).unwrap(); // sparse: cheap locally, slow enough remotely
    drop(file);

    let mut child = KillOnDrop::spawn(
        w.cmd(&config, &["export", "prod", big.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let data = w.sshd.data_dir();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let partial = std::fs::read_dir(&data).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().contains(name)
                && e.metadata().map(|m| m.len() > (8 << 20)).unwrap_or(false)
        });
        if partial {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.pid().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "export did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    assert!(
        !data.join(name).exists(),
        "a remote file under the final name"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(name))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary upload left behind: {leftovers:?}"
    );
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .map(|mut o| std::io::Read::read_to_string(&mut o, &mut out));
    assert!(out.contains("✗ offsite (sftp): cancelled"), "{out}");
    // The attempt is in the history as failed, "interrupted" (read with Python's sqlite3).
    let rows = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select destination, state, message from exports\").fetchall())")
        .arg(w.path("state/history.sqlite"))
        .output()
        .expect("python3");
    let rows = String::from_utf8_lossy(&rows.stdout);
    assert!(
        rows.contains("'offsite', 'failed'") && rows.contains("interrupted"),
        "{rows}"
    );
}

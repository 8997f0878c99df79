//! Shared by the daemon and notification end-to-end tests: a throwaway PostgreSQL with
//! small databases, a config file, the real daemon binary, and a `NOTIFY_SOCKET`.

#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::postgres::{PgCluster, BIN};
use sauvegarde_tests::process::KillOnDrop;

/// Upper bound of every wait: a hang fails the test instead of blocking it.
pub const WAIT: Duration = Duration::from_secs(90);

/// A schedule minute in the daemon under test (`SGD_TEST_MINUTE_SECS`).
pub const MINUTE_SECS: &str = "1";

/// A cluster with databases, and a directory for config, state and backups.
pub struct World {
    pub pg: PgCluster,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts PostgreSQL and creates `dbs`, each with one small table.
    pub fn new(dbs: &[&str]) -> Self {
        let pg = PgCluster::start();
        for db in dbs {
            pg.createdb(db);
            pg.psql(db, "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        World { pg, dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Top-level settings: state dir, no plugins, `max_parallel`.
    pub fn header(&self, max_parallel: usize) -> String {
        format!(
            "backup_dir = {:?}\nstate_dir = {:?}\nplugin_dirs = []\nmax_parallel = {max_parallel}\n\n",
            self.path("backups"),
            self.path("state")
        )
    }

    /// A `[jobs.<id>]` table backing up `db` in the dump format to `backups/<id>`, with
    /// `extra` lines (schedule, notify …).
    pub fn job(&self, id: &str, db: &str, extra: &str) -> String {
        format!(
            "[jobs.{id}]\ndatabase = \"{db}\"\ndb_host = \"127.0.0.1\"\ndb_port = {}\ndb_user = \"postgres\"\n\
             format = \"dump\"\nfilestore = \"none\"\nbackup_dir = {:?}\n{extra}\n",
            self.pg.port(),
            self.backups(id)
        )
    }

    pub fn backups(&self, job: &str) -> PathBuf {
        self.path("backups").join(job)
    }

    /// Writes the config file.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.path("sauvegarde.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Files in a job's backup directory, sorted.
    pub fn files(&self, job: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.backups(job))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// `history --json` rows of `job`, newest first.
    pub fn history(&self, config: &Path, job: &str) -> Vec<serde_json::Value> {
        let out = Command::new(artifacts().host_bin())
            .arg("--config")
            .arg(config)
            .args(["history", "--json", "--limit", "1000", "--job", job])
            .stdin(Stdio::null())
            .output()
            .expect("run sauvegarde history");
        assert!(
            out.status.success(),
            "history failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history json");
        v.as_array().cloned().unwrap_or_default()
    }

    /// Number of `done` backups of `job`.
    pub fn done(&self, config: &Path, job: &str) -> usize {
        self.history(config, job)
            .iter()
            .filter(|r| r["state"] == "done")
            .count()
    }

    /// A `pg_dump` wrapper script: `body` runs with `$REAL` the real pg_dump.
    pub fn pg_dump_wrapper(&self, body: &str) -> PathBuf {
        let path = self.path("fake/pg_dump");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("#!/bin/bash\nREAL={BIN}/pg_dump\n{body}\n"))
            .expect("write wrapper");
        let status = Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .expect("chmod");
        assert!(status.success());
        path
    }

    /// Starts `sauvegarde daemon` with a one-second schedule minute, `NOTIFY_SOCKET` when
    /// given, and its log in `daemon.log`.
    pub fn daemon(&self, config: &Path, notify_socket: Option<&Path>) -> Daemon {
        self.daemon_with_env(config, notify_socket, &[])
    }

    /// [`World::daemon`] with extra environment variables.
    pub fn daemon_with_env(
        &self,
        config: &Path,
        notify_socket: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Daemon {
        let log = self.path("daemon.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(artifacts().host_bin());
        cmd.arg("--config")
            .arg(config)
            .arg("daemon")
            .env("SGD_TEST_MINUTE_SECS", MINUTE_SECS)
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        cmd.envs(env.iter().copied());
        if let Some(s) = notify_socket {
            cmd.env("NOTIFY_SOCKET", s);
        }
        Daemon {
            child: KillOnDrop::spawn(&mut cmd),
            log,
        }
    }
}

/// The daemon process; killed on drop if still running.
pub struct Daemon {
    pub child: KillOnDrop,
    pub log: PathBuf,
}

impl Daemon {
    /// Sends a signal by name (`HUP`, `TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most [`WAIT`]) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `cond` until true (at most [`WAIT`]); panics with the log otherwise.
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond() {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                panic!(
                    "the daemon exited ({status}) while waiting for {what}; log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A `NOTIFY_SOCKET` the test binds, as systemd would.
pub struct NotifySocket {
    socket: UnixDatagram,
    pub path: PathBuf,
    /// Every datagram received so far.
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        NotifySocket {
            socket,
            path,
            seen: Vec::new(),
        }
    }

    /// Waits (at most [`WAIT`]) for a datagram satisfying `pred`, recording all of them.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 4096];
        loop {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if pred(&msg) {
                    return msg;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} notification; got {:?}",
                self.seen
            );
        }
    }
}

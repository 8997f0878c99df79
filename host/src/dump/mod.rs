//! PostgreSQL client programs: finding `pg_dump`/`psql`, the connection settings of a job
//! (passed through libpq's environment, the password never on a command line), running
//! `pg_dump` as a streaming child process, and the catalogue queries of the manifest.

pub mod query;
mod tools;
pub mod watch;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

pub use tools::{find_pg_dump, PgTools};

use crate::config::JobConfig;
use crate::odoo_conf::OdooConf;

/// How much of pg_dump's stderr is kept for the error message.
const STDERR_LIMIT: usize = 64 * 1024;

/// Connection settings for libpq, from the job and, below it, the job's odoo.conf.
#[derive(Clone, Default)]
pub struct Connection {
    /// Database name.
    pub database: String,
    /// `PGHOST`.
    pub host: Option<String>,
    /// `PGPORT`.
    pub port: Option<u16>,
    /// `PGUSER`.
    pub user: Option<String>,
    /// `PGPASSWORD`.
    password: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("database", &self.database)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::redact::MASK),
            )
            .finish()
    }
}

impl Connection {
    /// The job's settings, falling back to `odoo` (its odoo.conf) for unset ones.
    pub fn for_job(job: &JobConfig, odoo: Option<&OdooConf>) -> Self {
        let odoo = odoo.cloned().unwrap_or_default();
        Connection {
            database: job.database.clone(),
            host: job.db_host.clone().or(odoo.db_host),
            port: job.db_port.or(odoo.db_port),
            user: job.db_user.clone().or(odoo.db_user),
            password: job.db_password.clone().or(odoo.db_password),
        }
    }

    /// Sets libpq's environment on `command` (the password as `PGPASSWORD`, which is
    /// never visible in the process list).
    pub fn apply(&self, command: &mut Command) {
        command.env("PGDATABASE", &self.database);
        command.env("PGAPPNAME", "sauvegarde");
        if let Some(h) = &self.host {
            command.env("PGHOST", h);
        }
        if let Some(p) = self.port {
            command.env("PGPORT", p.to_string());
        }
        if let Some(u) = &self.user {
            command.env("PGUSER", u);
        }
        if let Some(p) = &self.password {
            command.env("PGPASSWORD", p);
        }
    }
}

/// Output format of pg_dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// Plain SQL (`dump.sql` of a ZIP archive).
    Plain,
    /// Custom format (`--format=c`).
    Custom,
}

/// A running `pg_dump` whose stdout is read by the caller. It is killed and reaped on
/// drop unless [`finish`](Self::finish) was called.
pub struct PgDump {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: PathBuf,
}

/// How pg_dump ended.
#[derive(Debug)]
pub struct DumpExit {
    /// Exit status.
    pub status: ExitStatus,
    /// What it wrote on stderr, secrets masked.
    pub stderr: String,
}

/// Reads a child's stderr to its end on a thread of its own (so the child never blocks on
/// a full pipe), keeping the first [`STDERR_LIMIT`] bytes for error messages.
pub fn keep_stderr(mut err: std::process::ChildStderr) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = STDERR_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

impl PgDump {
    /// Starts `pg_dump --no-owner` for `conn` in `format`.
    pub fn spawn(
        program: &std::path::Path,
        conn: &Connection,
        format: DumpFormat,
    ) -> std::io::Result<Self> {
        let mut command = Command::new(program);
        command.arg("--no-owner");
        if format == DumpFormat::Custom {
            command.arg("--format=c");
        }
        conn.apply(&mut command);
        // Its own process group, so cancellation reaches wrappers and their children.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take().map(keep_stderr);
        Ok(PgDump {
            child,
            stdout,
            stderr,
            program: program.to_path_buf(),
        })
    }

    /// The process id (for cancellation).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The program that runs.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// pg_dump's standard output.
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// Waits for pg_dump to exit (its stdout must have been read to the end or dropped)
    /// and returns its status and stderr.
    pub fn finish(mut self) -> std::io::Result<DumpExit> {
        self.stdout = None;
        let status = self.child.wait()?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        Ok(DumpExit {
            status,
            stderr: crate::redact::scrub(stderr.trim()).into_owned(),
        })
    }

    /// Asks pg_dump and anything it started to stop: SIGTERM to its process group, or
    /// SIGKILL when `force`.
    pub fn terminate(pid: u32, force: bool) {
        let signal = if force { libc::SIGKILL } else { libc::SIGTERM };
        // SAFETY: signals the process group our child leads (it was spawned with
        // `process_group(0)`, so the group id is its pid).
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

impl Drop for PgDump {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            Self::terminate(self.child.id(), true);
            let _ = self.child.wait();
        }
    }
}

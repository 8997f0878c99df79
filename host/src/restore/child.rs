//! A PostgreSQL client program (psql, pg_restore) run as a child in its own process group:
//! stderr kept (bounded, secrets masked), stopped when the operation is cancelled, killed
//! and reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cancel::CancelFlag;
use crate::dump::PgDump;

/// After SIGTERM, how long before SIGKILL.
const GRACE: Duration = crate::dump::watch::KILL_AFTER;

/// A running client program.
pub struct ClientProcess {
    child: Child,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: PathBuf,
}

/// How the program ended.
#[derive(Debug)]
pub struct ClientExit {
    /// Exit status.
    pub status: ExitStatus,
    /// Its stderr, trimmed, secrets masked.
    pub stderr: String,
}

impl ClientExit {
    /// stderr, or a placeholder when it said nothing.
    pub fn stderr_or_status(&self) -> String {
        if self.stderr.is_empty() {
            format!("{} (no error output)", self.status)
        } else {
            format!("{}: {}", self.status, self.stderr)
        }
    }
}

impl ClientProcess {
    /// Starts `command` (its program is `program`) with stderr captured; stdin and stdout
    /// are as the caller set them.
    pub fn spawn(command: &mut Command, program: &Path) -> std::io::Result<Self> {
        // Its own process group: a terminal's Ctrl-C reaches us, and we stop it ourselves.
        std::os::unix::process::CommandExt::process_group(command, 0);
        command.stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stderr = child.stderr.take().map(crate::dump::keep_stderr);
        Ok(ClientProcess {
            child,
            stderr,
            program: program.to_path_buf(),
        })
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Its stdin, once.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Its stdout, once.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Runs `work` while a watcher stops the program (SIGTERM, then SIGKILL after a grace
    /// period) as soon as `cancel` is raised, so that a blocked read or write returns.
    pub fn while_watching<T>(&self, cancel: &CancelFlag, work: impl FnOnce() -> T) -> T {
        crate::dump::watch::while_watching(self.child.id(), cancel, work)
    }

    /// Waits for the program to exit, stopping it (SIGTERM, then SIGKILL after a grace
    /// period) if `cancel` is raised meanwhile.
    pub fn wait_cancellable(mut self, cancel: &CancelFlag) -> std::io::Result<ClientExit> {
        let mut since: Option<Instant> = None;
        while self.child.try_wait()?.is_none() {
            if cancel.is_cancelled() {
                let at = *since.get_or_insert_with(Instant::now);
                PgDump::terminate(self.child.id(), at.elapsed() > GRACE);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.finish()
    }

    /// Kills the program's process group at once.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            PgDump::terminate(self.child.id(), true);
        }
    }

    /// Waits for the program to exit and returns its status and stderr.
    pub fn finish(mut self) -> std::io::Result<ClientExit> {
        self.child.stdin = None;
        self.child.stdout = None;
        let status = self.child.wait()?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        Ok(ClientExit {
            status,
            stderr: crate::redact::scrub(stderr.trim()).into_owned(),
        })
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            PgDump::terminate(self.child.id(), true);
            let _ = self.child.wait();
        }
    }
}

/// `pg_restore` of the same installation as `pg_dump` (its directory), else from PATH.
pub fn pg_restore_for(pg_dump: &Path) -> PathBuf {
    let sibling = pg_dump.with_file_name("pg_restore");
    if pg_dump.parent().is_some_and(|d| !d.as_os_str().is_empty()) && sibling.is_file() {
        sibling
    } else {
        PathBuf::from("pg_restore")
    }
}

/// A command for `program` with nothing inherited on stdin.
pub fn command(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

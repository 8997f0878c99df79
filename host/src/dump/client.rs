//! A PostgreSQL client program (pg_dump, psql, pg_restore) run as a child in its own
//! process group: stderr kept (bounded, secrets masked), stopped when the operation is
//! cancelled, killed and reaped on drop.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use crate::cancel::CancelFlag;

/// How much of a program's stderr is kept for the error message.
const STDERR_LIMIT: usize = 64 * 1024;

/// A running client program.
pub struct ClientProcess {
    child: Child,
    stderr: Option<JoinHandle<Vec<u8>>>,
    program: PathBuf,
    // Removed when the process is dropped, after the program was reaped.
    passfile: Option<super::PassFile>,
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
    /// Starts `command` with stderr captured; stdin and stdout are as the caller set them
    /// ([`command`] makes one with neither).
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        // Its own process group: a terminal's Ctrl-C reaches us, and we stop it ourselves.
        std::os::unix::process::CommandExt::process_group(command, 0);
        command.stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stderr = child.stderr.take().map(keep_stderr);
        Ok(ClientProcess {
            child,
            stderr,
            program: PathBuf::from(command.get_program()),
            passfile: None,
        })
    }

    /// Keeps the program's password file (from [`super::Connection::apply`]) until the
    /// program has exited and this value is dropped.
    pub fn keeping(mut self, passfile: Option<super::PassFile>) -> Self {
        self.passfile = passfile;
        self
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
        super::watch::while_watching(self.child.id(), cancel, work)
    }

    /// Waits for the program to exit, stopping it (SIGTERM, then SIGKILL after a grace
    /// period) if `cancel` is raised meanwhile.
    pub fn wait_cancellable(self, cancel: &CancelFlag) -> std::io::Result<ClientExit> {
        let pid = self.child.id();
        // Reaped by `finish`, after the watcher stopped signalling the group.
        super::watch::while_watching(pid, cancel, || super::watch::wait_exited(pid))?;
        self.finish()
    }

    /// Kills the program's process group at once.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal_group(self.child.id(), true);
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
            signal_group(self.child.id(), true);
            let _ = self.child.wait();
        }
    }
}

/// A command for `program` with nothing inherited on stdin, stdout discarded, and the
/// environment of every child ([`crate::child_env`]).
pub fn command(program: &Path) -> Command {
    let mut c = crate::child_env::command(program);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// Reads a child's stderr to its end on a thread of its own (so the child never blocks on
/// a full pipe), keeping the first [`STDERR_LIMIT`] bytes for error messages.
fn keep_stderr(mut err: std::process::ChildStderr) -> std::thread::JoinHandle<Vec<u8>> {
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

/// Asks the process group led by `pid` to stop: SIGTERM, or SIGKILL when `force`.
pub fn signal_group(pid: u32, force: bool) {
    let signal = if force { libc::SIGKILL } else { libc::SIGTERM };
    // SAFETY: signals the process group our child leads (it was spawned with
    // `process_group(0)`, so the group id is its pid).
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

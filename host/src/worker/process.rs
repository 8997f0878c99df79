//! One worker process seen from the host: started, fed requests, watched. The host never
//! blocks on a worker without a deadline: every call has a timeout, a cancellation
//! (SIGTERM, SIGKILL 5 s later) and a death check (the signal named).

use std::io::BufReader;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sauvegarde_plugin_api::PluginError;

use super::protocol::{read_line, write_line, Frame, Outcome, Request};

/// The hidden subcommand that runs a worker.
pub const WORKER_ARG: &str = "__worker";

/// Time a worker gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

const TICK: Duration = Duration::from_millis(100);

static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();
static STOP_ALL: AtomicBool = AtomicBool::new(false);

/// Runs workers from `path` instead of this process's own executable (for programs that
/// embed the library, e.g. tests; it must be a `sauvegarde` binary). The first call wins.
pub fn set_executable(path: PathBuf) {
    let _ = EXECUTABLE.set(path);
}

fn executable() -> std::io::Result<PathBuf> {
    match EXECUTABLE.get() {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe(),
    }
}

/// Asks every running worker of this process to stop (SIGTERM, SIGKILL 5 s later) and
/// makes later calls fail as cancelled: the daemon's shutdown.
pub fn stop_all() {
    STOP_ALL.store(true, Ordering::SeqCst);
}

/// Signal names for the messages users read.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "unknown signal",
    }
}

/// How a worker ended, in words: `signal 11 (SIGSEGV)`, `exit status 3`.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(s), _) => {
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            format!("signal {s} ({}{core})", signal_name(s))
        }
        (None, Some(c)) => format!("exit status {c}"),
        (None, None) => format!("{status}"),
    }
}

/// Why a request got no answer from the plugin.
#[derive(Debug)]
pub enum Failure {
    /// The worker died: its exit, in words.
    Died(String),
    /// The call overran its timeout and the worker was killed.
    TimedOut(Duration),
    /// The host cancelled the call (progress said stop, or [`stop_all`]).
    Cancelled,
    /// The worker could not be started or spoke nonsense.
    Broken(String),
}

impl Failure {
    /// The error the engine sees: a death is not retried, a timeout is (as transient).
    pub fn into_error(self, kind: &str, op: &str) -> PluginError {
        match self {
            Failure::Died(how) => {
                PluginError::other(format!("exporter `{kind}` died: {how} during {op}"))
            }
            Failure::TimedOut(after) => PluginError::transient(format!(
                "exporter `{kind}` timed out after {} s during {op}; its worker was killed",
                after.as_secs()
            )),
            Failure::Cancelled => PluginError::cancelled(format!("{op} cancelled")),
            Failure::Broken(why) => {
                PluginError::other(format!("exporter `{kind}`: worker failed: {why}"))
            }
        }
    }
}

/// A running worker.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Frame>,
    /// Set once SIGTERM (or SIGKILL) was sent: the worker is not reused.
    stopped: bool,
}

/// Settings of one call.
pub struct Call<'a, 'p> {
    /// Deadline from the call's start.
    pub timeout: Duration,
    /// Hears progress; `false` cancels. Also asked every 100 ms with the last values,
    /// so a cancellation is seen while a plugin is silent.
    pub progress: Option<&'a mut (dyn FnMut(u64, u64) -> bool + 'p)>,
    /// Receives the plugin's log events.
    pub log: &'a dyn Fn(u8, &str, &str),
}

impl Worker {
    /// Starts `sauvegarde __worker`, in its own process group (a terminal's ^C goes to
    /// the host, which decides), stdin and stdout piped, stderr shared.
    pub fn start() -> Result<Self, Failure> {
        let exe = executable()
            .map_err(|e| Failure::Broken(format!("cannot find the sauvegarde executable: {e}")))?;
        // The host's environment without its secrets (SAUVEGARDE_*, CREDENTIALS_DIRECTORY).
        let mut command = crate::child_env::command(&exe);
        command
            .arg(WORKER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| Failure::Broken(format!("cannot start {}: {e}", exe.display())))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Failure::Broken("no pipe from the worker".into()))?;
        let (tx, frames) = mpsc::channel();
        std::thread::Builder::new()
            .name("worker-output".into())
            .spawn(move || {
                let mut input = BufReader::new(stdout);
                while let Ok(Some(frame)) = read_line::<Frame>(&mut input) {
                    if tx.send(frame).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Failure::Broken(format!("cannot start a thread: {e}")))?;
        Ok(Worker {
            child,
            stdin,
            frames,
            stopped: false,
        })
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the worker may take another request.
    pub fn is_usable(&self) -> bool {
        !self.stopped
    }

    fn signal(&mut self, signal: i32) {
        self.stopped = true;
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    fn died(&mut self) -> Failure {
        self.stopped = true;
        match self.child.wait() {
            Ok(status) if status.success() => {
                Failure::Died("exited without answering (exit status 0)".into())
            }
            Ok(status) => Failure::Died(describe_exit(status)),
            Err(e) => Failure::Broken(format!("cannot wait for the worker: {e}")),
        }
    }

    /// Sends `request` and waits for its outcome, relaying log and progress frames.
    pub fn call(&mut self, request: &Request, mut call: Call<'_, '_>) -> Result<Outcome, Failure> {
        let sent = match self.stdin.as_mut() {
            Some(stdin) => write_line(stdin, request),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if sent.is_err() {
            // It died before reading: say how.
            return Err(self.died());
        }
        let started = Instant::now();
        let mut stop: Option<(Failure, Instant)> = None;
        let mut killed = false;
        let mut last = (0, 0);
        loop {
            match self.frames.recv_timeout(TICK) {
                Ok(Frame::Log {
                    level,
                    target,
                    message,
                }) => (call.log)(level, &target, &message),
                Ok(Frame::Progress { done, total }) => {
                    last = (done, total);
                    if let Some(p) = call.progress.as_mut() {
                        if !p(done, total) && stop.is_none() {
                            self.signal(libc::SIGTERM);
                            stop = Some((Failure::Cancelled, Instant::now()));
                        }
                    }
                }
                Ok(Frame::Done { outcome }) => {
                    return match stop {
                        Some((Failure::TimedOut(after), _)) => Err(Failure::TimedOut(after)),
                        _ => Ok(outcome),
                    };
                }
                Err(RecvTimeoutError::Timeout) => match stop.as_ref().map(|(_, since)| *since) {
                    None => {
                        let cancelled = STOP_ALL.load(Ordering::SeqCst)
                            || call.progress.as_mut().is_some_and(|p| !p(last.0, last.1));
                        if started.elapsed() >= call.timeout {
                            self.signal(libc::SIGTERM);
                            stop = Some((Failure::TimedOut(call.timeout), Instant::now()));
                        } else if cancelled {
                            self.signal(libc::SIGTERM);
                            stop = Some((Failure::Cancelled, Instant::now()));
                        }
                    }
                    Some(since) => {
                        if !killed && since.elapsed() >= KILL_GRACE {
                            self.signal(libc::SIGKILL);
                            killed = true;
                        }
                    }
                },
                Err(RecvTimeoutError::Disconnected) => {
                    let died = self.died();
                    return Err(match stop {
                        Some((failure, _)) => failure,
                        None => died,
                    });
                }
            }
        }
    }
}

impl Drop for Worker {
    /// Closes the worker's input (it exits at once when idle), then makes sure it is gone.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_is_described_with_its_signal_name() {
        let status = ExitStatus::from_raw(libc::SIGSEGV);
        assert_eq!(describe_exit(status), "signal 11 (SIGSEGV)");
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(describe_exit(status), "exit status 3");
        let e = Failure::Died(describe_exit(ExitStatus::from_raw(libc::SIGSEGV)))
            .into_error("crash", "upload");
        assert_eq!(
            e.message(),
            "exporter `crash` died: signal 11 (SIGSEGV) during upload"
        );
        assert!(!e.kind().is_retryable());
    }

    #[test]
    fn a_timeout_is_retried_like_a_transient_error() {
        let e = Failure::TimedOut(Duration::from_secs(7)).into_error("slow", "list");
        assert!(e.kind().is_retryable());
        assert!(e.message().contains("timed out after 7 s"), "{e}");
    }
}

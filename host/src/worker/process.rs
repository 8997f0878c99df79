//! One worker process seen from the host: started, fed requests, watched. The host never
//! blocks on a worker without a deadline: every call has a limit (a deadline, or for a
//! transfer a stall limit: so long without progress), a cancellation (SIGTERM, SIGKILL 5 s
//! later) and a death check (the signal named). What the worker writes is read a bounded
//! line at a time ([`super::protocol::MAX_LINE`]); a line too long or not of the protocol,
//! or an output that closes while the worker lives on, gets it killed within seconds.

use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::failure::death;
pub use super::failure::{describe_exit, signal_name, Failure, Limit};
use super::protocol::{read_line, write_line, Frame, LineError, Outcome, Request, WireFile};

/// The hidden subcommand that runs a worker.
pub const WORKER_ARG: &str = "__worker";

/// Time a worker gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// Time a worker whose output closed gets to exit on its own (a dying process closes its
/// output a moment before it can be reaped) before it is stopped as broken.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

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

/// How the worker's output ended, as its reader thread saw it.
enum Ended {
    /// End of input (possibly in the middle of a line): the worker died, or closed it.
    Closed,
    /// A line the protocol does not allow: what was wrong with it.
    Broken(String),
}

/// A running worker.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Result<Frame, Ended>>,
    /// Set once SIGTERM (or SIGKILL) was sent: the worker is not reused.
    stopped: bool,
}

/// Settings of one call.
pub struct Call<'a, 'p> {
    /// When the worker is killed.
    pub limit: Limit,
    /// Hears progress; `false` cancels. Also asked every 100 ms with the last values,
    /// so a cancellation is seen while a plugin is silent.
    pub progress: Option<&'a mut (dyn FnMut(u64, u64) -> bool + 'p)>,
    /// Receives the plugin's log events.
    pub log: &'a dyn Fn(u8, &str, &str),
}

/// A call being stopped: why, since when, whether SIGKILL went out.
struct Stop {
    failure: Failure,
    since: Instant,
    killed: bool,
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
                let ended = loop {
                    match read_line::<Frame>(&mut input) {
                        Ok(Some(frame)) => {
                            if tx.send(Ok(frame)).is_err() {
                                return;
                            }
                        }
                        Ok(None) | Err(LineError::Cut) => break Ended::Closed,
                        Err(e) => break Ended::Broken(e.to_string()),
                    }
                };
                let _ = tx.send(Err(ended));
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

    /// Sends SIGTERM and starts the stop's clock (SIGKILL [`KILL_GRACE`] later).
    fn stop(&mut self, failure: Failure) -> Stop {
        self.signal(libc::SIGTERM);
        Stop {
            failure,
            since: Instant::now(),
            killed: false,
        }
    }

    /// Sends `request` and waits for its outcome, relaying log and progress frames. The
    /// call ends, whatever the worker does, within its limit (plus [`KILL_GRACE`]): past
    /// the limit, at a cancellation, at a line the protocol does not allow, or
    /// [`CLOSE_GRACE`] after its output closed while it lived, it is killed.
    pub fn call(&mut self, request: &Request, mut call: Call<'_, '_>) -> Result<Outcome, Failure> {
        if let Some(stdin) = self.stdin.as_mut() {
            // A worker that cannot read it has died or is dying: its output closes and
            // the loop below says how it ended.
            let _ = write_line(stdin, request);
        }
        let started = Instant::now();
        let mut moved = started;
        let mut last = (0, 0);
        let mut listed = Vec::new();
        let mut stop: Option<Stop> = None;
        let mut closed: Option<Instant> = None;
        loop {
            match closed {
                None => match self.frames.recv_timeout(TICK) {
                    Ok(Ok(Frame::Log {
                        level,
                        target,
                        message,
                    })) => (call.log)(level, &target, &message),
                    Ok(Ok(Frame::Progress { done, total })) => {
                        if done != last.0 {
                            moved = Instant::now();
                        }
                        last = (done, total);
                        if let Some(p) = call.progress.as_mut() {
                            if !p(done, total) && stop.is_none() {
                                stop = Some(self.stop(Failure::Cancelled));
                            }
                        }
                    }
                    Ok(Ok(Frame::Files { files })) => listed.extend(files),
                    Ok(Ok(Frame::Done { outcome })) => {
                        return match stop {
                            Some(Stop {
                                failure: failure @ (Failure::TimedOut(_) | Failure::Stalled(_)),
                                ..
                            }) => Err(failure),
                            _ => Ok(with_listed(outcome, listed)),
                        };
                    }
                    Ok(Err(Ended::Broken(what))) => {
                        closed = Some(Instant::now());
                        if stop.is_none() {
                            stop = Some(self.stop(Failure::Protocol(what)));
                        }
                    }
                    Ok(Err(Ended::Closed)) | Err(RecvTimeoutError::Disconnected) => {
                        closed = Some(Instant::now());
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let cancelled = STOP_ALL.load(Ordering::SeqCst)
                            || call.progress.as_mut().is_some_and(|p| !p(last.0, last.1));
                        if cancelled && stop.is_none() {
                            stop = Some(self.stop(Failure::Cancelled));
                        }
                    }
                },
                // Nothing more can come: wait for the exit, a short while if it lives on.
                Some(since) => {
                    match self.child.try_wait() {
                        Ok(Some(status)) => {
                            self.stopped = true;
                            return Err(match stop {
                                Some(s) => s.failure,
                                None => death(status),
                            });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.stopped = true;
                            return Err(Failure::Broken(format!(
                                "cannot wait for the worker: {e}"
                            )));
                        }
                    }
                    if stop.is_none() && since.elapsed() >= CLOSE_GRACE {
                        stop = Some(self.stop(Failure::Protocol(
                            "it closed its output but went on running".into(),
                        )));
                    }
                    std::thread::sleep(TICK);
                }
            }
            if stop.is_none() {
                if let Some(failure) = call.limit.overrun(started.elapsed(), moved.elapsed()) {
                    stop = Some(self.stop(failure));
                } else if STOP_ALL.load(Ordering::SeqCst) {
                    stop = Some(self.stop(Failure::Cancelled));
                }
            }
            if let Some(s) = stop.as_mut() {
                if !s.killed && s.since.elapsed() >= KILL_GRACE {
                    s.killed = true;
                    self.signal(libc::SIGKILL);
                }
                // Killed, yet its output open (a process it forked holds the pipe): wait
                // for its exit, not for the pipe.
                if s.killed && closed.is_none() && s.since.elapsed() >= KILL_GRACE + CLOSE_GRACE {
                    closed = Some(Instant::now());
                }
            }
        }
    }
}

/// `outcome`, with the files of the [`Frame::Files`] chunks before it when it is a listing.
fn with_listed(outcome: Outcome, mut listed: Vec<WireFile>) -> Outcome {
    match outcome {
        Outcome::Files { files } if !listed.is_empty() => {
            listed.extend(files);
            Outcome::Files { files: listed }
        }
        other => other,
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
    fn chunks_of_a_listing_come_before_its_last_part() {
        let file = |name: &str| WireFile {
            name: name.into(),
            size: 1,
            modified: None,
        };
        let out = with_listed(
            Outcome::Files {
                files: vec![file("c")],
            },
            vec![file("a"), file("b")],
        );
        let Outcome::Files { files } = out else {
            panic!("{out:?}")
        };
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}

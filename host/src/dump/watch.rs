//! Stopping the PostgreSQL client programs of a backup when it is cancelled: each runs in
//! its own process group, and a watcher thread signals that group once the backup's
//! [`CancelFlag`] is raised (SIGTERM, then SIGKILL after [`KILL_AFTER`]).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::client::signal_group;
use crate::cancel::CancelFlag;

/// How long a cancelled process group has to stop after SIGTERM before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(5);

/// How often the watcher looks at the cancel flag.
const POLL: Duration = Duration::from_millis(50);

/// Runs `body` (which reads from or waits for the process group led by `pid`) while a
/// watcher thread signals that group once `cancel` is raised, until `body` returns.
/// `body` must return once the group is gone (end of its pipes, its exit).
pub fn while_watching<T>(pid: u32, cancel: &CancelFlag, body: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Keep signalling until `body` is done: a signal can land before the program
            // has even started, and one that ignores SIGTERM gets SIGKILL.
            let mut cancelled_at = None;
            while !done.load(Ordering::SeqCst) {
                if cancel.is_cancelled() {
                    let since = *cancelled_at.get_or_insert_with(Instant::now);
                    signal_group(pid, since.elapsed() > KILL_AFTER);
                }
                std::thread::sleep(POLL);
            }
        });
        let result = body();
        done.store(true, Ordering::SeqCst);
        result
    })
}

/// Runs `command` in its own process group and collects its output, like
/// [`Command::output`], but stops the group when `cancel` is raised. `Ok(None)` when the
/// run was cancelled (before or while it ran).
pub fn output(command: &mut Command, cancel: &CancelFlag) -> std::io::Result<Option<Output>> {
    if cancel.is_cancelled() {
        return Ok(None);
    }
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let pid = child.id();
    let collected = while_watching(pid, cancel, || collect(&mut child));
    // Reaped only now, after the watcher stopped: until then the pid (and so the group
    // id it signals) cannot be reused.
    let status = child.wait()?;
    let (stdout, stderr) = collected?;
    if cancel.is_cancelled() {
        return Ok(None);
    }
    Ok(Some(Output {
        status,
        stdout,
        stderr,
    }))
}

/// Reads the child's stdout and stderr to their end, then waits until it has exited
/// without reaping it.
fn collect(child: &mut Child) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (out, err) = std::thread::scope(|scope| {
        let err = scope.spawn(move || read_all(stderr));
        (read_all(stdout), err.join())
    });
    let err = err.map_err(|_| std::io::Error::other("the stderr reader panicked"))?;
    wait_exited(child.id())?;
    Ok((out?, err?))
}

fn read_all(pipe: Option<impl Read>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Blocks until process `pid` (our child) has exited, leaving it a zombie for
/// [`Child::wait`] to reap.
pub(super) fn wait_exited(pid: u32) -> std::io::Result<()> {
    loop {
        // SAFETY: `info` is a plain C struct that waitid fills in; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child with WNOWAIT: nothing is reaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn collects_output_and_status() {
        let out = output(
            &mut sh("echo out; echo err >&2; exit 3"),
            &CancelFlag::new(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    /// Runs `script` and raises the cancel flag 300 ms in; the result and how long it
    /// took from the start.
    fn cancelled_after_300ms(script: &str) -> (Option<Output>, Duration) {
        let cancel = CancelFlag::new();
        let flag = cancel.clone();
        let raiser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            flag.cancel();
        });
        let start = Instant::now();
        let out = output(&mut sh(script), &cancel).unwrap();
        raiser.join().unwrap();
        (out, start.elapsed())
    }

    #[test]
    fn cancel_stops_a_hanging_group_and_its_children() {
        // A grandchild holding the pipes open, like a wrapper script's `sleep`: SIGTERM to
        // the group suffices, no SIGKILL needed.
        let (out, took) = cancelled_after_300ms("sleep 60 & sleep 60; echo never");
        assert!(out.is_none());
        assert!(took < KILL_AFTER, "{took:?}");
    }

    #[test]
    fn nothing_starts_once_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let cancel = CancelFlag::new();
        cancel.cancel();
        let script = format!("touch {}", marker.display());
        assert!(output(&mut sh(&script), &cancel).unwrap().is_none());
        assert!(!marker.exists());
    }

    #[test]
    fn sigterm_ignored_means_sigkill() {
        let (out, took) = cancelled_after_300ms("trap '' TERM; sleep 60 & wait; wait");
        assert!(out.is_none());
        assert!(took >= KILL_AFTER && took < KILL_AFTER * 3, "{took:?}");
    }
}

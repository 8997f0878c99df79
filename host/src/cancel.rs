//! Cooperative cancellation of a running backup, and SIGINT/SIGTERM handling for the
//! command line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Shared "stop now" flag: the backup checks it between chunks and files and kills
/// pg_dump when it is raised.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the backup to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Raises `flag` when the process receives SIGINT or SIGTERM (a watcher thread polls a
/// flag set by the signal handler). Used by the command line; the daemon has its own.
pub fn cancel_on_signals(flag: &CancelFlag) -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only stores to a static atomic.
        let previous =
            unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
        if previous == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
    }
    let flag = flag.clone();
    std::thread::Builder::new()
        .name("signal-watch".into())
        .spawn(move || loop {
            if SIGNALLED.load(Ordering::SeqCst) {
                flag.cancel();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        })?;
    Ok(())
}

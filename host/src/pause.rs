//! Test-only pause points, for end-to-end tests that must change the file system at an
//! exact step of a backup or a restore (a directory swapped for a link between two system
//! calls). Only debug builds read [`ENV`]; in a release build [`point`] is empty.
//!
//! `SGD_TEST_PAUSE=name[,name…]`: the first time the process reaches a point of that name
//! it writes `SGD_TEST_PAUSED <name> <path>` on stderr and stops itself (`SIGSTOP`); the
//! test does its change and sends `SIGCONT`. Each point pauses once per process.

use std::path::Path;

/// The variable naming the points to pause at (debug builds only). Deliberately outside
/// the `SAUVEGARDE_` prefix, which the configuration loader owns.
pub const ENV: &str = "SGD_TEST_PAUSE";

/// The start of the line written on stderr at a pause.
pub const MARK: &str = "SGD_TEST_PAUSED";

/// A pause point: `name`, about `path`. Nothing in a release build.
#[inline]
pub fn point(name: &str, path: &Path) {
    #[cfg(debug_assertions)]
    debug::point(name, path);
    #[cfg(not(debug_assertions))]
    let _ = (name, path);
}

#[cfg(debug_assertions)]
mod debug {
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::path::Path;
    use std::sync::Mutex;

    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

    pub fn point(name: &str, path: &Path) {
        let Ok(wanted) = std::env::var(super::ENV) else {
            return;
        };
        if !wanted.split(',').any(|w| w.trim() == name) {
            return;
        }
        let first = SEEN
            .lock()
            .map(|mut seen| seen.insert(name.to_string()))
            .unwrap_or(false);
        if !first {
            return;
        }
        let line = format!("{} {name} {}\n", super::MARK, path.display());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        // Stops every thread of the process until SIGCONT. A signal to one's own thread
        // group is allowed whatever the thread's identity.
        // SAFETY: raise has no memory-safety preconditions.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
    }
}

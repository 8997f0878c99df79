//! Where decrypted copies live: `<state_dir>/decrypt/`, mode 0700 and owned by the
//! process's own user (root), never in `$TMPDIR` nor the backup directory. Each
//! decryption gets a subdirectory of its own, named after its process — pid, start time
//! (clock ticks since boot), boot id — plus a random part, removed when the copy is
//! dropped. A process killed outright (SIGKILL, the OOM killer, a power cut) leaves its
//! copy behind: every process that decrypts, and the daemon at its start, first removes
//! the subdirectories whose process is gone ([`sweep`]). One whose process lives — even
//! stopped, even started after the pid was reused by another — is never touched: the
//! decision ([`is_leftover`]) is pure, the file system work around it.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory under `state_dir`.
pub const DIR_NAME: &str = "decrypt";

/// A process as its directories name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Start time, in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start: u64,
    /// `/proc/sys/kernel/random/boot_id`, without its dashes.
    pub boot: String,
}

impl Owner {
    /// This process.
    pub fn current() -> std::io::Result<Owner> {
        let pid = std::process::id();
        let start = start_of(pid).ok_or_else(|| {
            std::io::Error::other(format!("cannot read the start time of process {pid}"))
        })?;
        Ok(Owner {
            pid,
            start,
            boot: boot_id()?,
        })
    }

    /// The start of its directories' names: `<pid>.<start>.<boot>.`.
    pub fn prefix(&self) -> String {
        format!("{}.{}.{}.", self.pid, self.start, self.boot)
    }

    /// The owner a directory name gives, `None` when it is not one of ours.
    pub fn parse(name: &str) -> Option<Owner> {
        let mut parts = name.splitn(4, '.');
        let pid = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let boot = parts.next()?;
        parts.next()?;
        let hex = !boot.is_empty() && boot.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| Owner {
            pid,
            start,
            boot: boot.to_string(),
        })
    }
}

/// Whether the entry `name` was left by a process that is gone: another boot's, or one
/// whose pid now has another start time (or no process). `None`: not a name of ours.
pub fn is_leftover(name: &str, boot: &str, start_of: impl Fn(u32) -> Option<u64>) -> Option<bool> {
    let owner = Owner::parse(name)?;
    Some(owner.boot != boot || start_of(owner.pid) != Some(owner.start))
}

/// The start time of process `pid` (clock ticks since boot), `None` when there is none.
pub fn start_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid … : field 22 is the 20th after the command's `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> std::io::Result<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?;
    Ok(id.trim().replace('-', ""))
}

/// Creates (if needed) `<state_dir>/decrypt`, checks it is a real directory of this
/// user and mode 0700, removes what dead processes left in it, and returns it.
pub fn prepare(state_dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(state_dir)?;
    let dir = state_dir.join(DIR_NAME);
    match DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by uid {me}: refusing to decrypt into it; remove it",
            dir.display()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    sweep(&dir);
    Ok(dir)
}

/// Removes from `<state_dir>/decrypt`, when it exists, the copies of processes that are
/// gone: the daemon's start.
pub fn sweep_leftovers(state_dir: &Path) {
    let dir = state_dir.join(DIR_NAME);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        sweep(&dir);
    }
}

/// Removes the entries of `dir` left by processes that are gone ([`is_leftover`]);
/// entries of live processes and names not of ours stay. Failures are logged.
pub fn sweep(dir: &Path) {
    let boot = match boot_id() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot read the boot id: {e}; decrypted copies left by dead processes stay");
            return;
        }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot list: {e}");
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_leftover(name, &boot, start_of) != Some(true) {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        match removed {
            // Worth a warning: a process was killed while it held plaintext.
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "removed a decrypted copy left by a process that is gone"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(path = %path.display(), "cannot remove a decrypted copy left by a process that is gone: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "00056d562cbe4558b5f55d646114805a";

    #[test]
    fn only_names_of_processes_that_are_gone_are_leftovers() {
        // Process 100 started at tick 5000 and lives; 200 is gone; 300's pid was reused.
        let start_of = |pid| match pid {
            100 => Some(5000),
            300 => Some(9000),
            _ => None,
        };
        let other_boot = "1111aaaa2222bbbb3333cccc4444dddd";
        let table = [
            (format!("100.5000.{BOOT}.x7Yz"), Some(false)),
            (format!("200.5000.{BOOT}.x7Yz"), Some(true)),
            (format!("300.5000.{BOOT}.x7Yz"), Some(true)),
            // The same pid and start time at another boot: a deterministic boot gives
            // the daemon both again.
            (format!("100.5000.{other_boot}.x7Yz"), Some(true)),
            ("history.sqlite".to_string(), None),
            ("100.5000".to_string(), None),
            ("100.5000.not-hex.x".to_string(), None),
            (format!("abc.5000.{BOOT}.x"), None),
        ];
        for (name, expected) in table {
            assert_eq!(is_leftover(&name, BOOT, start_of), expected, "{name}");
        }
    }

    #[test]
    fn this_process_is_alive_under_its_own_name() {
        let me = Owner::current().unwrap();
        let name = format!("{}abc123", me.prefix());
        assert_eq!(Owner::parse(&name), Some(me.clone()));
        assert_eq!(is_leftover(&name, &me.boot, start_of), Some(false));
    }

    #[test]
    fn the_directory_is_private_and_a_sweep_keeps_live_copies() {
        let state = tempfile::tempdir().unwrap();
        let me = Owner::current().unwrap();
        let dir = prepare(state.path()).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let mine = dir.join(format!("{}live", me.prefix()));
        let dead = dir.join(format!("{}.{}.{}.gone", u32::MAX, me.start, me.boot));
        let foreign = dir.join("notes.txt");
        for d in [&mine, &dead] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("prod.zip"), b"PK").unwrap();
        }
        std::fs::write(&foreign, b"").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(prepare(state.path()).unwrap(), dir);
        assert!(mine.join("prod.zip").is_file());
        assert!(!dead.exists());
        assert!(foreign.exists());
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

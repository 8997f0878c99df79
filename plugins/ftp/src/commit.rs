//! Putting a complete temporary file in place under its final name.
//!
//! FTP's rename (RNFR/RNTO) replaces an existing file on most servers (pyftpdlib and
//! vsftpd call `rename(2)`), and FTP has no "create only if absent" rename. So the
//! no-replace path ([`put_new`], for `upload_new`) checks the name under a lock:
//!
//! 1. take the lock: MKD `.<name>.lock` in the remote directory. Creating a directory
//!    fails when it exists, on every server, atomically (the server's `mkdir(2)`): of two
//!    uploaders of one name, one holds it;
//! 2. look the name up (SIZE, or the listing on servers without SIZE): taken → the
//!    temporary file is removed and the answer is "name taken";
//! 3. RNFR/RNTO the temporary file onto the name;
//! 4. release the lock (RMD).
//!
//! What this makes atomic: the check and the rename against every other uploader that
//! takes the same lock (sauvegarde hosts sharing the directory). What it does not: a
//! client that ignores the lock (a person, another tool, an older sauvegarde) can create
//! the name between steps 2 and 3, and the rename then replaces it. A lock held longer
//! than [`LOCK_PATIENCE`] (an upload killed between steps 1 and 4 leaves it) counts as
//! "name taken": nothing is replaced, the host stores its copy under another name, and the
//! log names the lock directory to remove.
//!
//! The replacing path ([`put_replacing`], for `upload`) never removes the old file
//! before the new one is in place: on a server that refuses to rename onto an existing
//! name, the old file is first renamed aside (`<temporary name>.old`), then removed.

use std::time::{Duration, Instant};

use sauvegarde_plugin_api::{ErrorKind, PluginError};

use crate::errors;
use crate::session::Session;

/// How long a lock held by another upload of the same name is waited for.
pub const LOCK_PATIENCE: Duration = Duration::from_secs(15);

/// The lock directory of uploads of `name`.
pub fn lock_name(name: &str) -> String {
    format!(".{name}.lock")
}

/// Whether `name` exists in the session's directory.
pub fn exists(session: &mut Session, name: &str) -> Result<bool, PluginError> {
    match session.ftp.size(name) {
        Ok(_) => Ok(true),
        Err(e) if errors::code_of(&e) == Some(550) => Ok(false),
        Err(e) if errors::code_of(&e).is_some_and(|c| c == 500 || c == 502) => {
            let files = crate::listing::list(session)?;
            Ok(files.iter().any(|f| f.name() == name))
        }
        Err(e) => Err(errors::ftp(e, &format!("SIZE {name}"), ErrorKind::Other)),
    }
}

fn rename(session: &mut Session, from: &str, to: &str) -> Result<(), PluginError> {
    session.ftp.rename(from, to).map_err(|e| {
        errors::ftp(
            e,
            &format!("renaming {from} to {to}"),
            ErrorKind::Permission,
        )
    })
}

/// Whether the directory `name` exists (CWD into it and back).
fn is_dir(session: &mut Session, name: &str) -> bool {
    if session.ftp.cwd(name).is_err() {
        return false;
    }
    if let Err(e) = session.ftp.cdup() {
        tracing::warn!("CDUP out of {name}: {e}");
    }
    true
}

/// Takes the lock of `name`; `false` when another upload holds it past [`LOCK_PATIENCE`].
fn take_lock(session: &mut Session, name: &str) -> Result<bool, PluginError> {
    let lock = lock_name(name);
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        let refused = match session.ftp.mkdir(&lock) {
            Ok(()) => return Ok(true),
            Err(e) => e,
        };
        if !is_dir(session, &lock) {
            return Err(errors::ftp(
                refused,
                &format!(
                    "creating the lock directory {lock} (no-replace uploads need the right to create directories in `remote_dir`)"
                ),
                ErrorKind::Permission,
            ));
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "the lock {lock} is held past {} s: another upload of {name} is being completed, or one that was killed left it (remove that directory if no upload runs); {name} counts as taken",
                LOCK_PATIENCE.as_secs()
            );
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn release_lock(session: &mut Session, name: &str) {
    let lock = lock_name(name);
    if let Err(e) = session.ftp.rmdir(&lock) {
        tracing::warn!("could not remove the lock directory {lock}: {e}");
    }
}

/// Renames `partial` to `name` unless `name` exists, under the lock of `name`;
/// `Ok(false)` when it is taken (the partial file is left for the caller to remove).
pub fn put_new(session: &mut Session, partial: &str, name: &str) -> Result<bool, PluginError> {
    if !take_lock(session, name)? {
        return Ok(false);
    }
    let result = match exists(session, name) {
        Ok(true) => Ok(false),
        Ok(false) => rename(session, partial, name).map(|()| true),
        Err(e) => Err(e),
    };
    release_lock(session, name);
    result
}

/// Renames `partial` onto `name`, replacing a file there without removing it first.
pub fn put_replacing(
    session: &mut Session,
    partial: &str,
    name: &str,
) -> Result<bool, PluginError> {
    let first = match session.ftp.rename(partial, name) {
        Ok(()) => return Ok(true),
        Err(e) => e,
    };
    let refused = errors::code_of(&first).is_some_and(|c| c >= 500);
    if !refused || !exists(session, name)? {
        return Err(errors::ftp(
            first,
            &format!("renaming {partial} to {name}"),
            ErrorKind::Permission,
        ));
    }
    // The server refuses to rename onto an existing name: move the old file aside.
    let old = format!("{partial}.old");
    rename(session, name, &old)?;
    if let Err(e) = rename(session, partial, name) {
        if let Err(back) = rename(session, &old, name) {
            tracing::warn!("the previous {name} waits as {old}: {back}");
        }
        return Err(e);
    }
    if let Err(e) = session.ftp.rm(&old) {
        tracing::warn!("could not remove the previous copy {old}: {e}");
    }
    Ok(true)
}

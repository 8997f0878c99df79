//! Putting a complete temporary file in place under its final name.
//!
//! - No replace ([`put_new`], for `upload_new`): the SFTP rename of protocol version 3,
//!   which must fail when the target exists (draft-ietf-secsh-filexfer-02, 6.5). libssh2
//!   sends no flags at version 3; at version 5 and later it sends the ones given, so they
//!   leave out `OVERWRITE`. OpenSSH's server does it with `link(2)` then `unlink(2)`:
//!   atomic, refused with `EEXIST` when the name exists. On a file system without hard
//!   links it falls back to `stat(2)` then `rename(2)`, which leaves an instant between
//!   the check and the rename. A server that renames with a plain POSIX `rename(2)`
//!   (overwriting) breaks the protocol; the name is looked up just before, so only a file
//!   created in that instant could be replaced there.
//! - Replace ([`put_replacing`], for `upload`): never removes the old file before the new
//!   one is complete. The old file is first renamed aside, the new one renamed in, and
//!   only then the old one removed; a process killed in between leaves the old copy under
//!   the aside name (`<temporary name>.old`), never nothing.

use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::PluginError;
use ssh2::{RenameFlags, Sftp};

use crate::errors;

/// Rename flags that never overwrite (used by servers speaking SFTP version 5 or later).
fn no_overwrite() -> Option<RenameFlags> {
    Some(RenameFlags::ATOMIC | RenameFlags::NATIVE)
}

/// Whether `path` exists (a file, a directory, anything).
pub fn exists(sftp: &Sftp, path: &Path) -> Result<bool, PluginError> {
    match sftp.lstat(path) {
        Ok(_) => Ok(true),
        Err(e) if errors::is_not_found(&e) => Ok(false),
        Err(e) => Err(errors::sftp(e, format!("looking up {}", path.display()))),
    }
}

fn rename_error(e: ssh2::Error, from: &Path, to: &Path) -> PluginError {
    errors::sftp(
        e,
        format!("renaming {} to {}", from.display(), to.display()),
    )
}

/// Renames `partial` to `target` unless `target` exists; `Ok(false)` when it does (the
/// partial file is left for the caller to remove).
pub fn put_new(sftp: &Sftp, partial: &Path, target: &Path) -> Result<bool, PluginError> {
    if exists(sftp, target)? {
        return Ok(false);
    }
    match sftp.rename(partial, target, no_overwrite()) {
        Ok(()) => Ok(true),
        // OpenSSH answers a plain "failure" for EEXIST; later versions of the protocol
        // have their own code. Either way: is the name taken now?
        Err(e) => match exists(sftp, target) {
            Ok(true) => Ok(false),
            Ok(false) => Err(rename_error(e, partial, target)),
            Err(_) => Err(rename_error(e, partial, target)),
        },
    }
}

/// The name the old file waits under while it is replaced.
fn aside(partial: &Path) -> PathBuf {
    let mut name = partial.as_os_str().to_owned();
    name.push(".old");
    PathBuf::from(name)
}

/// Renames `partial` to `target`, replacing a file there without removing it first.
pub fn put_replacing(sftp: &Sftp, partial: &Path, target: &Path) -> Result<(), PluginError> {
    if put_new(sftp, partial, target)? {
        return Ok(());
    }
    let old = aside(partial);
    sftp.rename(target, &old, no_overwrite())
        .map_err(|e| rename_error(e, target, &old))?;
    if let Err(e) = sftp.rename(partial, target, no_overwrite()) {
        // Put the old file back where it was.
        if let Err(back) = sftp.rename(&old, target, no_overwrite()) {
            tracing::warn!(
                "the previous {} waits as {}: {}",
                target.display(),
                old.display(),
                back.message()
            );
        }
        return Err(rename_error(e, partial, target));
    }
    tracing::info!("replaced existing remote file {}", target.display());
    if let Err(e) = sftp.unlink(&old) {
        tracing::warn!(
            "could not remove the previous copy {}: {}",
            old.display(),
            e.message()
        );
    }
    Ok(())
}

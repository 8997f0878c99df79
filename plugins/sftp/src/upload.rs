//! Atomic upload: write `<name>.partial`, check its size, then move it over the final name.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sauvegarde_plugin_api::{PluginError, Progress};
use ssh2::{OpenFlags, OpenType, Sftp};

use crate::errors;
use crate::remote::RemoteDir;

/// Bytes handed to libssh2 per write. libssh2 splits a write into 30 000-byte SFTP packets
/// and sends them all before waiting for acknowledgements, so a large buffer keeps many
/// requests in flight (measured with `bench/sftp-upload.sh`).
pub const CHUNK: usize = 4 << 20;

/// Mode of uploaded files.
const FILE_MODE: i32 = 0o640;

/// Uploads `local` as `name` in `dir`; on any failure removes the partial file.
pub fn upload(
    sftp: &Sftp,
    dir: &RemoteDir<'_>,
    local: &Path,
    name: &str,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let target = dir.file(name)?;
    let partial = dir.file(&format!("{name}.partial"))?;
    let mut source =
        File::open(local).map_err(|e| errors::local(e, format!("opening {}", local.display())))?;
    let total = source
        .metadata()
        .map_err(|e| errors::local(e, format!("reading size of {}", local.display())))?
        .len();
    dir.create_all(sftp)?;
    let result = write_partial(sftp, &mut source, local, &partial, total, progress)
        .and_then(|()| commit(sftp, &partial, &target, total));
    if result.is_err() {
        match sftp.unlink(&partial) {
            Ok(()) => tracing::debug!("removed partial upload {}", partial.display()),
            Err(e) if errors::is_not_found(&e) => {}
            Err(e) => tracing::warn!(
                "could not remove partial upload {}: {}",
                partial.display(),
                e.message()
            ),
        }
    }
    result
}

/// Copies the local file into the remote partial file, reporting progress.
fn write_partial(
    sftp: &Sftp,
    source: &mut File,
    local: &Path,
    partial: &Path,
    total: u64,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let what = format!("writing {}", partial.display());
    let mut remote = sftp
        .open_mode(
            partial,
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            FILE_MODE,
            OpenType::File,
        )
        .map_err(|e| errors::sftp(e, format!("creating {}", partial.display())))?;
    let mut buffer = vec![0u8; CHUNK];
    let mut done = 0u64;
    progress.report(0, total)?;
    loop {
        let n = read_full(source, &mut buffer)
            .map_err(|e| errors::local(e, format!("reading {}", local.display())))?;
        if n == 0 {
            break;
        }
        remote
            .write_all(&buffer[..n])
            .map_err(|e| errors::transfer(e, &what))?;
        done += n as u64;
        progress.report(done, total)?;
    }
    remote
        .close()
        .map_err(|e| errors::sftp(e, format!("closing {}", partial.display())))?;
    if done != total {
        return Err(PluginError::transient(format!(
            "{} changed size during the upload ({total} bytes expected, {done} read)",
            local.display()
        )));
    }
    Ok(())
}

/// Checks the partial file's size, then renames it over the target.
fn commit(sftp: &Sftp, partial: &Path, target: &Path, total: u64) -> Result<(), PluginError> {
    let size = sftp
        .stat(partial)
        .map_err(|e| errors::sftp(e, format!("checking {}", partial.display())))?
        .size
        .unwrap_or(0);
    if size != total {
        return Err(PluginError::transient(format!(
            "remote file {} has {size} bytes after upload, {total} expected",
            partial.display()
        )));
    }
    // OpenSSH's SFTP rename refuses to replace a file: remove the old one first.
    match sftp.unlink(target) {
        Ok(()) => tracing::info!("replacing existing remote file {}", target.display()),
        Err(e) if errors::is_not_found(&e) => {}
        Err(e) => {
            return Err(errors::sftp(
                e,
                format!("removing existing {}", target.display()),
            ))
        }
    }
    sftp.rename(partial, target, None).map_err(|e| {
        errors::sftp(
            e,
            format!("renaming {} to {}", partial.display(), target.display()),
        )
    })
}

/// Fills `buffer` as far as the file allows; returns 0 only at end of file.
pub fn read_full(source: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

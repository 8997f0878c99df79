//! Download to a temporary file beside the destination, renamed into place when complete.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::{PluginError, Progress};

use crate::errors;
use crate::remote::RemoteDir;
use crate::upload::{read_full, CHUNK};

/// Downloads `name` from `dir` into `local` (which must not exist yet). On failure nothing
/// is left at `local` nor at the temporary name.
pub fn download(
    sftp: &ssh2::Sftp,
    dir: &RemoteDir<'_>,
    name: &str,
    local: &Path,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let remote_path = dir.file(name)?;
    let what = format!("downloading {}", remote_path.display());
    let mut remote = sftp.open(&remote_path).map_err(|e| {
        if errors::is_not_found(&e) {
            PluginError::not_found(format!(
                "remote file {} does not exist",
                remote_path.display()
            ))
        } else {
            errors::sftp(e, &what)
        }
    })?;
    let total = remote
        .stat()
        .map_err(|e| errors::sftp(e, format!("checking {}", remote_path.display())))?
        .size
        .unwrap_or(0);
    let temp = temp_path(local);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| errors::local(e, format!("creating {}", temp.display())))?;
    let result = (|| {
        let mut buffer = vec![0u8; CHUNK];
        let mut done = 0u64;
        progress.report(0, total)?;
        loop {
            let n = read_full(&mut remote, &mut buffer).map_err(|e| errors::transfer(e, &what))?;
            if n == 0 {
                break;
            }
            out.write_all(&buffer[..n])
                .map_err(|e| errors::local(e, format!("writing {}", temp.display())))?;
            done += n as u64;
            progress.report(done, total)?;
        }
        if done != total {
            return Err(PluginError::transient(format!(
                "{what}: got {done} bytes, the server announced {total}"
            )));
        }
        out.sync_all()
            .map_err(|e| errors::local(e, format!("writing {}", temp.display())))?;
        fs::rename(&temp, local).map_err(|e| {
            errors::local(
                e,
                format!("renaming {} to {}", temp.display(), local.display()),
            )
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `<local>.partial` in the same directory, so the final rename stays on one filesystem.
fn temp_path(local: &Path) -> PathBuf {
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    local.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_path_is_beside_the_target() {
        assert_eq!(
            temp_path(Path::new("/restore/db.zip")),
            PathBuf::from("/restore/db.zip.partial")
        );
    }
}

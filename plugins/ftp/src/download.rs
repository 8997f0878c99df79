//! Download: RETR into a temporary file beside the target, then rename it into place.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use sauvegarde_plugin_api::{ErrorKind, PluginError, Progress};

use crate::config::Config;
use crate::errors;
use crate::session::Session;
use crate::upload::BUFFER;

/// The temporary local file used while downloading to `target`.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!(".{name}.partial"))
}

/// Downloads `name` from `remote_dir` into `target`.
pub fn download(
    config: &Config,
    tls: &Arc<ClientConfig>,
    name: &str,
    target: &Path,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let mut session = Session::open(config, tls)?;
    if !session.enter_dir(config, false)? {
        return Err(PluginError::not_found(format!(
            "{name}: `remote_dir` {} does not exist on {}",
            config.remote_dir,
            config.endpoint()
        )));
    }
    let total = session
        .ftp
        .size(name)
        .map(|s| s as u64)
        .map_err(|e| errors::ftp(e, &format!("SIZE {name}"), ErrorKind::NotFound))?;
    let temp = temp_path(target);
    let result = receive(&mut session, name, &temp, total, progress).and_then(|()| {
        fs::rename(&temp, target)
            .map_err(|e| errors::local(e, &format!("renaming into {}", target.display())))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    session.close();
    result
}

/// RETR into `temp` with progress; on cancel, aborts the transfer.
fn receive(
    session: &mut Session,
    name: &str,
    temp: &Path,
    total: u64,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let mut out = File::create(temp)
        .map_err(|e| errors::local(e, &format!("creating {}", temp.display())))?;
    let mut stream = session
        .ftp
        .retr_as_stream(name)
        .map_err(|e| errors::ftp(e, &format!("RETR {name}"), ErrorKind::NotFound))?;
    let mut buffer = vec![0u8; BUFFER];
    let mut done = 0u64;
    progress.report(0, total)?;
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(PluginError::transient(format!(
                    "receiving {name}: connection lost after {done} of {total} bytes ({e})"
                )))
            }
        };
        out.write_all(&buffer[..n])
            .map_err(|e| errors::local(e, &format!("writing {}", temp.display())))?;
        done += n as u64;
        if let Err(cancelled) = progress.report(done, total) {
            if let Err(e) = session.ftp.abort(stream) {
                tracing::debug!("ABOR after cancel: {e}");
            }
            return Err(cancelled);
        }
    }
    stream
        .finish()
        .map_err(|e| errors::ftp(e, &format!("completing RETR {name}"), ErrorKind::NotFound))?;
    out.sync_all()
        .map_err(|e| errors::local(e, &format!("flushing {}", temp.display())))?;
    if done != total {
        return Err(PluginError::transient(format!(
            "download of {name} incomplete: got {done} of {total} bytes"
        )));
    }
    Ok(())
}

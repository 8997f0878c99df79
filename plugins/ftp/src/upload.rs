//! Upload: STOR under a temporary name, check SIZE, then put it in place ([`commit`]:
//! under a lock without replacing for `upload_new`, replacing for `upload`). The temporary
//! file is removed on any failure or cancel, and when the name is taken.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use sauvegarde_plugin_api::partials::partial_name;
use sauvegarde_plugin_api::{ErrorKind, NewUpload, PluginError, Progress};

use crate::commit;
use crate::config::Config;
use crate::errors;
use crate::session::Session;

/// Size of the buffer between the local file and the data connection.
pub const BUFFER: usize = 1 << 20;

/// Uploads `local` as `name` into `remote_dir` (created if missing), replacing a file of
/// that name.
pub fn upload(
    config: &Config,
    tls: &Arc<ClientConfig>,
    local: &Path,
    name: &str,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let temp = partial_name(name);
    transfer(config, tls, local, name, &temp, Mode::Replace, progress).map(|_| ())
}

/// Uploads `local` as `name` into `remote_dir` through the temporary file `temp`, unless
/// `name` exists (before the upload, or under the lock at the rename).
pub fn upload_new(
    config: &Config,
    tls: &Arc<ClientConfig>,
    local: &Path,
    name: &str,
    temp: &str,
    progress: &mut Progress<'_>,
) -> Result<NewUpload, PluginError> {
    let stored = transfer(config, tls, local, name, temp, Mode::New, progress)?;
    Ok(if stored {
        NewUpload::Stored
    } else {
        NewUpload::NameTaken
    })
}

/// How the temporary file goes in place.
#[derive(Clone, Copy)]
enum Mode {
    /// Over an existing file of the name ([`commit::put_replacing`]).
    Replace,
    /// Never over an existing file ([`commit::put_new`]); a name that exists already
    /// ends the upload before anything is sent.
    New,
}

/// STOR `local` as `temp`, check its size, put it onto `name` as `mode` says; `true` when
/// it is in place, `false` when the name is taken. Removes the temporary file unless it
/// was put in place.
fn transfer(
    config: &Config,
    tls: &Arc<ClientConfig>,
    local: &Path,
    name: &str,
    temp: &str,
    mode: Mode,
    progress: &mut Progress<'_>,
) -> Result<bool, PluginError> {
    let put = match mode {
        Mode::Replace => commit::put_replacing,
        Mode::New => commit::put_new,
    };
    let mut file =
        File::open(local).map_err(|e| errors::local(e, &format!("opening {}", local.display())))?;
    let total = file
        .metadata()
        .map_err(|e| errors::local(e, &format!("reading size of {}", local.display())))?
        .len();
    let mut session = Session::open(config, tls)?;
    session.enter_dir(config, true)?;
    if matches!(mode, Mode::New) && commit::exists(&mut session, name)? {
        session.close();
        return Ok(false);
    }
    match send(&mut session, &mut file, temp, total, progress)
        .and_then(|()| verify_size(&mut session, temp, total))
        .and_then(|()| put(&mut session, temp, name))
    {
        Ok(true) => {
            session.close();
            tracing::info!("uploaded {name} ({total} bytes) to {}", config.endpoint());
            Ok(true)
        }
        Ok(false) => {
            remove_partial(config, tls, Some(session), temp);
            Ok(false)
        }
        Err(err) => {
            remove_partial(config, tls, Some(session), temp);
            Err(err)
        }
    }
}

/// STOR with progress; on cancel, aborts the transfer.
fn send(
    session: &mut Session,
    file: &mut File,
    partial: &str,
    total: u64,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    let mut stream = session
        .ftp
        .put_with_stream(partial)
        .map_err(|e| errors::ftp(e, &format!("STOR {partial}"), ErrorKind::Permission))?;
    let mut buffer = vec![0u8; BUFFER];
    let mut done = 0u64;
    progress.report(0, total)?;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| errors::local(e, "reading the local archive"))?;
        if n == 0 {
            break;
        }
        if let Err(e) = stream.write_all(&buffer[..n]) {
            return Err(PluginError::transient(format!(
                "sending {partial}: connection lost after {done} of {total} bytes ({e})"
            )));
        }
        done += n as u64;
        if let Err(cancelled) = progress.report(done, total) {
            if let Err(e) = session.ftp.abort(stream) {
                tracing::debug!("ABOR after cancel: {e}");
            }
            return Err(cancelled);
        }
    }
    stream.finish().map_err(|e| {
        errors::ftp(
            e,
            &format!("completing STOR {partial}"),
            ErrorKind::Permission,
        )
    })
}

/// Checks that the server holds `total` bytes (SIZE); a server without SIZE is trusted.
fn verify_size(session: &mut Session, partial: &str, total: u64) -> Result<(), PluginError> {
    match session.ftp.size(partial) {
        Ok(size) if size as u64 == total => Ok(()),
        Ok(size) => Err(PluginError::transient(format!(
            "upload of {partial} incomplete: the server holds {size} of {total} bytes"
        ))),
        Err(e) if errors::code_of(&e).is_some_and(|c| c == 500 || c == 502) => {
            tracing::debug!("server has no SIZE command; size not verified");
            Ok(())
        }
        Err(e) => Err(errors::ftp(e, &format!("SIZE {partial}"), ErrorKind::Other)),
    }
}

/// Deletes the partial file: on `session` if it still works, else on a fresh connection.
/// Best effort: failures are logged, not returned.
pub fn remove_partial(
    config: &Config,
    tls: &Arc<ClientConfig>,
    session: Option<Session>,
    partial: &str,
) {
    if let Some(mut session) = session {
        match session.ftp.rm(partial) {
            Ok(()) => {
                session.close();
                return;
            }
            Err(e) if errors::code_of(&e) == Some(550) => {
                session.close();
                return;
            }
            Err(e) => tracing::debug!("removing {partial} on the failed session: {e}"),
        }
    }
    let fresh = Session::open(config, tls).and_then(|mut s| {
        s.enter_dir(config, false)?;
        Ok(s)
    });
    match fresh {
        Ok(mut session) => {
            if let Err(e) = session.ftp.rm(partial) {
                if errors::code_of(&e) != Some(550) {
                    tracing::warn!("could not remove partial upload {partial}: {e}");
                }
            }
            session.close();
        }
        Err(e) => tracing::warn!(
            "could not remove partial upload {partial} from {}: {e}",
            config.endpoint()
        ),
    }
}

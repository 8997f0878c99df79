//! Loading the database: `dump.sql` streamed from the ZIP entry into
//! `psql -X -q -v ON_ERROR_STOP=1 -f -` (never extracted to disk), or
//! `pg_restore --no-owner --exit-on-error` for a custom-format archive.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::process::Stdio;

use ::zip::ZipArchive;

use super::server::Server;
use super::RestoreError;
use crate::cancel::CancelFlag;
use crate::dump::client::command;
use crate::dump::{ClientExit, ClientProcess};
use crate::verify::zip::{describe_read_error, DUMP_ENTRY};
use sauvegarde_plugin_api::human_bytes;

/// Feeds `dump.sql` of `zip` (the archive at `path`) to psql connected to `database`.
/// Returns the bytes of SQL loaded.
pub fn sql_from_zip<R: Read + Seek>(
    server: &Server,
    database: &str,
    zip: &mut ZipArchive<R>,
    path: &Path,
    cancel: &CancelFlag,
) -> Result<u64, RestoreError> {
    let mut entry = zip
        .by_name(DUMP_ENTRY)
        .map_err(|e| RestoreError::ArchiveRead {
            path: path.to_path_buf(),
            entry: DUMP_ENTRY.into(),
            message: e.to_string(),
        })?;
    tracing::info!(database, psql = %server.psql.display(), "loading dump.sql ({})", human_bytes(entry.size()));
    let mut psql = command(&server.psql);
    psql.args([
        "-X",
        "-q",
        "--no-password",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
    ])
    .stdin(Stdio::piped());
    let mut process = spawn(&mut psql, server, database, &server.psql)?;
    let stdin = process.take_stdin();
    let fed = process.while_watching(cancel, || feed(&mut entry, stdin, cancel));
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    match fed {
        Err(Feed::Read(e)) => {
            // Stop psql: the dump is not whole (the database is dropped by the caller).
            process.kill();
            Err(RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: DUMP_ENTRY.into(),
                message: describe_read_error(&e),
            })
        }
        // psql stopped reading: its exit status and stderr say why.
        Err(Feed::Write(e)) => {
            finish(process, database)?;
            Err(RestoreError::Load {
                program: server.psql.clone(),
                database: database.into(),
                detail: format!("it stopped reading the dump: {e}"),
            })
        }
        Ok(bytes) => {
            let exit = finish(process, database)?;
            log_warnings(&exit, database);
            Ok(bytes)
        }
    }
}

enum Feed {
    /// Reading the archive failed (CRC-32, corrupt data).
    Read(std::io::Error),
    /// Writing to psql failed (it exited).
    Write(std::io::Error),
}

fn feed(
    entry: &mut dyn Read,
    stdin: Option<std::process::ChildStdin>,
    cancel: &CancelFlag,
) -> Result<u64, Feed> {
    let Some(mut stdin) = stdin else {
        return Ok(0);
    };
    let mut buf = vec![0u8; crate::archive::CHUNK];
    let mut total = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(total);
        }
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Feed::Read(e)),
        };
        stdin.write_all(&buf[..n]).map_err(Feed::Write)?;
        total += n as u64;
    }
}

/// Runs `pg_restore --no-owner --exit-on-error` of the custom-format archive at `path`
/// into `database`.
pub fn custom(
    server: &Server,
    database: &str,
    path: &Path,
    cancel: &CancelFlag,
) -> Result<(), RestoreError> {
    tracing::info!(database, pg_restore = %server.pg_restore.display(), "loading {}", path.display());
    let mut restore = command(&server.pg_restore);
    restore
        .args(["--no-owner", "--exit-on-error", "--no-password", "--dbname"])
        .arg(database)
        .arg(path);
    let process = spawn(&mut restore, server, database, &server.pg_restore)?;
    let program = process.program().to_path_buf();
    let exit = process.wait_cancellable(cancel);
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    let exit = checked(exit, &program, database)?;
    log_warnings(&exit, database);
    Ok(())
}

/// Starts `command` (`program`) connected to `database`, its password file kept until
/// the process is dropped.
fn spawn(
    command: &mut std::process::Command,
    server: &Server,
    database: &str,
    program: &Path,
) -> Result<ClientProcess, RestoreError> {
    let err = |source| RestoreError::Spawn {
        program: program.to_path_buf(),
        source,
    };
    let passfile = server.connection_to(database).apply(command).map_err(err)?;
    Ok(ClientProcess::spawn(command)
        .map_err(err)?
        .keeping(passfile))
}

/// Waits for the program; a non-zero exit is a [`RestoreError::Load`] with its stderr.
fn finish(process: ClientProcess, database: &str) -> Result<ClientExit, RestoreError> {
    let program = process.program().to_path_buf();
    checked(process.finish(), &program, database)
}

fn checked(
    exit: std::io::Result<ClientExit>,
    program: &Path,
    database: &str,
) -> Result<ClientExit, RestoreError> {
    let exit = exit.map_err(|source| RestoreError::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    if exit.status.success() {
        Ok(exit)
    } else {
        Err(RestoreError::Load {
            program: program.to_path_buf(),
            database: database.into(),
            detail: exit.stderr_or_status(),
        })
    }
}

fn log_warnings(exit: &ClientExit, database: &str) {
    for line in exit.stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(database, "{line}");
    }
}

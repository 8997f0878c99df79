//! Loading the database: `dump.sql` streamed from the ZIP entry into
//! `psql -X -q -v ON_ERROR_STOP=1 -f -` (never extracted to disk), or
//! `pg_restore --no-owner --exit-on-error` for a custom-format archive.
//!
//! A dump psql could run a meta-command of never gets here: `restore` (and the test
//! restore of `verify --restore` and drills, after `verify`) read it through the
//! [`Guard`] before anything is created ([`prescan`]). The load is a second layer: the
//! stream goes through a [`Guard`] again (pg_dump's own `\restrict`/`\unrestrict`/
//! `\connect` lines dropped, anything flagged stops the load before psql reads it), and
//! when psql knows `\restrict`, the stream starts with `\restrict <fresh random key>`, so
//! psql itself refuses every backslash command that would still reach it.

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::process::Stdio;

use ::zip::ZipArchive;

use super::server::Server;
use super::RestoreError;
use crate::cancel::CancelFlag;
use crate::dump::client::command;
use crate::dump::{ClientExit, ClientProcess};
use crate::verify::psql::split::{Splitter, Unit};
use crate::verify::psql::{Guard, Refused};
use crate::verify::zip::{describe_read_error, DUMP_ENTRY};
use sauvegarde_plugin_api::human_bytes;

/// Loads `dump.sql` of `zip` (the archive at `path`) into `database`: over `jobs`
/// connections when it was cut into `units` ([`super::parallel`]), else through one
/// psql stream.
pub fn database_from_zip<R: Read + Seek>(
    server: &Server,
    database: &str,
    zip: &mut ZipArchive<R>,
    path: &Path,
    units: Option<Vec<Unit>>,
    jobs: usize,
    cancel: &CancelFlag,
) -> Result<super::parallel::Loaded, RestoreError> {
    if let Some(units) = units {
        if let Some(loaded) = super::parallel::load(server, database, path, units, jobs, cancel)? {
            return Ok(loaded);
        }
    } else {
        tracing::info!(
            database,
            "dump.sql is loaded through one psql (not cut for a parallel restore: its statements pass {})",
            human_bytes(super::parallel::STATEMENTS_LIMIT)
        );
    }
    let sql_bytes = sql_from_zip(server, database, zip, path, cancel)?;
    Ok(super::parallel::Loaded {
        connections: 1,
        items: 0,
        sql_bytes,
    })
}

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
    let restrict = if server.psql_restricts() {
        Some(random_key().map_err(|source| RestoreError::Spawn {
            program: "/dev/urandom".into(),
            source,
        })?)
    } else {
        tracing::warn!(psql = %server.psql.display(), "this psql has no \\restrict (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later have it): meta-commands are kept out by sauvegarde's own reading of the dump only; update the PostgreSQL client");
        None
    };
    let stdin = process.take_stdin();
    let fed = process.while_watching(cancel, || {
        feed(&mut entry, stdin, cancel, restrict.as_deref())
    });
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled);
    }
    match fed {
        Err(Feed::Refused(lines)) => {
            process.kill();
            Err(RestoreError::MetaCommands {
                path: path.to_path_buf(),
                lines: join_refused(&lines),
            })
        }
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
    /// The dump holds a meta-command psql must not see.
    Refused(Vec<Refused>),
    /// Reading the archive failed (CRC-32, corrupt data).
    Read(std::io::Error),
    /// Writing to psql failed (it exited).
    Write(std::io::Error),
}

/// The refused lines, for a message.
pub fn join_refused(lines: &[Refused]) -> String {
    lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// 32 letters and digits from the system's random source (a `\restrict` key, a password).
pub fn random_key() -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Writes the dump to psql's stdin through a [`Guard`], after `\restrict KEY` when
/// `restrict` is given. Returns the bytes of the dump read.
fn feed(
    entry: &mut dyn Read,
    stdin: Option<std::process::ChildStdin>,
    cancel: &CancelFlag,
    restrict: Option<&str>,
) -> Result<u64, Feed> {
    let Some(mut stdin) = stdin else {
        return Ok(0);
    };
    feed_into(entry, &mut stdin, cancel, restrict)
}

fn feed_into(
    entry: &mut dyn Read,
    psql: &mut dyn Write,
    cancel: &CancelFlag,
    restrict: Option<&str>,
) -> Result<u64, Feed> {
    if let Some(key) = restrict {
        psql.write_all(format!("\\restrict {key}\n").as_bytes())
            .map_err(Feed::Write)?;
    }
    let mut guard = Guard::new();
    let mut buf = vec![0u8; crate::archive::CHUNK];
    let mut out = Vec::with_capacity(crate::archive::CHUNK);
    let mut total = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(total);
        }
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Feed::Read(e)),
        };
        out.clear();
        guard.feed(&buf[..n], Some(&mut out));
        if guard.refusals() > 0 {
            return Err(Feed::Refused(guard.refused().to_vec()));
        }
        psql.write_all(&out).map_err(Feed::Write)?;
        total += n as u64;
    }
    let (refused, _) = guard.finish();
    if !refused.is_empty() {
        return Err(Feed::Refused(refused));
    }
    Ok(total)
}

/// Reads `dump.sql` through a [`Guard`] without loading it: the check a restore makes
/// before it creates anything when it did not verify the archive. Returns the dump cut
/// into psql's units (the same reading; `None` when the statements pass the limit of a
/// parallel restore, or there is no dump).
pub fn prescan<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    path: &Path,
    cancel: &CancelFlag,
) -> Result<Option<Vec<Unit>>, RestoreError> {
    let mut entry = match zip.by_name(DUMP_ENTRY) {
        Ok(entry) => entry,
        // No dump: the load says so.
        Err(_) => return Ok(None),
    };
    let refused = |lines: &[Refused]| RestoreError::MetaCommands {
        path: path.to_path_buf(),
        lines: join_refused(lines),
    };
    let mut splitter = Splitter::new(super::parallel::STATEMENTS_LIMIT);
    let mut buf = vec![0u8; crate::archive::CHUNK];
    loop {
        if cancel.is_cancelled() {
            return Err(RestoreError::Cancelled);
        }
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(RestoreError::ArchiveRead {
                    path: path.to_path_buf(),
                    entry: DUMP_ENTRY.into(),
                    message: describe_read_error(&e),
                })
            }
        };
        splitter.feed(&buf[..n]);
        if splitter.guard().refusals() > 0 {
            return Err(refused(splitter.guard().refused()));
        }
    }
    let (lines, _, units) = splitter.finish();
    if !lines.is_empty() {
        return Err(refused(&lines));
    }
    Ok(units)
}

/// Runs `pg_restore --no-owner --exit-on-error --jobs N` of the custom-format archive at
/// `path` into `database`.
pub fn custom(
    server: &Server,
    database: &str,
    path: &Path,
    jobs: usize,
    cancel: &CancelFlag,
) -> Result<(), RestoreError> {
    let jobs = jobs.clamp(1, super::parallel::JOBS_MAX);
    tracing::info!(database, pg_restore = %server.pg_restore.display(), jobs, "loading {}", path.display());
    let mut restore = command(&server.pg_restore);
    restore
        .args(["--no-owner", "--exit-on-error", "--no-password"])
        .arg(format!("--jobs={jobs}"))
        .arg("--dbname")
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
pub(super) fn spawn(
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
pub(super) fn finish(process: ClientProcess, database: &str) -> Result<ClientExit, RestoreError> {
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

pub(super) fn log_warnings(exit: &ClientExit, database: &str) {
    for line in exit.stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(database, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(dump: &str, restrict: Option<&str>) -> Result<String, Feed> {
        let mut out = Vec::new();
        feed_into(&mut dump.as_bytes(), &mut out, &CancelFlag::new(), restrict)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn psql_gets_sauvegardes_own_restrict_line_first_and_never_the_dumps() {
        let dump = "\\restrict theirs\nSELECT 1;\n\\unrestrict theirs\n";
        let out = fed(dump, Some("ours")).ok().unwrap();
        assert_eq!(out, "\\restrict ours\nSELECT 1;\n");
        let (a, b) = (random_key().unwrap(), random_key().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_shell_command_stops_the_stream_before_psql_reads_it() {
        let dump = "SELECT 1;\n\\! touch /tmp/x\nSELECT 2;\n";
        match fed(dump, None) {
            Err(Feed::Refused(lines)) => assert_eq!(lines[0].line, 2),
            other => panic!("not refused: {:?}", other.ok()),
        }
    }
}

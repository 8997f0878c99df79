//! Atomic upload: write a temporary file, check its size, then move it onto the final
//! name ([`commit`]: without replacing for `upload_new`, replacing for `upload`).
//!
//! The data goes through a second SFTP channel with large write requests ([`BulkChannel`]);
//! a server that refuses a second channel gets libssh2's own writer instead ([`pump`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sauvegarde_plugin_api::partials::partial_name;
use sauvegarde_plugin_api::{NewUpload, PluginError, Progress};
use ssh2::{OpenFlags, OpenType, Sftp};

use crate::bulk::BulkChannel;
use crate::commit;
use crate::connection::Connection;
use crate::errors;
use crate::remote::RemoteDir;

/// Buffer size of downloads, and the least amount of data kept handed to libssh2 when it
/// writes an upload (see [`pump`]).
pub const CHUNK: usize = 4 << 20;

/// Consecutive writes that may return without any acknowledged byte before the upload is
/// abandoned as stalled.
const MAX_IDLE_WRITES: u32 = 10_000;

/// Mode of uploaded files.
const FILE_MODE: i32 = 0o640;

/// Uploads `local` as `name` in `dir`, replacing a file of that name; on any failure
/// removes the partial file.
pub fn upload(
    conn: &Connection,
    dir: &RemoteDir<'_>,
    local: &Path,
    name: &str,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    send(
        conn,
        dir,
        local,
        name,
        &partial_name(name),
        progress,
        |sftp, partial, target| commit::put_replacing(sftp, partial, target).map(|()| true),
    )
    .map(|_| ())
}

/// Uploads `local` as `name` in `dir` through the temporary file `temp_name`, unless
/// `name` exists (before the upload, or by the time of the rename); on any failure, and
/// when the name is taken, removes the temporary file.
pub fn upload_new(
    conn: &Connection,
    dir: &RemoteDir<'_>,
    local: &Path,
    name: &str,
    temp_name: &str,
    progress: &mut Progress<'_>,
) -> Result<NewUpload, PluginError> {
    if commit::exists(&conn.sftp, &dir.file(name)?)? {
        return Ok(NewUpload::NameTaken);
    }
    let stored = send(conn, dir, local, name, temp_name, progress, commit::put_new)?;
    Ok(if stored {
        NewUpload::Stored
    } else {
        NewUpload::NameTaken
    })
}

/// Writes `local` as `temp_name`, checks its size and `put`s it onto `name`; removes the
/// temporary file unless `put` answered `true` (in place).
fn send(
    conn: &Connection,
    dir: &RemoteDir<'_>,
    local: &Path,
    name: &str,
    temp_name: &str,
    progress: &mut Progress<'_>,
    put: impl FnOnce(&Sftp, &Path, &Path) -> Result<bool, PluginError>,
) -> Result<bool, PluginError> {
    let sftp = &conn.sftp;
    let target = dir.file(name)?;
    let partial = dir.file(temp_name)?;
    let mut source =
        File::open(local).map_err(|e| errors::local(e, format!("opening {}", local.display())))?;
    let total = source
        .metadata()
        .map_err(|e| errors::local(e, format!("reading size of {}", local.display())))?
        .len();
    dir.create_all(sftp)?;
    let result = write_partial(conn, &mut source, local, &partial, total, progress)
        .and_then(|()| check_size(sftp, &partial, total))
        .and_then(|()| put(sftp, &partial, &target));
    if !matches!(result, Ok(true)) {
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
    conn: &Connection,
    source: &mut File,
    local: &Path,
    partial: &Path,
    total: u64,
    progress: &mut Progress<'_>,
) -> Result<(), PluginError> {
    progress.report(0, total)?;
    let read_error = |e| errors::local(e, format!("reading {}", local.display()));
    let done = match BulkChannel::open(conn.session()) {
        Ok(mut bulk) => bulk.write_file(
            partial,
            FILE_MODE as u32,
            source,
            total,
            progress,
            read_error,
        )?,
        Err(e) => {
            tracing::debug!("no bulk SFTP channel ({e}), writing through libssh2's");
            write_with_libssh2(&conn.sftp, source, partial, total, progress, read_error)?
        }
    };
    if done != total {
        return Err(PluginError::transient(format!(
            "{} changed size during the upload ({total} bytes expected, {done} read)",
            local.display()
        )));
    }
    Ok(())
}

/// Writes `source` into `partial` with libssh2's own SFTP writer.
fn write_with_libssh2(
    sftp: &Sftp,
    source: &mut File,
    partial: &Path,
    total: u64,
    progress: &mut Progress<'_>,
    read_error: impl Fn(std::io::Error) -> PluginError,
) -> Result<u64, PluginError> {
    let what = format!("writing {}", partial.display());
    let mut remote = sftp
        .open_mode(
            partial,
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            FILE_MODE,
            OpenType::File,
        )
        .map_err(|e| errors::sftp(e, format!("creating {}", partial.display())))?;
    let done = pump(source, &mut remote, total, progress, read_error).map_err(|e| match e {
        PumpError::Remote(e) => errors::transfer(e, &what),
        PumpError::Other(e) => e,
    })?;
    remote
        .close()
        .map_err(|e| errors::sftp(e, format!("closing {}", partial.display())))?;
    Ok(done)
}

/// Why [`pump`] stopped.
enum PumpError {
    /// Writing to the server failed.
    Remote(std::io::Error),
    /// Reading the local file failed, or the host cancelled.
    Other(PluginError),
}

/// Streams `source` into `remote` and returns the number of bytes the server acknowledged.
///
/// libssh2 splits what it is given into 30 000-byte SFTP write requests, sends as many as
/// the SSH window allows, and returns as soon as the first ones are acknowledged; it must
/// then be called again with the rest of the same data, to which more may be appended
/// (the bytes it already sent are skipped). Handing it whole buffers one after another
/// lets the pipeline drain empty at the end of each; instead the unacknowledged tail is
/// kept in `buffer` and refilled behind it, so there are always at least [`CHUNK`] bytes
/// (twice the server's usual 2 MiB window) queued, and the server never waits for us.
fn pump(
    source: &mut impl Read,
    remote: &mut impl Write,
    total: u64,
    progress: &mut Progress<'_>,
    read_error: impl Fn(std::io::Error) -> PluginError,
) -> Result<u64, PumpError> {
    let mut buffer = vec![0u8; 2 * CHUNK];
    // buffer[start..end] is read from the file but not yet acknowledged by the server.
    let (mut start, mut end) = (0, 0);
    let mut eof = false;
    let mut done = 0u64;
    let mut reported = 0u64;
    let mut idle = 0;
    loop {
        if !eof && end - start < CHUNK {
            buffer.copy_within(start..end, 0);
            end -= start;
            start = 0;
            let n = read_full(source, &mut buffer[end..])
                .map_err(|e| PumpError::Other(read_error(e)))?;
            eof = n == 0;
            end += n;
        }
        if start == end {
            return Ok(done);
        }
        let n = remote
            .write(&buffer[start..end])
            .map_err(PumpError::Remote)?;
        // 0 means libssh2 handled incoming packets but no request was acknowledged yet
        // (its own waits are bounded by the session timeout); only a server that never
        // acknowledges anything keeps answering 0.
        idle = if n == 0 { idle + 1 } else { 0 };
        if idle > MAX_IDLE_WRITES {
            return Err(PumpError::Remote(std::io::ErrorKind::WriteZero.into()));
        }
        start += n;
        done += n as u64;
        if done - reported >= CHUNK as u64 || start == end {
            progress.report(done, total).map_err(PumpError::Other)?;
            reported = done;
        }
    }
}

/// Checks that the server holds `total` bytes in the partial file.
fn check_size(sftp: &Sftp, partial: &Path, total: u64) -> Result<(), PluginError> {
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Follows libssh2's `sftp_write` contract: each call gets the data from the first
    /// unacknowledged byte on, sends what it has not seen yet, acknowledges at most one
    /// 30 000-byte request, and sometimes none.
    struct Libssh2Like {
        /// Sent, not yet acknowledged.
        queued: Vec<u8>,
        /// Acknowledged, in order: what the server holds.
        written: Vec<u8>,
        calls: usize,
    }

    impl Write for Libssh2Like {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.calls += 1;
            let already = self.queued.len();
            assert!(
                buf.len() >= already,
                "data already sent was not passed again"
            );
            assert_eq!(&buf[..already], &self.queued[..], "resent data differs");
            self.queued.extend_from_slice(&buf[already..]);
            if self.calls % 3 == 0 {
                return Ok(0);
            }
            let n = self.queued.len().min(30_000);
            self.written.extend(self.queued.drain(..n));
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn data(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect()
    }

    #[test]
    fn pump_hands_libssh2_every_byte_in_order_and_reports_progress() {
        let input = data(3 * CHUNK + 12_345);
        let mut remote = Libssh2Like {
            queued: Vec::new(),
            written: Vec::new(),
            calls: 0,
        };
        let mut reports = Vec::new();
        let mut callback = |done: u64, total: u64| {
            reports.push((done, total));
            true
        };
        let mut progress = Progress::from_fn(&mut callback);
        let total = input.len() as u64;
        let done = pump(
            &mut Cursor::new(&input),
            &mut remote,
            total,
            &mut progress,
            |e| errors::local(e, "reading"),
        )
        .unwrap_or_else(|_| panic!("pump failed"));
        drop(progress);
        assert_eq!(done, total);
        assert!(remote.queued.is_empty());
        assert!(remote.written == input, "the server got other bytes");
        assert_eq!(reports.last(), Some(&(total, total)));
        assert!(reports.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(reports.len() >= 3, "{reports:?}");
    }

    #[test]
    fn pump_stops_when_the_host_cancels() {
        let input = data(2 * CHUNK);
        let mut remote = Libssh2Like {
            queued: Vec::new(),
            written: Vec::new(),
            calls: 0,
        };
        let mut callback = |done: u64, _total: u64| done < CHUNK as u64;
        let mut progress = Progress::from_fn(&mut callback);
        let result = pump(
            &mut Cursor::new(&input),
            &mut remote,
            input.len() as u64,
            &mut progress,
            |e| errors::local(e, "reading"),
        );
        assert!(matches!(
            result,
            Err(PumpError::Other(e)) if e.kind() == sauvegarde_plugin_api::ErrorKind::Cancelled
        ));
        assert!(remote.written.len() < input.len());
    }
}

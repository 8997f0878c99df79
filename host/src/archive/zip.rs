//! The streaming ZIP writer: `dump.sql` from a reader (pg_dump's stdout), then the
//! filestore files, then `manifest.json`. Nothing is buffered beyond one chunk.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ::zip::write::SimpleFileOptions;
use ::zip::{CompressionMethod, DateTime, ZipWriter};

use super::compress::{worth_deflating, SAMPLE};
use super::{copy_stream, ArchiveError, Counting, WriteContext};
use crate::filestore::Entry;

/// Odoo's deflate level (`zipfile.ZIP_DEFLATED` with zlib's default).
const LEVEL: i64 = 6;

/// Files larger than this get ZIP64 local headers up front.
const LARGE: u64 = 2 << 30;

/// A ZIP archive being written to a file.
pub struct ZipArchiveWriter {
    zip: ZipWriter<Counting<BufWriter<File>>>,
    written: Arc<AtomicU64>,
    time: DateTime,
}

impl ZipArchiveWriter {
    /// Starts an archive in `file`; entries get the modification time `time`.
    pub fn new(file: File, time: DateTime) -> Self {
        let counting = Counting::new(BufWriter::with_capacity(super::CHUNK, file));
        let written = counting.counter();
        ZipArchiveWriter {
            zip: ZipWriter::new(counting),
            written,
            time,
        }
    }

    fn options(&self, deflate: bool, large: bool) -> SimpleFileOptions {
        let options = SimpleFileOptions::default()
            .last_modified_time(self.time)
            .unix_permissions(0o644)
            .large_file(large);
        if deflate {
            options
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(LEVEL))
        } else {
            options.compression_method(CompressionMethod::Stored)
        }
    }

    /// Adds `name`, deflated, from `reader` of unknown length (ZIP64 sizes).
    pub fn add_stream(
        &mut self,
        name: &str,
        reader: &mut dyn Read,
        ctx: &WriteContext<'_>,
    ) -> Result<u64, ArchiveError> {
        self.zip.start_file(name, self.options(true, true))?;
        copy_stream(reader, name, &mut self.zip, &self.written, ctx)
    }

    /// Adds each filestore file as `filestore/<relative>`, stored or deflated from a
    /// sample of its start. A file that vanished since the listing (Odoo's garbage
    /// collector) is skipped with a warning. Returns the number of files added.
    pub fn add_filestore(
        &mut self,
        entries: &[Entry],
        ctx: &WriteContext<'_>,
    ) -> Result<usize, ArchiveError> {
        let mut added = 0;
        let mut sample = vec![0u8; SAMPLE];
        for entry in entries {
            if ctx.cancel.is_cancelled() {
                return Err(ArchiveError::Cancelled);
            }
            let what = entry.path.display().to_string();
            let mut file = match File::open(&entry.path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(file = %what, "filestore file vanished during the backup; skipped");
                    continue;
                }
                Err(source) => return Err(ArchiveError::Read { what, source }),
            };
            let size = file
                .metadata()
                .map(|m| m.len())
                .map_err(|source| ArchiveError::Read {
                    what: what.clone(),
                    source,
                })?;
            let sampled =
                read_up_to(&mut file, &mut sample).map_err(|source| ArchiveError::Read {
                    what: what.clone(),
                    source,
                })?;
            let deflate = worth_deflating(&sample[..sampled]);
            self.zip.start_file(
                format!("filestore/{}", entry.relative),
                self.options(deflate, size > LARGE),
            )?;
            self.zip
                .write_all(&sample[..sampled])
                .map_err(ArchiveError::Write)?;
            copy_stream(&mut file, &what, &mut self.zip, &self.written, ctx)?;
            added += 1;
        }
        Ok(added)
    }

    /// Adds a small in-memory entry (the manifest), deflated.
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.zip.start_file(name, self.options(true, false))?;
        self.zip.write_all(data).map_err(ArchiveError::Write)
    }

    /// Writes the central directory, flushes, and returns the file (not yet fsynced).
    pub fn finish(self) -> Result<File, ArchiveError> {
        let counting = self.zip.finish()?;
        counting
            .into_inner()
            .into_inner()
            .map_err(|e| ArchiveError::Write(e.into_error()))
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

//! Archive writing: the streaming ZIP of Odoo's database manager ([`zip`]), with its
//! records' layout ([`records`]) and block-parallel deflate ([`parallel`]), its
//! `manifest.json` ([`manifest`]), the store-or-deflate choice ([`compress`]), and the
//! plain stream copy used for the `.dump` format.

pub mod compress;
pub mod manifest;
pub mod parallel;
pub mod records;
pub mod zip;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cancel::CancelFlag;

/// Size of the copy buffer: memory use does not depend on the archive size.
pub const CHUNK: usize = 256 * 1024;

/// A progress callback: bytes written to the archive so far.
pub type ProgressFn = dyn Fn(u64) + Send + Sync;

/// What goes wrong while writing an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Writing the archive file failed (disk full, I/O error).
    #[error("cannot write the archive: {0}")]
    Write(#[source] std::io::Error),
    /// Reading a source (pg_dump's output, a filestore file) failed.
    #[error("cannot read {what}: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ZIP library refused something.
    #[error("ZIP error: {0}")]
    Zip(String),
    /// The filestore could not be read (a root that is a link, its owner unknown…).
    #[error(transparent)]
    Filestore(#[from] crate::filestore::FilestoreError),
    /// The backup was cancelled.
    #[error("interrupted")]
    Cancelled,
}

impl From<::zip::result::ZipError> for ArchiveError {
    fn from(e: ::zip::result::ZipError) -> Self {
        match e {
            ::zip::result::ZipError::Io(io) => ArchiveError::Write(io),
            other => ArchiveError::Zip(other.to_string()),
        }
    }
}

/// Cancellation and progress reporting while writing.
pub struct WriteContext<'a> {
    /// Checked between chunks.
    pub cancel: &'a CancelFlag,
    /// Called after each chunk with the bytes written so far.
    pub progress: Option<&'a ProgressFn>,
}

/// A writer that counts the highest offset written (for progress reports).
pub struct Counting<W> {
    inner: W,
    pos: u64,
    written: Arc<AtomicU64>,
}

impl<W> Counting<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Counting {
            inner,
            pos: 0,
            written: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Shared counter of bytes written.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.written.clone()
    }

    /// The wrapped writer, by reference.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.written.fetch_max(self.pos, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: std::io::Seek> std::io::Seek for Counting<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// Copies `reader` to `writer` in [`CHUNK`]s, checking for cancellation and reporting
/// progress (`counter` holds the bytes written to the archive file). Returns the bytes read.
pub fn copy_stream(
    reader: &mut dyn Read,
    what: &str,
    writer: &mut dyn Write,
    counter: &AtomicU64,
    ctx: &WriteContext<'_>,
) -> Result<u64, ArchiveError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(ArchiveError::Cancelled);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ArchiveError::Read {
                    what: what.into(),
                    source,
                })
            }
        };
        writer.write_all(&buf[..n]).map_err(ArchiveError::Write)?;
        total += n as u64;
        if let Some(p) = ctx.progress {
            p(counter.load(Ordering::Relaxed));
        }
    }
}

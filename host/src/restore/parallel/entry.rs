//! `dump.sql` of a ZIP archive read again, from any number of threads at once: one open
//! file read with positioned reads, the entry's raw bytes inflated by each reader on its
//! own. A reader only goes forwards; going back means starting a new one (a deflated
//! entry has no places to start from but its beginning). The entry was read whole and
//! its CRC-32 checked before (verification or the pre-scan); what a reader passes on goes
//! through the guard again on its way to psql.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use ::zip::{CompressionMethod, ZipArchive};

use super::super::RestoreError;
use crate::verify::zip::DUMP_ENTRY;

/// Where the entry's bytes are in the archive.
#[derive(Debug, Clone)]
pub struct Entry {
    file: Arc<File>,
    start: u64,
    compressed: u64,
    deflated: bool,
    /// Its uncompressed size.
    pub size: u64,
}

impl Entry {
    /// Finds `dump.sql` in the archive at `path`; `Ok(None)` when it is neither stored nor
    /// deflated (or encrypted): the caller loads it serially.
    pub fn open(path: &Path) -> Result<Option<Entry>, RestoreError> {
        let err = |message: String| RestoreError::ArchiveRead {
            path: path.to_path_buf(),
            entry: DUMP_ENTRY.into(),
            message,
        };
        let file = File::open(path).map_err(|source| RestoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut zip = ZipArchive::new(BufReader::new(&file)).map_err(|e| err(e.to_string()))?;
        let entry = zip.by_name(DUMP_ENTRY).map_err(|e| err(e.to_string()))?;
        let deflated = match entry.compression() {
            CompressionMethod::Stored => false,
            CompressionMethod::Deflated => true,
            _ => return Ok(None),
        };
        if entry.encrypted() {
            return Ok(None);
        }
        let Some(start) = entry.data_start() else {
            return Ok(None);
        };
        let (compressed, size) = (entry.compressed_size(), entry.size());
        drop(entry);
        drop(zip);
        Ok(Some(Entry {
            file: Arc::new(file),
            start,
            compressed,
            deflated,
            size,
        }))
    }

    /// A reader at the start of the entry.
    pub fn reader(&self) -> EntryReader {
        let raw = BufReader::with_capacity(
            crate::archive::CHUNK,
            Positioned {
                file: Arc::clone(&self.file),
                at: self.start,
                end: self.start + self.compressed,
            },
        );
        let inner: Box<dyn Read + Send> = if self.deflated {
            Box::new(flate2::bufread::DeflateDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        EntryReader { inner, at: 0 }
    }
}

/// Reads a byte range of a file shared with other readers.
struct Positioned {
    file: Arc<File>,
    at: u64,
    end: u64,
}

impl Read for Positioned {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = (self.end - self.at).min(buf.len() as u64) as usize;
        if room == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..room], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The entry's bytes from some offset on.
pub struct EntryReader {
    inner: Box<dyn Read + Send>,
    at: u64,
}

impl EntryReader {
    /// The offset of the next byte.
    pub fn position(&self) -> u64 {
        self.at
    }

    /// Reads and drops bytes up to offset `to` (at or after [`position`](Self::position)).
    pub fn skip_to(&mut self, to: u64) -> std::io::Result<()> {
        let n = to.saturating_sub(self.at);
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())?;
        self.at += copied;
        if copied < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Reads up to `buf.len()` bytes, but not past offset `end`; 0 at `end`.
    pub fn read_until(&mut self, end: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = (end.saturating_sub(self.at)).min(buf.len() as u64) as usize;
        if room == 0 {
            return Ok(0);
        }
        loop {
            match self.inner.read(&mut buf[..room]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.at += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn readers_of_stored_and_deflated_entries_skip_and_read_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let path = dir.path().join(format!("{method:?}.zip"));
            let mut zip = ::zip::ZipWriter::new(File::create(&path).unwrap());
            let options = ::zip::write::SimpleFileOptions::default().compression_method(method);
            zip.start_file("manifest.json", options).unwrap();
            zip.write_all(b"{}").unwrap();
            zip.start_file(DUMP_ENTRY, options).unwrap();
            zip.write_all(&text).unwrap();
            zip.finish().unwrap();
            let entry = Entry::open(&path).unwrap().unwrap();
            assert_eq!(entry.size, text.len() as u64);
            let (a, b) = (100_000u64, 700_001u64);
            let mut readers = [entry.reader(), entry.reader()];
            for r in &mut readers {
                r.skip_to(a).unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = r.read_until(b, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(got, &text[a as usize..b as usize], "{method:?}");
                assert_eq!(r.position(), b);
            }
        }
    }
}

//! Room for the filestore, checked before anything is written: the uncompressed sizes the
//! archive declares for its `filestore/` entries against the free space of the file system
//! the target directory is on. A declared size is also checked against what its
//! compression can produce at most (deflate: 1032 to 1), and extraction never writes more
//! than was declared ([`super::extract`]), so a lying archive cannot fill the disk either.

use std::io::{Read, Seek};
use std::path::Path;

use ::zip::{CompressionMethod, ZipArchive};

use super::RestoreError;
use crate::verify::zip::FILESTORE_PREFIX;

/// Deflate's largest possible expansion: 1032 bytes out per byte in.
pub const MAX_DEFLATE_RATIO: u64 = 1032;
/// Room counted per file beyond its bytes (its last block, its directory entry).
pub const PER_FILE_SLACK: u64 = 4096;

/// What the filestore entries of an archive declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared {
    /// Files.
    pub files: u64,
    /// Their uncompressed bytes.
    pub bytes: u64,
}

impl Declared {
    /// The room the files need on disk.
    pub fn needed(&self) -> u64 {
        self.bytes
            .saturating_add(self.files.saturating_mul(PER_FILE_SLACK))
    }
}

/// Whether an entry's declared size is possible for its compression; the reason if not.
pub fn plausible(method: CompressionMethod, compressed: u64, size: u64) -> Result<(), String> {
    match method {
        CompressionMethod::Stored if size != compressed => Err(format!(
            "stored (not compressed) but declares {size} bytes in {compressed}"
        )),
        CompressionMethod::Deflated if size > compressed.saturating_mul(MAX_DEFLATE_RATIO) + 1024 => {
            Err(format!(
                "declares {size} bytes from {compressed} compressed: more than deflate can produce (1032 to 1)"
            ))
        }
        _ => Ok(()),
    }
}

/// Sums the declared sizes of the `filestore/` entries of `zip` (the archive at `path`),
/// refusing an entry whose size is impossible.
pub fn declared<R: Read + Seek>(
    zip: &ZipArchive<R>,
    path: &Path,
) -> Result<Declared, RestoreError> {
    let mut total = Declared::default();
    for index in 0..zip.len() {
        let entry = zip
            .by_index_data(index)
            .map_err(|e| RestoreError::ArchiveRead {
                path: path.to_path_buf(),
                entry: format!("entry #{index}"),
                message: e.to_string(),
            })?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        if !name.starts_with(FILESTORE_PREFIX) || entry.is_dir() {
            continue;
        }
        plausible(entry.compression(), entry.compressed_size(), entry.size()).map_err(
            |reason| RestoreError::ImplausibleSize {
                path: path.to_path_buf(),
                entry: name.clone(),
                reason,
            },
        )?;
        total.files += 1;
        total.bytes = total.bytes.saturating_add(entry.size());
    }
    Ok(total)
}

/// Refuses when `declared` does not fit in `available` bytes at `dir`.
pub fn check(declared: Declared, available: u64, dir: &Path) -> Result<(), RestoreError> {
    if declared.needed() > available {
        return Err(RestoreError::NoSpace {
            path: dir.to_path_buf(),
            files: declared.files,
            needed: declared.needed(),
            available,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filestore_larger_than_the_free_space_is_refused() {
        let d = Declared {
            files: 2,
            bytes: 1000,
        };
        assert!(check(d, 1000 + 2 * PER_FILE_SLACK, Path::new("/x")).is_ok());
        assert!(matches!(
            check(d, 1000 + 2 * PER_FILE_SLACK - 1, Path::new("/x")),
            Err(RestoreError::NoSpace { needed, .. }) if needed == 1000 + 2 * PER_FILE_SLACK
        ));
    }

    #[test]
    fn sizes_no_compression_can_produce_are_refused() {
        assert!(plausible(CompressionMethod::Stored, 10, 10).is_ok());
        assert!(plausible(CompressionMethod::Stored, 10, 11).is_err());
        assert!(plausible(CompressionMethod::Deflated, 1 << 20, 1 << 30).is_ok());
        assert!(plausible(CompressionMethod::Deflated, 1000, 1_033_000 + 1025).is_err());
    }
}

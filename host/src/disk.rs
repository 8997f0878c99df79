//! Free space of a file system: the one `statvfs` wrapper, used by the history (is the
//! state directory's disk full?), restore (room for a filestore) and the backup's
//! free-space check before it starts ([`crate::job::space`]).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directory itself or its nearest existing ancestor (where it will be created).
pub fn existing_ancestor(dir: &Path) -> PathBuf {
    let mut at = dir;
    loop {
        if at.exists() {
            return at.to_path_buf();
        }
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => return PathBuf::from("."),
        }
    }
}

/// Bytes an unprivileged user may still write on the file system of `dir` (or of its
/// nearest existing ancestor), and that directory.
#[allow(clippy::useless_conversion)] // the field types differ between platforms
pub fn available(dir: &Path) -> std::io::Result<(u64, PathBuf)> {
    let at = existing_ancestor(dir);
    let c = CString::new(at.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain old data; zeroed is a valid value for it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a properly sized out-value.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((
        u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)),
        at,
    ))
}

/// Whether the file system holding `dir` has (almost) no space left (under 64 KiB); an
/// unreadable file system counts as not full.
pub fn nearly_full(dir: &Path) -> bool {
    matches!(available(dir), Ok((free, _)) if free < 64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_measured_at_its_nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, at) = available(&dir.path().join("a/b/c")).unwrap();
        assert_eq!(at, dir.path());
        assert!(bytes > 0);
    }
}

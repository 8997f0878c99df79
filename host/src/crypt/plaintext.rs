//! Decrypting an archive for `verify` and `restore`: a ZIP reader needs to seek, and a
//! damaged ciphertext must be refused before anything is restored, so the archive is
//! decrypted whole into a file of a private temporary directory (mode 0700, in `$TMPDIR`,
//! never under the backup directory) first. age's STREAM authenticates every 64 KiB chunk
//! and marks the last one, so a complete decryption proves the file is whole and untouched.
//! The directory is removed when the [`Plaintext`] is dropped, on every path.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::AGE_SUFFIX;
use crate::cancel::CancelFlag;

/// Why an encrypted archive could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The archive cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Open {
        /// The archive.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The age header is missing or damaged.
    #[error("{path}: not a readable age file: {message}")]
    Header {
        /// The archive.
        path: PathBuf,
        /// age's message.
        message: String,
    },
    /// None of the identities opens it.
    #[error("{path}: the identity does not decrypt this archive (it was encrypted to other recipients): {message}")]
    WrongIdentity {
        /// The archive.
        path: PathBuf,
        /// age's message.
        message: String,
    },
    /// The ciphertext is truncated or was modified.
    #[error("{path}: the encrypted data is truncated or was modified (authentication failed after {bytes} bytes of plaintext): {message}")]
    Damaged {
        /// The archive.
        path: PathBuf,
        /// Plaintext bytes that did authenticate.
        bytes: u64,
        /// age's message.
        message: String,
    },
    /// The temporary plaintext cannot be written.
    #[error("cannot write the decrypted copy in {dir}: {source}")]
    Temp {
        /// The private temporary directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SIGINT/SIGTERM.
    #[error("decryption of {path} interrupted")]
    Interrupted {
        /// The archive.
        path: PathBuf,
    },
}

/// A decrypted copy of an archive in a private temporary directory, removed on drop.
pub struct Plaintext {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Plaintext {
    /// The decrypted archive (named like the original without `.age`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The private directory holding it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Parses the age header of `path` (no identity needed): the check `verify` can run
/// without one.
pub fn check_header(path: &Path) -> Result<(), DecryptError> {
    let file = File::open(path).map_err(|source| DecryptError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    age::Decryptor::new_buffered(BufReader::new(file))
        .map(|_| ())
        .map_err(|e| DecryptError::Header {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Decrypts `path` with `identities` into a private temporary directory.
pub fn decrypt_to_temp(
    path: &Path,
    identities: &[Box<dyn age::Identity>],
    cancel: &CancelFlag,
) -> Result<Plaintext, DecryptError> {
    let file = File::open(path).map_err(|source| DecryptError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let decryptor =
        age::Decryptor::new_buffered(BufReader::with_capacity(crate::archive::CHUNK, file))
            .map_err(|e| DecryptError::Header {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptError::WrongIdentity {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            e => DecryptError::Header {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })?;
    // tempfile creates the directory with mode 0700.
    let dir = tempfile::Builder::new()
        .prefix("sauvegarde-decrypt-")
        .tempdir()
        .map_err(|source| DecryptError::Temp {
            dir: std::env::temp_dir(),
            source,
        })?;
    let temp_err = |source| DecryptError::Temp {
        dir: dir.path().to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    let name = name.strip_suffix(AGE_SUFFIX).unwrap_or(&name).to_string();
    let name = if name.is_empty() {
        "archive".into()
    } else {
        name
    };
    let out_path = dir.path().join(name);
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out_path)
        .map_err(temp_err)?;
    let mut out = BufWriter::with_capacity(crate::archive::CHUNK, out);
    let mut buf = vec![0u8; crate::archive::CHUNK];
    let mut bytes = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(DecryptError::Interrupted {
                path: path.to_path_buf(),
            });
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecryptError::Damaged {
                    path: path.to_path_buf(),
                    bytes,
                    message: e.to_string(),
                })
            }
        };
        out.write_all(&buf[..n]).map_err(temp_err)?;
        bytes += n as u64;
    }
    out.flush().map_err(temp_err)?;
    drop(out);
    Ok(Plaintext {
        dir,
        path: out_path,
    })
}

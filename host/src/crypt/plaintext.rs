//! Decrypting an archive for `verify`, `restore` and drills: a ZIP reader needs to seek,
//! and a damaged ciphertext must be refused before anything is restored, so the archive is
//! decrypted whole into a private directory under `state_dir` ([`super::workdir`]: mode
//! 0700, never in `$TMPDIR` nor under the backup directory) first. age's STREAM
//! authenticates every 64 KiB chunk and marks the last one, so a complete decryption
//! proves the file is whole and untouched. The plaintext's exact size follows from the
//! ciphertext's ([`plaintext_len`]), so a disk without room for it is refused before a
//! byte is written. The directory is removed when the [`Plaintext`] is dropped, on every
//! path; what a killed process left is removed by the next one.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{workdir, AGE_SUFFIX};
use crate::cancel::CancelFlag;
use sauvegarde_plugin_api::human_bytes;

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
    /// The plaintext cannot be written.
    #[error("cannot write the decrypted copy in {dir}: {source}")]
    Temp {
        /// The private directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The private directory's disk has no room for the plaintext; nothing was written.
    #[error("not enough free space to decrypt {path}: its decrypted copy needs {needed} in {dir} (under state_dir) and {available} are free; nothing was written. Free space there, or point state_dir at a larger disk")]
    NoSpace {
        /// The archive.
        path: PathBuf,
        /// The private directory.
        dir: PathBuf,
        /// The plaintext's size and the slack, in words.
        needed: String,
        /// Free bytes there, in words.
        available: String,
    },
    /// SIGINT/SIGTERM.
    #[error("decryption of {path} interrupted")]
    Interrupted {
        /// The archive.
        path: PathBuf,
    },
}

/// A decrypted copy of an archive in a private directory under `state_dir`, removed on
/// drop.
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

/// Room asked beyond the plaintext itself: its last block, the directory, the history's
/// next writes on the same disk.
pub const SLACK: u64 = 1024 * 1024;

/// age's payload: a 16-byte nonce, then STREAM chunks of 64 KiB of plaintext each
/// followed by a 16-byte tag; the last chunk may be shorter (empty only when the whole
/// plaintext is), never absent.
const NONCE: u64 = 16;
const STREAM_CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;

/// The exact plaintext size of an age payload (everything after the header) of
/// `payload` bytes, when it is well-formed (a damaged one fails authentication anyway).
pub fn plaintext_len(payload: u64) -> u64 {
    let sealed = payload.saturating_sub(NONCE);
    let chunks = sealed.div_ceil(STREAM_CHUNK + TAG).max(1);
    sealed.saturating_sub(chunks * TAG)
}

/// The length of the age header of `file`: up to and with its `--- <MAC>` line.
fn header_len(file: &File) -> std::io::Result<u64> {
    let mut input = BufReader::new(file);
    let mut line = Vec::new();
    let mut len = 0;
    loop {
        line.clear();
        // Header lines are short (base64 wrapped at 64 columns); a line past 64 KiB is no
        // header's.
        let n = (&mut input).take(64 * 1024).read_until(b'\n', &mut line)?;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(std::io::Error::other("no end of the age header"));
        }
        len += n as u64;
        if line.starts_with(b"--- ") {
            return Ok(len);
        }
    }
}

/// The plaintext size of the age file `path`: exact ([`plaintext_len`] after the
/// header), or the file's own size (an upper bound) when the header cannot be measured.
fn decrypted_size(path: &Path) -> std::io::Result<u64> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    Ok(match header_len(&file) {
        Ok(header) => plaintext_len(size.saturating_sub(header)),
        Err(_) => size,
    })
}

/// Refuses when the file system of `dir` has less than `plaintext` + [`SLACK`] free.
fn check_room(path: &Path, dir: &Path, plaintext: u64) -> Result<(), DecryptError> {
    let needed = plaintext.saturating_add(SLACK);
    match crate::disk::available(dir) {
        Ok((free, _)) if free < needed => Err(DecryptError::NoSpace {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            needed: format!(
                "{} ({} of plaintext + {})",
                human_bytes(needed),
                human_bytes(plaintext),
                human_bytes(SLACK)
            ),
            available: human_bytes(free),
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot measure free space: {e}; decrypting anyway");
            Ok(())
        }
    }
}

/// Decrypts `path` with `identities` into a private directory under `state_dir`, once
/// its disk is known to have room.
pub fn decrypt_to_temp(
    path: &Path,
    identities: &[Box<dyn age::Identity>],
    state_dir: &Path,
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
    let private = workdir::prepare(state_dir).map_err(|source| DecryptError::Temp {
        dir: state_dir.join(workdir::DIR_NAME),
        source,
    })?;
    let in_private = |source| DecryptError::Temp {
        dir: private.clone(),
        source,
    };
    let size = decrypted_size(path).map_err(|source| DecryptError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    check_room(path, &private, size)?;
    let owner = workdir::Owner::current().map_err(in_private)?;
    // Mode 0700 asked for: tempfile's default is 0777 less the umask.
    let dir = tempfile::Builder::new()
        .prefix(&owner.prefix())
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&private)
        .map_err(in_private)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` encrypted to a fresh X25519 key: (its file, the identity).
    fn encrypt(dir: &Path, data: &[u8], recipients: usize) -> (PathBuf, Box<dyn age::Identity>) {
        let identity = age::x25519::Identity::generate();
        let mut to: Vec<Box<dyn age::Recipient>> = vec![Box::new(identity.to_public())];
        for _ in 1..recipients {
            to.push(Box::new(age::x25519::Identity::generate().to_public()));
        }
        let path = dir.join(format!("{}-{recipients}.zip.age", data.len()));
        let encryptor =
            age::Encryptor::with_recipients(to.iter().map(|r| r.as_ref() as _)).unwrap();
        let mut out = encryptor.wrap_output(File::create(&path).unwrap()).unwrap();
        out.write_all(data).unwrap();
        out.finish().unwrap();
        (path, Box::new(identity))
    }

    #[test]
    fn the_plaintext_size_is_computed_exactly_from_the_ciphertext() {
        let dir = tempfile::tempdir().unwrap();
        let k = 64 * 1024;
        for len in [0, 1, k - 1, k, k + 1, 2 * k, 3 * k + 17] {
            for recipients in [1, 3] {
                let (path, _) = encrypt(dir.path(), &vec![7u8; len], recipients);
                assert_eq!(decrypted_size(&path).unwrap(), len as u64, "{len} bytes");
            }
        }
    }

    #[test]
    fn a_disk_without_room_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (path, identity) = encrypt(dir.path(), b"PK\x03\x04 an archive", 1);
        let state = dir.path().join("state");
        let free = crate::disk::available(dir.path()).unwrap().0;
        assert!(matches!(
            check_room(&path, &state, free),
            Err(DecryptError::NoSpace { .. })
        ));
        assert!(check_room(&path, &state, 0).is_ok());
        // The real thing, with room: in a private directory under state_dir, gone on drop.
        let plain = decrypt_to_temp(&path, &[identity], &state, &CancelFlag::new()).unwrap();
        assert_eq!(
            std::fs::read(plain.path()).unwrap(),
            b"PK\x03\x04 an archive"
        );
        assert_eq!(plain.dir().parent(), Some(state.join("decrypt").as_path()));
        let mode = std::fs::metadata(plain.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let private = plain.dir().to_path_buf();
        drop(plain);
        assert!(!private.exists());
    }
}

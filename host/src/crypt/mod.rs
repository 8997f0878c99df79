//! Encryption at rest with age (the `age` crate, from the rage project; its API is still
//! marked beta, hence the exact pin in Cargo.toml). The backup host holds only recipients
//! (public keys): it can encrypt, never decrypt. [`recipients`] parses the job's
//! `encrypt` setting, [`identity`] reads the identity files given to `verify`/`restore`,
//! [`plaintext`] decrypts an archive into a private file of [`workdir`], under `state_dir`.

pub mod identity;
pub mod plaintext;
pub mod recipients;
pub mod workdir;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

pub use identity::{load_identities, IdentityError};
pub use plaintext::{check_header, decrypt_to_temp, DecryptError, Plaintext};
pub use recipients::{parse_recipient, RecipientError, Recipients};

/// Suffix of an encrypted archive: `<database>_<time>.zip.age`.
pub const AGE_SUFFIX: &str = ".age";

/// The first line of every age file (format v1).
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Whether the file at `path` starts with age's header line.
pub fn is_age_file(path: &Path) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    let mut head = [0u8; AGE_MAGIC.len()];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(&head[..filled] == AGE_MAGIC)
}

/// An archive file being encrypted as it is written: age's STREAM (64 KiB chunks, each
/// authenticated) over a buffered file. Nothing in clear reaches the disk.
pub struct EncryptingFile {
    inner: age::stream::StreamWriter<BufWriter<File>>,
}

impl EncryptingFile {
    /// Writes the age header for `recipients` to `file` and returns the stream.
    pub fn new(file: File, recipients: &Recipients) -> std::io::Result<Self> {
        let encryptor = age::Encryptor::with_recipients(recipients.iter())
            .map_err(|e| std::io::Error::other(format!("age: {e}")))?;
        let inner = encryptor.wrap_output(BufWriter::with_capacity(crate::archive::CHUNK, file))?;
        Ok(EncryptingFile { inner })
    }

    /// Writes the last (authenticated) chunk and returns the file, flushed but not synced.
    pub fn finish(self) -> std::io::Result<File> {
        self.inner
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())
    }
}

impl Write for EncryptingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

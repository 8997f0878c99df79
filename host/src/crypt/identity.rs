//! Identity files for `verify --identity` and `restore --identity`, as the `age` tool reads
//! them: age X25519 identity files (`AGE-SECRET-KEY-1…` lines, `#` comments) and
//! unencrypted OpenSSH/PEM private keys (ed25519, RSA). A passphrase-protected SSH key is
//! refused with a clear error: sauvegarde never prompts.

use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Why an identity file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file cannot be read.
    #[error("cannot read identity file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither an age identity file nor an SSH private key (the age crate's message names
    /// the line, never its content).
    #[error("identity file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A passphrase-protected SSH key.
    #[error("identity file {path}: this SSH private key is protected by a passphrase; sauvegarde does not prompt: decrypt a copy (ssh-keygen -p) kept off the backup server, or use an age identity")]
    EncryptedSsh {
        /// The file.
        path: PathBuf,
    },
}

/// The identities in the file at `path`.
pub fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>, IdentityError> {
    let read_err = |source| IdentityError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read(path).map_err(read_err)?;
    let invalid = |message: String| IdentityError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if text.windows(11).any(|w| w == b"-----BEGIN ") {
        let identity = age::ssh::Identity::from_buffer(
            BufReader::new(&text[..]),
            Some(path.display().to_string()),
        )
        .map_err(|e| invalid(e.to_string()))?;
        return match identity {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(identity)]),
            age::ssh::Identity::Encrypted(_) => Err(IdentityError::EncryptedSsh {
                path: path.to_path_buf(),
            }),
            age::ssh::Identity::Unsupported(_) => Err(invalid(
                "unsupported SSH key type (age reads ed25519 and RSA keys)".into(),
            )),
        };
    }
    let file = age::IdentityFile::from_buffer(BufReader::new(&text[..]))
        .map_err(|e| invalid(e.to_string()))?;
    let identities = file.into_identities().map_err(|e| invalid(e.to_string()))?;
    if identities.is_empty() {
        return Err(invalid("no identity in the file".into()));
    }
    Ok(identities)
}

//! The job's `encrypt = { recipients = [...], recipients_file = "..." }`: age X25519
//! recipients (`age1…`) and SSH public keys (`ssh-ed25519 …`, `ssh-rsa …`), in age's
//! recipients-file format for the file (one per line, `#` comments, blank lines).

use std::path::{Path, PathBuf};

use crate::config::EncryptConfig;

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// Neither an age X25519 recipient nor a supported SSH public key.
    #[error("`{shown}` is not an age recipient (age1…) nor an SSH public key (ssh-ed25519 …, ssh-rsa …)")]
    Invalid {
        /// The start of the text, enough to recognise it.
        shown: String,
    },
    /// The recipients file cannot be read.
    #[error("cannot read recipients file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A line of the recipients file is refused.
    #[error("{path} line {line}: {source}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        source: Box<RecipientError>,
    },
    /// `encrypt` given with no recipient at all.
    #[error("no recipient: give `recipients` or a `recipients_file` with at least one")]
    Empty,
}

/// One parsed recipient.
enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

/// The recipients an archive is encrypted to.
pub struct Recipients(Vec<Recipient>);

impl Recipients {
    /// Every recipient of the job's `encrypt` setting (the list, then the file).
    pub fn from_config(config: &EncryptConfig) -> Result<Self, RecipientError> {
        let mut all = Vec::new();
        for text in &config.recipients {
            all.push(parse(text)?);
        }
        if let Some(path) = &config.recipients_file {
            all.extend(read_file(path)?);
        }
        if all.is_empty() {
            return Err(RecipientError::Empty);
        }
        Ok(Recipients(all))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a value built by [`Recipients::from_config`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As the age crate takes them.
    pub fn iter(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.0.iter().map(|r| match r {
            Recipient::X25519(r) => r as &dyn age::Recipient,
            Recipient::Ssh(r) => r as &dyn age::Recipient,
        })
    }
}

/// Checks one recipient string (what `config check` reports, per list index).
pub fn parse_recipient(text: &str) -> Result<(), RecipientError> {
    parse(text).map(|_| ())
}

/// Checks a recipients file.
pub fn check_file(path: &Path) -> Result<usize, RecipientError> {
    read_file(path).map(|r| r.len())
}

fn parse(text: &str) -> Result<Recipient, RecipientError> {
    let text = text.trim();
    if let Ok(r) = text.parse::<age::x25519::Recipient>() {
        return Ok(Recipient::X25519(r));
    }
    if let Ok(r) = text.parse::<age::ssh::Recipient>() {
        return Ok(Recipient::Ssh(r));
    }
    let shown: String = text.chars().take(24).collect();
    Err(RecipientError::Invalid {
        shown: if shown.len() < text.len() {
            format!("{shown}…")
        } else {
            shown
        },
    })
}

fn read_file(path: &Path) -> Result<Vec<Recipient>, RecipientError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecipientError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse(line).map_err(|e| RecipientError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            source: Box::new(e),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X25519: &str = "age1857dxhhmh4flxg5qv40j675f64nntda45v74u62d4uvtlp7hw5rqgctn7s";
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM+DIDb23IhASWP1/MkeSUIdMev8/XQIpBBhiKsH8+T/ test@sauvegarde";

    #[test]
    fn x25519_and_ssh_recipients_are_accepted_and_others_refused() {
        assert!(parse_recipient(X25519).is_ok());
        assert!(parse_recipient(ED25519).is_ok());
        assert!(matches!(
            parse_recipient("age1notakey"),
            Err(RecipientError::Invalid { .. })
        ));
        assert!(parse_recipient("AGE-SECRET-KEY-1QQQ").is_err());
    }

    #[test]
    fn the_file_format_allows_comments_and_blank_lines_and_names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.txt");
        std::fs::write(&path, format!("# ops team\n\n{X25519}\n  {ED25519}\n")).unwrap();
        assert_eq!(check_file(&path).unwrap(), 2);
        std::fs::write(&path, format!("{X25519}\nnonsense\n")).unwrap();
        let err = check_file(&path).unwrap_err();
        assert!(matches!(err, RecipientError::Line { line: 2, .. }), "{err}");
        let config = EncryptConfig {
            recipients: Vec::new(),
            recipients_file: None,
        };
        assert!(matches!(
            Recipients::from_config(&config),
            Err(RecipientError::Empty)
        ));
    }
}

//! Which ZIP entry names are safe to extract: relative, `/`-separated, no `..` or `.`
//! component, no NUL or backslash, and not a symbolic link (zip-slip protection).

/// `S_IFMT` and `S_IFLNK` of a unix mode stored in a ZIP entry's external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Why an entry name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeName {
    /// `/etc/x`.
    #[error("absolute path")]
    Absolute,
    /// `../x`, `a/../../x`.
    #[error("`..` component (would escape the target directory)")]
    ParentDir,
    /// `a/./b`, `a//b`, empty name.
    #[error("empty or `.` path component")]
    EmptyComponent,
    /// NUL or backslash (a Windows separator some tools write).
    #[error("NUL or backslash in the name")]
    BadCharacter,
    /// Unix mode `S_IFLNK`.
    #[error("symbolic link")]
    Symlink,
}

/// The components of `name` when it is safe to extract under a directory; a trailing `/`
/// (directory entry) is allowed.
pub fn components(name: &str) -> Result<Vec<&str>, UnsafeName> {
    if name.contains(['\0', '\\']) {
        return Err(UnsafeName::BadCharacter);
    }
    if name.starts_with('/') {
        return Err(UnsafeName::Absolute);
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return Err(UnsafeName::ParentDir);
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return Err(UnsafeName::EmptyComponent);
    }
    Ok(parts)
}

/// Checks an entry: its name, and its unix mode (`None` when the archive has none).
pub fn check_entry(name: &str, unix_mode: Option<u32>) -> Result<Vec<&str>, UnsafeName> {
    if unix_mode.is_some_and(|m| m & S_IFMT == S_IFLNK) {
        return Err(UnsafeName::Symlink);
    }
    components(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        assert_eq!(components("dump.sql").unwrap(), ["dump.sql"]);
        assert_eq!(
            components("filestore/ab/ab12").unwrap(),
            ["filestore", "ab", "ab12"]
        );
        assert_eq!(components("filestore/ab/").unwrap(), ["filestore", "ab"]);
        assert_eq!(components("a..b/c..").unwrap(), ["a..b", "c.."]);
    }

    #[test]
    fn unsafe_names() {
        for (name, why) in [
            ("../../etc/x", UnsafeName::ParentDir),
            ("filestore/../../x", UnsafeName::ParentDir),
            ("filestore/ab/..", UnsafeName::ParentDir),
            ("/etc/passwd", UnsafeName::Absolute),
            ("filestore//x", UnsafeName::EmptyComponent),
            ("filestore/./x", UnsafeName::EmptyComponent),
            ("", UnsafeName::EmptyComponent),
            ("filestore\\..\\x", UnsafeName::BadCharacter),
            ("a\0b", UnsafeName::BadCharacter),
        ] {
            assert_eq!(components(name), Err(why), "{name:?}");
        }
        assert_eq!(
            check_entry("filestore/link", Some(0o120_777)),
            Err(UnsafeName::Symlink)
        );
        assert!(check_entry("filestore/file", Some(0o100_644)).is_ok());
        assert!(check_entry("filestore/file", None).is_ok());
    }
}

//! Archive file names: `<database>_<YYYY-MM-DD_HH-MM-SS>.<zip|dump>` in UTC, the pattern of
//! Odoo's database manager, with `.age` appended when the job encrypts, and parsing them
//! back for retention (both forms: a job that turned encryption on or off still sees its
//! older archives).
//!
//! A database name becomes a file name (the archive) and a directory name (the filestore,
//! `<data_dir>/filestore/<database>`), and any role with CREATEDB chooses it:
//! [`check_database_name`] is the one test every name passes before it is used as either.

use jiff::{civil::DateTime, tz::TimeZone, Timestamp};

use crate::config::ArchiveFormat;

/// `strftime` pattern of the time part of a name.
const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// Suffix of an archive being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Why a database name cannot be used as a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeDatabaseName {
    /// `""`.
    #[error("it is empty")]
    Empty,
    /// `.` or `..`: this directory or its parent.
    #[error("it is `.` or `..`, which name a directory, not a file")]
    Dots,
    /// `a/b`, `../../x`: a path, not a name.
    #[error("it holds a `/`, which makes it a path")]
    Slash,
    /// NUL, a newline, an escape sequence…
    #[error("it holds a NUL or control character")]
    Control,
    /// `-x`: read as an option by the tools that handle its files.
    #[error("it starts with `-`, which tools read as an option")]
    Dash,
}

/// Whether `name` can name an archive and a filestore directory: one path component,
/// not `.` or `..`, no `/`, NUL or control character, not starting with `-`. Anything
/// else is allowed: `_`, `.` inside (`shop.v2`), `-` after the start, spaces and
/// non-ASCII letters are all part of one safe file name.
pub fn check_database_name(name: &str) -> Result<(), UnsafeDatabaseName> {
    if name.is_empty() {
        Err(UnsafeDatabaseName::Empty)
    } else if name == "." || name == ".." {
        Err(UnsafeDatabaseName::Dots)
    } else if name.contains('/') {
        Err(UnsafeDatabaseName::Slash)
    } else if name.chars().any(char::is_control) {
        Err(UnsafeDatabaseName::Control)
    } else if name.starts_with('-') {
        Err(UnsafeDatabaseName::Dash)
    } else {
        Ok(())
    }
}

/// The archive name for `database` started at `at` (UTC, whole seconds).
pub fn archive_name(database: &str, at: Timestamp, format: ArchiveFormat) -> String {
    format!(
        "{database}_{}.{}",
        at.strftime(TIME_FORMAT),
        format.extension()
    )
}

/// The name of an archive encrypted with age: `<name>.age`.
pub fn encrypted_name(name: &str) -> String {
    format!("{name}{}", crate::crypt::AGE_SUFFIX)
}

/// Whether `file_name` is an age-encrypted archive name (ends in `.age`).
pub fn is_encrypted_name(file_name: &str) -> bool {
    file_name.ends_with(crate::crypt::AGE_SUFFIX)
}

/// The time encoded in `file_name` when it is an archive of `database` in `format`,
/// encrypted (`.age`) or not, `None` for any other file (foreign files, partial archives,
/// other databases).
pub fn parse_archive_name(
    file_name: &str,
    database: &str,
    format: ArchiveFormat,
) -> Option<Timestamp> {
    let file_name = file_name
        .strip_suffix(crate::crypt::AGE_SUFFIX)
        .unwrap_or(file_name);
    let rest = file_name.strip_prefix(database)?.strip_prefix('_')?;
    let stamp = rest.strip_suffix(format.extension())?.strip_suffix('.')?;
    // Exactly the pattern: `2024-01-31_23-59-59` is 19 characters.
    if stamp.len() != 19 {
        return None;
    }
    let civil = DateTime::strptime(TIME_FORMAT, stamp).ok()?;
    civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// The database of an archive, from its name `<database>_<YYYY-MM-DD_HH-MM-SS>.<ext>`.
pub fn database_of(file_name: &str) -> Option<&str> {
    file_name
        .char_indices()
        .filter(|(_, c)| *c == '_')
        .map(|(i, _)| i)
        .rfind(|&i| {
            let stamp = file_name.get(i + 1..i + 20);
            let dot = file_name.get(i + 20..i + 21);
            dot == Some(".") && stamp.is_some_and(|s| DateTime::strptime(TIME_FORMAT, s).is_ok())
        })
        .map(|i| &file_name[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_name_is_one_safe_file_name() {
        use UnsafeDatabaseName::*;
        for ok in [
            "prod",
            "shop_eu",
            "shop.v2",
            "a-b",
            "..x",
            "x..",
            "...",
            "my db",
            "société",
            "*",
        ] {
            assert_eq!(check_database_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", Empty),
            (".", Dots),
            ("..", Dots),
            ("../../escape", Slash),
            ("a/b", Slash),
            ("/", Slash),
            ("a\0b", Control),
            ("a\nb", Control),
            ("a\u{1b}[31m", Control),
            ("a\u{7f}", Control),
            ("a\u{85}", Control),
            ("-x", Dash),
        ] {
            assert_eq!(check_database_name(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn the_database_comes_from_the_archive_name() {
        assert_eq!(database_of("prod_2026-12-01_02-00-00.zip"), Some("prod"));
        assert_eq!(
            database_of("my_db_2026-12-01_02-00-00.zip.age"),
            Some("my_db")
        );
        assert_eq!(database_of("notes.txt"), None);
    }

    #[test]
    fn round_trip() {
        let at: Timestamp = "2024-03-05T07:08:09Z".parse().unwrap();
        let name = archive_name("prod", at, ArchiveFormat::Zip);
        assert_eq!(name, "prod_2024-03-05_07-08-09.zip");
        assert_eq!(
            parse_archive_name(&name, "prod", ArchiveFormat::Zip),
            Some(at)
        );
        assert_eq!(
            archive_name("prod", at, ArchiveFormat::Dump),
            "prod_2024-03-05_07-08-09.dump"
        );
    }

    #[test]
    fn encrypted_names_are_this_tools_archives_too() {
        let at: Timestamp = "2024-03-05T07:08:09Z".parse().unwrap();
        let name = encrypted_name(&archive_name("prod", at, ArchiveFormat::Zip));
        assert_eq!(name, "prod_2024-03-05_07-08-09.zip.age");
        assert!(is_encrypted_name(&name));
        assert_eq!(
            parse_archive_name(&name, "prod", ArchiveFormat::Zip),
            Some(at)
        );
        let dump = encrypted_name(&archive_name("prod", at, ArchiveFormat::Dump));
        assert_eq!(
            parse_archive_name(&dump, "prod", ArchiveFormat::Dump),
            Some(at)
        );
        assert_eq!(parse_archive_name(&dump, "prod", ArchiveFormat::Zip), None);
    }

    #[test]
    fn foreign_names_are_rejected() {
        for name in [
            "prod_2024-03-05_07-08-09.zip.partial",
            "prod_2024-03-05_07-08-09.zip.age.partial",
            "prod_2024-03-05_07-08-09.age",
            "prod_2024-03-05_07-08-09.zip.age.age",
            "prod_2024-03-05_07-08-09.dump",
            "prod2_2024-03-05_07-08-09.zip",
            "prod_staging_2024-03-05_07-08-09.zip",
            "prod_2024-13-05_07-08-09.zip",
            "prod_2024-03-05_07-08-09-extra.zip",
            "notes.txt",
            "prod_.zip",
        ] {
            assert_eq!(
                parse_archive_name(name, "prod", ArchiveFormat::Zip),
                None,
                "{name}"
            );
        }
        // A database whose name has an underscore still matches its own archives.
        let at: Timestamp = "2024-03-05T07:08:09Z".parse().unwrap();
        let name = archive_name("prod_staging", at, ArchiveFormat::Zip);
        assert_eq!(
            parse_archive_name(&name, "prod_staging", ArchiveFormat::Zip),
            Some(at)
        );
        assert_eq!(parse_archive_name(&name, "prod", ArchiveFormat::Zip), None);
    }
}

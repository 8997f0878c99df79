//! Archive file names: `<database>_<YYYY-MM-DD_HH-MM-SS>.<zip|dump>` in UTC, the pattern of
//! Odoo's database manager, with `.age` appended when the job encrypts; on a destination
//! where that name was taken by a file this host did not upload, with this host's tag
//! before the extension (`shop_2026-12-04_02-30-00.1a2b3c4d.zip`, see
//! [`crate::ownership::host_tag`]). One parser ([`parse`]) reads every form back, for
//! retention, the history and the databases found in a directory: a job that turned
//! encryption on or off still sees its older archives, and a tagged copy is the same
//! archive's.
//!
//! Temporary files of uploads end in [`PARTIAL_SUFFIX`]: `<name>.partial` (what plugins
//! name them for a plain upload) or `<name>.<tag>-<unique>.partial` (the name the host
//! gives a no-replace upload, [`temp_name`]); [`partial_of`] reads the archive name back.
//!
//! A database name becomes a file name (the archive) and a directory name (the filestore,
//! `<data_dir>/filestore/<database>`), and any role with CREATEDB chooses it:
//! [`check_database_name`] is the one test every name passes before it is used as either.

use jiff::{civil::DateTime, tz::TimeZone, Timestamp};

use crate::config::ArchiveFormat;
use crate::crypt::AGE_SUFFIX;

/// `strftime` pattern of the time part of a name.
const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// Length of the time part: `2024-01-31_23-59-59`.
const STAMP_LEN: usize = 19;

/// Length of a host tag: hexadecimal digits.
pub const HOST_TAG_LEN: usize = 8;

/// Suffix of an archive being written, and of an upload's temporary file.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// An archive name, read back by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveName<'a> {
    /// The database.
    pub database: &'a str,
    /// The time in the name (UTC).
    pub time: Timestamp,
    /// The host tag, on a copy stored under a tagged name.
    pub tag: Option<&'a str>,
    /// `zip` or `dump`.
    pub format: ArchiveFormat,
    /// Whether it ends in `.age`.
    pub encrypted: bool,
}

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
    format!("{name}{AGE_SUFFIX}")
}

/// Whether `file_name` is an age-encrypted archive name (ends in `.age`).
pub fn is_encrypted_name(file_name: &str) -> bool {
    file_name.ends_with(AGE_SUFFIX)
}

/// Whether `text` has the form of a host tag ([`HOST_TAG_LEN`] lower-case hex digits).
pub fn is_host_tag(text: &str) -> bool {
    text.len() == HOST_TAG_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads an archive name: `<database>_<YYYY-MM-DD_HH-MM-SS>[.<tag>].<zip|dump>[.age]`.
/// `None` for any other file (foreign files, temporary files, a time that is not one).
pub fn parse(file_name: &str) -> Option<ArchiveName<'_>> {
    let (rest, encrypted) = match file_name.strip_suffix(AGE_SUFFIX) {
        Some(rest) => (rest, true),
        None => (file_name, false),
    };
    let (rest, format) = [ArchiveFormat::Zip, ArchiveFormat::Dump]
        .into_iter()
        .find_map(|f| Some((rest.strip_suffix(f.extension())?.strip_suffix('.')?, f)))?;
    let (rest, tag) = match rest.rsplit_once('.') {
        Some((stem, tag)) if is_host_tag(tag) => (stem, Some(tag)),
        _ => (rest, None),
    };
    let cut = rest.len().checked_sub(STAMP_LEN + 1)?;
    let database = rest.get(..cut).filter(|d| !d.is_empty())?;
    let stamp = rest.get(cut..)?.strip_prefix('_')?;
    let civil = DateTime::strptime(TIME_FORMAT, stamp).ok()?;
    let time = civil.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(ArchiveName {
        database,
        time,
        tag,
        format,
        encrypted,
    })
}

/// The time encoded in `file_name` when it is an archive of `database` in `format`
/// (encrypted or not, tagged or not), `None` for any other file (foreign files, partial
/// archives, other databases: `a` never matches an archive of `a_b`).
pub fn parse_archive_name(
    file_name: &str,
    database: &str,
    format: ArchiveFormat,
) -> Option<Timestamp> {
    parse(file_name)
        .filter(|n| n.database == database && n.format == format)
        .map(|n| n.time)
}

/// The time encoded in `file_name` when it is an archive of `database` in either format
/// (`.zip` or `.dump`, encrypted or not, tagged or not): retention and `prune --adopt` look
/// at both, so a job whose `format` changed still sees the archives it made in the other one.
pub fn parse_any_archive_name(file_name: &str, database: &str) -> Option<Timestamp> {
    parse(file_name)
        .filter(|n| n.database == database)
        .map(|n| n.time)
}

/// The database of an archive, from its name.
pub fn database_of(file_name: &str) -> Option<&str> {
    parse(file_name).map(|n| n.database)
}

/// `name` (an untagged archive name) with `tag` before its extension:
/// `shop_2026-12-04_02-30-00.zip.age` → `shop_2026-12-04_02-30-00.<tag>.zip.age`. `None`
/// when `name` is not an untagged archive name.
pub fn tagged_name(name: &str, tag: &str) -> Option<String> {
    let parsed = parse(name).filter(|n| n.tag.is_none())?;
    let suffix = 1
        + parsed.format.extension().len()
        + if parsed.encrypted {
            AGE_SUFFIX.len()
        } else {
            0
        };
    let (stem, extension) = name.split_at(name.len() - suffix);
    Some(format!("{stem}.{tag}{extension}"))
}

/// The temporary name of a no-replace upload of `remote_name` by the host tagged `tag`:
/// `<remote_name>.<tag>-<unique>.partial`.
pub fn temp_name(remote_name: &str, tag: &str, unique: &str) -> String {
    format!("{remote_name}.{tag}-{unique}{PARTIAL_SUFFIX}")
}

/// The archive name a temporary upload file is for: `<name>.partial` or
/// `<name>.<anything>.partial` where `<name>` is an archive name; `None` otherwise.
pub fn partial_of(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_suffix(PARTIAL_SUFFIX)?;
    if parse(rest).is_some() {
        return Some(rest);
    }
    let (name, _) = rest.rsplit_once('.')?;
    parse(name).map(|_| name)
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
    fn either_format_is_an_archive_of_the_database() {
        let at: Timestamp = "2024-03-05T07:08:09Z".parse().unwrap();
        for name in [
            "prod_2024-03-05_07-08-09.zip",
            "prod_2024-03-05_07-08-09.dump",
            "prod_2024-03-05_07-08-09.dump.age",
        ] {
            assert_eq!(parse_any_archive_name(name, "prod"), Some(at), "{name}");
        }
        for name in [
            "prod_2024-03-05_07-08-09.tar",
            "prod_eu_2024-03-05_07-08-09.dump",
            "prod_2024-03-05_07-08-09.dump.partial",
        ] {
            assert_eq!(parse_any_archive_name(name, "prod"), None, "{name}");
        }
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

    #[test]
    fn a_tagged_name_is_the_same_archive_with_its_tag() {
        let at: Timestamp = "2026-12-04T02:30:00Z".parse().unwrap();
        let name = archive_name("shop", at, ArchiveFormat::Zip);
        let tagged = tagged_name(&name, "1a2b3c4d").unwrap();
        assert_eq!(tagged, "shop_2026-12-04_02-30-00.1a2b3c4d.zip");
        let read = parse(&tagged).unwrap();
        assert_eq!(
            (read.database, read.time, read.tag, read.encrypted),
            ("shop", at, Some("1a2b3c4d"), false)
        );
        assert_eq!(
            parse_archive_name(&tagged, "shop", ArchiveFormat::Zip),
            Some(at)
        );
        let age = tagged_name(&encrypted_name(&name), "1a2b3c4d").unwrap();
        assert_eq!(age, "shop_2026-12-04_02-30-00.1a2b3c4d.zip.age");
        assert_eq!(parse(&age).unwrap().tag, Some("1a2b3c4d"));
        let dump = archive_name("my.db_x", at, ArchiveFormat::Dump);
        let dump = tagged_name(&dump, "00ff00ff").unwrap();
        assert_eq!(dump, "my.db_x_2026-12-04_02-30-00.00ff00ff.dump");
        assert_eq!(database_of(&dump), Some("my.db_x"));
        // Tagging twice, or a file that is no archive: no name.
        assert_eq!(tagged_name(&tagged, "1a2b3c4d"), None);
        assert_eq!(tagged_name("notes.txt", "1a2b3c4d"), None);
        // Only a host tag's form is a tag: anything else before the extension is foreign.
        for foreign in [
            "shop_2026-12-04_02-30-00.1A2B3C4D.zip",
            "shop_2026-12-04_02-30-00.1a2b3c4.zip",
            "shop_2026-12-04_02-30-00.1a2b3c4d5.zip",
            "shop_2026-12-04_02-30-00.copy.zip",
            "shop_2026-12-04_02-30-00.zip.1a2b3c4d",
        ] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn temporary_upload_files_name_their_archive() {
        let name = "shop_2026-12-04_02-30-00.zip";
        let temp = temp_name(name, "1a2b3c4d", "42-ff");
        assert_eq!(temp, "shop_2026-12-04_02-30-00.zip.1a2b3c4d-42-ff.partial");
        assert_eq!(partial_of(&temp), Some(name));
        assert_eq!(partial_of(&format!("{name}.partial")), Some(name));
        let tagged = "shop_2026-12-04_02-30-00.1a2b3c4d.zip.age";
        assert_eq!(partial_of(&format!("{tagged}.x.partial")), Some(tagged));
        for other in [name, "notes.txt.partial", ".partial", "shop.zip.partial"] {
            assert_eq!(partial_of(other), None, "{other}");
        }
    }
}

//! Archive file names: `<database>_<YYYY-MM-DD_HH-MM-SS>.<zip|dump>` in UTC, the pattern of
//! Odoo's database manager, with `.age` appended when the job encrypts, and parsing them
//! back for retention (both forms: a job that turned encryption on or off still sees its
//! older archives).

use jiff::{civil::DateTime, tz::TimeZone, Timestamp};

use crate::config::ArchiveFormat;

/// `strftime` pattern of the time part of a name.
const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// Suffix of an archive being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

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

/// The time encoded in `file_name` when it is an archive of `database` in either format
/// (`.zip` or `.dump`, encrypted or not): retention and `prune --adopt` look at both, so a
/// job whose `format` changed still sees the archives it made in the other one.
pub fn parse_any_archive_name(file_name: &str, database: &str) -> Option<Timestamp> {
    [ArchiveFormat::Zip, ArchiveFormat::Dump]
        .into_iter()
        .find_map(|format| parse_archive_name(file_name, database, format))
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
}

//! Temporary files of uploads, and who may remove them.
//!
//! An exporter uploads under a temporary name ending in [`PARTIAL_SUFFIX`] and renames the
//! file when it is complete; on failure it removes it. A process killed mid-upload, or a
//! connection that dies, can still leave it behind. Such a file is removed only by the host
//! that started the upload, when its history proves it: for [`Exporter::upload_new`]
//! (API 1.2) the host names the temporary file itself (`temp_name`) and records that name
//! before the upload starts; after the upload has ended, a file of that name is its own.
//! Every other temporary file — another server's upload in progress into a shared
//! directory, an older version's — is listed by `prune --dry-run` and never deleted.
//!
//! Plugins do not sweep temporary files. Until 1.2 they removed those older than a day
//! ([`stale_partials`]), which compares this host's clock with the server's: with either
//! clock wrong, that deletes another host's upload in progress. Plugins keep listing
//! temporary files in `list()`, with their size and modification time, so the host can
//! see them.
//!
//! [`Exporter::upload_new`]: crate::Exporter::upload_new

use crate::RemoteFile;

/// The suffix of an upload in progress.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Age after which [`stale_partials`] called a partial file stale.
#[deprecated(
    since = "1.2.0",
    note = "the age of a partial file proves nothing about whose it is; the host sweeps its own"
)]
pub const STALE_AFTER_SECS: i64 = 24 * 3600;

/// The temporary remote name of an [`Exporter::upload`](crate::Exporter::upload) of
/// `name` (`<name>.partial`). [`Exporter::upload_new`](crate::Exporter::upload_new) uses the
/// `temp_name` the host gives instead.
pub fn partial_name(name: &str) -> String {
    format!("{name}{PARTIAL_SUFFIX}")
}

/// The final extension of a name (`zip` of `a_1.zip`, `age` of `a.zip.age`).
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// What plugins swept until API 1.2 (kept so that code calling it still builds): the
/// files of `files` that were taken for stale partial uploads, seen when
/// uploading `uploading` at `now` (Unix seconds): named `<x>.<ext>.partial` where `<ext>`
/// is the extension of `uploading` (an archive of the same kind), modified more than a day
/// before `now`. A file without a modification time, another tool's temporary file
/// (`x.1a2b.partial`) or a recent partial (an upload that may still be running) is kept.
///
/// Deciding by age is wrong: with this host's or the server's clock off, another host's
/// upload in progress is "stale". Use nothing in its place: the host sweeps the
/// temporary files it can prove are its own.
#[deprecated(
    since = "1.2.0",
    note = "deciding by age deletes other hosts' uploads in progress; the host sweeps its own"
)]
#[allow(deprecated)]
pub fn stale_partials<'a>(
    files: &'a [RemoteFile],
    uploading: &str,
    now: i64,
) -> Vec<&'a RemoteFile> {
    let Some(kind) = extension(uploading) else {
        return Vec::new();
    };
    files
        .iter()
        .filter(|f| {
            f.name()
                .strip_suffix(PARTIAL_SUFFIX)
                .is_some_and(|stem| extension(stem) == Some(kind))
        })
        .filter(|f| f.modified().is_some_and(|m| now - m > STALE_AFTER_SECS))
        .collect()
}

/// Removed partial uploads by age until API 1.2; now removes nothing (and logs that at
/// debug level), so that plugins calling it still build and no longer delete another
/// host's upload in progress. The host removes the temporary files its history proves
/// are its own.
#[deprecated(
    since = "1.2.0",
    note = "removes nothing: deciding by age deletes other hosts' uploads in progress; the host sweeps its own"
)]
pub fn remove_stale_partials<L: std::fmt::Display, D: std::fmt::Display>(
    listed: Result<Vec<RemoteFile>, L>,
    uploading: &str,
    delete: impl FnMut(&str) -> Result<(), D>,
) {
    let _ = (listed, delete);
    tracing::debug!(
        "not sweeping temporary files before uploading {uploading}: the host removes those it can prove are its own"
    );
}

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use super::*;

    #[test]
    fn only_own_partials_older_than_a_day_are_stale() {
        let now = 10 * STALE_AFTER_SECS;
        let old = Some(now - STALE_AFTER_SECS - 1);
        let recent = Some(now - 600);
        let files = [
            RemoteFile::new("prod_2026-01-01_02-00-00.zip.partial", 35, old),
            RemoteFile::new("prod_2026-01-02_02-00-00.zip.partial", 10, recent),
            RemoteFile::new("prod_2026-01-01_02-00-00.zip", 99, old),
            RemoteFile::new("other.zip.1a2b3c.partial", 5, old),
            RemoteFile::new("notes.txt.partial", 5, old),
            RemoteFile::new("unknown-age.zip.partial", 5, None),
            RemoteFile::new(".partial", 5, old),
        ];
        let stale: Vec<&str> = stale_partials(&files, "prod_2026-01-03_02-00-00.zip", now)
            .iter()
            .map(|f| f.name())
            .collect();
        assert_eq!(stale, ["prod_2026-01-01_02-00-00.zip.partial"]);
        assert!(stale_partials(&files, "prod.dump", now).is_empty());
        assert!(stale_partials(&files, "noextension", now).is_empty());
    }
}

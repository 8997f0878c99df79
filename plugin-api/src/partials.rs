//! Temporary files of uploads: an exporter uploads `<name>.partial` and renames it to
//! `<name>` when complete. A connection that dies mid-upload can leave the partial file
//! behind; at the next upload to the same destination, the exporter removes the ones that
//! are its own and older than a day ([`stale_partials`]), so a dead upload costs disk space
//! for a day, not forever. Plugins keep listing them in `list()` (with size and
//! modification time) so the host can show them.

use crate::RemoteFile;

/// The suffix of an upload in progress.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Age after which a partial file is stale: no upload runs that long.
pub const STALE_AFTER_SECS: i64 = 24 * 3600;

/// The temporary remote name of an upload of `name`.
pub fn partial_name(name: &str) -> String {
    format!("{name}{PARTIAL_SUFFIX}")
}

/// The final extension of a name (`zip` of `a_1.zip`, `age` of `a.zip.age`).
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// The files of `files` that are stale partial uploads of this exporter, seen when
/// uploading `uploading` at `now` (Unix seconds): named `<x>.<ext>.partial` where `<ext>`
/// is the extension of `uploading` (an archive of the same kind), modified more than a day
/// before `now`. A file without a modification time, another tool's temporary file
/// (`x.1a2b.partial`) or a recent partial (an upload that may still be running) is kept.
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

/// Removes, with `delete`, the stale partial uploads ([`stale_partials`]) among `listed`,
/// before uploading `uploading`. Best effort: a listing or a deletion that fails is logged
/// and the upload goes on.
pub fn remove_stale_partials<L: std::fmt::Display, D: std::fmt::Display>(
    listed: Result<Vec<RemoteFile>, L>,
    uploading: &str,
    mut delete: impl FnMut(&str) -> Result<(), D>,
) {
    let files = match listed {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!("stale partial uploads not looked for: {e}");
            return;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for file in stale_partials(&files, uploading, now) {
        match delete(file.name()) {
            Ok(()) => tracing::info!(
                "removed stale partial upload {} ({} bytes) left by an upload that died more than a day ago",
                file.name(),
                file.size()
            ),
            Err(e) => tracing::warn!("could not remove stale partial upload {}: {e}", file.name()),
        }
    }
}

#[cfg(test)]
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

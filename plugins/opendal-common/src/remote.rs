//! Listing, deleting and probing a remote directory through an OpenDAL operator whose root
//! is that directory.

use std::time::UNIX_EPOCH;

use opendal::{EntryMode, Operator};
use sauvegarde_plugin_api::{PluginError, RemoteFile};

/// Maps an OpenDAL failure for one operation (`what`) to a plugin error.
pub type MapError<'a> = &'a dyn Fn(&opendal::Error, &str) -> PluginError;

/// The files directly in the operator's root, with size and modification time. OpenDAL
/// pages through long listings (S3 returns 1 000 keys a page). A missing directory is
/// an empty list.
pub async fn list(op: &Operator, map: MapError<'_>) -> Result<Vec<RemoteFile>, PluginError> {
    let entries = match op.list_with("").await {
        Ok(entries) => entries,
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(map(&e, "listing the remote directory")),
    };
    let mut files = Vec::new();
    for entry in entries {
        let meta = entry.metadata();
        if meta.mode() != EntryMode::FILE || entry.path().contains('/') {
            continue;
        }
        let modified = meta.last_modified().and_then(|t| {
            std::time::SystemTime::from(t)
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as i64)
        });
        files.push(RemoteFile::new(
            entry.name(),
            meta.content_length(),
            modified,
        ));
    }
    Ok(files)
}

/// Deletes `name`; a missing file is a not-found error (OpenDAL's delete is idempotent,
/// so it is looked up first).
pub async fn delete(op: &Operator, name: &str, map: MapError<'_>) -> Result<(), PluginError> {
    op.stat(name)
        .await
        .map_err(|e| map(&e, &format!("looking up {name}")))?;
    op.delete(name)
        .await
        .map_err(|e| map(&e, &format!("deleting {name}")))
}

/// Writes a small probe object `name`, reads its size back and removes it: proves the
/// credentials and the write permission.
pub async fn probe(op: &Operator, name: &str, map: MapError<'_>) -> Result<(), PluginError> {
    let body = b"sauvegarde write probe\n".to_vec();
    let size = body.len() as u64;
    op.write(name, body)
        .await
        .map_err(|e| map(&e, &format!("writing the probe object {name}")))?;
    let seen = op.stat(name).await;
    let removed = op.delete(name).await;
    let seen = seen.map_err(|e| map(&e, &format!("reading back the probe object {name}")))?;
    removed.map_err(|e| map(&e, &format!("removing the probe object {name}")))?;
    if seen.content_length() != size {
        return Err(PluginError::other(format!(
            "the probe object {name} came back with {} bytes instead of {size}",
            seen.content_length()
        )));
    }
    Ok(())
}

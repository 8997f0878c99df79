//! Whether an archive was made on this host: the `host_id` of the manifest's `sauvegarde`
//! object against this host's id (`/etc/machine-id`). A restore as a superuser role of an
//! archive made elsewhere (or without that proof, e.g. a `.dump`) is warned about: its SQL
//! runs with every right on the server (`COPY … TO PROGRAM` runs shell commands there).

use std::io::{Read, Seek};

use ::zip::ZipArchive;

/// This host's id: `/etc/machine-id`, when there is one.
pub fn this_host_id() -> Option<String> {
    let id = std::fs::read_to_string("/etc/machine-id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// `sauvegarde.host_id` of the archive's `manifest.json`, if any.
pub fn manifest_host_id<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Option<String> {
    let entry = zip.by_name("manifest.json").ok()?;
    // A manifest is small; a huge one is not ours.
    let mut text = String::new();
    entry.take(1 << 20).read_to_string(&mut text).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest
        .get("sauvegarde")?
        .get("host_id")?
        .as_str()
        .map(str::to_string)
}

/// Whether the archive proves it was made here (`None`: a `.dump`, no manifest).
pub fn made_here<R: Read + Seek>(zip: Option<&mut ZipArchive<R>>) -> bool {
    match (zip.and_then(manifest_host_id), this_host_id()) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => false,
    }
}

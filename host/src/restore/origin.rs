//! Whether an archive was made on this host: its manifest's `sauvegarde` object names this
//! host (see [`crate::ownership`]). A restore as a superuser role of an archive made
//! elsewhere (or without that proof, e.g. a `.dump`) is warned about: its SQL runs with
//! every right on the server (`COPY … TO PROGRAM` runs shell commands there).

use std::io::{Read, Seek};

use ::zip::ZipArchive;

use crate::ownership::{manifest_of, owner_of_manifest, ManifestOwner};

/// Whether the archive proves it was made here (`None`: a `.dump`, no manifest).
pub fn made_here<R: Read + Seek>(zip: Option<&mut ZipArchive<R>>) -> bool {
    zip.and_then(manifest_of)
        .is_some_and(|m| matches!(owner_of_manifest(&m), ManifestOwner::Here { .. }))
}

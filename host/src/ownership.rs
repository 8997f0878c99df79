//! Proof of ownership: which archives this job made on this host.
//!
//! Every ZIP archive carries, in its `manifest.json`, a `sauvegarde` object naming the job
//! and a stable host id. The history is the first proof (path, size, SHA-256); the manifest
//! is the second, used when the history does not know a file (after a history loss, the
//! archives are re-adopted from it). A file with neither is somebody else's and is never
//! deleted.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::crypt::DecryptError;
use sha2::{Digest, Sha256};

/// Name of the manifest's ownership object.
pub const MANIFEST_KEY: &str = "sauvegarde";

/// The largest manifest read when looking for ownership (a real one is a few KiB).
const MANIFEST_LIMIT: u64 = 16 * 1024 * 1024;

/// This host's id: a hash of `/etc/machine-id` (systemd's advice: never publish the machine
/// id itself), else of the host name. Stable across reinstalls of sauvegarde and the loss of
/// its state directory.
pub fn host_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let seed = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(crate::notify::event::host_name);
        let mut h = Sha256::new();
        h.update(b"sauvegarde host id\0");
        h.update(seed.as_bytes());
        hex::encode(&h.finalize()[..16])
    })
}

/// This host's tag: the first [`HOST_TAG_LEN`](crate::naming::HOST_TAG_LEN) hex digits of
/// [`host_id`] (a hash of the machine id). An archive whose name another host already
/// took on a destination is stored there under a name carrying it
/// (`shop_2026-12-04_02-30-00.<tag>.zip`); the same on every run of this host, and the
/// start of the `host_id` in its archives' manifests.
pub fn host_tag() -> &'static str {
    let id = host_id();
    id.get(..crate::naming::HOST_TAG_LEN).unwrap_or(id)
}

/// The manifest's ownership object for an archive of `job` made here.
pub fn manifest_record(job: &str) -> Value {
    json!({ "job": job, "host_id": host_id() })
}

/// Who made an archive, according to its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestOwner {
    /// The given job on this host.
    Here {
        /// The job id.
        job: String,
    },
    /// Another host.
    OtherHost,
    /// No ownership record (Odoo's own manager, an older sauvegarde, a `.dump` archive).
    Unknown,
}

/// Reads the ownership record of the ZIP archive at `path`. Any file that is not a readable
/// ZIP with a `sauvegarde` object in its manifest is `Unknown`.
pub fn manifest_owner(path: &Path) -> ManifestOwner {
    let manifest = File::open(path)
        .ok()
        .and_then(|f| zip::ZipArchive::new(BufReader::new(f)).ok())
        .and_then(|mut z| manifest_of(&mut z));
    match manifest {
        Some(m) => owner_of_manifest(&m),
        None => ManifestOwner::Unknown,
    }
}

/// Reads the ownership record of the age-encrypted archive at `path` with `identities`
/// (`prune --adopt --identity`). The ZIP inside is read where it lies: age's STREAM is
/// seekable, so only the chunks holding the end records, the central directory and the
/// manifest are decrypted (each one authenticated), in memory — no plaintext reaches the
/// disk, and a large archive costs a few reads. A `.dump.age` holds no manifest: when the
/// identity opens it, it is `Unknown`. Errors: the identity does not open it, or the ZIP
/// inside cannot be read (damaged or truncated).
pub fn encrypted_manifest_owner(
    path: &Path,
    identities: &[Box<dyn age::Identity>],
) -> Result<ManifestOwner, DecryptError> {
    let file = File::open(path).map_err(|source| DecryptError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let header = |message: String| DecryptError::Header {
        path: path.to_path_buf(),
        message,
    };
    let decryptor =
        age::Decryptor::new_buffered(BufReader::new(file)).map_err(|e| header(e.to_string()))?;
    let plaintext = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptError::WrongIdentity {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            e => header(e.to_string()),
        })?;
    let name = path.to_string_lossy();
    let inner = name.strip_suffix(crate::crypt::AGE_SUFFIX).unwrap_or(&name);
    if !inner.ends_with(".zip") {
        return Ok(ManifestOwner::Unknown);
    }
    let mut zip = zip::ZipArchive::new(plaintext).map_err(|e| DecryptError::Damaged {
        path: path.to_path_buf(),
        bytes: 0,
        message: e.to_string(),
    })?;
    Ok(manifest_of(&mut zip).map_or(ManifestOwner::Unknown, |m| owner_of_manifest(&m)))
}

/// Who made an archive, according to its (parsed) manifest.
pub fn owner_of_manifest(manifest: &Value) -> ManifestOwner {
    let record = manifest.get(MANIFEST_KEY);
    let job = record.and_then(|r| r.get("job")).and_then(Value::as_str);
    let host = record
        .and_then(|r| r.get("host_id"))
        .and_then(Value::as_str);
    match (job, host) {
        (Some(job), Some(host)) if host == host_id() => ManifestOwner::Here {
            job: job.to_string(),
        },
        (Some(_), Some(_)) => ManifestOwner::OtherHost,
        _ => ManifestOwner::Unknown,
    }
}

/// The parsed `manifest.json` of an open ZIP archive (a huge or invalid one is `None`).
pub fn manifest_of<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> Option<Value> {
    let entry = zip.by_name("manifest.json").ok()?;
    let mut text = Vec::new();
    entry.take(MANIFEST_LIMIT).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with_manifest(dir: &Path, name: &str, manifest: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut z = zip::ZipWriter::new(File::create(&path).unwrap());
        z.start_file("manifest.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(manifest.as_bytes()).unwrap();
        z.finish().unwrap();
        path
    }

    #[test]
    fn the_manifest_names_the_job_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let ours = zip_with_manifest(
            dir.path(),
            "a.zip",
            &json!({"db_name": "p", "sauvegarde": manifest_record("daily")}).to_string(),
        );
        assert_eq!(
            manifest_owner(&ours),
            ManifestOwner::Here {
                job: "daily".into()
            }
        );
        let other = zip_with_manifest(
            dir.path(),
            "b.zip",
            r#"{"sauvegarde": {"job": "daily", "host_id": "elsewhere"}}"#,
        );
        assert_eq!(manifest_owner(&other), ManifestOwner::OtherHost);
        let odoo = zip_with_manifest(dir.path(), "c.zip", r#"{"odoo_dump": "1"}"#);
        assert_eq!(manifest_owner(&odoo), ManifestOwner::Unknown);
        std::fs::write(dir.path().join("d.zip"), b"not a zip").unwrap();
        assert_eq!(
            manifest_owner(&dir.path().join("d.zip")),
            ManifestOwner::Unknown
        );
        assert_eq!(host_id().len(), 32);
        assert!(crate::naming::is_host_tag(host_tag()), "{}", host_tag());
        assert!(host_id().starts_with(host_tag()));
    }

    /// `zip_with_manifest`, encrypted to a fresh X25519 key; returns the key.
    fn encrypted_zip(dir: &Path, name: &str, manifest: &str) -> age::x25519::Identity {
        let key = age::x25519::Identity::generate();
        let plain = zip_with_manifest(dir, "plain.zip", manifest);
        let recipient = key.to_public();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = encryptor
            .wrap_output(File::create(dir.join(name)).unwrap())
            .unwrap();
        out.write_all(&std::fs::read(&plain).unwrap()).unwrap();
        out.finish().unwrap();
        std::fs::remove_file(plain).unwrap();
        key
    }

    #[test]
    fn an_encrypted_manifest_is_read_with_the_identity_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = json!({"sauvegarde": manifest_record("renamed")}).to_string();
        let key = encrypted_zip(dir.path(), "a.zip.age", &manifest);
        let path = dir.path().join("a.zip.age");
        let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(key)];
        assert_eq!(
            encrypted_manifest_owner(&path, &ids).unwrap(),
            ManifestOwner::Here {
                job: "renamed".into()
            }
        );
        // Nothing but the archive was written.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let other: Vec<Box<dyn age::Identity>> = vec![Box::new(age::x25519::Identity::generate())];
        assert!(matches!(
            encrypted_manifest_owner(&path, &other),
            Err(DecryptError::WrongIdentity { .. })
        ));
        // Truncated: the last chunk does not authenticate.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        assert!(matches!(
            encrypted_manifest_owner(&path, &ids),
            Err(DecryptError::Damaged { .. })
        ));
    }
}

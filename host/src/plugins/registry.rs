//! Finds plugin files in the plugin directories, keeping one plugin per kind. No plugin
//! file is opened in this process: a worker reads each file's kind, version and
//! description ([`crate::worker::probe`]). Every entry that is not used is listed with
//! the reason: a file that could not be loaded or that crashed its worker, a file or
//! directory that is not trusted (running as root: not owned by root, or writable by
//! group or others, as sshd's StrictModes), a dangling link, a link loop, a directory, a
//! FIFO.

use std::collections::{BTreeMap, HashSet};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::PluginError;
use serde::Serialize;

use crate::worker::{self, PluginMeta, Timeouts, WorkerDestination};

/// A file in a plugin directory that was not loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedFile {
    /// The file (or directory).
    pub file: PathBuf,
    /// Why it was refused.
    pub reason: String,
}

/// A plugin file a worker could load: where it is and what it says it is.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    path: PathBuf,
    meta: PluginMeta,
}

impl PluginInfo {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The destination type it serves.
    pub fn kind(&self) -> &str {
        &self.meta.kind
    }

    /// Its version.
    pub fn version(&self) -> &str {
        &self.meta.version
    }

    /// Its one-line description.
    pub fn description(&self) -> &str {
        &self.meta.description
    }

    /// The settings it declares secret (empty for plugins that declare none).
    pub fn secret_keys(&self) -> &[String] {
        &self.meta.secret_keys
    }

    /// What it implements beyond plugin API 1.0 (`upload_new`: the no-replace upload).
    pub fn capabilities(&self) -> &[String] {
        &self.meta.capabilities
    }

    /// Creates a destination from its settings (a JSON object) in a new worker, with
    /// the default timeouts.
    pub fn new_destination(&self, config_json: &str) -> Result<WorkerDestination, PluginError> {
        self.open(config_json, Timeouts::default())
    }

    /// Creates a destination from its settings in a new worker.
    pub fn open(
        &self,
        config_json: &str,
        timeouts: Timeouts,
    ) -> Result<WorkerDestination, PluginError> {
        WorkerDestination::open(&self.path, &self.meta.kind, config_json, timeouts)
    }
}

/// The plugins found, by kind, and the refused files.
#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, PluginInfo>,
    refused: Vec<RefusedFile>,
}

/// Is this file name a shared library?
fn is_shared_library(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".so") || n.contains(".so."))
}

fn running_as_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Why a file or directory with owner `uid` and `mode` may not be trusted by a host
/// running as root; `None` when it may.
fn untrusted(what: &str, uid: u32, mode: u32) -> Option<String> {
    let rule = "running as root, plugin files and directories must be owned by root and writable by root only";
    if uid != 0 {
        return Some(format!(
            "not trusted: the {what} is owned by uid {uid}, not root ({rule})"
        ));
    }
    let writable = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "its group and others",
        (true, false) => "its group",
        (false, true) => "others",
        (false, false) => return None,
    };
    Some(format!(
        "not trusted: the {what} is writable by {writable} (mode {:04o}; {rule})",
        mode & 0o7777
    ))
}

fn trust(what: &str, meta: &Metadata) -> Result<(), String> {
    if !running_as_root() {
        return Ok(());
    }
    match untrusted(what, meta.uid(), meta.mode()) {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// What an entry that is not a regular file is, for the listing.
fn not_a_file(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory, not a plugin file"
    } else if t.is_fifo() {
        "not a regular file (a FIFO)"
    } else if t.is_socket() {
        "not a regular file (a socket)"
    } else if t.is_block_device() || t.is_char_device() {
        "not a regular file (a device)"
    } else {
        "not a regular file"
    }
}

/// The metadata of the file an entry stands for (a link followed), or why it is skipped.
fn entry_metadata(path: &Path) -> Result<Metadata, String> {
    let link = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !link.file_type().is_symlink() {
        return Ok(link);
    }
    std::fs::metadata(path).map_err(|e| {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        match e.raw_os_error() {
            Some(libc::ELOOP) => format!("skipped: symbolic link loop (-> {target})"),
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                format!("skipped: dangling symbolic link (-> {target}, which does not exist)")
            }
            _ => format!("skipped: cannot follow the symbolic link (-> {target}): {e}"),
        }
    })
}

impl PluginRegistry {
    /// Scans `dirs` in order, then `exe_dir`. In the configured directories every entry is
    /// considered (a stray one is listed); in the executable's directory only names of
    /// shared libraries are. A directory listed twice is read once; a missing directory is
    /// skipped with a debug message.
    pub fn discover(dirs: &[PathBuf], exe_dir: Option<&Path>) -> Self {
        let mut registry = PluginRegistry::default();
        let mut seen_dirs = HashSet::new();
        let mut seen_files = HashSet::new();
        let listed = dirs.iter().map(|d| (d.as_path(), false));
        let exe = exe_dir.into_iter().map(|d| (d, true));
        for (dir, only_libraries) in listed.chain(exe) {
            let canonical = match dir.canonicalize() {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(dir = %dir.display(), "plugin directory skipped: {e}");
                    continue;
                }
            };
            if !seen_dirs.insert(canonical.clone()) {
                continue;
            }
            let dir_trusted = std::fs::metadata(&canonical)
                .map_err(|e| format!("cannot read the plugin directory: {e}"))
                .and_then(|m| trust("plugin directory", &m));
            if let Err(reason) = dir_trusted {
                registry.refuse(dir.to_path_buf(), reason);
                continue;
            }
            let mut entries = match std::fs::read_dir(&canonical) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect::<Vec<_>>(),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot read plugin directory: {e}");
                    continue;
                }
            };
            entries.sort();
            for entry in entries {
                if only_libraries && !is_shared_library(&entry) {
                    continue;
                }
                let meta = match entry_metadata(&entry) {
                    Ok(m) => m,
                    Err(reason) => {
                        registry.refuse(entry, reason);
                        continue;
                    }
                };
                if !meta.is_file() {
                    registry.refuse(entry, format!("skipped: {}", not_a_file(&meta)));
                    continue;
                }
                let key = entry.canonicalize().unwrap_or_else(|_| entry.clone());
                if seen_files.insert(key) {
                    registry.consider(entry, &meta, only_libraries);
                }
            }
        }
        registry
    }

    /// Loads `file`'s metadata in a worker unless it is unusable. A `fallback` file (from
    /// the executable's directory) only fills kinds the configured directories did not
    /// provide.
    fn consider(&mut self, file: PathBuf, meta: &Metadata, fallback: bool) {
        if !is_shared_library(&file) {
            return self.refuse(
                file,
                "not a shared library (plugin files end in .so)".into(),
            );
        }
        if let Err(reason) = trust("file", meta) {
            return self.refuse(file, reason);
        }
        let meta = match worker::probe(&file) {
            Ok(m) => m,
            Err(e) => {
                if let Some(detail) = &e.detail {
                    tracing::debug!(file = %file.display(), "abi_stable layout report:\n{detail}");
                }
                return self.refuse(file, e.message);
            }
        };
        let kind = meta.kind.clone();
        if let Some(first) = self.plugins.get(&kind) {
            if fallback {
                tracing::debug!(file = %file.display(), "kind `{kind}` already loaded from {}", first.path().display());
                return;
            }
            let reason = format!(
                "plugin kind `{kind}` is already provided by {}",
                first.path().display()
            );
            return self.refuse(file, reason);
        }
        tracing::debug!(file = %file.display(), kind, version = meta.version, "plugin found");
        let path = std::path::absolute(&file).unwrap_or(file);
        self.plugins.insert(kind, PluginInfo { path, meta });
    }

    fn refuse(&mut self, file: PathBuf, reason: String) {
        tracing::warn!(file = %file.display(), "plugin refused: {reason}");
        self.refused.push(RefusedFile { file, reason });
    }

    /// The plugin serving `kind`.
    pub fn get(&self, kind: &str) -> Option<&PluginInfo> {
        self.plugins.get(kind)
    }

    /// The configuration keys the plugin serving `kind` declares secret (empty for a
    /// plugin built against API 1.0); `None` when no plugin serves `kind`.
    pub fn declared_secrets(&self, kind: &str) -> Option<Vec<String>> {
        self.get(kind).map(|p| p.secret_keys().to_vec())
    }

    /// Plugins found, by kind.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.plugins.values()
    }

    /// The kinds available, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    /// Entries that were not loaded.
    pub fn refused(&self) -> &[RefusedFile] {
        &self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_library_names() {
        assert!(is_shared_library(Path::new("/x/libsftp.so")));
        assert!(is_shared_library(Path::new("/x/libsftp.so.1")));
        assert!(!is_shared_library(Path::new("/x/README.txt")));
        assert!(!is_shared_library(Path::new("/x/sauvegarde")));
    }

    #[test]
    fn only_root_owned_files_writable_by_root_alone_are_trusted() {
        assert_eq!(untrusted("file", 0, 0o100755), None);
        assert_eq!(untrusted("file", 0, 0o100644), None);
        let r = untrusted("file", 1000, 0o100755).unwrap();
        assert!(r.contains("owned by uid 1000, not root"), "{r}");
        let r = untrusted("file", 0, 0o100775).unwrap();
        assert!(r.contains("writable by its group (mode 0775"), "{r}");
        let r = untrusted("plugin directory", 0, 0o40777).unwrap();
        assert!(
            r.contains("directory is writable by its group and others"),
            "{r}"
        );
        let r = untrusted("file", 0, 0o100757).unwrap();
        assert!(r.contains("writable by others"), "{r}");
    }

    #[test]
    fn entries_that_are_not_files_are_listed_with_why() {
        // No entry here is a shared library file, so no worker is needed.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("notes.txt"), "hello").unwrap();
        std::fs::create_dir(d.join("x.so")).unwrap();
        std::os::unix::fs::symlink(d.join("gone.so"), d.join("dangling.so")).unwrap();
        std::os::unix::fs::symlink(d.join("loop-b.so"), d.join("loop-a.so")).unwrap();
        std::os::unix::fs::symlink(d.join("loop-a.so"), d.join("loop-b.so")).unwrap();
        let fifo = std::ffi::CString::new(d.join("pipe.so").into_os_string().into_encoded_bytes())
            .unwrap();
        // SAFETY: mkfifo on a path in our own temporary directory.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let reg =
            PluginRegistry::discover(&[d.to_path_buf(), d.join("missing"), d.to_path_buf()], None);
        assert!(reg.kinds().is_empty());
        let reason = |name: &str| {
            reg.refused()
                .iter()
                .find(|r| r.file.file_name().unwrap() == name)
                .unwrap_or_else(|| panic!("{name} not listed: {:?}", reg.refused()))
                .reason
                .clone()
        };
        assert!(reason("notes.txt").contains("not a shared library"));
        assert!(reason("x.so").contains("a directory"));
        assert!(reason("dangling.so").contains("dangling symbolic link"));
        assert!(reason("loop-a.so").contains("symbolic link loop"));
        assert!(reason("loop-b.so").contains("symbolic link loop"));
        assert!(reason("pipe.so").contains("FIFO"));
        assert_eq!(reg.refused().len(), 6, "{:?}", reg.refused());
    }
}

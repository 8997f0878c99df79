//! Finds plugin files in the plugin directories and loads them, keeping one plugin per
//! kind. Files that cannot be used are reported with the reason; the others still load.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use sauvegarde_plugin_api::host::{LoadError, LoadedPlugin};
use serde::Serialize;

use super::log_bridge;

/// A file in a plugin directory that was not loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedFile {
    /// The file.
    pub file: PathBuf,
    /// Why it was refused.
    pub reason: String,
}

/// The loaded plugins by kind, and the refused files.
#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, LoadedPlugin>,
    refused: Vec<RefusedFile>,
}

/// Is this file name a shared library?
fn is_shared_library(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".so") || n.contains(".so."))
}

impl PluginRegistry {
    /// Scans `dirs` in order, then `exe_dir`. In the configured directories every regular
    /// file is considered (a stray file is reported); in the executable's directory only
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
            let mut files = match std::fs::read_dir(&canonical) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect::<Vec<_>>(),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot read plugin directory: {e}");
                    continue;
                }
            };
            files.sort();
            for file in files {
                if !file.is_file() || (only_libraries && !is_shared_library(&file)) {
                    continue;
                }
                let key = file.canonicalize().unwrap_or_else(|_| file.clone());
                if seen_files.insert(key) {
                    registry.consider(file, only_libraries);
                }
            }
        }
        registry
    }

    /// Loads `file` unless it is unusable. A `fallback` file (from the executable's
    /// directory) only fills kinds the configured directories did not provide.
    fn consider(&mut self, file: PathBuf, fallback: bool) {
        if !is_shared_library(&file) {
            return self.refuse(
                file,
                "not a shared library (plugin files end in .so)".into(),
            );
        }
        let plugin = match LoadedPlugin::load(&file) {
            Ok(p) => p,
            Err(e) => {
                if let LoadError::IncompatibleLayout { detail, .. } = &e {
                    tracing::debug!(file = %file.display(), "abi_stable layout report:\n{detail}");
                }
                return self.refuse(file, e.to_string());
            }
        };
        let kind = plugin.kind().to_string();
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
        plugin.set_logger(log_bridge::logger_for(&kind));
        tracing::debug!(file = %file.display(), kind, version = plugin.version(), "plugin loaded");
        self.plugins.insert(kind, plugin);
    }

    fn refuse(&mut self, file: PathBuf, reason: String) {
        tracing::warn!(file = %file.display(), "plugin refused: {reason}");
        self.refused.push(RefusedFile { file, reason });
    }

    /// The plugin serving `kind`.
    pub fn get(&self, kind: &str) -> Option<&LoadedPlugin> {
        self.plugins.get(kind)
    }

    /// The configuration keys the plugin serving `kind` declares secret (empty for a
    /// plugin built against API 1.0); `None` when no plugin serves `kind`.
    pub fn declared_secrets(&self, kind: &str) -> Option<Vec<String>> {
        self.get(kind)
            .map(|p| p.secrets().into_iter().map(String::from).collect())
    }

    /// Loaded plugins, by kind.
    pub fn plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.plugins.values()
    }

    /// The kinds available, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    /// Files that were not loaded.
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
    fn stray_files_are_refused_and_missing_dirs_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("libjunk.so"), b"\x00garbage").unwrap();
        let reg = PluginRegistry::discover(
            &[
                dir.path().to_path_buf(),
                dir.path().join("missing"),
                dir.path().to_path_buf(),
            ],
            None,
        );
        assert!(reg.kinds().is_empty());
        let reasons: Vec<_> = reg
            .refused()
            .iter()
            .map(|r| (r.file.file_name().unwrap().to_owned(), r.reason.clone()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons[0].1.contains("not a loadable shared library"),
            "{reasons:?}"
        );
        assert!(reasons[1].1.contains("not a shared library"), "{reasons:?}");
    }
}

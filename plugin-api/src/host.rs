//! The host's side: loading plugin files and calling their destinations safely.
//!
//! Plugin authors do not need this module; the sauvegarde host uses it so that no
//! abi_stable type leaks outside this crate.

use std::path::{Path, PathBuf};

use abi_stable::{
    library::{lib_header_from_path, AbiHeader, LibraryError, RawLibrary},
    sabi_trait::TD_Opaque,
    std_types::RStr,
};

use crate::{
    ffi::{DestinationBox, HostLogger, PluginModRef, ProgressSink_TO, SecretsFn, SECRETS_SYMBOL},
    PluginError, RemoteFile,
};

/// Why a file could not be loaded as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a loadable shared library (random bytes, wrong architecture,
    /// missing dependency).
    #[error("not a loadable shared library: {reason}")]
    NotALibrary {
        /// The dynamic loader's explanation.
        reason: String,
    },
    /// A shared library, but it does not export a sauvegarde plugin root module.
    #[error("not a sauvegarde plugin: the library exports no plugin root module")]
    NotAPlugin,
    /// Built against a plugin API version this host cannot load.
    #[error("incompatible plugin API: the plugin was built against sauvegarde-plugin-api {found}, this host needs {expected}")]
    IncompatibleVersion {
        /// The API version this host was built with.
        expected: String,
        /// The API version the plugin was built with.
        found: String,
    },
    /// The plugin's types do not match this host's (an API built with different layouts).
    #[error("incompatible plugin API: {summary}")]
    IncompatibleLayout {
        /// The first differences abi_stable reported.
        summary: String,
        /// abi_stable's whole report, long; for debug logs.
        detail: String,
    },
    /// Any other load failure.
    #[error("{0}")]
    Other(String),
}

impl LoadError {
    fn from_library_error(err: LibraryError) -> Self {
        match err {
            LibraryError::OpenError { err, .. } => LoadError::NotALibrary {
                reason: err.to_string(),
            },
            LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin,
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => LoadError::IncompatibleVersion {
                expected: format!("{}.x", expected_version.major),
                found: actual_version.to_string(),
            },
            LibraryError::AbiInstability(detail) => {
                let detail = detail.to_string();
                LoadError::IncompatibleLayout {
                    summary: summarize_layout_error(&detail),
                    detail,
                }
            }
            LibraryError::InvalidAbiHeader(header) => LoadError::IncompatibleVersion {
                expected: format!(
                    "abi_stable ABI {}.{}",
                    AbiHeader::VALUE.abi_major,
                    AbiHeader::VALUE.abi_minor
                ),
                found: format!("abi_stable ABI {}.{}", header.abi_major, header.abi_minor),
            },
            LibraryError::Many(errors) => match errors.into_iter().next() {
                Some(first) => LoadError::from_library_error(first),
                None => LoadError::Other("unknown load error".into()),
            },
            other => LoadError::Other(other.to_string()),
        }
    }
}

/// Picks the lines that say what differs out of abi_stable's long layout report.
fn summarize_layout_error(detail: &str) -> String {
    let lines: Vec<&str> = detail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.iter().position(|l| l.starts_with("Error:"));
    match start {
        Some(i) => lines[i..lines.len().min(i + 5)].join(" "),
        None => lines.iter().take(3).copied().collect::<Vec<_>>().join(" "),
    }
}

/// A plugin library, loaded and checked. Libraries are never unloaded.
pub struct LoadedPlugin {
    path: PathBuf,
    module: PluginModRef,
    secrets: Vec<&'static str>,
}

impl LoadedPlugin {
    /// Loads the shared library at `path` (made absolute first) and checks that it is a
    /// plugin built against a compatible API.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let path = std::path::absolute(path).map_err(|e| LoadError::Other(e.to_string()))?;
        let header = lib_header_from_path(&path).map_err(LoadError::from_library_error)?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(LoadError::from_library_error)?;
        let secrets = declared_secrets(&path);
        Ok(LoadedPlugin {
            path,
            module,
            secrets,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The destination type it serves.
    pub fn kind(&self) -> &'static str {
        self.module.kind().as_str()
    }

    /// The plugin's version.
    pub fn version(&self) -> &'static str {
        self.module.version().as_str()
    }

    /// Its one-line description.
    pub fn description(&self) -> &'static str {
        self.module.description().as_str()
    }

    /// The configuration keys the plugin declares secret (empty for a plugin built
    /// against API 1.0, which cannot declare any).
    pub fn secrets(&self) -> Vec<&'static str> {
        self.secrets.clone()
    }

    /// Routes the plugin's log events to `logger`. Call once, before any other use.
    pub fn set_logger(&self, logger: HostLogger) {
        (self.module.set_logger())(logger)
    }

    /// Creates a destination from its configuration, a JSON object.
    pub fn new_destination(&self, config_json: &str) -> Result<HostDestination, PluginError> {
        (self.module.new_destination())(RStr::from(config_json))
            .into_result()
            .map(HostDestination)
    }
}

/// The keys the library at `path` (already loaded as a plugin) declares secret through
/// [`SECRETS_SYMBOL`]; none when it lacks the symbol (built against API 1.0).
fn declared_secrets(path: &Path) -> Vec<&'static str> {
    let Ok(library) = RawLibrary::load_at(path) else {
        return Vec::new();
    };
    // Never closed, like the plugin itself: the names point into its static data.
    let library: &'static RawLibrary = Box::leak(Box::new(library));
    // SAFETY: when present, the symbol is the function `export_plugin!` defines, of exactly
    // this type; it only returns a slice of its static strings.
    match unsafe { library.get::<SecretsFn>(SECRETS_SYMBOL) } {
        Ok(symbol) => {
            let secrets: SecretsFn = *symbol;
            secrets().as_slice().iter().map(|n| n.as_str()).collect()
        }
        Err(_) => Vec::new(),
    }
}

/// A destination created by a plugin. Each method blocks: call them from worker threads.
pub struct HostDestination(DestinationBox);

fn utf8_path(path: &Path) -> Result<&str, PluginError> {
    path.to_str()
        .ok_or_else(|| PluginError::config(format!("path {} is not valid UTF-8", path.display())))
}

impl HostDestination {
    /// See [`Exporter::test_connection`](crate::Exporter::test_connection).
    pub fn test_connection(&self) -> Result<String, PluginError> {
        self.0.test_connection().into_result().map(Into::into)
    }

    /// See [`Exporter::upload`](crate::Exporter::upload). `progress(done, total)` returns
    /// `false` to cancel.
    pub fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), PluginError> {
        let local_path = utf8_path(local_path)?;
        self.0
            .upload(
                local_path.into(),
                remote_name.into(),
                ProgressSink_TO::from_ptr(&mut { progress }, TD_Opaque),
            )
            .into_result()
    }

    /// See [`Exporter::list`](crate::Exporter::list).
    pub fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        self.0.list().into_result().map(Into::into)
    }

    /// See [`Exporter::delete`](crate::Exporter::delete).
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        self.0.delete(name.into()).into_result()
    }

    /// See [`Exporter::download`](crate::Exporter::download).
    pub fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), PluginError> {
        let local_path = utf8_path(local_path)?;
        self.0
            .download(
                name.into(),
                local_path.into(),
                ProgressSink_TO::from_ptr(&mut { progress }, TD_Opaque),
            )
            .into_result()
    }

    /// See [`Exporter::call`](crate::Exporter::call).
    pub fn call(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        self.0
            .call(op.into(), args_json.into())
            .into_result()
            .map(Into::into)
    }
}

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
    ffi::{
        DestinationBox, HostLogger, PluginModRef, ProgressSink_TO, SecretsFn, UploadNewFn,
        CAPABILITIES_SYMBOL, SECRETS_SYMBOL, UPLOAD_NEW, UPLOAD_NEW_SYMBOL,
    },
    NewUpload, PluginError, RemoteFile,
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
    extras: Extras,
}

/// What a plugin offers through optional symbols (API 1.1 and later).
#[derive(Default)]
struct Extras {
    secrets: Vec<&'static str>,
    capabilities: Vec<&'static str>,
    upload_new: Option<UploadNewFn>,
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
        let extras = extras(&path);
        Ok(LoadedPlugin {
            path,
            module,
            extras,
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
        self.extras.secrets.clone()
    }

    /// The operations beyond API 1.0 the plugin implements ([`UPLOAD_NEW`], …); empty
    /// for a plugin built against API 1.0 or 1.1.
    pub fn capabilities(&self) -> Vec<&'static str> {
        self.extras.capabilities.clone()
    }

    /// Routes the plugin's log events to `logger`. Call once, before any other use.
    pub fn set_logger(&self, logger: HostLogger) {
        (self.module.set_logger())(logger)
    }

    /// Creates a destination from its configuration, a JSON object.
    pub fn new_destination(&self, config_json: &str) -> Result<HostDestination, PluginError> {
        (self.module.new_destination())(RStr::from(config_json))
            .into_result()
            .map(|inner| HostDestination {
                inner,
                upload_new: self.extras.upload_new,
            })
    }
}

/// The optional symbols of the library at `path` (already loaded as a plugin): the keys
/// it declares secret ([`SECRETS_SYMBOL`], none before API 1.1), its capabilities
/// ([`CAPABILITIES_SYMBOL`], none before 1.2) and the functions of those capabilities.
fn extras(path: &Path) -> Extras {
    let Ok(library) = RawLibrary::load_at(path) else {
        return Extras::default();
    };
    // Never closed, like the plugin itself: the names point into its static data.
    let library: &'static RawLibrary = Box::leak(Box::new(library));
    // SAFETY: when present, the symbols are the functions `export_plugin!` defines, of
    // exactly this type (`SecretsFn` and `CapabilitiesFn` are one type); they only return
    // slices of static strings.
    let names = |symbol: &[u8]| match unsafe { library.get::<SecretsFn>(symbol) } {
        Ok(f) => {
            let f: SecretsFn = *f;
            f().as_slice().iter().map(|n| n.as_str()).collect()
        }
        Err(_) => Vec::new(),
    };
    let secrets = names(SECRETS_SYMBOL);
    let mut capabilities: Vec<&'static str> = names(CAPABILITIES_SYMBOL);
    let upload_new = if capabilities.contains(&UPLOAD_NEW) {
        // SAFETY: a plugin that lists the capability defines the symbol with this type.
        unsafe { library.get::<UploadNewFn>(UPLOAD_NEW_SYMBOL) }
            .ok()
            .map(|f| *f)
    } else {
        None
    };
    // A capability whose symbol is missing is not one.
    capabilities.retain(|c| *c != UPLOAD_NEW || upload_new.is_some());
    Extras {
        secrets,
        capabilities,
        upload_new,
    }
}

/// A destination created by a plugin. Each method blocks: call them from worker threads.
pub struct HostDestination {
    inner: DestinationBox,
    upload_new: Option<UploadNewFn>,
}

fn utf8_path(path: &Path) -> Result<&str, PluginError> {
    path.to_str()
        .ok_or_else(|| PluginError::config(format!("path {} is not valid UTF-8", path.display())))
}

impl HostDestination {
    /// See [`Exporter::test_connection`](crate::Exporter::test_connection).
    pub fn test_connection(&self) -> Result<String, PluginError> {
        self.inner.test_connection().into_result().map(Into::into)
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
        self.inner
            .upload(
                local_path.into(),
                remote_name.into(),
                ProgressSink_TO::from_ptr(&mut { progress }, TD_Opaque),
            )
            .into_result()
    }

    /// Whether the plugin implements [`Exporter::upload_new`](crate::Exporter::upload_new).
    pub fn has_upload_new(&self) -> bool {
        self.upload_new.is_some()
    }

    /// See [`Exporter::upload_new`](crate::Exporter::upload_new). A plugin without it
    /// ([`has_upload_new`](Self::has_upload_new) is false) gets an
    /// [`ErrorKind::Other`](crate::ErrorKind::Other) error and is not called.
    pub fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<NewUpload, PluginError> {
        let Some(upload_new) = self.upload_new else {
            return Err(PluginError::other(
                "this plugin has no no-replace upload (upload_new, plugin API 1.2)",
            ));
        };
        let local_path = utf8_path(local_path)?;
        upload_new(
            &self.inner,
            local_path.into(),
            remote_name.into(),
            temp_name.into(),
            ProgressSink_TO::from_ptr(&mut { progress }, TD_Opaque),
        )
        .into_result()
    }

    /// See [`Exporter::list`](crate::Exporter::list).
    pub fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        self.inner.list().into_result().map(Into::into)
    }

    /// See [`Exporter::delete`](crate::Exporter::delete).
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        self.inner.delete(name.into()).into_result()
    }

    /// See [`Exporter::download`](crate::Exporter::download).
    pub fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), PluginError> {
        let local_path = utf8_path(local_path)?;
        self.inner
            .download(
                name.into(),
                local_path.into(),
                ProgressSink_TO::from_ptr(&mut { progress }, TD_Opaque),
            )
            .into_result()
    }

    /// See [`Exporter::call`](crate::Exporter::call).
    pub fn call(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        self.inner
            .call(op.into(), args_json.into())
            .into_result()
            .map(Into::into)
    }
}

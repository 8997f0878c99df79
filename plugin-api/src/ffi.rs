//! The ABI-stable types that cross between host and plugin.
//!
//! Plugin authors do not use this module directly: [`export_plugin!`](crate::export_plugin)
//! builds the root module from an [`Exporter`]. The host uses it to load plugins and drive
//! destinations. Every type here is checked by abi_stable when a plugin is loaded.

use std::path::Path;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    prefix_type::PrefixTypeTrait,
    sabi_trait,
    sabi_trait::TD_Opaque,
    sabi_types::RMut,
    sabi_types::VersionStrings,
    std_types::{RBox, RResult, RString, RVec},
    StableAbi,
};

use crate::{guard::guard, logging, Exporter, PluginError, Progress, RemoteFile};

pub use crate::logging::{HostLogger, LogLevel};
/// abi_stable's FFI-safe slice, used by [`SecretsFn`].
pub use abi_stable::std_types::RSlice;
/// abi_stable's FFI-safe string slice, used by [`HostLogger`].
pub use abi_stable::std_types::RStr;

/// The host's side of a transfer's progress reporting.
#[sabi_trait]
pub trait ProgressSink {
    /// `done` of `total` bytes transferred; returns `false` to ask the plugin to stop.
    #[sabi(last_prefix_field)]
    fn report(&mut self, done: u64, total: u64) -> bool;
}

impl<F: FnMut(u64, u64) -> bool> ProgressSink for F {
    fn report(&mut self, done: u64, total: u64) -> bool {
        self(done, total)
    }
}

/// A destination as the host sees it: the ABI-stable form of [`Exporter`].
/// See [`Exporter`] for what each method must do.
#[sabi_trait]
pub trait Destination: Send + Sync {
    /// See [`Exporter::test_connection`].
    fn test_connection(&self) -> RResult<RString, PluginError>;

    /// See [`Exporter::upload`].
    fn upload<'p>(
        &self,
        local_path: RStr<'_>,
        remote_name: RStr<'_>,
        progress: ProgressSink_TO<'p, RMut<'p, ()>>,
    ) -> RResult<(), PluginError>;

    /// See [`Exporter::list`].
    fn list(&self) -> RResult<RVec<RemoteFile>, PluginError>;

    /// See [`Exporter::delete`].
    fn delete(&self, name: RStr<'_>) -> RResult<(), PluginError>;

    /// See [`Exporter::download`].
    fn download<'p>(
        &self,
        name: RStr<'_>,
        local_path: RStr<'_>,
        progress: ProgressSink_TO<'p, RMut<'p, ()>>,
    ) -> RResult<(), PluginError>;

    /// See [`Exporter::call`].
    #[sabi(last_prefix_field)]
    fn call(&self, op: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, PluginError>;
}

/// An owned destination object created by a plugin.
pub type DestinationBox = Destination_TO<'static, RBox<()>>;

/// The root module every plugin exports: what it is and how to create destinations.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The destination type this plugin serves, as users write it in `type = "…"`.
    pub kind: RStr<'static>,
    /// The plugin's own version (its crate version).
    pub version: RStr<'static>,
    /// A one-line description shown by `sauvegarde plugins`.
    pub description: RStr<'static>,
    /// Called once by the host right after loading: routes the plugin's `tracing` events
    /// to the host.
    pub set_logger: extern "C" fn(HostLogger),
    /// Creates a destination from its configuration (a JSON object).
    #[sabi(last_prefix_field)]
    pub new_destination: extern "C" fn(RStr<'_>) -> RResult<DestinationBox, PluginError>,
}

/// The optional symbol (since API 1.1) through which a plugin declares the configuration
/// keys whose values are secrets: a [`SecretsFn`] that [`export_plugin!`](crate::export_plugin)
/// defines. It is a symbol of its own, not a field of [`PluginMod`], because abi_stable
/// refuses a root module with fewer fields than the host's ("too many fields Expected: 6
/// Found: 5", measured): a new field would lock out every plugin built against 1.0, while
/// a missing symbol just means "declares nothing".
pub const SECRETS_SYMBOL: &[u8] = b"sauvegarde_plugin_secrets_v1\0";

/// The type of [`SECRETS_SYMBOL`]: returns the names of the secret keys.
pub type SecretsFn = extern "C" fn() -> RSlice<'static, RStr<'static>>;

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "sauvegarde_plugin";
    const NAME: &'static str = "sauvegarde exporter plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Builds a plugin's root module. Used by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn root_module<E, F>(
    kind: &'static str,
    version: &'static str,
    description: &'static str,
    _new: F,
) -> PluginModRef
where
    E: Exporter,
    F: Fn(&str) -> Result<E, PluginError> + Copy + 'static,
{
    // A zero-sized constructor type: the extern fn below can call it without capturing.
    assert!(
        std::mem::size_of::<F>() == 0,
        "export_plugin!: `new` must be a function, not a capturing closure"
    );
    extern "C" fn new_destination<E, F>(config: RStr<'_>) -> RResult<DestinationBox, PluginError>
    where
        E: Exporter,
        F: Fn(&str) -> Result<E, PluginError> + Copy + 'static,
    {
        guard("the plugin constructor", || {
            // SAFETY: F is a zero-sized `Copy` type (checked in `root_module`), so any
            // value of it is the one function item it stands for.
            let new: F = unsafe { std::mem::zeroed() };
            let exporter = new(config.as_str())?;
            Ok(DestinationBox::from_value(Adapter(exporter), TD_Opaque))
        })
    }
    PluginMod {
        kind: RStr::from(kind),
        version: RStr::from(version),
        description: RStr::from(description),
        set_logger: logging::set_logger,
        new_destination: new_destination::<E, F>,
    }
    .leak_into_prefix()
}

/// Presents an [`Exporter`] as a [`Destination`], catching panics in every method.
struct Adapter<E>(E);

impl<E: Exporter> Destination for Adapter<E> {
    fn test_connection(&self) -> RResult<RString, PluginError> {
        guard("test_connection", || {
            self.0.test_connection().map(RString::from)
        })
    }

    fn upload<'p>(
        &self,
        local_path: RStr<'_>,
        remote_name: RStr<'_>,
        progress: ProgressSink_TO<'p, RMut<'p, ()>>,
    ) -> RResult<(), PluginError> {
        guard("upload", || {
            let mut progress = Progress::new(progress);
            self.0.upload(
                Path::new(local_path.as_str()),
                remote_name.as_str(),
                &mut progress,
            )
        })
    }

    fn list(&self) -> RResult<RVec<RemoteFile>, PluginError> {
        guard("list", || self.0.list().map(RVec::from))
    }

    fn delete(&self, name: RStr<'_>) -> RResult<(), PluginError> {
        guard("delete", || self.0.delete(name.as_str()))
    }

    fn download<'p>(
        &self,
        name: RStr<'_>,
        local_path: RStr<'_>,
        progress: ProgressSink_TO<'p, RMut<'p, ()>>,
    ) -> RResult<(), PluginError> {
        guard("download", || {
            let mut progress = Progress::new(progress);
            self.0
                .download(name.as_str(), Path::new(local_path.as_str()), &mut progress)
        })
    }

    fn call(&self, op: RStr<'_>, args_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard("call", || {
            self.0
                .call(op.as_str(), args_json.as_str())
                .map(RString::from)
        })
    }
}

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
    sabi_trait::TD_CanDowncast,
    sabi_types::VersionStrings,
    std_types::{RBox, RString, RVec},
    StableAbi,
};

use crate::{guard::guard, logging, Exporter, NewUpload, PluginError, Progress, RemoteFile};

pub use crate::logging::{HostLogger, LogLevel};
/// abi_stable's FFI-safe mutable reference, used by [`UploadNewFn`].
pub use abi_stable::sabi_types::RMut;
/// abi_stable's FFI-safe result, used by [`UploadNewFn`].
pub use abi_stable::std_types::RResult;
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

/// The optional symbol (since API 1.2) through which a plugin lists the operations it
/// implements beyond those of API 1.0, by name ([`UPLOAD_NEW`], …): a [`CapabilitiesFn`]
/// that [`export_plugin!`](crate::export_plugin) defines. Absent (API 1.0 and 1.1
/// plugins): none. A capability listed here has its own optional symbol.
pub const CAPABILITIES_SYMBOL: &[u8] = b"sauvegarde_plugin_capabilities_v1\0";

/// The type of [`CAPABILITIES_SYMBOL`].
pub type CapabilitiesFn = extern "C" fn() -> RSlice<'static, RStr<'static>>;

/// The capability of [`Exporter::upload_new`], called through [`UPLOAD_NEW_SYMBOL`].
pub const UPLOAD_NEW: &str = "upload_new";

/// The optional symbol (since API 1.2) of [`Exporter::upload_new`]: an [`UploadNewFn`]
/// that [`export_plugin!`](crate::export_plugin) defines. The host calls it only when
/// [`CAPABILITIES_SYMBOL`] lists [`UPLOAD_NEW`].
///
/// Why a symbol and not a method of [`Destination`]: abi_stable refuses a plugin whose
/// trait object has fewer methods than the host's (measured with 1.0 and 1.1), so a new
/// method would lock out every older plugin; [`Destination::call`], the generic escape
/// hatch, carries no progress callback, so the host could neither see the bytes go nor
/// cancel. The function takes the destination the plugin's constructor made and finds
/// the exporter inside it (the object is built downcastable since 1.2).
pub const UPLOAD_NEW_SYMBOL: &[u8] = b"sauvegarde_plugin_upload_new_v1\0";

/// The type of [`UPLOAD_NEW_SYMBOL`]: the destination (made by the same plugin), the
/// local path, the remote name, the temporary name, the progress sink.
pub type UploadNewFn = for<'a, 'p> extern "C" fn(
    &'a DestinationBox,
    RStr<'a>,
    RStr<'a>,
    RStr<'a>,
    ProgressSink_TO<'p, RMut<'p, ()>>,
) -> RResult<NewUpload, PluginError>;

/// The names [`CAPABILITIES_SYMBOL`] answers for an exporter that implements
/// [`Exporter::upload_new`].
const WITH_UPLOAD_NEW: &[RStr<'static>] = &[RStr::from_str(UPLOAD_NEW)];

/// The capabilities of the exporter `new` makes. Used by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn capabilities_of<E, F>(_new: F) -> RSlice<'static, RStr<'static>>
where
    E: Exporter,
    F: Fn(&str) -> Result<E, PluginError>,
{
    if E::UPLOAD_NEW {
        RSlice::from_slice(WITH_UPLOAD_NEW)
    } else {
        RSlice::from_slice(&[])
    }
}

/// [`Exporter::upload_new`] of the exporter inside `destination`. Used by
/// [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn upload_new_of<'p, E, F>(
    _new: F,
    destination: &DestinationBox,
    local_path: RStr<'_>,
    remote_name: RStr<'_>,
    temp_name: RStr<'_>,
    progress: ProgressSink_TO<'p, RMut<'p, ()>>,
) -> RResult<NewUpload, PluginError>
where
    E: Exporter,
    F: Fn(&str) -> Result<E, PluginError>,
{
    // Named as the user knows it: a panic here reads "plugin panicked in upload".
    guard("upload", || {
        let Ok(adapter) = destination.obj.downcast_as::<Adapter<E>>() else {
            return Err(PluginError::other(
                "upload_new: the destination was not made by this plugin",
            ));
        };
        let mut progress = Progress::new(progress);
        adapter.0.upload_new(
            Path::new(local_path.as_str()),
            remote_name.as_str(),
            temp_name.as_str(),
            &mut progress,
        )
    })
}

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
            // Downcastable: the API 1.2 symbols find the exporter inside it.
            Ok(DestinationBox::from_value(
                Adapter(exporter),
                TD_CanDowncast,
            ))
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

//! The stable ABI between the `sauvegarde` backup host and its exporter plugins.
//!
//! An exporter sends finished backup archives to a destination (an SFTP server, a cloud
//! drive, a local directory, …). It ships as a shared library (`cdylib`) that the host
//! loads at run time from its plugin directories; no rebuild of the host is needed.
//!
//! This is the only crate a plugin author depends on. A plugin:
//!
//! 1. implements [`Exporter`] for a type that holds one destination's settings;
//! 2. writes a constructor `fn(&str) -> Result<T, PluginError>` that parses the
//!    destination's configuration (a JSON object; [`parse_config`] does it with serde and
//!    rejects unknown keys);
//! 3. exports both with [`export_plugin!`].
//!
//! ```ignore
//! use sauvegarde_plugin_api::{export_plugin, parse_config, Exporter, PluginError, Progress, RemoteFile};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { dir: std::path::PathBuf }
//!
//! struct LocalDir(Config);
//!
//! impl Exporter for LocalDir {
//!     /* test_connection, upload, list, delete, download; and since 1.2, optionally: */
//!     const UPLOAD_NEW: bool = true;
//!     /* upload_new: never over an existing file */
//! }
//!
//! fn new(config_json: &str) -> Result<LocalDir, PluginError> {
//!     Ok(LocalDir(parse_config(config_json)?))
//! }
//!
//! export_plugin! {
//!     kind: "local-dir",
//!     description: "Copies archives into a local directory",
//!     secrets: [],          // keys whose values the host must mask (since 1.1), optional
//!     new: new,
//! }
//! ```
//!
//! What the host guarantees and expects:
//! - Every method is called from a plain OS thread (never inside an async runtime), so
//!   blocking I/O is the right thing to do. A plugin must not assume it runs on the thread
//!   that created it, hence `Send + Sync`.
//! - A panic in any method (or in the constructor) is caught at the boundary and reported to
//!   the host as an [`ErrorKind::Other`] error carrying the panic message. It never unwinds
//!   into the host. (A plugin built with `panic = "abort"` cannot be protected.)
//! - `tracing` events emitted by plugin code reach the host's log, tagged with the plugin's
//!   kind; no setup is needed in the plugin.
//! - Errors carry an [`ErrorKind`]: the host retries only [`ErrorKind::Transient`] and
//!   [`ErrorKind::Connect`] failures. Error messages and log events must never contain a
//!   secret (password, key, token) from the configuration. As a second line of defence
//!   the host masks the values of the keys a plugin declares secret (`secrets: [..]` in
//!   [`export_plugin!`]) and of keys named like secrets, in everything it shows or stores.
//! - Paths and names cross the boundary as UTF-8 strings.
//! - An upload never replaces a file the host did not write (since 1.2). Other servers
//!   may share the remote directory and upload the same name in the same second. The
//!   host uploads every archive with [`Exporter::upload_new`] when the plugin implements
//!   it ([`Exporter::UPLOAD_NEW`]): the destination itself refuses the name if it is
//!   taken ([`NewUpload::NameTaken`]), and the host then uses a name carrying its host
//!   tag (`shop_2026-12-04_02-30-00.1a2b3c4d.zip`). Without it, the host looks for the
//!   name in [`Exporter::list`] first and then calls [`Exporter::upload`], which leaves
//!   a race it warns about. [`Exporter::upload`] still replaces (a host on 1.0 or 1.1
//!   calls it), but never removes the old file before the new one is in place.
//! - Temporary files: the host names the one of an [`Exporter::upload_new`]
//!   (`temp_name`), records it before the call, and later removes those left behind
//!   that its history proves are its own. A plugin never sweeps temporary files by their
//!   age: that compares this host's clock with the server's, and another host's upload
//!   in progress may be the one it deletes (see [`partials`]).
//!
//! Compatibility: this crate has its own semantic version. A host loads plugins built
//! against the same major version of this crate; abi_stable checks the layout of every type
//! at load time and the host refuses a plugin that does not match, naming the file.
//! The root module ([`ffi::PluginMod`]) keeps its 1.0 layout: abi_stable refuses a plugin
//! whose root module has fewer fields than the host's, so additions are optional symbols
//! of their own. 1.1 added the declared secrets ([`ffi::SECRETS_SYMBOL`]); a 1.0 plugin,
//! without it, loads in a 1.1 host, and a 1.1 plugin in a 1.0 host. 1.2 added the
//! no-replace upload: a list of capabilities ([`ffi::CAPABILITIES_SYMBOL`]) and the
//! operation's own symbol ([`ffi::UPLOAD_NEW_SYMBOL`]); a 1.0 or 1.1 plugin has neither
//! and loads in a 1.2 host, which falls back to listing before uploading, and a 1.2
//! plugin loads in an older host, which never calls them.

#![deny(missing_docs)]
// abi_stable 0.11's macros expand to impls inside consts; harmless, reported upstream.
#![allow(non_local_definitions)]

mod config;
mod error;
mod exporter;
pub mod ffi;
mod guard;
pub mod host;
mod logging;
pub mod partials;
mod progress;
mod units;

pub use config::parse_config;
pub use error::{ErrorKind, PluginError};
pub use exporter::{Exporter, NewUpload, RemoteFile};
pub use progress::Progress;
pub use units::human_bytes;

/// Items used by the code that [`export_plugin!`] expands to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::root_module;
    pub use abi_stable;
}

/// Exports an [`Exporter`] as a sauvegarde plugin.
///
/// Use it once, at the root of a `cdylib` crate:
///
/// ```ignore
/// export_plugin! {
///     kind: "s3",                              // the `type` users write in their config
///     description: "S3 upload",                // shown by `sauvegarde plugins`
///     secrets: ["secret_access_key", "sse_customer_key"], // optional (API 1.1)
///     new: MyExporter::new,                    // fn(&str) -> Result<MyExporter, PluginError>
/// }
/// ```
///
/// The plugin's version shown to users is the crate's `CARGO_PKG_VERSION`.
/// `kind` should be short, lower case, and unique among installed plugins: the host
/// refuses a second plugin that claims a kind already loaded.
///
/// `secrets` names the configuration keys whose values are secrets. The host masks their
/// values — whatever their type or length — in `config show`, its logs, the history and
/// notifications. Keys the host already treats as secrets by name (`password`, `token`,
/// `*_password`, `*_secret`, `*_token`, …) need not be listed, but listing them is harmless.
/// Plugins built against API 1.0 (without `secrets`) still load; the host then goes by
/// key names alone.
#[macro_export]
macro_rules! export_plugin {
    (kind: $kind:expr, description: $description:expr, new: $new:expr $(,)?) => {
        $crate::export_plugin! {
            kind: $kind,
            description: $description,
            secrets: [],
            new: $new,
        }
    };
    (
        kind: $kind:expr,
        description: $description:expr,
        secrets: [$($secret:expr),* $(,)?],
        new: $new:expr $(,)?
    ) => {
        fn __sauvegarde_plugin_root_module() -> $crate::ffi::PluginModRef {
            $crate::__private::root_module(
                $kind,
                ::core::env!("CARGO_PKG_VERSION"),
                $description,
                $new,
            )
        }

        /// The keys whose values are secrets (see `sauvegarde_plugin_api::ffi::SECRETS_SYMBOL`).
        #[unsafe(no_mangle)]
        pub extern "C" fn sauvegarde_plugin_secrets_v1(
        ) -> $crate::ffi::RSlice<'static, $crate::ffi::RStr<'static>> {
            const SECRETS: &[$crate::ffi::RStr<'static>] =
                &[$($crate::ffi::RStr::from_str($secret)),*];
            $crate::ffi::RSlice::from_slice(SECRETS)
        }

        /// The operations beyond API 1.0 this plugin implements (see
        /// `sauvegarde_plugin_api::ffi::CAPABILITIES_SYMBOL`).
        #[unsafe(no_mangle)]
        pub extern "C" fn sauvegarde_plugin_capabilities_v1(
        ) -> $crate::ffi::RSlice<'static, $crate::ffi::RStr<'static>> {
            $crate::ffi::capabilities_of($new)
        }

        /// `Exporter::upload_new` (see `sauvegarde_plugin_api::ffi::UPLOAD_NEW_SYMBOL`).
        #[unsafe(no_mangle)]
        pub extern "C" fn sauvegarde_plugin_upload_new_v1<'a, 'p>(
            destination: &'a $crate::ffi::DestinationBox,
            local_path: $crate::ffi::RStr<'a>,
            remote_name: $crate::ffi::RStr<'a>,
            temp_name: $crate::ffi::RStr<'a>,
            progress: $crate::ffi::ProgressSink_TO<'p, $crate::ffi::RMut<'p, ()>>,
        ) -> $crate::ffi::RResult<$crate::NewUpload, $crate::PluginError> {
            $crate::ffi::upload_new_of(
                $new,
                destination,
                local_path,
                remote_name,
                temp_name,
                progress,
            )
        }

        // What abi_stable's `#[export_root_module]` expands to, spelled with this crate's
        // re-export so plugins need no direct dependency on abi_stable.
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader:
            $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn __sabi_erased_module(
            ) -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(
                    __sauvegarde_plugin_root_module,
                )
            }
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::ffi::PluginModRef,
                >(
                    __sabi_erased_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    /// The static that `export_plugin!` defines must carry the name abi_stable's loader
    /// looks up; this fails if an abi_stable upgrade changes it.
    #[test]
    fn export_symbol_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}

use std::path::Path;

use abi_stable::{
    std_types::{ROption, RString},
    StableAbi,
};

use crate::{PluginError, Progress};

/// A file in a destination's remote directory, as returned by [`Exporter::list`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    name: RString,
    size: u64,
    modified: ROption<i64>,
}

impl RemoteFile {
    /// A remote file: its bare name (no directory), its size in bytes, and its modification
    /// time in seconds since the Unix epoch (UTC) if the server reports one.
    pub fn new(name: impl Into<String>, size: u64, modified: Option<i64>) -> Self {
        RemoteFile {
            name: RString::from(name.into()),
            size,
            modified: modified.into(),
        }
    }

    /// The bare file name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Modification time, seconds since the Unix epoch, if known.
    pub fn modified(&self) -> Option<i64> {
        self.modified.into_option()
    }
}

/// One configured destination of an exporter plugin.
///
/// The host creates one value per destination through the plugin's constructor, and calls
/// these methods from worker threads. All names are bare file names inside the
/// destination's configured remote directory.
pub trait Exporter: Send + Sync + 'static {
    /// Connects, authenticates and checks that the remote directory is usable (ideally
    /// by writing and removing a probe file). Returns a one-line human description of
    /// what was found: server banner, account, free space, TLS state, …
    fn test_connection(&self) -> Result<String, PluginError>;

    /// Uploads the local file `local_path` as `remote_name`.
    ///
    /// Must be atomic: the file appears complete under `remote_name` or not at all (upload
    /// under a temporary name and rename, or use a commit step). Replaces an existing file
    /// of that name. On failure, removes whatever partial file it wrote. Calls
    /// [`Progress::report`] as bytes go out and stops with its error when the host cancels.
    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError>;

    /// Lists the files (not directories) in the remote directory. A missing remote
    /// directory is an empty list, not an error.
    fn list(&self) -> Result<Vec<RemoteFile>, PluginError>;

    /// Deletes one remote file. A file that does not exist is an
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) error.
    fn delete(&self, name: &str) -> Result<(), PluginError>;

    /// Downloads `name` into `local_path` (which the host has chosen and that does not
    /// exist yet), reporting progress. On failure, leaves nothing at `local_path`.
    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError>;

    /// An extension point for operations added after version 1 of this API: the host
    /// names an operation and passes JSON arguments; the plugin answers JSON. Plugins that
    /// do not know `op` return the default, an [`ErrorKind::Other`](crate::ErrorKind::Other)
    /// error saying the operation is not supported.
    fn call(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        let _ = args_json;
        Err(PluginError::other(format!(
            "operation `{op}` is not supported by this plugin"
        )))
    }
}

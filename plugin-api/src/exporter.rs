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

/// What [`Exporter::upload_new`] did (since API 1.2).
///
/// A name already taken is an outcome, not an error: the host then chooses another name
/// (it adds its host tag). [`ErrorKind`](crate::ErrorKind) has no variant for it because a
/// new variant would change that enum's layout, and abi_stable would then refuse every
/// plugin built against 1.0 or 1.1.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUpload {
    /// The file is on the destination under its name, complete.
    Stored,
    /// A file (or directory) of that name was there already: it was left exactly as it
    /// was, and nothing of this upload remains (its temporary file is removed).
    NameTaken,
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
    /// of that name — without ever removing it before the new one is complete: a process
    /// killed in between must leave the old file (under its name or another). On failure,
    /// removes whatever partial file it wrote. Calls [`Progress::report`] as bytes go out
    /// and stops with its error when the host cancels.
    ///
    /// A host on API 1.2 calls this only for plugins without [`Exporter::upload_new`], after
    /// looking for `remote_name` in [`Exporter::list`].
    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError>;

    /// Whether this exporter implements [`Exporter::upload_new`] (since API 1.2). Set it to
    /// `true` when you implement that method: the host then uses it for every archive.
    /// With `false`, the default, the host looks for the name in [`Exporter::list`] before
    /// calling [`Exporter::upload`], which leaves a race: a file another server creates
    /// under that name between the listing and the rename is replaced.
    const UPLOAD_NEW: bool = false;

    /// Uploads `local_path` as `remote_name` like [`Exporter::upload`], but never over an
    /// existing file (since API 1.2; see [`Exporter::UPLOAD_NEW`]).
    ///
    /// - Atomic, as `upload`: the file appears complete under `remote_name` or not at all.
    /// - When `remote_name` is taken — before the upload, or by the time the file would
    ///   appear (another server sharing the directory uploads the same name) — the
    ///   existing file is left exactly as it was and the answer is
    ///   [`NewUpload::NameTaken`]. Decide it with the destination's own refusal where it
    ///   has one (SFTP rename, S3 `If-None-Match: *`, WebDAV `Overwrite: F`, Dropbox
    ///   `mode: add`); checking first and then replacing is not enough.
    /// - A temporary file that `list()` could show before the upload completes must be
    ///   named `temp_name` exactly (the host chose it and recorded it before the call, so
    ///   that it can prove later that a file of that name left behind is its own and
    ///   remove it; it ends in [`partials::PARTIAL_SUFFIX`](crate::partials::PARTIAL_SUFFIX)).
    ///   A destination with nothing visible before the commit (S3 multipart uploads,
    ///   Dropbox upload sessions) ignores it. Never remove a temporary file you did not
    ///   write in this call: the host sweeps its own, and other hosts' are not yours.
    /// - On failure or cancellation, removes what it wrote, as `upload`.
    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        let _ = (local_path, remote_name, temp_name, progress);
        Err(PluginError::other(
            "upload_new is not implemented by this plugin (UPLOAD_NEW is false)",
        ))
    }

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

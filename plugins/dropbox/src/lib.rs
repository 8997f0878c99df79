//! sauvegarde exporter plugin `dropbox`: uploads backups to a Dropbox folder through the
//! HTTP API v2, with an app key and a long-lived refresh token (see the
//! `sauvegarde-dropbox-auth` helper binary to obtain one).
//!
//! Modules: [`config`] (keys), [`token`] (access tokens), [`api`] (one call, retries),
//! [`upload`] (single request or upload session), [`files`] (list, delete, download,
//! account), [`errors`] (error kinds), [`arg`] (ASCII header JSON), [`hash`]
//! (`content_hash`), [`time`] (timestamps).

pub mod api;
pub mod arg;
pub mod config;
pub mod errors;
pub mod files;
pub mod hash;
pub mod time;
pub mod token;
pub mod upload;

use std::path::Path;

use sauvegarde_plugin_api::{
    export_plugin, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};

use crate::api::Api;
use crate::config::Config;

/// One Dropbox destination.
pub struct Dropbox {
    api: Api,
}

impl Dropbox {
    /// Creates a destination from its JSON configuration (no network access yet).
    pub fn new(config_json: &str) -> Result<Self, PluginError> {
        let config = Config::parse(config_json)?;
        tracing::debug!(?config, "dropbox destination configured");
        Ok(Dropbox {
            api: Api::new(config)?,
        })
    }
}

impl Exporter for Dropbox {
    fn test_connection(&self) -> Result<String, PluginError> {
        self.api.check_token()?;
        files::describe_account(&self.api)
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        let remote = self.api.config.remote_path(remote_name)?;
        upload::upload(&self.api, local_path, &remote, true, progress).map(|_| ())
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        _temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        // No temporary file: the upload session's data is invisible until the commit.
        let remote = self.api.config.remote_path(remote_name)?;
        upload::upload(&self.api, local_path, &remote, false, progress)
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        files::list(&self.api)
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        files::delete(&self.api, name)
    }

    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        files::download(&self.api, name, local_path, progress)
    }
}

export_plugin! {
    kind: "dropbox",
    description: "Dropbox (HTTP API v2, refresh token, chunked upload sessions)",
    new: Dropbox::new,
}

//! sauvegarde exporter plugin `webdav`: sends archives to a WebDAV collection (Nextcloud,
//! ownCloud, Apache mod_dav, …) with Apache OpenDAL.
//!
//! - Upload: PUT under a temporary name (`upload_new`: the one the host gives; `upload`:
//!   `<name>.upload-<pid>-<time>.partial`), its body streamed from the file (memory does
//!   not grow with the archive), size checked, then MOVE onto the final name:
//!   `Overwrite: F` for `upload_new` (the server refuses with 412 when the name exists,
//!   and the host stores its copy under another name; Apache's mod_dav looks the
//!   destination up and then renames, so only a request landing in that instant could
//!   slip between), `Overwrite: T` for `upload`. The temporary file is removed on failure,
//!   cancellation or a name taken. Missing collections on the way to `url` are created
//!   (MKCOL).
//! - List (PROPFIND depth 1), delete, download and the probe go through OpenDAL.
//! - Trust store: Mozilla's roots plus `ca_file`.

mod config;
mod dav;
mod errors;

use std::path::Path;

use opendal::services::Webdav;
use opendal::Operator;
use sauvegarde_opendal_common::{http, remote, transfer, unique_name, Runtime};
use sauvegarde_plugin_api::partials::PARTIAL_SUFFIX;
use sauvegarde_plugin_api::{
    export_plugin, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};

use config::Config;
use dav::Dav;

/// One WebDAV destination.
pub struct WebdavExporter {
    op: Operator,
    dav: Dav,
    runtime: Runtime,
}

impl WebdavExporter {
    /// Parses the configuration and prepares the client (no network access yet).
    pub fn new(config_json: &str) -> Result<WebdavExporter, PluginError> {
        let (config, collection) = Config::parse(config_json)?;
        let builder = Webdav::default()
            .endpoint(&collection.origin)
            .root(&collection.path)
            .username(&config.user)
            .password(&config.password);
        let op = Operator::new(builder)
            .map_err(|e| errors::map(&config, &e, "checking the WebDAV settings"))?;
        let client = http::client(config.ca_file.as_deref(), config.timeout())?;
        let op = http::with_client(op, client.clone());
        Ok(WebdavExporter {
            op,
            dav: Dav {
                client,
                config,
                collection,
            },
            runtime: Runtime::new()?,
        })
    }

    fn config(&self) -> &Config {
        &self.dav.config
    }

    fn map(&self) -> impl Fn(&opendal::Error, &str) -> PluginError + '_ {
        |e, what| errors::map(self.config(), e, what)
    }

    /// PUT under `temp`, check its size, MOVE onto `name` (with `overwrite`, over a file
    /// there; without, `Ok(None)` when the name is taken). Returns the bytes sent.
    async fn send(
        &self,
        local: &Path,
        temp: &str,
        name: &str,
        overwrite: bool,
        progress: &mut Progress<'_>,
    ) -> Result<Option<u64>, PluginError> {
        let map = self.map();
        let total = self.dav.put(local, temp, progress).await?;
        let stored = self
            .op
            .stat(temp)
            .await
            .map_err(|e| map(&e, &format!("checking the size of {temp}")))?
            .content_length();
        if stored != total {
            return Err(PluginError::transient(format!(
                "upload of {name} incomplete: the server holds {stored} of {total} bytes"
            )));
        }
        let moved = self.dav.move_to(temp, name, overwrite).await?;
        Ok(moved.then_some(total))
    }

    /// Uploads through `temp`, removing it unless it was moved onto `name`; `Ok(false)`
    /// when the name is taken (only without `overwrite`).
    fn upload_through(
        &self,
        local_path: &Path,
        temp: &str,
        remote_name: &str,
        overwrite: bool,
        progress: &mut Progress<'_>,
    ) -> Result<bool, PluginError> {
        self.runtime.block_on(async {
            self.dav.ensure_collection().await?;
            if !overwrite && self.dav.has(remote_name).await? {
                return Ok(false);
            }
            let result = self
                .send(local_path, temp, remote_name, overwrite, progress)
                .await;
            if let Ok(Some(total)) = result {
                tracing::info!(
                    "uploaded {remote_name} ({total} bytes) to {}",
                    self.dav.collection.url
                );
                return Ok(true);
            }
            if let Err(e) = self.op.delete(temp).await {
                tracing::warn!(
                    "could not remove the partial upload {temp}: {}",
                    sauvegarde_opendal_common::errors::describe(&e)
                );
            }
            result.map(|_| false)
        })
    }
}

impl Exporter for WebdavExporter {
    fn test_connection(&self) -> Result<String, PluginError> {
        let map = self.map();
        let probe = unique_name(".sauvegarde-probe");
        self.runtime.block_on(async {
            self.dav.ensure_collection().await?;
            remote::probe(&self.op, &probe, &map).await
        })?;
        let url = self.dav.collection.url.as_str();
        Ok(format!(
            "WebDAV at {url} ({}); logged in as `{}`; collection writable: probe file \
             written and removed",
            http::tls_state(url, self.config().ca_file.as_deref()),
            self.config().user,
        ))
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        let temp = format!("{remote_name}.{}{PARTIAL_SUFFIX}", unique_name("upload"));
        self.upload_through(local_path, &temp, remote_name, true, progress)
            .map(|_| ())
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        let stored = self.upload_through(local_path, temp_name, remote_name, false, progress)?;
        Ok(if stored {
            NewUpload::Stored
        } else {
            NewUpload::NameTaken
        })
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        let map = self.map();
        self.runtime.block_on(remote::list(&self.op, &map))
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        let map = self.map();
        self.runtime.block_on(remote::delete(&self.op, name, &map))
    }

    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        let map = self.map();
        self.runtime.block_on(transfer::download(
            &self.op, name, local_path, progress, &map,
        ))
    }
}

export_plugin! {
    kind: "webdav",
    description: "WebDAV collection (Nextcloud, ownCloud, mod_dav; Apache OpenDAL)",
    new: WebdavExporter::new,
}

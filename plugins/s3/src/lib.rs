//! sauvegarde exporter plugin `s3`: sends archives to S3-compatible object storage (AWS S3,
//! MinIO, Ceph, Garage, Backblaze B2, Cloudflare R2, Wasabi, …) with Apache OpenDAL.
//!
//! - Uploads are multipart (`part_size_mib`, `concurrency` parts at a time, a CRC32C
//!   checksum on every part that the server verifies): the object exists only once the
//!   upload is completed, an upload that fails or is cancelled is aborted, and the size
//!   the server reports is checked afterwards.
//! - `upload_new` never replaces an object: one that exists already ends it at once, and
//!   the request that creates the object (`PutObject` or `CompleteMultipartUpload`)
//!   carries `If-None-Match: *`, so that the server itself refuses it when another client
//!   created the object meanwhile (AWS S3 since 2024, MinIO, s3s; `test_connection` says
//!   whether the server honours it). A server that ignores the header leaves the instant
//!   between the check and the completion.
//! - Credentials come from this table only. `credentials = "ambient"` opts into the AWS
//!   defaults (environment variables, `~/.aws`, instance metadata); without it a stray
//!   `AWS_*` variable in the daemon's environment changes nothing.
//! - Trust store: Mozilla's roots plus `ca_file` (never `AWS_CA_BUNDLE`).

mod config;
mod errors;

use std::path::Path;

use opendal::services::S3;
use opendal::Operator;
use sauvegarde_opendal_common::{http, remote, transfer, unique_name, Runtime};
use sauvegarde_plugin_api::{
    export_plugin, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};

use config::{Config, Credentials};

/// One S3 destination.
pub struct S3Exporter {
    config: Config,
    op: Operator,
    runtime: Runtime,
}

impl S3Exporter {
    /// Parses the configuration and prepares the client (no network access yet).
    pub fn new(config_json: &str) -> Result<S3Exporter, PluginError> {
        let config = Config::parse(config_json)?;
        let mut builder = S3::default()
            .bucket(&config.bucket)
            .root(&format!("/{}", config.prefix))
            .region(&config.region)
            // Every part carries x-amz-checksum-crc32c, which the server verifies.
            .checksum_algorithm("crc32c");
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !config.path_style {
            builder = builder.enable_virtual_host_style();
        }
        if let Some(class) = &config.storage_class {
            builder = builder.default_storage_class(class);
        }
        if config.credentials == Credentials::Config {
            // Checked by Config::parse: both keys are present.
            let key_id = config.access_key_id.as_deref().unwrap_or_default();
            let secret = config.secret_access_key.as_deref().unwrap_or_default();
            builder = builder
                .access_key_id(key_id)
                .secret_access_key(secret)
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = &config.session_token {
                builder = builder.session_token(token);
            }
        }
        let op = Operator::new(builder)
            .map_err(|e| errors::map(&config, &e, "checking the S3 settings"))?;
        let client = http::client(config.ca_file.as_deref(), config.timeout())?;
        let op = http::with_client(op, client);
        Ok(S3Exporter {
            config,
            op,
            runtime: Runtime::new()?,
        })
    }

    fn map(&self) -> impl Fn(&opendal::Error, &str) -> PluginError + '_ {
        |e, what| errors::map(&self.config, e, what)
    }

    /// Whether the server refuses a write with `If-None-Match: *` over an existing
    /// object: writes `name` twice (the second time conditionally), then removes it.
    async fn refuses_overwrite(&self, name: &str) -> Result<bool, PluginError> {
        let map = self.map();
        self.op
            .write(name, b"first".to_vec())
            .await
            .map_err(|e| map(&e, &format!("writing the probe object {name}")))?;
        let second = self
            .op
            .write_with(name, b"second".to_vec())
            .if_not_exists(true)
            .await;
        let removed = self.op.delete(name).await;
        removed.map_err(|e| map(&e, &format!("removing the probe object {name}")))?;
        match second {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == opendal::ErrorKind::ConditionNotMatch => Ok(true),
            Err(e) => Err(map(
                &e,
                &format!("writing the probe object {name} again, conditionally"),
            )),
        }
    }

    /// Uploads `local_path` as `remote_name`; with `if_not_exists`, never over an
    /// existing object.
    fn send(
        &self,
        local_path: &Path,
        remote_name: &str,
        if_not_exists: bool,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        let map = self.map();
        let sent = self.runtime.block_on(transfer::upload_parts(
            &self.op,
            remote_name,
            local_path,
            self.parts(),
            if_not_exists,
            progress,
            &map,
        ))?;
        let Some(sent) = sent else {
            return Ok(NewUpload::NameTaken);
        };
        tracing::info!(
            "uploaded {remote_name} ({sent} bytes) to {} on {}",
            self.config.location(),
            self.config.endpoint_text()
        );
        Ok(NewUpload::Stored)
    }

    fn parts(&self) -> transfer::Parts {
        transfer::Parts {
            size: (self.config.part_size_mib << 20) as usize,
            concurrent: self.config.concurrency,
        }
    }
}

impl Exporter for S3Exporter {
    fn test_connection(&self) -> Result<String, PluginError> {
        let probe = unique_name(".sauvegarde-probe");
        let map = self.map();
        let refuses = self.runtime.block_on(async {
            // Some servers create a missing bucket on the first write: list first, so that
            // a wrong `bucket` is reported as such (NoSuchBucket) before anything is written.
            self.op
                .list_with("")
                .limit(1)
                .await
                .map_err(|e| map(&e, "listing the bucket"))?;
            remote::probe(&self.op, &probe, &map).await?;
            self.refuses_overwrite(&probe).await
        });
        let conditional = if refuses? {
            "conditional writes honoured (If-None-Match: *)"
        } else {
            tracing::warn!(
                "{} ignores If-None-Match: *: an upload can replace an object another server creates under the same name during it",
                self.config.endpoint_text()
            );
            "WARNING: the server ignores If-None-Match: *, so an object another server creates under the same name during an upload can be replaced"
        };
        let endpoint = self.config.endpoint_text();
        Ok(format!(
            "S3 at {endpoint} ({}); {} writable: probe object written and removed; \
             credentials from {}; {conditional}",
            http::tls_state(&endpoint, self.config.ca_file.as_deref()),
            self.config.location(),
            match self.config.credentials {
                Credentials::Config => "the configuration",
                Credentials::Ambient => "the AWS environment (ambient)",
            }
        ))
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        self.send(local_path, remote_name, false, progress)
            .map(|_| ())
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        _temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        // No temporary object: a multipart upload is invisible until it is completed.
        self.send(local_path, remote_name, true, progress)
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
    kind: "s3",
    description: "S3-compatible object storage (multipart uploads, Apache OpenDAL)",
    new: S3Exporter::new,
}

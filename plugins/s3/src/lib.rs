//! sauvegarde exporter plugin `s3`: sends archives to S3-compatible object storage (AWS S3,
//! MinIO, Ceph, Garage, Backblaze B2, Cloudflare R2, Wasabi, …) with Apache OpenDAL.
//!
//! - Uploads are multipart (`part_size_mib`, `concurrency` parts at a time, a CRC32C
//!   checksum on every part that the server verifies): the object exists only once the
//!   upload is completed, an upload that fails or is cancelled is aborted, and the size
//!   the server reports is checked afterwards.
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
use sauvegarde_plugin_api::{export_plugin, Exporter, PluginError, Progress, RemoteFile};

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
        self.runtime.block_on(async {
            // Some servers create a missing bucket on the first write: list first, so that
            // a wrong `bucket` is reported as such (NoSuchBucket) before anything is written.
            self.op
                .list_with("")
                .limit(1)
                .await
                .map_err(|e| map(&e, "listing the bucket"))?;
            remote::probe(&self.op, &probe, &map).await
        })?;
        let endpoint = self.config.endpoint_text();
        Ok(format!(
            "S3 at {endpoint} ({}); {} writable: probe object written and removed; \
             credentials from {}",
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
        let map = self.map();
        let sent = self.runtime.block_on(transfer::upload_parts(
            &self.op,
            remote_name,
            local_path,
            self.parts(),
            progress,
            &map,
        ))?;
        tracing::info!(
            "uploaded {remote_name} ({sent} bytes) to {} on {}",
            self.config.location(),
            self.config.endpoint_text()
        );
        Ok(())
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

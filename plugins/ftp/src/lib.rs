//! sauvegarde exporter plugin `ftp`: uploads archives to an FTP server, protected with
//! explicit TLS (AUTH TLS, rustls with the ring provider) unless told otherwise.
//!
//! Trust store: Mozilla's roots from `webpki-roots` (compiled in, no dependency on the
//! system's CA bundle) plus the certificates in `ca_file`.

mod commit;
mod config;
mod download;
mod errors;
mod listing;
mod session;
mod tls;
mod upload;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::ClientConfig;
use sauvegarde_plugin_api::{
    export_plugin, ErrorKind, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};

use config::Config;
use session::Session;

/// One FTP destination.
pub struct FtpExporter {
    config: Config,
    tls: Arc<ClientConfig>,
}

impl FtpExporter {
    /// Parses the configuration and prepares the TLS setup.
    pub fn new(config_json: &str) -> Result<FtpExporter, PluginError> {
        let config = Config::parse(config_json)?;
        let tls = tls::client_config(&config)?;
        if config.insecure_skip_verify {
            tracing::warn!(
                "INSECURE: `insecure_skip_verify = true` for {}: the server's certificate is not \
                 checked, anyone on the path can impersonate it and read the password",
                config.endpoint()
            );
        }
        Ok(FtpExporter { config, tls })
    }

    fn session_in_dir(&self, create: bool) -> Result<(Session, bool), PluginError> {
        let mut session = Session::open(&self.config, &self.tls)?;
        let present = session.enter_dir(&self.config, create)?;
        Ok((session, present))
    }
}

impl Exporter for FtpExporter {
    fn test_connection(&self) -> Result<String, PluginError> {
        let (mut session, _) = self.session_in_dir(true)?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let probe = format!(".sauvegarde-probe-{}-{stamp}", std::process::id());
        let written = session
            .ftp
            .put_file(probe.as_str(), &mut &b"sauvegarde write probe\n"[..])
            .map_err(|e| {
                errors::ftp(
                    e,
                    &format!(
                        "writing probe file in `remote_dir` {}",
                        self.config.remote_dir
                    ),
                    ErrorKind::Permission,
                )
            });
        if let Err(err) = written {
            upload::remove_partial(&self.config, &self.tls, Some(session), &probe);
            return Err(err);
        }
        session.ftp.rm(probe.as_str()).map_err(|e| {
            errors::ftp(
                e,
                &format!("removing probe file {probe}"),
                ErrorKind::Permission,
            )
        })?;
        // No-replace uploads take a lock by creating a directory beside the archive.
        let lock = format!("{probe}.lock");
        session.ftp.mkdir(lock.as_str()).map_err(|e| {
            errors::ftp(
                e,
                &format!(
                    "creating the probe directory {lock} (no-replace uploads lock each name with a directory in `remote_dir`)"
                ),
                ErrorKind::Permission,
            )
        })?;
        session.ftp.rmdir(lock.as_str()).map_err(|e| {
            errors::ftp(
                e,
                &format!("removing the probe directory {lock}"),
                ErrorKind::Permission,
            )
        })?;
        let protection = session.protection;
        let banner = session
            .ftp
            .get_welcome_msg()
            .map(|m| m.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default();
        session.close();
        if protection.in_clear() {
            tracing::warn!(
                "{}: plain FTP, the login went in clear",
                self.config.endpoint()
            );
        }
        let dir = if self.config.remote_dir.is_empty() {
            "(login directory)"
        } else {
            self.config.remote_dir.as_str()
        };
        Ok(format!(
            "{}; logged in as `{}` on {}; remote_dir {dir} writable (files and lock directories); server says: {banner}",
            protection.describe(),
            self.config.user,
            self.config.endpoint(),
        ))
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        upload::upload(&self.config, &self.tls, local_path, remote_name, progress)
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        upload::upload_new(
            &self.config,
            &self.tls,
            local_path,
            remote_name,
            temp_name,
            progress,
        )
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        let (mut session, present) = self.session_in_dir(false)?;
        let files = if present {
            listing::list(&mut session)?
        } else {
            Vec::new()
        };
        session.close();
        Ok(files)
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        let (mut session, present) = self.session_in_dir(false)?;
        if !present {
            return Err(PluginError::not_found(format!(
                "{name}: `remote_dir` {} does not exist",
                self.config.remote_dir
            )));
        }
        session
            .ftp
            .rm(name)
            .map_err(|e| errors::ftp(e, &format!("deleting {name}"), ErrorKind::NotFound))?;
        session.close();
        Ok(())
    }

    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        download::download(&self.config, &self.tls, name, local_path, progress)
    }
}

export_plugin! {
    kind: "ftp",
    description: "FTP/FTPS upload (explicit TLS with rustls)",
    new: FtpExporter::new,
}

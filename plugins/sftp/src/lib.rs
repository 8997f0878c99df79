//! sauvegarde exporter plugin `sftp`: uploads backups to an SSH server over SFTP with
//! libssh2 (`ssh2`), with strict host key checking, password or key authentication, and
//! atomic uploads (a temporary file, then a rename that never replaces a file for
//! `upload_new`; see [`commit`]).
//!
//! Each operation opens its own connection: the host calls plugins from worker threads,
//! operations are minutes apart, and a fresh session never inherits a broken one.

mod bulk;
mod commit;
mod config;
mod connection;
mod download;
mod errors;
mod hostkey;
mod remote;
mod upload;

use std::path::Path;

use sauvegarde_plugin_api::{
    export_plugin, human_bytes, Exporter, NewUpload, PluginError, Progress, RemoteFile,
};

use crate::config::Config;
use crate::connection::Connection;
use crate::remote::RemoteDir;

/// One SFTP destination.
#[derive(Debug)]
pub struct SftpExporter {
    config: Config,
}

impl SftpExporter {
    /// Creates a destination from its JSON configuration.
    pub fn new(config_json: &str) -> Result<SftpExporter, PluginError> {
        Ok(SftpExporter {
            config: Config::from_json(config_json)?,
        })
    }

    fn connect(&self) -> Result<Connection, PluginError> {
        Connection::open(&self.config)
    }

    fn dir(&self) -> RemoteDir<'_> {
        RemoteDir::new(&self.config.remote_dir)
    }
}

impl Exporter for SftpExporter {
    fn test_connection(&self) -> Result<String, PluginError> {
        let conn = self.connect()?;
        let dir = self.dir();
        let created = dir.create_all(&conn.sftp)?;
        let free = dir.probe(&conn.sftp)?;
        let mut text = format!(
            "connected to {} as {} ({}), host key {}; remote_dir {} is writable{}",
            self.config.address(),
            self.config.user,
            conn.banner,
            conn.fingerprint,
            dir.path(),
            if created { " (created)" } else { "" },
        );
        if let Some(free) = free {
            text.push_str(&format!(", {} free", human_bytes(free)));
        }
        Ok(text)
    }

    fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        let conn = self.connect()?;
        upload::upload(&conn, &self.dir(), local_path, remote_name, progress)
    }

    const UPLOAD_NEW: bool = true;

    fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<NewUpload, PluginError> {
        let conn = self.connect()?;
        upload::upload_new(
            &conn,
            &self.dir(),
            local_path,
            remote_name,
            temp_name,
            progress,
        )
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        let conn = self.connect()?;
        self.dir().list(&conn.sftp)
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        let conn = self.connect()?;
        self.dir().delete(&conn.sftp, name)
    }

    fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut Progress<'_>,
    ) -> Result<(), PluginError> {
        let conn = self.connect()?;
        download::download(&conn.sftp, &self.dir(), name, local_path, progress)
    }
}

export_plugin! {
    kind: "sftp",
    description: "SFTP upload over SSH (libssh2), strict host key checking",
    new: SftpExporter::new,
}

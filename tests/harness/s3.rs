//! An S3 server for the `s3` plugin: `s3s-fs` (the s3s project's file-system-backed S3
//! implementation, which checks SigV4 signatures and supports multipart uploads), built
//! once by `scripts/install-test-deps` into `/opt/sauvegarde-test-tools/bin` (or
//! `$SAUVEGARDE_TEST_TOOLS/bin`). Objects land as plain files under `root()/<bucket>/`;
//! unfinished multipart uploads as `.upload-<id>.json` and `.upload_id-<id>…` part files
//! in `root()`. [`S3Server::start_tls`] puts an Apache httpd TLS front before it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::apache::Apache;
use crate::net::{free_port, wait_for_port};
use crate::process::KillOnDrop;

/// The access key id the server accepts.
pub const ACCESS_KEY: &str = "SGTESTACCESSKEY";
/// Its secret key.
pub const SECRET_KEY: &str = "sg-test-secret-Kx81pQ";
/// The bucket every server has.
pub const BUCKET: &str = "backups";

/// The `s3s-fs` binary.
pub fn s3s_fs() -> PathBuf {
    let tools = std::env::var_os("SAUVEGARDE_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/sauvegarde-test-tools"));
    let bin = tools.join("bin/s3s-fs");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-test-deps",
        bin.display()
    );
    bin
}

/// A running S3 server.
pub struct S3Server {
    dir: TempDir,
    root: PathBuf,
    port: u16,
    process: Option<KillOnDrop>,
    tls: Option<Apache>,
}

impl S3Server {
    /// Over plain HTTP, with the bucket [`BUCKET`].
    pub fn start() -> S3Server {
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-s3-")
            .tempdir()
            .expect("create temp dir");
        let root = dir.path().join("root");
        fs::create_dir_all(root.join(BUCKET)).unwrap();
        let mut server = S3Server {
            dir,
            root,
            port: free_port(),
            process: None,
            tls: None,
        };
        server.run();
        server
    }

    /// Behind a TLS front (Apache httpd with a self-signed certificate, see
    /// [`S3Server::ca_file`]).
    pub fn start_tls() -> S3Server {
        let mut server = Self::start();
        let body = format!(
            "ProxyPreserveHost On\nAllowEncodedSlashes NoDecode\n\
             ProxyPass / http://127.0.0.1:{port}/ nocanon\n\
             ProxyPassReverse / http://127.0.0.1:{port}/\n",
            port = server.port
        );
        server.tls = Some(Apache::start(Apache::prepare(), true, &body));
        server
    }

    fn run(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut command = Command::new(s3s_fs());
        command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&self.root)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log);
        self.process = Some(KillOnDrop::spawn(&mut command));
        wait_for_port(self.port, Duration::from_secs(20));
    }

    /// Kills the server now, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts the server again on the same port and data (after [`S3Server::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    /// The endpoint URL (the TLS front's, when there is one).
    pub fn endpoint(&self) -> String {
        match &self.tls {
            Some(front) => format!("https://127.0.0.1:{}", front.port()),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The certificate of the TLS front.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().and_then(Apache::ca_file)
    }

    /// The server's data directory (one directory per bucket).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `key` of [`BUCKET`] is stored.
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }

    /// Multipart uploads started and neither completed nor aborted (their state and part
    /// files in the data directory).
    pub fn unfinished_uploads(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload"))
            .collect();
        names.sort();
        names
    }

    /// The visible objects of [`BUCKET`] under `prefix` (a directory), sorted.
    pub fn objects(&self, prefix: &str) -> Vec<String> {
        let dir = self.root.join(BUCKET).join(prefix);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// The server's log.
    pub fn log(&self) -> String {
        let mut text = fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        if let Some(front) = &self.tls {
            text.push_str(&front.log());
        }
        text
    }

    /// A JSON configuration for this server with `extra` keys merged over it (a null
    /// removes a key).
    pub fn config(&self, extra: serde_json::Value) -> String {
        let mut config = serde_json::json!({
            "bucket": BUCKET,
            "endpoint": self.endpoint(),
            "region": "us-east-1",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "path_style": true,
            "timeout_secs": 20,
        });
        if let Some(ca) = self.ca_file() {
            config["ca_file"] = serde_json::json!(ca);
        }
        crate::merge(&mut config, extra);
        config.to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

//! A WebDAV server for the `webdav` plugin: Apache httpd with `mod_dav_fs` and basic
//! authentication (one account, [`USER`] / [`PASSWORD`]), serving a temporary directory
//! under `/dav/`, over plain HTTP or TLS.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apache::Apache;

/// The account.
pub const USER: &str = "sgdav";
/// Its password.
pub const PASSWORD: &str = "Dav-test-pw-7Qx";

/// A running WebDAV server.
pub struct WebdavServer {
    apache: Apache,
    root: PathBuf,
}

impl WebdavServer {
    /// Over plain HTTP.
    pub fn start() -> WebdavServer {
        Self::launch(false)
    }

    /// Over TLS, with a self-signed certificate ([`WebdavServer::ca_file`]).
    pub fn start_tls() -> WebdavServer {
        Self::launch(true)
    }

    fn launch(tls: bool) -> WebdavServer {
        let dir = Apache::prepare();
        let root = dir.path().join("root");
        let locks = dir.path().join("locks");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&locks).unwrap();
        let status = Command::new("chown")
            .args(["-R", "www-data:www-data"])
            .arg(&root)
            .arg(&locks)
            .status()
            .expect("run chown");
        assert!(status.success());
        let htpasswd = dir.path().join("htpasswd");
        let status = Command::new("htpasswd")
            .args(["-bcB"])
            .arg(&htpasswd)
            .args([USER, PASSWORD])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run htpasswd (apache2-utils)");
        assert!(status.success());
        let body = format!(
            "DavLockDB {locks}/lock\nAlias /dav {root}\n<Directory {root}>\n  Dav On\n  \
             AuthType Basic\n  AuthName sauvegarde-test\n  AuthUserFile {htpasswd}\n  \
             Require valid-user\n</Directory>\n",
            locks = locks.display(),
            root = root.display(),
            htpasswd = htpasswd.display(),
        );
        let apache = Apache::start(dir, tls, &body);
        WebdavServer { apache, root }
    }

    /// The directory `/dav/` serves, on this machine's disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The URL of `/dav/<rel>`.
    pub fn url(&self, rel: &str) -> String {
        let scheme = if self.apache.ca_file().is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/dav/{rel}", self.apache.port())
    }

    /// The certificate to trust, with TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.apache.ca_file()
    }

    /// The server's log.
    pub fn log(&self) -> String {
        self.apache.log()
    }

    /// Kills the server now.
    pub fn kill(&mut self) {
        self.apache.kill();
    }

    /// A JSON configuration for the collection `/dav/<rel>`, with `extra` keys merged
    /// over it (a null removes a key).
    pub fn config(&self, rel: &str, extra: serde_json::Value) -> String {
        let mut config = serde_json::json!({
            "url": self.url(rel),
            "user": USER,
            "password": PASSWORD,
            "timeout_secs": 20,
        });
        if let Some(ca) = self.ca_file() {
            config["ca_file"] = serde_json::json!(ca);
        }
        crate::merge(&mut config, extra);
        config.to_string()
    }
}

//! A private Apache httpd (Debian `apache2`) on a loopback port, configured from a
//! fragment: the WebDAV server of the `webdav` plugin's tests, and the TLS front of the S3
//! server. Runs in the foreground in its own process group, as `www-data` for its workers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ftp::TestCert;
use crate::net::{free_port, wait_for_port};
use crate::process::KillOnDrop;

const MODULES: &[(&str, &str)] = &[
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authn_file_module", "mod_authn_file.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("dav_module", "mod_dav.so"),
    ("dav_fs_module", "mod_dav_fs.so"),
    ("alias_module", "mod_alias.so"),
    ("mime_module", "mod_mime.so"),
    ("ssl_module", "mod_ssl.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
];

/// A running httpd.
pub struct Apache {
    dir: TempDir,
    port: u16,
    cert: Option<TestCert>,
    process: Option<KillOnDrop>,
}

impl Apache {
    /// A temporary directory readable by `www-data`, for the server's files.
    pub fn prepare() -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-httpd-")
            .tempdir()
            .expect("create temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// Starts httpd in `dir` with `body` (directives) after the common head; with `tls`, a
    /// fresh self-signed certificate for 127.0.0.1 is served.
    pub fn start(dir: TempDir, tls: bool, body: &str) -> Apache {
        let port = free_port();
        let cert = tls.then(|| TestCert::generate(dir.path()));
        let mut conf = format!(
            "ServerRoot /etc/apache2\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
             PidFile {d}/httpd.pid\nDefaultRuntimeDir {d}\nErrorLog {d}/error.log\n\
             LogLevel warn\nUser www-data\nGroup www-data\nTypesConfig /etc/mime.types\n\
             LimitRequestBody 0\nTimeout 30\n",
            d = dir.path().display()
        );
        for (name, file) in MODULES {
            conf.push_str(&format!(
                "LoadModule {name} /usr/lib/apache2/modules/{file}\n"
            ));
        }
        if let Some(cert) = &cert {
            for path in [&cert.cert, &cert.key] {
                fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
            }
            conf.push_str(&format!(
                "SSLEngine on\nSSLCertificateFile {}\nSSLCertificateKeyFile {}\n\
                 SSLSessionCache none\n",
                cert.cert.display(),
                cert.key.display()
            ));
        }
        conf.push_str(body);
        let path = dir.path().join("httpd.conf");
        fs::write(&path, conf).unwrap();
        let mut apache = Apache {
            dir,
            port,
            cert,
            process: None,
        };
        apache.run();
        apache
    }

    fn run(&mut self) {
        let mut command = Command::new("/usr/sbin/apache2");
        command
            .arg("-f")
            .arg(self.dir.path().join("httpd.conf"))
            .arg("-DFOREGROUND")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.dir.path().join("stderr.log")).unwrap());
        self.process = Some(KillOnDrop::spawn(&mut command));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.process.as_mut().map(|p| p.0.try_wait()) {
                panic!("apache2 exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "apache2 did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_for_port(self.port, Duration::from_secs(1));
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The certificate to trust (PEM), with TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.cert.as_ref().map(|c| c.cert.clone())
    }

    /// The error log, for failure messages.
    pub fn log(&self) -> String {
        ["error.log", "stderr.log"]
            .iter()
            .filter_map(|n| fs::read_to_string(self.dir.path().join(n)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the server and its workers now, as a crash would.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", process.pid())])
                .status();
            drop(process);
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.kill();
    }
}

//! Throwaway FTP servers on loopback ports, for the FTP exporter's tests and benchmark.
//!
//! - [`FtpServer::pyftpdlib_tls`]: pyftpdlib (Debian's `/usr/bin/python3`) with explicit TLS
//!   required on control and data connections;
//! - [`FtpServer::pyftpdlib_plain`]: pyftpdlib without any TLS;
//! - [`FtpServer::vsftpd`]: vsftpd with `require_ssl_reuse=YES`, logging in the fixed system
//!   account [`VSFTPD_USER`] (created once per machine with `useradd`, home
//!   `/var/lib/sgtest-ftp`, needs root), whose files land in the server's temporary
//!   `local_root`.
//!
//! Each server gets a fresh self-signed certificate ([`TestCert`], `subjectAltName`
//! `IP:127.0.0.1`), a temporary root directory and a passive port range, and is killed
//! when dropped.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::build::workspace_root;
use crate::net::{free_port, wait_for_port};
use crate::process::KillOnDrop;

/// The pyftpdlib account name.
pub const USER: &str = "sgtest";
/// The password of both the pyftpdlib account and [`VSFTPD_USER`].
pub const PASSWORD: &str = "Ftp-test-pw-9Zk";
/// The system account vsftpd logs in.
pub const VSFTPD_USER: &str = "sgtest-ftp";
/// Its home directory (empty; uploads go to each server's `local_root`).
const VSFTPD_HOME: &str = "/var/lib/sgtest-ftp";

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A self-signed server certificate for 127.0.0.1/localhost, made with openssl.
pub struct TestCert {
    /// Certificate PEM (also the CA a client must trust).
    pub cert: PathBuf,
    /// Private key PEM.
    pub key: PathBuf,
    /// Certificate followed by key, as pyftpdlib wants it.
    pub combined: PathBuf,
}

impl TestCert {
    /// Generates a fresh certificate and key in `dir`.
    pub fn generate(dir: &Path) -> TestCert {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl req failed");
        let combined = dir.join("combined.pem");
        let text = fs::read_to_string(&cert).unwrap() + &fs::read_to_string(&key).unwrap();
        fs::write(&combined, text).expect("write combined PEM");
        TestCert {
            cert,
            key,
            combined,
        }
    }
}

/// A running FTP server on 127.0.0.1.
pub struct FtpServer {
    dir: TempDir,
    root: PathBuf,
    port: u16,
    cert: TestCert,
    user: &'static str,
    process: KillOnDrop,
}

impl FtpServer {
    /// pyftpdlib requiring explicit TLS on control and data connections.
    pub fn pyftpdlib_tls() -> FtpServer {
        Self::pyftpdlib(true)
    }

    /// pyftpdlib without TLS.
    pub fn pyftpdlib_plain() -> FtpServer {
        Self::pyftpdlib(false)
    }

    fn pyftpdlib(tls: bool) -> FtpServer {
        let dir = temp_dir("sauvegarde-pyftpd-");
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let cert = TestCert::generate(dir.path());
        let port = free_port();
        let pasv: Vec<String> = (0..8).map(|_| free_port().to_string()).collect();
        let script = workspace_root().join("tests/harness/ftp/server.py");
        let mut command = Command::new("/usr/bin/python3");
        command
            .arg(script)
            .arg(port.to_string())
            .arg(&root)
            .args([USER, PASSWORD])
            .arg(pasv.join(","));
        if tls {
            command.arg(&cert.combined);
        }
        command
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("server.log")).unwrap());
        let process = KillOnDrop::spawn(&mut command);
        wait_for_port(port, START_TIMEOUT);
        FtpServer {
            dir,
            root,
            port,
            cert,
            user: USER,
            process,
        }
    }

    /// vsftpd with TLS forced for logins and data, and `require_ssl_reuse=YES`.
    pub fn vsftpd() -> FtpServer {
        ensure_vsftpd_user();
        fs::create_dir_all("/var/run/vsftpd/empty").expect("create vsftpd secure_chroot_dir");
        let dir = temp_dir("sauvegarde-vsftpd-");
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let status = Command::new("chown")
            .arg(format!("{VSFTPD_USER}:"))
            .arg(&root)
            .status()
            .expect("run chown");
        assert!(status.success());
        let cert = TestCert::generate(dir.path());
        let port = free_port();
        let pasv_min = free_port_range(20);
        let config = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nanonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\n\
             local_umask=022\nlocal_root={root}\nuserlist_enable=NO\n\
             seccomp_sandbox=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\n\
             pasv_enable=YES\npasv_address=127.0.0.1\npasv_min_port={pasv_min}\n\
             pasv_max_port={pasv_max}\nssl_enable=YES\nallow_anon_ssl=NO\n\
             force_local_logins_ssl=YES\nforce_local_data_ssl=YES\nrequire_ssl_reuse=YES\n\
             ssl_tlsv1=NO\nssl_sslv2=NO\nssl_sslv3=NO\n\
             rsa_cert_file={cert}\nrsa_private_key_file={key}\n\
             xferlog_enable=NO\nvsftpd_log_file={log}\nlog_ftp_protocol=YES\n\
             pam_service_name=vsftpd\nmax_per_ip=50\n",
            root = root.display(),
            pasv_max = pasv_min + 19,
            cert = cert.cert.display(),
            key = cert.key.display(),
            log = dir.path().join("vsftpd.log").display(),
        );
        let conf = dir.path().join("vsftpd.conf");
        fs::write(&conf, config).unwrap();
        let mut command = Command::new("/usr/sbin/vsftpd");
        command
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("server.log")).unwrap());
        let process = KillOnDrop::spawn(&mut command);
        wait_for_port(port, START_TIMEOUT);
        FtpServer {
            dir,
            root,
            port,
            cert,
            user: VSFTPD_USER,
            process,
        }
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account name to log in with (its password is [`PASSWORD`]).
    pub fn user(&self) -> &'static str {
        self.user
    }

    /// The directory the account's files land in, on this machine's disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server certificate (PEM), to use as `ca_file`.
    pub fn ca_file(&self) -> &Path {
        &self.cert.cert
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        ["server.log", "vsftpd.log"]
            .iter()
            .filter_map(|n| fs::read_to_string(self.dir.path().join(n)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the server now, as a crash would (vsftpd's session processes too).
    pub fn kill(&mut self) {
        let pid = self.process.pid();
        // vsftpd forks one process per session; kill the children before the listener.
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &pid.to_string()])
            .status();
        self.process.kill();
    }

    /// A JSON configuration for this server, trusting its certificate, with `extra` keys
    /// merged over it.
    pub fn config(&self, extra: serde_json::Value) -> String {
        let mut config = serde_json::json!({
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "password": PASSWORD,
            "ca_file": self.ca_file(),
            "timeout_secs": 20,
        });
        if let (Some(base), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    base.remove(k);
                } else {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
        config.to_string()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

/// The first of `count` consecutive loopback ports that are all free right now.
fn free_port_range(count: u16) -> u16 {
    for _ in 0..200 {
        let base = free_port().saturating_sub(count);
        if base < 1024 {
            continue;
        }
        let all_free = (base..base + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no run of {count} free loopback ports");
}

/// Creates [`VSFTPD_USER`] with password [`PASSWORD`] if it does not exist (idempotent, safe
/// against concurrent test processes).
fn ensure_vsftpd_user() {
    let exists = || {
        Command::new("id")
            .arg(VSFTPD_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !exists() {
        let _ = Command::new("useradd")
            .args(["-M", "-d", VSFTPD_HOME, "-s", "/bin/sh", VSFTPD_USER])
            .stderr(Stdio::null())
            .status();
        assert!(
            exists(),
            "could not create system user {VSFTPD_USER} (needs root)"
        );
    }
    // vsftpd changes into the home directory before `local_root`: it must exist.
    let status = Command::new("install")
        .args(["-d", "-m", "755", "-o", VSFTPD_USER, VSFTPD_HOME])
        .status()
        .expect("run install -d");
    assert!(status.success(), "could not create {VSFTPD_HOME}");
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run chpasswd");
    use std::io::Write;
    chpasswd
        .stdin
        .take()
        .expect("chpasswd stdin")
        .write_all(format!("{VSFTPD_USER}:{PASSWORD}\n").as_bytes())
        .expect("write to chpasswd");
    assert!(
        chpasswd.wait().expect("wait chpasswd").success(),
        "chpasswd failed"
    );
}

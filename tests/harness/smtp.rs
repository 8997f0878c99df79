//! A real SMTP server (Python's aiosmtpd, Debian package `python3-aiosmtpd`) on a free
//! loopback port, writing every received message to a directory. Plain, with STARTTLS
//! required, or with implicit TLS, using a self-signed certificate made per server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ftp::TestCert;
use crate::process::KillOnDrop;

/// How the server protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text only (no STARTTLS offered).
    None,
    /// STARTTLS offered and required before any other command (`require_starttls`).
    Starttls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The SMTP AUTH login used, if any.
    pub login: Option<String>,
    /// The whole message (headers and body).
    pub data: String,
}

/// A running SMTP server; stopped on drop.
pub struct SmtpServer {
    _process: KillOnDrop,
    port: u16,
    dir: tempfile::TempDir,
    cert: Option<TestCert>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/smtp/server.py")
}

impl SmtpServer {
    /// A server accepting mail without authentication.
    pub fn start() -> Self {
        Self::spawn(None, SmtpTls::None)
    }

    /// A server requiring `AUTH` with this user and password (offered without TLS).
    pub fn with_auth(user: &str, password: &str) -> Self {
        Self::spawn(Some((user, password)), SmtpTls::None)
    }

    /// A server protected by `tls` (with a fresh self-signed certificate for
    /// localhost/127.0.0.1, see [`ca_file`](Self::ca_file)), requiring `AUTH` with this user
    /// and password when given (with STARTTLS, only after it).
    pub fn with_tls(tls: SmtpTls, auth: Option<(&str, &str)>) -> Self {
        Self::spawn(auth, tls)
    }

    fn spawn(auth: Option<(&str, &str)>, tls: SmtpTls) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sauvegarde-smtp")
            .tempdir()
            .expect("temp dir");
        let port = crate::net::free_port();
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script()).arg(port.to_string()).arg(dir.path());
        if let Some((user, password)) = auth {
            cmd.args(["--auth", user, password]);
        }
        let cert = match tls {
            SmtpTls::None => None,
            SmtpTls::Starttls | SmtpTls::Implicit => {
                // The certificate lives beside, not among, the received mails.
                let cert_dir = dir.path().join("tls");
                std::fs::create_dir(&cert_dir).expect("create cert dir");
                let cert = TestCert::generate(&cert_dir);
                let flag = if tls == SmtpTls::Starttls {
                    "--starttls"
                } else {
                    "--tls"
                };
                cmd.arg(flag).arg(&cert.cert).arg(&cert.key);
                Some(cert)
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = KillOnDrop::spawn(&mut cmd);
        let stdout = process.0.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read SMTP server output");
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start (is python3-aiosmtpd installed?)"
        );
        crate::net::wait_for_port(port, Duration::from_secs(10));
        SmtpServer {
            _process: process,
            port,
            dir,
            cert,
        }
    }

    /// The server's self-signed certificate (PEM), the CA a client must trust; `None`
    /// for a plain server.
    pub fn ca_file(&self) -> Option<&Path> {
        self.cert.as_ref().map(|c| c.cert.as_path())
    }

    /// Every `AUTH` attempt so far, as `"tls <login>"` or `"plain <login>"` (whether the
    /// connection was encrypted when the credentials arrived).
    pub fn auth_attempts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("auth.log"))
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Messages received so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(self.dir.path())
            .expect("read mail dir")
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let n = name.strip_suffix(".json")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&p).expect("read mail"))
                        .expect("mail json");
                Mail {
                    from: v["from"].as_str().unwrap_or_default().to_string(),
                    to: v["to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect(),
                    login: v["login"].as_str().map(String::from),
                    data: v["data"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    /// Waits (at most `timeout`) until a message satisfies `pred`; panics otherwise.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Mail) -> bool) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.mails().into_iter().find(|m| pred(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no matching mail within {timeout:?}; got {:?}",
                self.mails()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

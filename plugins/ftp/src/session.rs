//! One logged-in FTP session: TCP connect with timeouts, AUTH TLS according to the `tls`
//! policy, login, binary transfer type, data-connection mode, and moving into `remote_dir`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ClientConfig, ProtocolVersion};
use sauvegarde_plugin_api::{ErrorKind, PluginError};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsFtpStream};

use crate::config::{Config, TlsMode};
use crate::errors;
use crate::tls::{self, EagerConnector};

/// How the session is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Explicit TLS with this version; `verified` is false with `insecure_skip_verify`.
    Tls {
        /// Negotiated version, if known.
        version: Option<ProtocolVersion>,
        /// Whether the certificate was checked against the trust store.
        verified: bool,
    },
    /// Plain FTP, as configured (`tls = "off"`).
    Plain,
    /// Plain FTP after the server (or a machine in the middle) refused AUTH TLS, accepted
    /// because `tls = "auto"`.
    Downgraded,
}

impl Protection {
    /// Whether the password and data go in clear.
    pub fn in_clear(self) -> bool {
        matches!(self, Protection::Plain | Protection::Downgraded)
    }

    /// One-line description for `test_connection`.
    pub fn describe(self) -> String {
        match self {
            Protection::Tls {
                version,
                verified: true,
            } => {
                format!("{}, certificate verified", tls::version_name(version))
            }
            Protection::Tls {
                version,
                verified: false,
            } => format!(
                "{}, certificate NOT verified (insecure_skip_verify = true)",
                tls::version_name(version)
            ),
            Protection::Plain => "plain FTP: credentials sent in clear".into(),
            Protection::Downgraded => "plain FTP: the server refused AUTH TLS and the login went IN CLEAR (password readable on the network; `tls = \"auto\"` accepts this downgrade, which a machine in the middle can force: use `tls = \"required\"` once the server has TLS)".into(),
        }
    }
}

/// A logged-in session, in binary mode.
pub struct Session {
    /// The suppaftp client.
    pub ftp: RustlsFtpStream,
    /// TLS state.
    pub protection: Protection,
}

impl Session {
    /// Connects, secures (per `tls`), logs in and selects binary transfers.
    pub fn open(config: &Config, tls_config: &Arc<ClientConfig>) -> Result<Session, PluginError> {
        let (ftp, protection) = match config.tls {
            TlsMode::Off => (connect(config)?, Protection::Plain),
            TlsMode::Required | TlsMode::Auto => secure(config, tls_config)?,
        };
        let mut session = Session { ftp, protection };
        if protection.in_clear() {
            tracing::warn!(
                "plain FTP to {}: the password and the archives cross the network in clear",
                config.endpoint()
            );
        }
        session.login(config)?;
        session
            .ftp
            .transfer_type(FileType::Binary)
            .map_err(|e| errors::ftp(e, "TYPE I (binary transfers)", ErrorKind::Other))?;
        if !config.passive {
            session.ftp.set_mode(Mode::Active);
        }
        Ok(session)
    }

    fn login(&mut self, config: &Config) -> Result<(), PluginError> {
        match self
            .ftp
            .login(config.user.as_str(), config.password.as_str())
        {
            Ok(()) => Ok(()),
            Err(FtpError::UnexpectedResponse(resp)) => {
                let text = String::from_utf8_lossy(&resp.body).trim().to_string();
                let upper = text.to_ascii_uppercase();
                if self.protection.in_clear() && (upper.contains("TLS") || upper.contains("SSL")) {
                    return Err(PluginError::config(format!(
                        "{} refuses plain FTP (it replied {text}): set `tls` to \"auto\" or \"required\"",
                        config.endpoint()
                    )));
                }
                let code = resp.status.code();
                let kind = errors::kind_of_code(code, &text, ErrorKind::Auth);
                let kind = if code >= 500 && kind == ErrorKind::Other {
                    ErrorKind::Auth
                } else {
                    kind
                };
                Err(PluginError::new(
                    kind,
                    format!(
                        "login as `{}` on {} refused (server replied {text}): check `user` and `password`",
                        config.user,
                        config.endpoint()
                    ),
                ))
            }
            Err(e) => Err(errors::ftp(
                e,
                &format!("login on {}", config.endpoint()),
                ErrorKind::Auth,
            )),
        }
    }

    /// Moves into `remote_dir`. With `create`, makes each missing level (MKD); without it,
    /// returns `Ok(false)` when a level is missing.
    pub fn enter_dir(&mut self, config: &Config, create: bool) -> Result<bool, PluginError> {
        if config.remote_dir_is_absolute() {
            self.ftp
                .cwd("/")
                .map_err(|e| errors::ftp(e, "CWD /", ErrorKind::NotFound))?;
        }
        for part in config.remote_dir_parts() {
            match self.ftp.cwd(part) {
                Ok(()) => continue,
                Err(e) if errors::code_of(&e).is_some_and(|c| c == 550) => {
                    if !create {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(errors::ftp(e, &format!("CWD {part}"), ErrorKind::NotFound)),
            }
            tracing::info!(
                "creating remote directory `{part}` (part of `{}`)",
                config.remote_dir
            );
            self.ftp.mkdir(part).map_err(|e| {
                errors::ftp(
                    e,
                    &format!(
                        "creating directory `{part}` of `remote_dir` {}",
                        config.remote_dir
                    ),
                    ErrorKind::Permission,
                )
            })?;
            self.ftp.cwd(part).map_err(|e| {
                errors::ftp(e, &format!("CWD {part} after MKD"), ErrorKind::Permission)
            })?;
        }
        Ok(true)
    }

    /// Ends the session politely; errors do not matter any more.
    pub fn close(mut self) {
        let _ = self.ftp.quit();
    }
}

/// TCP connection with timeouts, greeting read.
fn connect(config: &Config) -> Result<RustlsFtpStream, PluginError> {
    let timeout = config.timeout();
    let addrs: Vec<SocketAddr> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| PluginError::connect(format!("cannot resolve `host` {}: {e}", config.host)))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .map_err(|e| PluginError::connect(format!("{}: {e}", config.endpoint())))?;
                let ftp = RustlsFtpStream::connect_with_stream(stream).map_err(|e| {
                    errors::ftp(
                        e,
                        &format!("greeting from {}", config.endpoint()),
                        ErrorKind::Other,
                    )
                })?;
                return Ok(ftp.passive_stream_builder(move |addr| data_stream(addr, timeout)));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(PluginError::connect(format!(
        "cannot connect to {}: {}: check `host`/`port` and that the FTP server runs",
        config.endpoint(),
        last.map_or_else(|| "no address".to_string(), |e| e.to_string())
    )))
}

/// Opens a passive data connection with the same timeouts as the control connection.
fn data_stream(addr: SocketAddr, timeout: Duration) -> suppaftp::FtpResult<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(FtpError::ConnectionError)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(FtpError::ConnectionError)?;
    Ok(stream)
}

/// Connects and negotiates AUTH TLS; in `auto` mode falls back to a fresh plain connection
/// when the server does not offer TLS.
fn secure(
    config: &Config,
    tls_config: &Arc<ClientConfig>,
) -> Result<(RustlsFtpStream, Protection), PluginError> {
    let plain = connect(config)?;
    let negotiated: tls::Negotiated = Arc::new(Mutex::new(None));
    let connector = EagerConnector::new(Arc::clone(tls_config), Arc::clone(&negotiated));
    let version = || negotiated.lock().ok().and_then(|v| *v);
    let handshake_started = || negotiated.lock().map(|v| v.is_some()).unwrap_or(true);
    match plain.into_secure(connector, &config.host) {
        Ok(ftp) => Ok((
            ftp,
            Protection::Tls {
                version: version(),
                verified: !config.insecure_skip_verify,
            },
        )),
        Err(FtpError::UnexpectedResponse(resp)) if !handshake_started() => {
            let text = String::from_utf8_lossy(&resp.body).trim().to_string();
            if config.tls == TlsMode::Required {
                return Err(PluginError::other(format!(
                    "{} does not offer TLS (AUTH TLS answered {} {text}) and `tls = \"required\"` \
                     never falls back to plain FTP: enable explicit TLS on the server, or set \
                     `tls = \"auto\"` to accept clear-text FTP",
                    config.endpoint(),
                    resp.status.code()
                )));
            }
            tracing::warn!(
                "{} does not offer TLS (AUTH TLS answered {} {text}); falling back to plain FTP \
                 because `tls = \"auto\"`",
                config.endpoint(),
                resp.status.code()
            );
            Ok((connect(config)?, Protection::Downgraded))
        }
        Err(FtpError::SecureError(e)) => Err(PluginError::connect(format!(
            "TLS handshake with {} failed: {e}{}",
            config.endpoint(),
            errors::tls_hint(&e)
        ))),
        Err(e) => Err(errors::ftp(
            e,
            &format!("TLS setup with {}", config.endpoint()),
            ErrorKind::Other,
        )),
    }
}

//! Opens an authenticated SFTP session: TCP with a timeout, SSH handshake, host key
//! verification, then password or public-key authentication.

use std::net::{TcpStream, ToSocketAddrs};

use sauvegarde_plugin_api::PluginError;
use ssh2::{MethodType, Session, Sftp};

use crate::config::{Config, Credentials};
use crate::errors;
use crate::hostkey::{self, ServerKey};

/// Ciphers in order of preference, fastest first as measured with `bench/sftp-upload.sh`
/// (512 MiB over loopback, client CPU-bound): libssh2's own chacha20-poly1305 ~170 MiB/s,
/// aes128-ctr ~128 MiB/s, aes128-gcm ~116 MiB/s (libssh2 hands OpenSSL one cipher block
/// per call, which wastes AES-NI). Servers without chacha20 get the AES modes.
const CIPHER_PREFERENCE: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,\
aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes192-ctr,aes256-cbc,aes192-cbc,aes128-cbc";

/// An authenticated SSH session with its SFTP channel. Disconnects politely on drop.
pub struct Connection {
    /// The SFTP subsystem.
    pub sftp: Sftp,
    session: Session,
    /// The server's identification string (`SSH-2.0-OpenSSH_9.2p1 …`).
    pub banner: String,
    /// The server's host key fingerprint.
    pub fingerprint: String,
}

impl Connection {
    /// The SSH session, for opening more channels.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Connects and authenticates as configured.
    pub fn open(config: &Config) -> Result<Connection, PluginError> {
        let address = config.address();
        let tcp = connect_tcp(config)?;
        // Large writes go out as many SFTP packets at once; Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        let mut session = Session::new()
            .map_err(|e| PluginError::other(format!("libssh2 session: {}", e.message())))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(timeout_ms(config));
        for method in [MethodType::CryptCs, MethodType::CryptSc] {
            // An unsupported list is not fatal: libssh2 then keeps its defaults.
            if let Err(e) = session.method_pref(method, CIPHER_PREFERENCE) {
                tracing::debug!("cipher preference not applied: {}", e.message());
            }
        }
        session
            .handshake()
            .map_err(|e| errors::handshake(e, &address))?;
        let key = ServerKey::of(&session)?;
        hostkey::verify(&session, config, &key)?;
        authenticate(&session, config)?;
        let banner = session.banner().unwrap_or("unknown server").to_string();
        let sftp = session
            .sftp()
            .map_err(|e| errors::sftp(e, format!("starting the SFTP subsystem on {address}")))?;
        tracing::debug!(
            "connected to {address} as {} ({banner}, host key {}, cipher {})",
            config.user,
            key.fingerprint,
            session.methods(MethodType::CryptCs).unwrap_or("unknown")
        );
        Ok(Connection {
            sftp,
            session,
            banner,
            fingerprint: key.fingerprint,
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.session.disconnect(None, "sauvegarde done", None);
    }
}

fn timeout_ms(config: &Config) -> u32 {
    u32::try_from(config.timeout.as_millis()).unwrap_or(u32::MAX)
}

/// Resolves `host` and connects to the first address that answers within the timeout.
fn connect_tcp(config: &Config) -> Result<TcpStream, PluginError> {
    let address = config.address();
    let candidates = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| {
            PluginError::connect(format!(
                "cannot resolve `host` {}: {e}; check the name and DNS",
                config.host
            ))
        })?;
    let mut last = None;
    for addr in candidates {
        match TcpStream::connect_timeout(&addr, config.timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(PluginError::connect(match last {
        Some(e) => format!(
            "cannot connect to {address}: {e}; check `host`, `port` and that the SSH server \
             is running"
        ),
        None => format!("`host` {} resolves to no address", config.host),
    }))
}

fn authenticate(session: &Session, config: &Config) -> Result<(), PluginError> {
    let user = config.user.as_str();
    let address = config.address();
    let method = config.credentials.method();
    let result = match &config.credentials {
        Credentials::Password(password) => session.userauth_password(user, password),
        Credentials::KeyContent { key, passphrase } => {
            session.userauth_pubkey_memory(user, None, key, passphrase.as_deref())
        }
        Credentials::KeyFile { path, passphrase } => {
            if !path.is_file() {
                return Err(PluginError::config(format!(
                    "`private_key_file` {} does not exist or is not a file",
                    path.display()
                )));
            }
            session.userauth_pubkey_file(user, None, path, passphrase.as_deref())
        }
    };
    result.map_err(|e| errors::auth(e, user, &address, method))?;
    if !session.authenticated() {
        return Err(PluginError::auth(format!(
            "{address} did not accept {method} authentication for user `{user}`"
        )));
    }
    Ok(())
}

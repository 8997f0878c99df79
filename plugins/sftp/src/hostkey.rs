//! Verifies the server's host key: a pinned SHA256 fingerprint and/or an OpenSSH
//! known_hosts file, optionally trusting (and recording) a key seen for the first time.

use std::fs::OpenOptions;
use std::io::Write as _;

use base64::Engine as _;
use sauvegarde_plugin_api::PluginError;
use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, Session};

use crate::config::{Config, HostKeyPolicy};

/// The server's host key as presented during the handshake.
pub struct ServerKey {
    /// Raw key blob.
    pub blob: Vec<u8>,
    /// OpenSSH key type name (`ssh-ed25519`, …).
    pub type_name: &'static str,
    /// `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

impl ServerKey {
    /// Reads the host key of a session after its handshake.
    pub fn of(session: &Session) -> Result<ServerKey, PluginError> {
        let (blob, kind) = session
            .host_key()
            .ok_or_else(|| PluginError::connect("the server presented no host key"))?;
        let hash = session
            .host_key_hash(HashType::Sha256)
            .ok_or_else(|| PluginError::other("libssh2 could not hash the server's host key"))?;
        Ok(ServerKey {
            blob: blob.to_vec(),
            type_name: type_name(kind),
            fingerprint: fingerprint(hash),
        })
    }
}

/// `SHA256:` followed by the unpadded base64 of a SHA-256 digest.
pub fn fingerprint(sha256: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256)
    )
}

fn type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// The host name as OpenSSH writes it in known_hosts: bare on port 22, `[host]:port` else.
fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks the server key against the configured policy; refuses unknown and changed keys
/// with a message that shows the fingerprint and how to trust it.
pub fn verify(session: &Session, config: &Config, key: &ServerKey) -> Result<(), PluginError> {
    let policy: &HostKeyPolicy = &config.host_key;
    let address = config.address();
    if let Some(pinned) = &policy.fingerprint {
        if *pinned == key.fingerprint {
            return Ok(());
        }
        return Err(PluginError::auth(format!(
            "host key of {address} does NOT match `host_key_fingerprint`: the server presents \
             {} {} but {pinned} is pinned. The server was reinstalled or someone is \
             intercepting the connection; if the change is expected, set \
             `host_key_fingerprint = \"{}\"`",
            key.type_name, key.fingerprint, key.fingerprint
        )));
    }
    let Some(file) = &policy.known_hosts_file else {
        return Err(unknown(config, key, None));
    };
    let mut known = session
        .known_hosts()
        .map_err(|e| PluginError::other(format!("libssh2 known_hosts: {}", e.message())))?;
    if file.exists() {
        known
            .read_file(file, KnownHostFileKind::OpenSSH)
            .map_err(|e| {
                PluginError::config(format!(
                    "`known_hosts_file` {} could not be read: {}",
                    file.display(),
                    e.message()
                ))
            })?;
    }
    match known.check_port(&config.host, config.port, &key.blob) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(PluginError::auth(format!(
            "host key of {address} has CHANGED: the server presents {} {}, which differs from \
             the key recorded in {}. The server was reinstalled or someone is intercepting \
             the connection; if the change is expected, remove the old line from that file \
             or pin the new key with `host_key_fingerprint = \"{}\"`",
            key.type_name,
            key.fingerprint,
            file.display(),
            key.fingerprint
        ))),
        CheckResult::NotFound if policy.accept_new => {
            let line = format!(
                "{} {} {}\n",
                known_hosts_name(&config.host, config.port),
                key.type_name,
                base64::engine::general_purpose::STANDARD.encode(&key.blob)
            );
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| {
                    PluginError::permission(format!(
                        "could not record the host key of {address} in `known_hosts_file` {}: {e}",
                        file.display()
                    ))
                })?;
            tracing::warn!(
                "trusting new host key of {address} on first use ({} {}), recorded in {}",
                key.type_name,
                key.fingerprint,
                file.display()
            );
            Ok(())
        }
        CheckResult::NotFound => Err(unknown(config, key, Some(file.display().to_string()))),
        CheckResult::Failure => Err(PluginError::other(format!(
            "libssh2 could not check the host key of {address} against {}",
            file.display()
        ))),
    }
}

fn unknown(config: &Config, key: &ServerKey, file: Option<String>) -> PluginError {
    let address = config.address();
    let where_ = match file {
        Some(f) => format!("is not in `known_hosts_file` {f}"),
        None => "is unknown (no `known_hosts_file` or `host_key_fingerprint` set)".to_string(),
    };
    PluginError::auth(format!(
        "host key of {address} {where_}: the server presents {} {}. Check it against the \
         server (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then pin it with \
         `host_key_fingerprint = \"{}\"`, or add it to `known_hosts_file` \
         (`ssh-keyscan -p {} {} >> FILE`), or set `accept_new_host_key = true` with a \
         `known_hosts_file` to trust it on first use",
        key.type_name, key.fingerprint, key.fingerprint, config.port, config.host
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_ssh_keygen_format() {
        // SHA-256 of the empty string, base64 without padding.
        let digest = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        assert_eq!(
            fingerprint(&digest),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn known_hosts_name_brackets_non_default_ports() {
        assert_eq!(known_hosts_name("h", 22), "h");
        assert_eq!(known_hosts_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }
}

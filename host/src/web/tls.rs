//! TLS for the status page (`web.cert_file`, `web.key_file`): rustls with the ring
//! provider, the certificate chain and key read from PEM files at start.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::WebError;

/// The acceptor for `cert_file` (PEM chain, leaf first) and `key_file` (PEM key).
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, WebError> {
    let tls_error = |key: &'static str, file: &Path, message: String| WebError::Tls {
        key,
        file: file.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error("web.cert_file", cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_error(
            "web.cert_file",
            cert_file,
            "no PEM certificate in the file".into(),
        ));
    }
    // The key's own error text never holds the key.
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| tls_error("web.key_file", key_file, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("web.cert_file", cert_file, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error("web.key_file", key_file, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

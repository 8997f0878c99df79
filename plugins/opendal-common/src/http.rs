//! The HTTP client of both plugins: rustls with the ring provider, Mozilla's roots
//! (compiled in) plus the certificates of `ca_file`. Environment variables such as
//! `AWS_CA_BUNDLE` or `SSL_CERT_FILE` are never read: only the configuration decides whom
//! the plugin trusts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use opendal::{HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use rustls::{ClientConfig, RootCertStore};
use sauvegarde_plugin_api::PluginError;

/// The TLS settings: Mozilla's roots plus every certificate in `ca_file` (PEM).
pub fn tls_config(ca_file: Option<&Path>) -> Result<ClientConfig, PluginError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let text = std::fs::read(path).map_err(|e| {
            PluginError::config(format!(
                "`ca_file` {}: cannot read it ({e})",
                path.display()
            ))
        })?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut text.as_slice()) {
            let cert = cert.map_err(|e| {
                PluginError::config(format!("`ca_file` {}: not valid PEM ({e})", path.display()))
            })?;
            roots.add(cert).map_err(|e| {
                PluginError::config(format!(
                    "`ca_file` {}: certificate refused ({e})",
                    path.display()
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(PluginError::config(format!(
                "`ca_file` {}: no PEM certificate in it",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PluginError::other(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// An HTTP client trusting [`tls_config`], with connect and read timeouts.
pub fn client(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, PluginError> {
    let mut tls = tls_config(ca_file)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .build()
        .map_err(|e| PluginError::other(format!("HTTP client setup: {e}")))
}

/// `operator` sending its requests through `client`.
pub fn with_client(operator: Operator, client: reqwest::Client) -> Operator {
    let transport = HttpTransporter::new(ReqwestTransport::new(client));
    operator.with_context(OperationContext::new().with_http_transport(transport))
}

/// "TLS" or "plain HTTP (no TLS)" for a URL, for `test_connection` messages.
pub fn tls_state(url: &str, ca_file: Option<&Path>) -> String {
    if url.starts_with("https://") {
        match ca_file {
            Some(path) => format!("TLS, certificate verified (CA from {})", path.display()),
            None => "TLS, certificate verified".into(),
        }
    } else {
        "plain HTTP, no TLS".into()
    }
}

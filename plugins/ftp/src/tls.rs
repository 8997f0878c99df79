//! TLS client setup: the trust store (webpki-roots plus `ca_file`), the optional
//! no-verification mode, and a connector that finishes the handshake eagerly so that
//! certificate failures surface at AUTH TLS time and the negotiated version is known.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme,
};
use sauvegarde_plugin_api::PluginError;
use suppaftp::{FtpError, FtpResult, RustlsConnector, TlsConnector, TlsStream};

use crate::config::Config;

/// The rustls stream type suppaftp uses for protected connections.
pub type Stream = <RustlsConnector as TlsConnector>::Stream;

/// Builds the rustls client configuration for `config`, with the ring provider.
pub fn client_config(config: &Config) -> Result<Arc<ClientConfig>, PluginError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| PluginError::other(format!("TLS setup failed: {e}")))?;
    let client = if config.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(config)?)
            .with_no_client_auth()
    };
    Ok(Arc::new(client))
}

/// Mozilla's roots (webpki-roots) plus the certificates in `ca_file`.
fn root_store(config: &Config) -> Result<RootCertStore, PluginError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                PluginError::config(format!(
                    "`ca_file` {}: cannot read PEM certificates ({e})",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(PluginError::config(format!(
                "`ca_file` {} holds no PEM certificate",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                PluginError::config(format!(
                    "`ca_file` {}: unusable certificate ({e})",
                    path.display()
                ))
            })?;
        }
    }
    Ok(roots)
}

/// What the control connection's handshake negotiated.
pub type Negotiated = Arc<Mutex<Option<ProtocolVersion>>>;

/// A connector that completes the TLS handshake before returning, and records the protocol
/// version of the first (control) connection.
pub struct EagerConnector {
    inner: RustlsConnector,
    negotiated: Negotiated,
}

impl EagerConnector {
    /// Wraps `config`; `negotiated` receives the control connection's TLS version.
    pub fn new(config: Arc<ClientConfig>, negotiated: Negotiated) -> Self {
        EagerConnector {
            inner: RustlsConnector::from(config),
            negotiated,
        }
    }
}

impl fmt::Debug for EagerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EagerConnector")
    }
}

impl TlsConnector for EagerConnector {
    type Stream = Stream;

    fn connect(&self, domain: &str, stream: std::net::TcpStream) -> FtpResult<Stream> {
        let mut tls = self.inner.connect(domain, stream)?;
        let owned = tls.mut_ref();
        while owned.conn.is_handshaking() {
            owned
                .conn
                .complete_io(&mut owned.sock)
                .map_err(|e| FtpError::SecureError(e.to_string()))?;
        }
        if let Ok(mut slot) = self.negotiated.lock() {
            if slot.is_none() {
                *slot = owned.conn.protocol_version();
            }
        }
        Ok(tls)
    }
}

/// A human name for a TLS version.
pub fn version_name(version: Option<ProtocolVersion>) -> String {
    match version {
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "TLS".into(),
    }
}

/// Accepts any certificate (but still checks handshake signatures), for
/// `insecure_skip_verify = true`.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

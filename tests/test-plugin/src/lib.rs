//! `test-probe`: a plugin for the host's own tests of the plugin boundary. It logs at
//! every level from `test_connection`, and panics in the operation named by `panic_in`.
//! It declares secrets under names the host cannot guess (`secret_access_key`,
//! `passcode`, `pin`, `recovery_codes`) and, with `leak_secrets = true`, behaves like a
//! careless third-party plugin: it logs them and puts them in its error messages.

use std::path::Path;

use sauvegarde_plugin_api::{
    export_plugin, parse_config, Exporter, PluginError, Progress, RemoteFile,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `new`, `test_connection`, `upload`, `list`, `delete`, `download`.
    #[serde(default)]
    panic_in: Option<String>,
    /// Declared secret.
    #[serde(default)]
    secret_access_key: Option<String>,
    /// Declared secret (short ones too).
    #[serde(default)]
    passcode: Option<String>,
    /// Declared secret, a number.
    #[serde(default)]
    pin: Option<u64>,
    /// Declared secret, a list.
    #[serde(default)]
    recovery_codes: Vec<String>,
    /// Log the secrets and echo them in errors (what a plugin must not do).
    #[serde(default)]
    leak_secrets: bool,
}

struct Probe(Config);

impl Probe {
    fn maybe_panic(&self, op: &str) {
        if self.0.panic_in.as_deref() == Some(op) {
            panic!("probe asked to panic in {op}");
        }
    }

    /// Every secret it holds, as text.
    fn secrets(&self) -> String {
        let c = &self.0;
        format!(
            "key={} passcode={} pin={} codes={}",
            c.secret_access_key.as_deref().unwrap_or(""),
            c.passcode.as_deref().unwrap_or(""),
            c.pin.map(|p| p.to_string()).unwrap_or_default(),
            c.recovery_codes.join(",")
        )
    }

    /// With `leak_secrets`: logs them and fails `op` with an error that carries them.
    fn maybe_leak(&self, op: &str) -> Result<(), PluginError> {
        if !self.0.leak_secrets {
            return Ok(());
        }
        let secrets = self.secrets();
        tracing::warn!("probe {op} with {secrets}");
        Err(PluginError::auth(format!(
            "probe {op} refused with {secrets}"
        )))
    }
}

impl Exporter for Probe {
    fn test_connection(&self) -> Result<String, PluginError> {
        self.maybe_panic("test_connection");
        self.maybe_leak("test_connection")?;
        tracing::error!(code = 7, "probe error event");
        tracing::warn!("probe warn event");
        tracing::info!(server = "probe.example", "probe info event");
        tracing::debug!("probe debug event");
        tracing::trace!("probe trace event");
        Ok("probe ok".into())
    }

    fn upload(&self, _: &Path, _: &str, progress: &mut Progress<'_>) -> Result<(), PluginError> {
        self.maybe_panic("upload");
        self.maybe_leak("upload")?;
        progress.report(1, 1)
    }

    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        self.maybe_panic("list");
        Ok(Vec::new())
    }

    fn delete(&self, name: &str) -> Result<(), PluginError> {
        self.maybe_panic("delete");
        Err(PluginError::not_found(format!("{name}: no such file")))
    }

    fn download(&self, name: &str, _: &Path, _: &mut Progress<'_>) -> Result<(), PluginError> {
        self.maybe_panic("download");
        Err(PluginError::not_found(format!("{name}: no such file")))
    }
}

fn new(config_json: &str) -> Result<Probe, PluginError> {
    let probe = Probe(parse_config(config_json)?);
    probe.maybe_panic("new");
    Ok(probe)
}

export_plugin! {
    kind: "test-probe",
    description: "test plugin: logs at every level, panics on request",
    secrets: ["secret_access_key", "passcode", "pin", "recovery_codes"],
    new: new,
}

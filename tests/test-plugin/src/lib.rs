//! `test-probe`: a plugin for the host's own tests of the plugin boundary. It logs at
//! every level from `test_connection`, and panics in the operation named by `panic_in`.

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
}

struct Probe(Config);

impl Probe {
    fn maybe_panic(&self, op: &str) {
        if self.0.panic_in.as_deref() == Some(op) {
            panic!("probe asked to panic in {op}");
        }
    }
}

impl Exporter for Probe {
    fn test_connection(&self) -> Result<String, PluginError> {
        self.maybe_panic("test_connection");
        tracing::error!(code = 7, "probe error event");
        tracing::warn!("probe warn event");
        tracing::info!(server = "probe.example", "probe info event");
        tracing::debug!("probe debug event");
        tracing::trace!("probe trace event");
        Ok("probe ok".into())
    }

    fn upload(&self, _: &Path, _: &str, progress: &mut Progress<'_>) -> Result<(), PluginError> {
        self.maybe_panic("upload");
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
    new: new,
}

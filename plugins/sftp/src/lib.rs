//! sauvegarde exporter plugin `sftp`. Placeholder from the foundation issue: it declares its
//! kind and answers every operation with an error until its own issue implements it.

use std::path::Path;

use sauvegarde_plugin_api::{export_plugin, Exporter, PluginError, Progress, RemoteFile};

struct Placeholder;

fn not_implemented<T>() -> Result<T, PluginError> {
    Err(PluginError::other("the sftp exporter is not implemented yet"))
}

impl Exporter for Placeholder {
    fn test_connection(&self) -> Result<String, PluginError> {
        not_implemented()
    }
    fn upload(&self, _: &Path, _: &str, _: &mut Progress<'_>) -> Result<(), PluginError> {
        not_implemented()
    }
    fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        not_implemented()
    }
    fn delete(&self, _: &str) -> Result<(), PluginError> {
        not_implemented()
    }
    fn download(&self, _: &str, _: &Path, _: &mut Progress<'_>) -> Result<(), PluginError> {
        not_implemented()
    }
}

fn new(_config_json: &str) -> Result<Placeholder, PluginError> {
    Ok(Placeholder)
}

export_plugin! {
    kind: "sftp",
    description: "sftp exporter (not implemented yet)",
    new: new,
}

//! `plugins [--json]`.

use std::path::PathBuf;

use serde::Serialize;

use super::{exit, load_config, print_json, print_text, CliError};
use sauvegarde::config::{Config, Uses};
use sauvegarde::plugins::PluginRegistry;
use sauvegarde_plugin_api::ffi::UPLOAD_NEW;

#[derive(Serialize)]
struct PluginRow<'a> {
    file: PathBuf,
    kind: &'a str,
    version: &'a str,
    description: &'a str,
    capabilities: &'a [String],
}

#[derive(Serialize)]
struct PluginsReport<'a> {
    plugins: Vec<PluginRow<'a>>,
    refused: &'a [sauvegarde::plugins::RefusedFile],
}

/// Discovers plugins from the configured directories and the executable's directory.
pub fn discover(config: &Config) -> PluginRegistry {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from));
    PluginRegistry::discover(&config.plugin_dirs, exe_dir.as_deref())
}

/// Lists loaded plugins and refused files. Refused files do not fail the command.
pub fn run(files: &[PathBuf], json: bool) -> Result<i32, CliError> {
    // Plugins need no job: a broken one is a warning.
    let registry = discover(&load_config(files, Uses::NoJob)?.config);
    let report = PluginsReport {
        plugins: registry
            .plugins()
            .map(|p| PluginRow {
                file: p.path().to_path_buf(),
                kind: p.kind(),
                version: p.version(),
                description: p.description(),
                capabilities: p.capabilities(),
            })
            .collect(),
        refused: registry.refused(),
    };
    if json {
        print_json(&report)?;
        return Ok(exit::OK);
    }
    let mut text = String::new();
    if report.plugins.is_empty() {
        text.push_str("no plugins loaded\n");
    }
    for p in &report.plugins {
        text.push_str(&format!(
            "{:<10} {:<8} {}  ({})\n",
            p.kind,
            p.version,
            p.file.display(),
            p.description
        ));
        if !p.capabilities.iter().any(|c| c == UPLOAD_NEW) {
            text.push_str(
                "           no no-replace upload (upload_new, plugin API 1.2): the host looks for a name before uploading it; a file another server creates in that instant could be replaced\n",
            );
        }
    }
    for r in report.refused {
        text.push_str(&format!("refused: {}: {}\n", r.file.display(), r.reason));
    }
    print_text(&text)?;
    Ok(exit::OK)
}

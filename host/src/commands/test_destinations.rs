//! `test <job> [dest]`: checks the connection to a job's destinations and records the
//! results in the history (shown by `jobs`).

use std::path::PathBuf;

use super::{exit, load_config, plugins::discover, print_text, CliError};
use sauvegarde::config::Uses;
use sauvegarde::export::{open_destination, ExportError};
use sauvegarde::history::History;
use sauvegarde::redact::scrub;

/// Runs `test_connection` on each destination (or the one named), concurrently, printing
/// ✓ or ✗ with the plugin's message. Exit 1 if any failed.
pub fn run(files: &[PathBuf], job_id: &str, only: Option<&str>) -> Result<i32, CliError> {
    let config = load_config(files, Uses::Job(job_id))?.config;
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    if let Some(name) = only {
        if !job.destinations.contains_key(name) {
            return Err(CliError::usage(format!(
                "job `{job_id}` has no destination `{name}`"
            )));
        }
    }
    if job.destinations.is_empty() {
        return Err(CliError::usage(format!(
            "job `{job_id}` has no destinations"
        )));
    }
    let registry = discover(&config);
    let chosen: Vec<_> = job
        .destinations
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
        .collect();
    let results: Vec<Result<String, ExportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|(name, config)| {
                let registry = &registry;
                scope.spawn(move || {
                    open_destination(registry, job_id, name, config).and_then(|d| {
                        d.test_connection()
                            .map_err(|e| ExportError::plugin(job_id, name, e))
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ExportError::plugin(
                        job_id,
                        "?",
                        sauvegarde_plugin_api::PluginError::other("the test thread panicked"),
                    ))
                })
            })
            .collect()
    });
    let history = std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| e.to_string())
        .and_then(|_| History::open(&config.state_dir).map_err(|e| e.to_string()));
    if let Err(e) = &history {
        tracing::error!(job = job_id, "test results are not recorded: {e}");
    }
    let mut failed = 0;
    let mut text = String::new();
    for ((name, config), result) in chosen.iter().zip(results) {
        let (ok, message) = match result {
            Ok(message) => (true, scrub(&message).into_owned()),
            Err(e) => (false, scrub(&e.to_string()).into_owned()),
        };
        if let Ok(h) = &history {
            if let Err(e) = h.record_connection_test(job_id, name, ok, &message) {
                tracing::error!(job = job_id, destination = %name, "{e}");
            }
        }
        if !ok {
            failed += 1;
        }
        text.push_str(&format!(
            "{} {name} ({}): {message}\n",
            if ok { "✓" } else { "✗" },
            config.kind
        ));
    }
    sauvegarde::metrics::refresh(&config);
    print_text(&text)?;
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}

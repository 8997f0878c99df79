//! `export <job> <archive>`: (re)sends an existing archive to the job's destinations.

use std::path::{Path, PathBuf};

use super::export_progress::{summary, Bars};
use super::{exit, load_config, plugins::discover, print_text, CliError};
use sauvegarde::cancel::{cancel_on_signals, CancelFlag};
use sauvegarde::config::Uses;
use sauvegarde::export::{check_destinations, ExportRun};
use sauvegarde::lock::JobLock;

/// Uploads `archive` to every destination of `job_id` (concurrently), under the job's
/// lock. Exit 3 if any failed (the local archive is fine, an export is not); 1 when
/// interrupted.
pub fn run(files: &[PathBuf], job_id: &str, archive: &Path) -> Result<i32, CliError> {
    let config = load_config(files, Uses::Job(job_id))?.config;
    let job = config
        .jobs
        .get(job_id)
        .ok_or_else(|| CliError::usage(format!("no job `{job_id}` in the configuration")))?;
    if job.destinations.is_empty() {
        return Err(CliError::usage(format!(
            "job `{job_id}` has no destinations"
        )));
    }
    if !archive.is_file() {
        return Err(CliError::usage(format!(
            "{}: no such archive",
            archive.display()
        )));
    }
    let archive = std::path::absolute(archive).map_err(CliError::failed)?;
    let registry = discover(&config);
    let errors = check_destinations(&config, &registry, Some(job_id));
    if !errors.is_empty() {
        return Err(CliError::usage(sauvegarde::export::join_errors(&errors)));
    }
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        CliError::failed(format!(
            "cannot create state_dir {}: {e}",
            config.state_dir.display()
        ))
    })?;
    let _lock = JobLock::try_acquire(&config.state_dir, job_id).map_err(CliError::failed)?;
    // The history is a record, never a gate: without it the export still runs (and its
    // remote retention waits).
    let history = sauvegarde::job::JobHistory::open(&config, Some(job_id));
    let row = history.get().and_then(|h| {
        let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or("");
        h.find_backup(&archive, name)
            .map_err(|e| tracing::warn!("{e}"))
            .ok()
            .flatten()
    });
    let backup_id = row.as_ref().map(|r| r.id);
    // A job of many databases: remote retention looks at the archive's own database (as
    // the history recorded it); unknown, it deletes nothing there.
    let config = match row.and_then(|r| r.database) {
        Some(db) if job.database.fixed().is_none_or(|d| d.len() != 1) => {
            config.for_database(job_id, &db)
        }
        _ => config,
    };
    let cancel = CancelFlag::new();
    cancel_on_signals(&cancel)
        .map_err(|e| CliError::failed(format!("cannot install signal handlers: {e}")))?;
    let bars = Bars::for_stderr();
    let outcomes = ExportRun {
        config: &config,
        registry: &registry,
        job_id,
        archive: &archive,
        backup_id,
        cancel: &cancel,
        observer: &bars,
    }
    .run(None);
    sauvegarde::metrics::refresh(&config);
    print_text(&summary(&outcomes))?;
    Ok(if outcomes.iter().all(|o| o.is_done()) {
        exit::OK
    } else if cancel.is_cancelled() {
        exit::FAILED
    } else {
        exit::EXPORT_FAILED
    })
}

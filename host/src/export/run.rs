//! Exporting one archive to every destination of a job: each destination in its own
//! thread (they run concurrently), uploads retried per policy, every attempt recorded in
//! the history, then remote retention on each destination that received the archive.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use sauvegarde_plugin_api::{ErrorKind, PluginError, RemoteFile};
use serde::Serialize;

use super::placement::Placement;
use super::remote_retention;
use super::transfer::{upload_with_retries, Attempt, RetryPolicy};
use super::{open_destination, ExportError};
use crate::cancel::CancelFlag;
use crate::config::{Config, DestinationConfig, JobConfig};
use crate::history::History;
use crate::naming::temp_name;
use crate::plugins::PluginRegistry;
use crate::redact::scrub;
use crate::worker::WorkerDestination;

/// How an archive's export to one destination ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    /// The archive is on the destination under its final name.
    Done,
    /// Every attempt failed.
    Failed,
    /// Stopped by SIGINT/SIGTERM or the daemon's shutdown.
    Cancelled,
}

impl ExportStatus {
    /// `done`, `failed` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Done => "done",
            ExportStatus::Failed => "failed",
            ExportStatus::Cancelled => "cancelled",
        }
    }
}

/// The export of one archive to one destination.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationOutcome {
    /// Destination name.
    pub destination: String,
    /// Its plugin type.
    pub kind: String,
    /// How it ended.
    pub status: ExportStatus,
    /// The name the archive is stored under there: its own, or with this host's tag when
    /// another server had taken that name (empty when nothing was stored).
    pub remote_name: String,
    /// Upload attempts made.
    pub attempts: u32,
    /// Bytes sent, when done.
    pub bytes: u64,
    /// Seconds spent, retries included.
    pub seconds: f64,
    /// What went wrong (secrets masked); for a done export, a remote retention problem.
    pub message: Option<String>,
    /// Remote archives deleted by retention afterwards.
    pub deleted: Vec<String>,
}

impl DestinationOutcome {
    /// Whether the archive reached the destination.
    pub fn is_done(&self) -> bool {
        self.status == ExportStatus::Done
    }
}

/// Hears about the exports' progress, for progress bars. Called from worker threads.
pub trait ExportObserver: Sync {
    /// Bytes sent so far to `destination`, out of `total`.
    fn progress(&self, destination: &str, done: u64, total: u64);
    /// `destination` is finished.
    fn finished(&self, outcome: &DestinationOutcome);
}

/// An observer that does nothing (the daemon: the log has the results).
pub struct Quiet;

impl ExportObserver for Quiet {
    fn progress(&self, _: &str, _: u64, _: u64) {}
    fn finished(&self, _: &DestinationOutcome) {}
}

/// One export run: what to send where, and how to report it.
pub struct ExportRun<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The loaded plugins.
    pub registry: &'a PluginRegistry,
    /// The job whose destinations receive the archive.
    pub job_id: &'a str,
    /// The archive; its file name is the remote name.
    pub archive: &'a Path,
    /// Its backup row, when it is one of ours.
    pub backup_id: Option<i64>,
    /// Stops uploads and waits.
    pub cancel: &'a CancelFlag,
    /// Progress reports.
    pub observer: &'a dyn ExportObserver,
}

impl ExportRun<'_> {
    /// Exports to every destination of the job, or only `only`, concurrently; never fails
    /// as a whole: each destination's outcome says how it went.
    pub fn run(&self, only: Option<&str>) -> Vec<DestinationOutcome> {
        let Some(job) = self.config.jobs.get(self.job_id) else {
            return Vec::new();
        };
        let history = match History::open(&self.config.state_dir) {
            Ok(h) => Some(Mutex::new(h)),
            Err(e) => {
                tracing::error!(job = self.job_id, "exports are not recorded: {e}");
                None
            }
        };
        let history = history.as_ref();
        // Each destination's thread logs inside the caller's span, so the run's log (the
        // Healthchecks body) holds the exports' lines and the plugin workers' too.
        let span = tracing::Span::current();
        std::thread::scope(|scope| {
            let handles: Vec<_> = job
                .destinations
                .iter()
                .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
                .map(|(name, dest)| {
                    let handle = std::thread::Builder::new()
                        .name(format!("export-{name}"))
                        .spawn_scoped(scope, {
                            let span = span.clone();
                            move || span.in_scope(|| self.one(job, name, dest, history))
                        });
                    (name, dest, handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(name, dest, handle)| {
                    let outcome = match handle.map_err(|e| e.to_string()).and_then(|h| {
                        h.join()
                            .map_err(|_| "the export thread panicked".to_string())
                    }) {
                        Ok(o) => o,
                        Err(e) => DestinationOutcome {
                            destination: name.clone(),
                            kind: dest.kind.clone(),
                            status: ExportStatus::Failed,
                            remote_name: String::new(),
                            attempts: 0,
                            bytes: 0,
                            seconds: 0.0,
                            message: Some(e),
                            deleted: Vec::new(),
                        },
                    };
                    self.observer.finished(&outcome);
                    outcome
                })
                .collect()
        })
    }

    /// The whole export to one destination.
    fn one(
        &self,
        job: &JobConfig,
        name: &str,
        dest: &DestinationConfig,
        history: Option<&Mutex<History>>,
    ) -> DestinationOutcome {
        let clock = Instant::now();
        let remote_name = self
            .archive
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let record = Recorder {
            history,
            backup_id: self.backup_id,
            job: self.job_id,
            destination: name,
            remote_name: &remote_name,
        };
        let mut attempts = 0;
        let stored = RefCell::new(remote_name.clone());
        let result = open_destination(self.registry, self.job_id, name, dest).and_then(|d| {
            let policy = RetryPolicy {
                retries: dest.retries.unwrap_or(RetryPolicy::default().retries),
                ..RetryPolicy::default()
            };
            let row = Cell::new(None);
            let tag = crate::ownership::host_tag();
            let ours = |f: &RemoteFile| record.uploaded(f);
            let placement = Placement {
                destination: &d,
                archive: self.archive,
                planned: &remote_name,
                tag,
                ours: &ours,
            };
            let mut upload = |report: &mut dyn FnMut(u64, u64) -> bool| {
                let temp = temp_name(&remote_name, tag, &unique_suffix());
                if d.has_upload_new() {
                    // Before the upload starts: a file of this name left behind is ours.
                    record.temp_name(row.get(), &temp);
                }
                let mut on_name = |n: &str| record.rename(row.get(), n);
                let placed = placement.attempt(&temp, report, &mut on_name)?;
                *stored.borrow_mut() = placed;
                Ok(())
            };
            let mut progress = |done, total| self.observer.progress(name, done, total);
            let mut on_attempt = |a: Attempt<'_>| match a {
                Attempt::Started(n) => {
                    attempts = n;
                    row.set(record.start(n));
                }
                Attempt::Ended(_, r) => record.end(row.take(), r, self.archive),
            };
            upload_with_retries(
                &mut upload,
                policy,
                self.cancel,
                &mut progress,
                &mut on_attempt,
            )
            .map(|_| d)
            .map_err(|e| ExportError::plugin(self.job_id, name, e))
        });
        let remote_name = stored.into_inner();
        let mut outcome = DestinationOutcome {
            destination: name.to_string(),
            kind: dest.kind.clone(),
            status: ExportStatus::Done,
            remote_name: String::new(),
            attempts,
            bytes: 0,
            seconds: 0.0,
            message: None,
            deleted: Vec::new(),
        };
        match result {
            Ok(destination) => {
                outcome.remote_name = remote_name.clone();
                outcome.bytes = self.archive.metadata().map(|m| m.len()).unwrap_or(0);
                let secs = clock.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    job = self.job_id,
                    destination = name,
                    attempts,
                    "uploaded {remote_name}: {} bytes in {secs:.1} s ({:.1} MiB/s)",
                    outcome.bytes,
                    outcome.bytes as f64 / secs / 1_048_576.0
                );
                self.retention(job, name, dest, &destination, &record, &mut outcome);
            }
            Err(e) => {
                if attempts == 0 {
                    // Never got to upload (no plugin, bad settings): still one row.
                    let row = record.start(1);
                    record.end(row, &Err(PluginError::other(e.to_string())), self.archive);
                    outcome.attempts = 1;
                }
                let cancelled = matches!(&e, ExportError::Plugin { error, .. } if error.kind() == ErrorKind::Cancelled);
                outcome.status = if cancelled {
                    ExportStatus::Cancelled
                } else {
                    ExportStatus::Failed
                };
                let message = scrub(&e.to_string()).into_owned();
                tracing::error!(
                    job = self.job_id,
                    destination = name,
                    "export failed: {message}"
                );
                outcome.message = Some(message);
            }
        }
        outcome.seconds = clock.elapsed().as_secs_f64();
        outcome
    }

    /// Remote retention after a successful upload; a failure is logged and noted. It needs
    /// the history (ownership is proven by it): without it, nothing is deleted.
    fn retention(
        &self,
        job: &JobConfig,
        name: &str,
        dest: &DestinationConfig,
        destination: &WorkerDestination,
        record: &Recorder<'_>,
        outcome: &mut DestinationOutcome,
    ) {
        if self.cancel.is_cancelled() {
            return;
        }
        // Its own connection: the other destinations keep recording meanwhile.
        let history = match record
            .history
            .and(History::open(&self.config.state_dir).ok())
        {
            Some(h) => h,
            None => {
                let message = "uploaded; remote retention skipped: the history is unavailable, and nothing is deleted without proof of ownership".to_string();
                tracing::warn!(job = self.job_id, destination = name, "{message}");
                outcome.message = Some(message);
                return;
            }
        };
        let scope = remote_retention::Scope {
            job_id: self.job_id,
            job,
            destination: name,
            config: dest,
            history: &history,
            jobs: &self.config.jobs,
        };
        let stored = outcome.remote_name.clone();
        let occasion = crate::retention::Occasion::Backup;
        match remote_retention::apply(destination, &scope, Some(&stored), &[], occasion) {
            Ok(decisions) => {
                outcome.deleted = decisions
                    .iter()
                    .filter(|d| d.deletes())
                    .map(|d| d.archive.path.to_string_lossy().into_owned())
                    .collect();
                // What remote retention warns of (a gap in the dates, a clock behind)
                // reaches the run's notification with the destination's state.
                let warnings = crate::retention::warnings(self.job_id, &decisions);
                if !warnings.is_empty() {
                    outcome.message = Some(warnings.join("; "));
                }
            }
            Err(e) => {
                let message = format!(
                    "uploaded, but remote retention failed: {}",
                    scrub(&e.to_string())
                );
                tracing::error!(job = self.job_id, destination = name, "{message}");
                outcome.message = Some(message);
            }
        }
    }
}

/// Writes one destination's rows to the shared history; a history failure is logged, it
/// never fails the export.
struct Recorder<'a> {
    history: Option<&'a Mutex<History>>,
    backup_id: Option<i64>,
    job: &'a str,
    destination: &'a str,
    remote_name: &'a str,
}

impl Recorder<'_> {
    fn with<T>(
        &self,
        f: impl FnOnce(&History) -> Result<T, crate::history::HistoryError>,
    ) -> Option<T> {
        let history = self.history?;
        let guard = history.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
            .map_err(|e| tracing::error!(job = self.job, destination = self.destination, "{e}"))
            .ok()
    }

    fn start(&self, attempt: u32) -> Option<i64> {
        self.with(|h| {
            h.start_export_attempt(
                self.backup_id,
                self.job,
                self.destination,
                self.remote_name,
                attempt,
            )
        })
    }

    /// Records the temporary name of attempt `row`'s upload, before it starts.
    fn temp_name(&self, row: Option<i64>, temp_name: &str) {
        let Some(row) = row else { return };
        self.with(|h| h.set_export_temp_name(row, temp_name));
    }

    /// Records that attempt `row` stores the archive as `name` (when not its own name).
    fn rename(&self, row: Option<i64>, name: &str) {
        if name == self.remote_name {
            return;
        }
        let note = format!(
            "`{}` was taken on the destination by a file this job did not upload: stored as `{name}`",
            self.remote_name
        );
        tracing::warn!(job = self.job, destination = self.destination, "{note}");
        if let Some(row) = row {
            self.with(|h| h.set_export_remote_name(row, name, &note));
        }
    }

    /// Whether the history proves `file` this job's upload to this destination (a `done`
    /// upload of that name with that size).
    fn uploaded(&self, file: &RemoteFile) -> bool {
        self.with(|h| h.uploaded_size(self.job, self.destination, file.name()))
            .flatten()
            .is_some_and(|bytes| bytes == Some(file.size()))
    }

    fn end(&self, row: Option<i64>, result: &Result<(), PluginError>, archive: &Path) {
        let Some(row) = row else { return };
        let message;
        let result = match result {
            Ok(()) => Ok(archive.metadata().map(|m| m.len()).unwrap_or(0)),
            Err(e) => {
                message = scrub(&e.to_string()).into_owned();
                Err(message.as_str())
            }
        };
        self.with(|h| h.finish_export_attempt(row, result));
    }
}

/// What makes an upload's temporary name unique on this host: the process id and a
/// counter (two destinations of one run may be one directory).
fn unique_suffix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

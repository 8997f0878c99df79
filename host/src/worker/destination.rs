//! The host's handle on one configured destination: the same methods the engine used on
//! the in-process plugin destination, each run in a worker process. One worker serves
//! the handle's calls in turn (an export's upload and its remote retention); a worker
//! that died, timed out, stalled, broke the protocol or was cancelled is replaced by a
//! fresh one at the next call.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sauvegarde_plugin_api::{NewUpload, PluginError, RemoteFile};

use super::process::{Call, Failure, Limit, Worker};
use super::protocol::{remote_files, Outcome, Request};
use crate::plugins::log_bridge;

/// When a plugin call's worker is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// upload and download: so long without progress (`stall_timeout_secs`); however
    /// long a transfer takes, it goes on while it moves.
    pub stall: Duration,
    /// Every other call (opening, test_connection, list, delete): so long in all
    /// (`plugin_timeout_secs`).
    pub other: Duration,
}

impl Default for Timeouts {
    /// 10 minutes without progress for transfers, 120 s for the rest.
    fn default() -> Self {
        Timeouts {
            stall: Duration::from_secs(600),
            other: Duration::from_secs(120),
        }
    }
}

impl Timeouts {
    /// A destination's `plugin_timeout_secs` and `stall_timeout_secs`, each its default
    /// when not set.
    pub fn from_settings(
        plugin_timeout_secs: Option<u64>,
        stall_timeout_secs: Option<u64>,
    ) -> Self {
        let default = Timeouts::default();
        Timeouts {
            stall: stall_timeout_secs.map_or(default.stall, Duration::from_secs),
            other: plugin_timeout_secs.map_or(default.other, Duration::from_secs),
        }
    }

    fn for_request(&self, request: &Request) -> Limit {
        if request.is_transfer() {
            Limit::Stall(self.stall)
        } else {
            Limit::Total(self.other)
        }
    }
}

/// Hears every log event of the plugin as the worker relayed it (level 1 error … 5
/// trace, target, message), before any masking: for the conformance kit, which checks
/// that no secret is in them.
pub type LogObserver = Arc<dyn Fn(u8, &str, &str) + Send + Sync>;

/// A destination served by a worker process.
pub struct WorkerDestination {
    plugin: PathBuf,
    kind: String,
    config_json: String,
    timeouts: Timeouts,
    worker: Mutex<Option<Worker>>,
    /// The current worker's process id (0: none yet), readable during a call.
    pid: AtomicU32,
    /// What the plugin implements beyond API 1.0, as its worker said when it opened.
    capabilities: Mutex<Vec<String>>,
    observer: Option<LogObserver>,
}

impl std::fmt::Debug for WorkerDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the settings: they hold secrets.
        f.debug_struct("WorkerDestination")
            .field("plugin", &self.plugin)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn unexpected(outcome: Outcome) -> PluginError {
    PluginError::other(format!("worker: unexpected answer {outcome:?}"))
}

fn plugin_error(outcome: Outcome) -> PluginError {
    match outcome {
        Outcome::Error(e) => e.into(),
        Outcome::LoadFailed { message, .. } => PluginError::other(message),
        other => unexpected(other),
    }
}

impl WorkerDestination {
    /// Starts a worker that loads `plugin` (of `kind`) and creates the destination from
    /// `config_json` (its constructor runs there); the settings go over the pipe.
    pub fn open(
        plugin: &Path,
        kind: &str,
        config_json: &str,
        timeouts: Timeouts,
    ) -> Result<Self, PluginError> {
        Self::open_with(plugin, kind, config_json, timeouts, None)
    }

    /// As [`open`](Self::open), with every plugin log event (all levels, trace included)
    /// also given unmasked to `observer`.
    pub fn open_observed(
        plugin: &Path,
        kind: &str,
        config_json: &str,
        timeouts: Timeouts,
        observer: LogObserver,
    ) -> Result<Self, PluginError> {
        Self::open_with(plugin, kind, config_json, timeouts, Some(observer))
    }

    fn open_with(
        plugin: &Path,
        kind: &str,
        config_json: &str,
        timeouts: Timeouts,
        observer: Option<LogObserver>,
    ) -> Result<Self, PluginError> {
        let destination = WorkerDestination {
            plugin: plugin.to_path_buf(),
            kind: kind.to_string(),
            config_json: config_json.to_string(),
            timeouts,
            worker: Mutex::new(None),
            pid: AtomicU32::new(0),
            capabilities: Mutex::new(Vec::new()),
            observer,
        };
        {
            let mut slot = destination.lock();
            destination.ensure_worker(&mut slot)?;
        }
        Ok(destination)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Worker>> {
        self.worker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self) -> impl Fn(u8, &str, &str) + '_ {
        move |level, target, message| {
            if let Some(observer) = &self.observer {
                observer(level, target, message);
            }
            log_bridge::emit(&self.kind, level, target, message)
        }
    }

    /// The process id of the worker serving this destination (the last one started),
    /// readable while a call runs (e.g. from its progress callback).
    pub fn worker_pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// A worker with the destination open, started if needed.
    fn ensure_worker<'a>(
        &self,
        slot: &'a mut Option<Worker>,
    ) -> Result<&'a mut Worker, PluginError> {
        if slot.as_ref().is_some_and(Worker::is_usable) {
            return slot.as_mut().ok_or_else(|| PluginError::other("no worker"));
        }
        *slot = None;
        let max_level = match self.observer {
            Some(_) => sauvegarde_plugin_api::ffi::LogLevel::Trace,
            None => log_bridge::max_level(),
        };
        let open = Request::Open {
            plugin: self.plugin.clone(),
            config_json: self.config_json.clone(),
            max_level: max_level as u8,
        };
        let mut worker = Worker::start().map_err(|f| self.error(f, open.op()))?;
        self.pid.store(worker.pid(), Ordering::SeqCst);
        tracing::debug!(
            kind = self.kind,
            pid = worker.pid(),
            "exporter worker started"
        );
        let log = self.log();
        let outcome = worker
            .call(
                &open,
                Call {
                    limit: Limit::Total(self.timeouts.other),
                    progress: None,
                    log: &log,
                },
            )
            .map_err(|f| self.error(f, open.op()))?;
        match outcome {
            Outcome::Opened { capabilities } => {
                *self.capabilities.lock().unwrap_or_else(|p| p.into_inner()) = capabilities;
                Ok(slot.insert(worker))
            }
            other => Err(plugin_error(other)),
        }
    }

    /// Runs one request; a worker that did not come back cleanly is dropped.
    fn request(
        &self,
        request: Request,
        progress: Option<&mut dyn FnMut(u64, u64) -> bool>,
    ) -> Result<Outcome, PluginError> {
        let mut slot = self.lock();
        let worker = self.ensure_worker(&mut slot)?;
        let log = self.log();
        let result = worker.call(
            &request,
            Call {
                limit: self.timeouts.for_request(&request),
                progress,
                log: &log,
            },
        );
        if !worker.is_usable() || result.is_err() {
            *slot = None;
        }
        result.map_err(|f| self.error(f, request.op()))
    }

    /// A worker's failure during `op` as the plugin error the engine sees.
    fn error(&self, failure: Failure, op: &str) -> PluginError {
        failure.into_error(&self.kind, &self.plugin, op)
    }

    /// The plugin kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// See `Exporter::test_connection`.
    pub fn test_connection(&self) -> Result<String, PluginError> {
        match self.request(Request::TestConnection, None)? {
            Outcome::Message { text } => Ok(text),
            other => Err(plugin_error(other)),
        }
    }

    /// See `Exporter::upload`. `progress(done, total)` returns `false` to cancel.
    pub fn upload(
        &self,
        local_path: &Path,
        remote_name: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), PluginError> {
        let request = Request::Upload {
            local_path: std::path::absolute(local_path).unwrap_or(local_path.to_path_buf()),
            remote_name: remote_name.to_string(),
        };
        match self.request(request, Some(progress))? {
            Outcome::Unit => Ok(()),
            other => Err(plugin_error(other)),
        }
    }

    /// Whether the plugin implements `Exporter::upload_new` (plugin API 1.2).
    pub fn has_upload_new(&self) -> bool {
        self.capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|c| c == sauvegarde_plugin_api::ffi::UPLOAD_NEW)
    }

    /// See `Exporter::upload_new`: `remote_name` is never replaced; a name taken is
    /// [`NewUpload::NameTaken`]. `progress(done, total)` returns `false` to cancel.
    pub fn upload_new(
        &self,
        local_path: &Path,
        remote_name: &str,
        temp_name: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<NewUpload, PluginError> {
        let request = Request::UploadNew {
            local_path: std::path::absolute(local_path).unwrap_or(local_path.to_path_buf()),
            remote_name: remote_name.to_string(),
            temp_name: temp_name.to_string(),
        };
        match self.request(request, Some(progress))? {
            Outcome::NewUpload { name_taken: false } => Ok(NewUpload::Stored),
            Outcome::NewUpload { name_taken: true } => Ok(NewUpload::NameTaken),
            other => Err(plugin_error(other)),
        }
    }

    /// See `Exporter::list`.
    pub fn list(&self) -> Result<Vec<RemoteFile>, PluginError> {
        match self.request(Request::List, None)? {
            Outcome::Files { files } => Ok(remote_files(files)),
            other => Err(plugin_error(other)),
        }
    }

    /// See `Exporter::delete`.
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        match self.request(
            Request::Delete {
                name: name.to_string(),
            },
            None,
        )? {
            Outcome::Unit => Ok(()),
            other => Err(plugin_error(other)),
        }
    }

    /// See `Exporter::download`. `progress(done, total)` returns `false` to cancel.
    pub fn download(
        &self,
        name: &str,
        local_path: &Path,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<(), PluginError> {
        let request = Request::Download {
            name: name.to_string(),
            local_path: std::path::absolute(local_path).unwrap_or(local_path.to_path_buf()),
        };
        match self.request(request, Some(progress))? {
            Outcome::Unit => Ok(()),
            other => Err(plugin_error(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_get_the_stall_limit_and_other_calls_a_deadline() {
        let t = Timeouts::from_settings(Some(30), Some(5));
        let s = Duration::from_secs;
        let upload = Request::Upload {
            local_path: "/a".into(),
            remote_name: "a".into(),
        };
        let download = Request::Download {
            name: "a".into(),
            local_path: "/a".into(),
        };
        assert_eq!(t.for_request(&upload), Limit::Stall(s(5)));
        assert_eq!(t.for_request(&download), Limit::Stall(s(5)));
        for other in [Request::List, Request::TestConnection] {
            assert_eq!(t.for_request(&other), Limit::Total(s(30)));
        }
        // Unset: 10 minutes without progress, 120 s for the rest; one key leaves the other
        // at its default (plugin_timeout_secs no longer bounds transfers).
        assert_eq!(Timeouts::from_settings(None, None), Timeouts::default());
        assert_eq!(Timeouts::default().stall, s(600));
        assert_eq!(Timeouts::default().other, s(120));
        assert_eq!(Timeouts::from_settings(Some(30), None).stall, s(600));
    }
}

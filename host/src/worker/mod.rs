//! Worker processes: no exporter code runs in the daemon's or the command line's own
//! process.
//!
//! A plugin is native code: a null dereference, an `abort()`, a stack overflow or a call
//! that never returns would take the whole host with it. So every use of a plugin file —
//! reading its kind and version ([`probe`]), creating a destination and calling it
//! ([`WorkerDestination`]) — happens in a child: the `sauvegarde` binary re-executed with
//! the hidden argument `__worker`, which loads the file through the same `abi_stable`
//! loader ([`serve`]).
//!
//! Host and worker speak JSON lines over the worker's standard input and output
//! ([`protocol`]): requests (with the destination's settings, secrets included: never in
//! argv or the environment) one way; log events (re-emitted here tagged with the plugin's
//! kind), progress, results and typed errors the other. Cancellation is SIGTERM (the
//! plugin's progress callback then returns `false`), SIGKILL 5 s later. A worker that
//! dies is a failed call that names its signal (`exporter \`crash\` died: signal 11
//! (SIGSEGV) during upload`), not retried; so is one that breaks the protocol (a line
//! past [`protocol::MAX_LINE`], garbage, its output closed while it lives on). A transfer
//! that makes no progress for `stall_timeout_secs`, or another call past
//! `plugin_timeout_secs`, is killed and fails as a transient error, retried like one.

pub mod destination;
pub mod failure;
pub mod process;
pub mod protocol;
pub mod serve;

use std::path::Path;
use std::time::Duration;

pub use destination::{LogObserver, Timeouts, WorkerDestination};
pub use process::{set_executable, stop_all, WORKER_ARG};
pub use protocol::PluginMeta;
pub use serve::{serve, WorkerError};

use process::{Call, Limit, Worker};
use protocol::{Outcome, Request};

/// How long reading a plugin file's metadata may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a plugin file was refused by [`probe`].
#[derive(Debug)]
pub struct ProbeError {
    /// What to tell the user.
    pub message: String,
    /// abi_stable's long report, for debug logs.
    pub detail: Option<String>,
}

/// Reads `plugin`'s kind, version and description in a worker. A file that cannot be
/// loaded, or that kills the worker (a truncated copy: SIGBUS), is an error saying so.
pub fn probe(plugin: &Path) -> Result<PluginMeta, ProbeError> {
    let refused = |message: String| ProbeError {
        message,
        detail: None,
    };
    let request = Request::Probe {
        plugin: plugin.to_path_buf(),
    };
    let mut worker = Worker::start().map_err(|f| refused(describe(f)))?;
    let outcome = worker
        .call(
            &request,
            Call {
                limit: Limit::Total(PROBE_TIMEOUT),
                progress: None,
                log: &|_, _, _| {},
            },
        )
        .map_err(|f| refused(describe(f)))?;
    match outcome {
        Outcome::Probed(meta) => Ok(meta),
        Outcome::LoadFailed { message, detail } => Err(ProbeError { message, detail }),
        other => Err(refused(format!(
            "unexpected answer from the worker: {other:?}"
        ))),
    }
}

fn describe(failure: process::Failure) -> String {
    match failure {
        process::Failure::Died(how) => format!("loading it killed the worker: {how}"),
        process::Failure::TimedOut(after) => format!(
            "loading it did not finish within {} s; the worker was killed",
            after.as_secs()
        ),
        process::Failure::Stalled(after) => format!(
            "loading it made no progress for {} s; the worker was killed",
            after.as_secs()
        ),
        process::Failure::Cancelled => "loading it was cancelled".into(),
        process::Failure::Protocol(what) => {
            format!("loading it broke the worker protocol: {what}; the worker was killed")
        }
        process::Failure::Broken(why) => format!("cannot load it: {why}"),
    }
}

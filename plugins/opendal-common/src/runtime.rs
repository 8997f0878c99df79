//! The async runtime a destination runs OpenDAL on. The host calls plugin methods from
//! plain OS threads, so each call blocks on a future here.

use std::future::Future;

use sauvegarde_plugin_api::PluginError;

/// A small multi-threaded tokio runtime (two workers: parts upload concurrently).
pub struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    /// Starts the runtime.
    pub fn new() -> Result<Runtime, PluginError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sauvegarde-opendal")
            .enable_all()
            .build()
            .map(Runtime)
            .map_err(|e| PluginError::other(format!("starting the I/O runtime: {e}")))
    }

    /// Runs `future` to completion on this runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

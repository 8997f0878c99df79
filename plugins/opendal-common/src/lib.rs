//! What the `s3` and `webdav` exporter plugins share, on top of Apache OpenDAL: a small
//! tokio runtime per destination (plugin methods are called from plain threads and block),
//! an HTTP client whose trust store is ours (Mozilla's roots plus `ca_file`, never the
//! environment's CA settings), bounded-memory transfers with progress and cancellation,
//! and the mapping of OpenDAL failures to the host's error kinds.
//!
//! Not a public API: only the two plugins of this workspace use it.

pub mod errors;
pub mod http;
pub mod remote;
pub mod runtime;
pub mod transfer;

pub use runtime::Runtime;

/// A unique name for a probe or temporary object: `<prefix>-<pid>-<nanoseconds>`.
pub fn unique_name(prefix: &str) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{stamp}", std::process::id())
}

//! Exporter plugins: discovery ([`registry`], each file read by a worker process, never
//! in this one) and the bridge that carries their log events, relayed by workers, into
//! the host's `tracing` subscriber ([`log_bridge`]).

pub mod log_bridge;
pub mod registry;

pub use registry::{PluginInfo, PluginRegistry, RefusedFile};

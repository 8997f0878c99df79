//! Exporter plugins: discovery and loading ([`registry`]) and the bridge that carries
//! their log events into the host's `tracing` subscriber ([`log_bridge`]).

pub mod log_bridge;
pub mod registry;

pub use registry::{PluginRegistry, RefusedFile};

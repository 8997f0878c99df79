//! Sending archives to a job's destinations through exporter plugins.

mod destinations;
mod transfer;

pub use destinations::{open_destination, ExportError};
pub use transfer::{upload_with_retries, RetryPolicy};

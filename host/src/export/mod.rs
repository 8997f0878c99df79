//! Sending archives to a job's destinations through exporter plugins.

mod destinations;
pub mod placement;
pub mod remote_retention;
mod run;
mod transfer;

pub use destinations::{check_destinations, join_errors, open_destination, ExportError};
pub use run::{DestinationOutcome, ExportObserver, ExportRun, ExportStatus, Quiet};
pub use transfer::{upload_with_retries, Attempt, RetryPolicy};

use abi_stable::{sabi_trait::TD_Opaque, sabi_types::RMut};

use crate::{ffi::ProgressSink_TO, PluginError};

/// The host's progress callback for one transfer.
///
/// Call [`report`](Progress::report) as data moves; it returns an
/// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) error when the host wants the
/// transfer stopped (the backup daemon is shutting down, the user pressed Ctrl-C). Return
/// that error from your method after cleaning up your partial file.
pub struct Progress<'a> {
    sink: ProgressSink_TO<'a, RMut<'a, ()>>,
}

impl<'a> Progress<'a> {
    /// Wraps the host's callback. Plugins get a `Progress` from the host; this is public so
    /// that plugin unit tests can drive their code without a host, with [`Progress::from_fn`].
    pub fn new(sink: ProgressSink_TO<'a, RMut<'a, ()>>) -> Self {
        Progress { sink }
    }

    /// A progress callback made from a closure `(bytes_done, bytes_total) -> keep_going`.
    pub fn from_fn<F>(callback: &'a mut F) -> Self
    where
        F: FnMut(u64, u64) -> bool,
    {
        Progress::new(ProgressSink_TO::from_ptr(callback, TD_Opaque))
    }

    /// Reports `done` of `total` bytes transferred. Returns an error of kind
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) if the host asks to stop.
    pub fn report(&mut self, done: u64, total: u64) -> Result<(), PluginError> {
        if self.sink.report(done, total) {
            Ok(())
        } else {
            Err(PluginError::cancelled("transfer cancelled by the host"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn report_passes_figures_and_cancels_when_asked() {
        let mut seen = Vec::new();
        let mut callback = |done: u64, total: u64| {
            seen.push((done, total));
            done < 10
        };
        let mut progress = Progress::from_fn(&mut callback);
        assert!(progress.report(5, 20).is_ok());
        let err = progress.report(10, 20).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        drop(progress);
        assert_eq!(seen, vec![(5, 20), (10, 20)]);
    }
}

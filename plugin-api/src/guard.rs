//! Catches panics at the plugin boundary so they never unwind into the host.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::RResult;

use crate::PluginError;

/// Runs `f`, turning a panic into an [`ErrorKind::Other`](crate::ErrorKind::Other) error
/// that carries the panic message.
pub(crate) fn guard<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, PluginError>,
) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::other(format!(
            "plugin panicked in {what}: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn panic_becomes_other_error_with_message() {
        let r: RResult<(), PluginError> = guard("upload", || panic!("boom {}", 42));
        let err = r.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(err.message(), "plugin panicked in upload: boom 42");
    }

    #[test]
    fn results_pass_through() {
        assert_eq!(guard("x", || Ok(3)).unwrap(), 3);
        let err = guard::<()>("x", || Err(PluginError::auth("no"))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
    }
}

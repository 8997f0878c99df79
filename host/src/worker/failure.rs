//! How a call to a worker ends badly, in the words users read: a death with its signal
//! named, a deadline or a stall limit passed ([`Limit`]), a cancellation, a broken
//! protocol; and which of these the engine retries.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use sauvegarde_plugin_api::PluginError;

/// Signal names for the messages users read.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "unknown signal",
    }
}

/// How a worker ended, in words: `signal 11 (SIGSEGV)`, `exit status 3`.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(s), _) => {
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            format!("signal {s} ({}{core})", signal_name(s))
        }
        (None, Some(c)) => format!("exit status {c}"),
        (None, None) => format!("{status}"),
    }
}

/// Why a request got no answer from the plugin.
#[derive(Debug)]
pub enum Failure {
    /// The worker died: its exit, in words.
    Died(String),
    /// The call overran its deadline and the worker was killed.
    TimedOut(Duration),
    /// The transfer made no progress for this long and the worker was killed.
    Stalled(Duration),
    /// The host cancelled the call (progress said stop, or [`stop_all`]).
    Cancelled,
    /// The worker broke the protocol (a line too long, garbage, its output closed while
    /// it lived) and was killed: what it did.
    Protocol(String),
    /// The worker could not be started.
    Broken(String),
}

impl Failure {
    /// The error the engine sees, naming the plugin `kind` (and its `file` when the
    /// plugin broke the protocol): a death or a broken protocol is not retried, a timeout
    /// or a stall is (as transient).
    pub fn into_error(self, kind: &str, file: &Path, op: &str) -> PluginError {
        match self {
            Failure::Died(how) => {
                PluginError::other(format!("exporter `{kind}` died: {how} during {op}"))
            }
            Failure::TimedOut(after) => PluginError::transient(format!(
                "exporter `{kind}` timed out after {} s during {op}; its worker was killed",
                after.as_secs()
            )),
            Failure::Stalled(after) => PluginError::transient(format!(
                "exporter `{kind}` made no progress for {} s during {op} (stall_timeout_secs); its worker was killed",
                after.as_secs()
            )),
            Failure::Cancelled => PluginError::cancelled(format!("{op} cancelled")),
            Failure::Protocol(what) => PluginError::other(format!(
                "exporter `{kind}` ({}) broke the worker protocol during {op}: {what}; its worker was killed",
                file.display()
            )),
            Failure::Broken(why) => {
                PluginError::other(format!("exporter `{kind}`: worker failed: {why}"))
            }
        }
    }
}

/// How long a call may go on before its worker is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this long from the call's start.
    Total(Duration),
    /// As long as it moves: at most this long without a progress report whose byte
    /// count changed (from the call's start until the first one).
    Stall(Duration),
}

impl Limit {
    /// Why a call that has run `running` and last moved `still` ago must stop, if it must.
    pub fn overrun(self, running: Duration, still: Duration) -> Option<Failure> {
        match self {
            Limit::Total(max) if running >= max => Some(Failure::TimedOut(max)),
            Limit::Stall(max) if still >= max => Some(Failure::Stalled(max)),
            _ => None,
        }
    }
}

/// A worker's exit while a call was in flight, as a failure.
pub fn death(status: ExitStatus) -> Failure {
    if status.success() {
        Failure::Died("exited without answering (exit status 0)".into())
    } else {
        Failure::Died(describe_exit(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/usr/lib/sauvegarde/plugins/libcrash.so";

    #[test]
    fn a_crash_is_described_with_its_signal_name() {
        let status = ExitStatus::from_raw(libc::SIGSEGV);
        assert_eq!(describe_exit(status), "signal 11 (SIGSEGV)");
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(describe_exit(status), "exit status 3");
        let e = death(ExitStatus::from_raw(libc::SIGSEGV)).into_error(
            "crash",
            Path::new(FILE),
            "upload",
        );
        assert_eq!(
            e.message(),
            "exporter `crash` died: signal 11 (SIGSEGV) during upload"
        );
        assert!(!e.kind().is_retryable());
    }

    #[test]
    fn a_timeout_or_a_stall_is_retried_like_a_transient_error() {
        let e =
            Failure::TimedOut(Duration::from_secs(7)).into_error("slow", Path::new(FILE), "list");
        assert!(e.kind().is_retryable());
        assert!(e.message().contains("timed out after 7 s"), "{e}");
        let e = Failure::Stalled(Duration::from_secs(600)).into_error(
            "slow",
            Path::new(FILE),
            "upload",
        );
        assert!(e.kind().is_retryable());
        assert!(
            e.message()
                .contains("made no progress for 600 s during upload (stall_timeout_secs)"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_protocol_names_the_plugin_and_its_file_and_is_not_retried() {
        let e = Failure::Protocol("it wrote a line longer than 1 MiB".into()).into_error(
            "crash",
            Path::new(FILE),
            "upload",
        );
        assert!(!e.kind().is_retryable());
        assert_eq!(
            e.message(),
            format!("exporter `crash` ({FILE}) broke the worker protocol during upload: it wrote a line longer than 1 MiB; its worker was killed")
        );
    }

    #[test]
    fn a_deadline_counts_from_the_start_and_a_stall_limit_from_the_last_movement() {
        let s = Duration::from_secs;
        // (limit, running, still since, overrun?)
        let table = [
            (Limit::Total(s(120)), s(119), s(119), None),
            (Limit::Total(s(120)), s(120), s(0), Some("timed out")),
            (Limit::Stall(s(600)), s(7 * 3600), s(599), None),
            (Limit::Stall(s(600)), s(600), s(600), Some("stalled")),
            (Limit::Stall(s(5)), s(30), s(5), Some("stalled")),
            (Limit::Stall(s(5)), s(30), s(4), None),
        ];
        for (limit, running, still, expected) in table {
            let got = match limit.overrun(running, still) {
                None => None,
                Some(Failure::TimedOut(d)) if limit == Limit::Total(d) => Some("timed out"),
                Some(Failure::Stalled(d)) if limit == Limit::Stall(d) => Some("stalled"),
                Some(other) => panic!("{limit:?}: {other:?}"),
            };
            assert_eq!(
                got, expected,
                "{limit:?} running {running:?} still {still:?}"
            );
        }
    }
}

//! The systemd notification protocol (`sd_notify(3)`): datagrams to `$NOTIFY_SOCKET`.
//! Without the variable (not started by systemd) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to the service manager, or nothing.
pub struct SdNotify {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl SdNotify {
    /// Reads `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Self {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return SdNotify { target: None };
        };
        let path = path.to_string_lossy().into_owned();
        let addr = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&path),
        };
        // Non-blocking: a service manager that stops reading must never stall the daemon.
        let socket = UnixDatagram::unbound().and_then(|s| s.set_nonblocking(true).map(|()| s));
        let target = match (socket, addr) {
            (Ok(socket), Ok(addr)) => Some((socket, addr)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(
                    "NOTIFY_SOCKET={path} is unusable: {e}; systemd will not hear from the daemon"
                );
                None
            }
        };
        SdNotify { target }
    }

    /// Whether a service manager listens.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends newline-separated `KEY=value` assignments; failures are logged once per call.
    pub fn send(&self, state: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    tracing::debug!("systemd's notification socket is full; dropped: {state}");
                    return;
                }
                tracing::warn!(
                    "cannot notify systemd ({}): {e}",
                    state.lines().next().unwrap_or("")
                );
            }
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `STATUS=…`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    /// `RELOADING=1` with the monotonic time systemd ≥ 253 asks for.
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading configuration",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: cancelling running backups");
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set for this
/// process (`$WATCHDOG_PID` absent or ours).
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_the_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let addr = SocketAddr::from_pathname(&path).expect("addr");
        let n = SdNotify {
            target: Some((UnixDatagram::unbound().expect("socket"), addr)),
        };
        assert!(n.enabled());
        n.ready("up");
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");
        n.reloading();
        let len = listener.recv(&mut buf).expect("recv");
        assert!(std::str::from_utf8(&buf[..len])
            .expect("utf8")
            .starts_with("RELOADING=1\nMONOTONIC_USEC="));
    }

    #[test]
    fn a_full_socket_never_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let _listener = UnixDatagram::bind(&path).expect("bind");
        std::env::set_var("NOTIFY_SOCKET", &path);
        let n = SdNotify::from_env();
        std::env::remove_var("NOTIFY_SOCKET");
        assert!(n.enabled());
        // Nobody reads: the queue fills up after a few datagrams; sending must go on.
        for _ in 0..1000 {
            n.watchdog();
        }
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        let n = SdNotify { target: None };
        assert!(!n.enabled());
        n.ready("up");
    }
}

//! What `misbehave` makes the probe do: what native code can do to the worker it runs in
//! (crash, hang, write where it must not, close what it must not) and a transfer that
//! stops moving.

use std::path::Path;

use sauvegarde_plugin_api::{PluginError, Progress};

/// Recurses until the stack is gone.
fn overflow(depth: u64) -> u64 {
    let frame = [depth; 256];
    std::hint::black_box(&frame);
    if depth == u64::MAX {
        return 0;
    }
    overflow(depth + 1).wrapping_add(frame[7])
}

/// Misbehaves `how`: see the crate's documentation.
pub fn misbehave(how: &str) {
    match how {
        "segfault" => {
            // A store to an unmapped page (not null: Rust's own checks would abort first).
            // SAFETY: none; crashing is the point.
            unsafe { std::ptr::write_volatile(16 as *mut u32, 1) };
        }
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "stack_overflow" => {
            std::hint::black_box(overflow(0));
        }
        "hang" => hang(),
        "flood" => {
            let fd = protocol_fd();
            let block = vec![b'x'; 1 << 20];
            for _ in 0..100 {
                if !write_all(fd, &block) {
                    break;
                }
            }
            write_all(fd, b"\n");
            hang();
        }
        "garbage" => {
            write_all(protocol_fd(), b"this is no frame of the protocol\n");
            hang();
        }
        "close_output" => {
            // SAFETY: closes a descriptor of this process; breaking the host's pipe is the point.
            unsafe { libc::close(protocol_fd()) };
            hang();
        }
        _ => {}
    }
}

fn hang() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// The worker's protocol descriptor, as native code could find it: the lowest
/// descriptor above standard error that is the write end of a pipe.
fn protocol_fd() -> libc::c_int {
    let mut fds: Vec<libc::c_int> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    fds.sort();
    fds.into_iter()
        .find(|fd| {
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
            // SAFETY: F_GETFL only reads the descriptor's flags.
            let flags = unsafe { libc::fcntl(*fd, libc::F_GETFL) };
            link.to_string_lossy().starts_with("pipe:")
                && flags >= 0
                && flags & libc::O_ACCMODE == libc::O_WRONLY
        })
        .expect("the worker's protocol pipe")
}

/// Writes all of `bytes` to `fd`; `false` once a write fails (the host closed its end).
fn write_all(fd: libc::c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// `misbehave = "stall"`: moves for 2 s, writes `.stalled` into `dir`, then reports the
/// same byte count every 100 ms (a plugin stuck on a dead connection whose keep-alive
/// still calls back) until the host says stop.
pub fn stall(dir: Option<&Path>, progress: &mut Progress<'_>) -> Result<(), PluginError> {
    let total = 1_000_000;
    for step in 1..=20 {
        progress.report(step * 1000, total)?;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if let Some(dir) = dir {
        std::fs::write(dir.join(".stalled"), b"")
            .map_err(|e| PluginError::other(format!(".stalled: {e}")))?;
    }
    loop {
        progress.report(20 * 1000, total)?;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

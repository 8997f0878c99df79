//! Running the real `sauvegarde` binary from a test, and reading what it said.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::build::artifacts;

/// `sauvegarde --config <config> <args>`, stdin closed, with `RUST_LOG=<log_level>`.
pub fn host(config: &Path, args: &[&str], log_level: &str) -> Command {
    let mut c = Command::new(artifacts().host_bin());
    c.arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", log_level)
        .stdin(Stdio::null());
    c
}

/// libfaketime's preload library (Debian package `faketime`, `scripts/install-test-deps`).
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// [`host`] with the clock faked by libfaketime: `spec` as `FAKETIME` takes it — an
/// absolute start (`@2031-06-01 12:00:00`) or an offset from the real clock (`+1826d`,
/// `-1d`); the processes it starts inherit it.
pub fn faked(config: &Path, args: &[&str], log_level: &str, spec: &str) -> Command {
    let mut c = host(config, args, log_level);
    c.env("FAKETIME", spec).env("LD_PRELOAD", FAKETIME_LIB);
    c
}

/// Runs `sauvegarde --config <config> <args>` to completion.
pub fn run(config: &Path, args: &[&str], log_level: &str) -> Output {
    host(config, args, log_level)
        .output()
        .expect("run sauvegarde")
}

/// `history --json`, parsed; panics when the command fails.
pub fn history(config: &Path) -> serde_json::Value {
    let out = run(config, &["history", "--json"], "warn");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("history json")
}

/// Status, stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

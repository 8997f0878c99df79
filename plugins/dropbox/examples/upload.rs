//! Uploads one file through the built dropbox plugin, loaded like the host loads it, then
//! prints the elapsed time, the throughput and the process's peak memory (`VmHWM`), so a
//! test or a benchmark can measure the plugin's memory use in a process of its own.
//!
//! ```text
//! cargo run -p sauvegarde-dropbox --example dropbox_upload -- PLUGIN.so CONFIG.json LOCAL_FILE REMOTE_NAME
//! ```
//! Output: `uploaded <bytes> bytes in <s> s: <MiB/s> MiB/s` then `VmHWM before <kB> kB` and
//! `VmHWM after <kB> kB`. Set `UPLOAD_DEBUG=1` for the plugin's debug log on stderr.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use abi_stable::std_types::RStr;
use sauvegarde_plugin_api::ffi::{HostLogger, LogLevel};
use sauvegarde_plugin_api::host::LoadedPlugin;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugin, config, local, remote] = args.as_slice() else {
        eprintln!("usage: dropbox_upload PLUGIN.so CONFIG.json LOCAL_FILE REMOTE_NAME");
        return ExitCode::from(2);
    };
    match run(plugin, config, local, remote) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("upload: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The process's peak resident set size in kB, from `/proc/self/status`.
fn peak_rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_string())
}

fn run(plugin: &str, config: &str, local: &str, remote: &str) -> Result<(), String> {
    let plugin = LoadedPlugin::load(Path::new(plugin)).map_err(|e| e.to_string())?;
    let verbose = std::env::var_os("UPLOAD_DEBUG").is_some();
    plugin.set_logger(HostLogger {
        plugin: RStr::from("dropbox"),
        max_level: if verbose {
            LogLevel::Debug
        } else {
            LogLevel::Warn
        },
        log,
    });
    let config = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
    let destination = plugin.new_destination(&config).map_err(|e| e.to_string())?;
    let size = std::fs::metadata(local)
        .map_err(|e| format!("{local}: {e}"))?
        .len();
    let before = peak_rss_kb()?;
    let start = Instant::now();
    destination
        .upload(Path::new(local), remote, &mut |_, _| true)
        .map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "uploaded {size} bytes in {seconds:.2} s: {:.1} MiB/s",
        size as f64 / seconds / f64::from(1 << 20)
    );
    println!("VmHWM before {before} kB");
    println!("VmHWM after {} kB", peak_rss_kb()?);
    Ok(())
}

/// Prints the plugin's log events on stderr.
extern "C" fn log(plugin: RStr<'static>, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    eprintln!("[{plugin} {level:?} {target}] {message}");
}
